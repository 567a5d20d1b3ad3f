"""Model families; importing this package registers every builder."""

from kzoo.models import resnet, resnet_imagenet, wide_resnet  # noqa: F401
