"""Model families; importing this package registers every builder."""

from kzoo.models import (  # noqa: F401
    densenet,
    plain,
    resnet,
    resnet_imagenet,
    snn,
    wide_resnet,
)
