"""kzoo: a Keras 3 / TensorFlow model zoo for the lessons of training deep networks."""

__version__ = "0.1.0"

from kzoo import export, layers, tuning
from kzoo.counting import count_macs
from kzoo.info import model_info
from kzoo.registry import create_model, list_models, register_model
from kzoo.training import TrainConfig, train

__all__ = ["__version__", "create_model", "export", "layers", "list_models", "register_model"]
__all__ += ["count_macs", "model_info"]
__all__ += ["tuning"]
__all__ += ["TrainConfig", "train"]
