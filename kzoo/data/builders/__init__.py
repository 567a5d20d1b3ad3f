"""Offline TFDS builders: importing this package registers them with TFDS under `kzoo_*` names."""

from kzoo.data.builders.digits import KzooDigits

__all__ = ["KzooDigits"]
