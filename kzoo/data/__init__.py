"""Datasets by name: offline TFDS builders and TFDS' catalog, normalised and augmented pipelines.

The catalog (`list_datasets`, `get_spec`) needs no TensorFlow; the pipeline loads it on first use.
"""

from kzoo.utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "kzoo.data.catalog": ("DatasetSpec", "get_spec", "list_datasets"),
        "kzoo.data.checks": ("check_input_shape",),
        "kzoo.data.pipeline": (
            "DataBundle", "DatasetInfo", "bundle_from_arrays", "load", "load_arrays",
        ),
    },
)
