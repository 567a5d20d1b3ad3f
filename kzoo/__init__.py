"""kzoo: a Keras 3 / TensorFlow model zoo for the lessons of training deep networks.

Names load on first use: `import kzoo` imports no TensorFlow, so the command line starts fast.

Example:
    >>> import kzoo
    >>> model = kzoo.create_model("resnet20", classes=10)
"""

from kzoo.utils import tf_startup
from kzoo.utils.lazy import lazy_exports

tf_startup.install()

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "kzoo.registry": ("create_model", "list_models", "register_model"),
        "kzoo.counting": ("count_macs",),
        "kzoo.info": ("model_info",),
        "kzoo.training.config": ("TrainConfig",),
        "kzoo.training.engine": ("train",),
        "kzoo.export": ("export",),
        "kzoo.layers": ("layers",),
        "kzoo.models": ("models",),
        "kzoo.tuning": ("tuning",),
        "kzoo.data": ("data",),
        "kzoo.training": ("training",),
        "kzoo.gradcheck": ("gradcheck",),
    },
)
__all__ = ["__version__", *__all__]
