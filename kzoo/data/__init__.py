"""Datasets by name: offline TFDS builders and TFDS' catalog, normalised and augmented pipelines."""

from kzoo.data.catalog import DatasetSpec, get_spec, list_datasets
from kzoo.data.checks import check_input_shape
from kzoo.data.pipeline import DataBundle, DatasetInfo, bundle_from_arrays, load, load_arrays

__all__ = [
    "DataBundle",
    "DatasetInfo",
    "DatasetSpec",
    "bundle_from_arrays",
    "check_input_shape",
    "get_spec",
    "list_datasets",
    "load",
    "load_arrays",
]
