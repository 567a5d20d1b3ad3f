"""Export trained models: versioned TensorFlow SavedModels with a raw-input serving signature, and
safe `.keras` files.

    saved_models/<name>/<version>/            TensorFlow Serving layout, integer versions
        saved_model.pb, variables/            signature `serving_default`: inputs -> probabilities, class_id
        assets.extra/kzoo_metadata.json       classes, input spec, normalisation, metrics, checksums
        assets.extra/model.tflite             optional (--tflite): the same signature for TFLite
"""

from kzoo.export.keras_files import (
    UnsafeModelFileError,
    find_unsafe_entries,
    load_keras,
    save_keras,
    scan_keras_file,
)
from kzoo.export.metadata import METADATA_FILE, read_metadata, verify_checksums
from kzoo.export.paths import list_versions, next_version, validate_name, validate_version
from kzoo.export.run_dir import export_run
from kzoo.export.saved_model import ExportVerificationError, export_saved_model
from kzoo.export.served import ServedModel, load_saved_model
from kzoo.export.tflite import TFLiteMismatchError

__all__ = [
    "METADATA_FILE",
    "ExportVerificationError",
    "ServedModel",
    "TFLiteMismatchError",
    "UnsafeModelFileError",
    "export_run",
    "export_saved_model",
    "find_unsafe_entries",
    "list_versions",
    "load_keras",
    "load_saved_model",
    "next_version",
    "read_metadata",
    "save_keras",
    "scan_keras_file",
    "validate_name",
    "validate_version",
    "verify_checksums",
]
