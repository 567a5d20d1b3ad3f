"""Offline TFDS builders: importing this package registers them with TFDS under `kzoo_*` names.

The `kzoo_` prefix keeps them apart from TFDS' own catalog (which has, for example, `iris`).
"""

from kzoo.data.builders.digits import KzooDigits, KzooDigits0to4, KzooDigits5to9
from kzoo.data.builders.mnist1d import KzooMnist1d
from kzoo.data.builders.uci import KzooBreastCancer, KzooIris, KzooWine

__all__ = ["KzooBreastCancer", "KzooDigits", "KzooDigits0to4", "KzooDigits5to9", "KzooIris", "KzooMnist1d", "KzooWine"]
