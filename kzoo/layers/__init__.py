"""kzoo's custom Keras 3 layers, each registered for safe `.keras` loading."""

from kzoo.layers.squeeze_excite import SqueezeExcite

__all__ = ["SqueezeExcite"]
