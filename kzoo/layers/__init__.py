"""kzoo's custom Keras 3 layers, each registered for safe `.keras` loading."""

from kzoo.layers import schedules  # noqa: F401  (registers kzoo's learning-rate schedules)
from kzoo.layers.batch_norm import FusedBatchNormalization, conv_then_norm
from kzoo.layers.bidirectional import Bidirectional
from kzoo.layers.dense_block import DenseBlock, TransitionBlock
from kzoo.layers.ensemble import ProbabilityAverage
from kzoo.layers.grid_lstm import GridLSTM, GridLSTMCell
from kzoo.layers.highway import Highway
from kzoo.layers.maxout import ChannelMaxout, Maxout
from kzoo.layers.residual import BasicBlock, BottleneckBlock
from kzoo.layers.squeeze_excite import SqueezeExcite
from kzoo.layers.weight_norm import WeightNormConv1D, WeightNormConv2D, WeightNormDense

__all__ = ["Highway", "Maxout", "ChannelMaxout", "WeightNormDense", "WeightNormConv1D", "WeightNormConv2D", "SqueezeExcite", "DenseBlock", "TransitionBlock", "BasicBlock", "BottleneckBlock", "FusedBatchNormalization", "conv_then_norm"]
__all__ += ["GridLSTM", "GridLSTMCell", "Bidirectional"]
from kzoo.layers.depthwise_separable import DepthwiseSeparableBlock  # noqa: E402
from kzoo.layers.grouped_conv import GroupedConv2D  # noqa: E402
from kzoo.layers.inverted_residual import InvertedResidual, MBConv  # noqa: E402
from kzoo.layers.resnext import ResNeXtBlock  # noqa: E402
from kzoo.layers.stochastic_depth import StochasticDepth  # noqa: E402

__all__ += ["GroupedConv2D", "ResNeXtBlock", "DepthwiseSeparableBlock", "InvertedResidual", "MBConv", "StochasticDepth"]
__all__ += ["ProbabilityAverage"]
