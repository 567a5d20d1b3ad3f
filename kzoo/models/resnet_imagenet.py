"""ImageNet ResNets 18/34/50/101/152 in torchvision's form (He et al. 2015, "ResNet v1.5")."""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers.batch_norm import batch_norm
from kzoo.layers.residual import BasicBlock, BottleneckBlock
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights
from kzoo.utils.checks import check_choice, check_int

IMAGENET_SHAPE = (224, 224, 3)
STAGE_FILTERS = (64, 128, 256, 512)
# depth -> (bottleneck?, blocks per stage), He et al. 2015 Table 1.
DEPTHS = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}


def resnet_imagenet(
    depth,
    kernel_initializer="he_normal",
    kernel_regularizer=None,
    include_top=True,
    input_shape=None,
    input_tensor=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    name=None,
    weights=None,
):
    """An ImageNet ResNet: 7x7/2 conv (64)-BN-ReLU, 3x3/2 max-pool, four stages, global pool.

    Post-activation blocks with projection shortcuts (1x1 conv + BN) only where the shape changes
    (option B); basic blocks for 18/34, bottleneck blocks (x4) from 50 with the stride on the 3x3
    convolution -- torchvision's layout, whose parameter counts (11,689,512 for ResNet-18 ... 60,192,808
    for ResNet-152 with 1000 classes) these models match exactly. Padding is symmetric like PyTorch.

    Args:
        depth: 18, 34, 50, 101 or 152.
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 1e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (224, 224, 3).
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Example:
        >>> model = resnet_imagenet(50, classes=1000)   # 25,557,032 trainable parameters

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016, Table 1.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    check_choice("depth", check_int("depth", depth), tuple(DEPTHS))
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    # Five stride-2 steps: 32 pixels is the smallest input whose last stage is 1x1 of real data.
    inputs, x = resolve_inputs(input_shape, input_tensor, IMAGENET_SHAPE, min_size=32)

    bottleneck, blocks = DEPTHS[depth]
    block_cls = BottleneckBlock if bottleneck else BasicBlock
    x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(
        64,
        7,
        strides=2,
        use_bias=False,
        kernel_initializer=fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer,
        name="stem_conv",
    )(x)
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs, never negative.
    x = keras.layers.ZeroPadding2D(1, name="pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, (filters, n) in enumerate(zip(STAGE_FILTERS, blocks, strict=True), start=1):
        for block in range(1, n + 1):
            x = block_cls(
                filters,
                stride=2 if stage > 1 and block == 1 else 1,
                shortcut="B",
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name=f"stage{stage}_block{block}",
            )(x)
    x = apply_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, x, name=name or f"resnet{depth}"), weights, name)
