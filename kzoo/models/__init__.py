"""Model families; importing this package registers every builder."""

from kzoo.models import densenet  # noqa: F401
