"""Export trained models: versioned TensorFlow SavedModels with a raw-input serving signature, and
safe `.keras` files.

    saved_models/<name>/<version>/            TensorFlow Serving layout, integer versions
        saved_model.pb, variables/            signature `serving_default`: inputs -> probabilities, class_id
        assets.extra/kzoo_metadata.json       classes, input spec, normalisation, metrics, checksums
        assets.extra/model.tflite             optional (--tflite): the same signature for TFLite

Names load on first use.
"""

from kzoo.utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "kzoo.models.keras_files": (
            "UnsafeModelFileError", "find_unsafe_entries", "load_keras", "save_keras",
            "scan_keras_file",
        ),
        "kzoo.export.metadata": ("METADATA_FILE", "read_metadata", "verify_checksums"),
        "kzoo.export.metadata_check": ("MetadataError",),
        "kzoo.export.paths": (
            "ExportPathError", "list_versions", "next_version", "validate_name", "validate_version",
        ),
        "kzoo.export.from_run": ("export_run",),
        "kzoo.export.errors": ("ExportVerificationError", "TFLiteMismatchError"),
        "kzoo.export.saved_model": ("export_saved_model",),
        "kzoo.export.loaded_model": ("ServedModel", "load_saved_model"),
    },
)
