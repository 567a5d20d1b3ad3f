"""Model families; importing this package registers every builder."""

from kzoo.models import densenet  # noqa: F401
from kzoo.models import resnet, resnet_imagenet, wide_resnet  # noqa: F401
from kzoo.models import plain, snn  # noqa: F401
