"""kzoo's custom Keras 3 layers, each registered for safe `.keras` loading."""

from kzoo.layers import schedules  # noqa: F401  (registers kzoo's learning-rate schedules)
from kzoo.layers.batch_norm import FusedBatchNormalization, conv_then_norm
from kzoo.layers.dense_block import DenseBlock, TransitionBlock
from kzoo.layers.ensemble import ProbabilityAverage
from kzoo.layers.highway import Highway
from kzoo.layers.maxout import ChannelMaxout, Maxout
from kzoo.layers.residual import BasicBlock, BottleneckBlock
from kzoo.layers.squeeze_excite import SqueezeExcite
from kzoo.layers.weight_norm import WeightNormConv1D, WeightNormConv2D, WeightNormDense

__all__ = ["Highway", "Maxout", "ChannelMaxout", "WeightNormDense", "WeightNormConv1D", "WeightNormConv2D", "SqueezeExcite", "DenseBlock", "TransitionBlock", "BasicBlock", "BottleneckBlock", "FusedBatchNormalization", "conv_then_norm", "ProbabilityAverage"]
