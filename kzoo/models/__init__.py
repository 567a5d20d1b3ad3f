"""Model families: one builder per family, each taking keras.applications' arguments.

The registered variants (`resnet20`, `wrn_28_10`, ...) are rows of `kzoo.models.catalog`; build them
with `kzoo.create_model(name)`. The family builders build any valid configuration:

Example:
    >>> from kzoo.models import resnet_cifar, wide_resnet
    >>> model = wide_resnet(16, 8, dropout=0.3, classes=100)
"""

from kzoo.utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "kzoo.models.plain": ("plain_net",),
        "kzoo.models.snn": ("snn_mlp",),
        "kzoo.models.resnet": ("resnet_cifar",),
        "kzoo.models.resnet_imagenet": ("resnet_imagenet",),
        "kzoo.models.wide_resnet": ("wide_resnet",),
        "kzoo.models.densenet": ("densenet",),
        "kzoo.models.recurrent": ("recurrent_net",),
        "kzoo.models.resnext": ("resnext_cifar", "resnext_imagenet"),
        "kzoo.models.vgg": ("vgg", "vgg_cifar"),
        "kzoo.models.mobilenet": ("mobilenet_v1", "mobilenet_v2"),
        "kzoo.models.efficientnet": ("efficientnet",),
    },
)
