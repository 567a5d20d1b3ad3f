"""Plain feed-forward networks: the MLPs and CNNs of the lecture's experiments.

One builder, `plain_net`, stacks `depth` hidden layers of one kind -- fully connected (`kind="mlp"`)
or convolutional (`kind="cnn"`) -- and lets each experiment switch one ingredient at a time: the
activation (sigmoid ... SELU, maxout), the normalisation (batch / layer / weight norm), dropout, the
initialisation (the lecture's "small" 0.01 * N(0, 1), Glorot, He, LeCun) and, for MLPs, the unit
type (dense, highway, maxout).

Layer names are predictable, so diagnostics can read each hidden layer by name (i = 1 ... depth):
`dense_i` / `conv_i` (weights), `norm_i`, `act_i` (the hidden activation), `dropout_i`; highway MLPs
have `proj`, `proj_act`, then `highway_i`; maxout-layer MLPs have `maxout_i`. `hidden_layer_names`
lists the layers whose outputs are the hidden activations, in depth order.
"""

from __future__ import annotations

import re

import keras

from kzoo.layers import (
    ChannelMaxout,
    Highway,
    Maxout,
    WeightNormConv1D,
    WeightNormConv2D,
    WeightNormDense,
)
from kzoo.layers.batch_norm import batch_norm
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights
from kzoo.utils.checks import check_choice, check_number, check_positive_int, check_rate

KINDS = ("mlp", "cnn")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "maxout")
NORMS = ("none", "batch", "layer", "weight")
INITS = (
    "small",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
)
LAYER_TYPES = ("dense", "highway", "maxout", "residual")
DOWNSAMPLING = ("stride", "max_pool")
HIGHWAY_ACTIVATIONS = ("sigmoid", "tanh", "relu", "elu", "selu")

# The customary initialisation of each activation (Glorot & Bengio 2010 for saturating units,
# He et al. 2015 for rectifiers, LeCun / Klambauer et al. 2017 for SELU).
DEFAULT_INIT = {
    "sigmoid": "glorot_uniform",
    "tanh": "glorot_uniform",
    "relu": "he_normal",
    "leaky_relu": "he_normal",
    "prelu": "he_normal",
    "elu": "he_normal",
    "selu": "lecun_normal",
    "maxout": "glorot_uniform",
}
LEAKY_RELU_SLOPE = 0.01  # Maas et al. 2013, the lecture's max(0.01x, x)
PRELU_INIT = 0.25  # He et al. 2015
DEFAULT_SHAPES = {"mlp": (784,), "cnn": (32, 32, 3)}

_HIDDEN_NAME = re.compile(r"^(act|highway|maxout)_(\d+)$")


def _validate(kind, depth, width, activation, norm, dropout, init, layer_type, pieces,
              input_dropout, kernel_size, stages, downsample):
    """Check every family argument; returns the resolved activation and initialiser."""
    check_choice("kind", kind, KINDS)
    check_positive_int("depth", depth)
    check_positive_int("width", width)
    check_choice("layer_type", layer_type, LAYER_TYPES)
    if activation is None:
        activation = "maxout" if layer_type == "maxout" else "relu"
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("norm", norm, NORMS)
    check_rate("dropout", dropout)
    check_rate("input_dropout", input_dropout)
    if init is None:
        init = DEFAULT_INIT[activation]
    check_choice("init", init, INITS)
    check_positive_int("pieces", pieces)
    if activation == "maxout" and pieces < 2:
        raise ValueError(f"`pieces` must be >= 2 for maxout units; received pieces={pieces!r}.")
    check_positive_int("kernel_size", kernel_size)
    check_positive_int("stages", stages)
    check_choice("downsample", downsample, DOWNSAMPLING)
    if kind == "cnn":
        if layer_type != "dense":
            raise ValueError(
                f"`layer_type`={layer_type!r} exists for MLPs only; kind='cnn' takes "
                "layer_type='dense' (convolutions)."
            )
        if depth < stages:
            raise ValueError(
                f"`depth` must be >= `stages` so every stage has a convolution; received "
                f"depth={depth}, stages={stages}."
            )
    if layer_type == "highway":
        if activation not in HIGHWAY_ACTIVATIONS:
            raise ValueError(
                f"`activation` of highway layers must be one of {HIGHWAY_ACTIVATIONS}; received "
                f"activation={activation!r}."
            )
        if norm != "none":
            raise ValueError(
                f"layer_type='highway' takes norm='none' (the gated layers have no place for a "
                f"normalisation before their activation); received norm={norm!r}."
            )
    if layer_type == "maxout":
        if activation != "maxout":
            raise ValueError(
                "layer_type='maxout' computes its own max-of-pieces nonlinearity, so `activation` "
                f"must be 'maxout' or None; received activation={activation!r}."
            )
        if norm != "none":
            raise ValueError(
                "layer_type='maxout' takes norm='none' (the max sits inside the Maxout layer, so no "
                "normalisation can precede it); use layer_type='dense', activation='maxout' for "
                f"{norm!r} norm before the max. Received norm={norm!r}."
            )
    return activation, init


def _validate_extras(transform_bias_init, kernel_regularizer):
    check_number("transform_bias_init", transform_bias_init)
    try:
        keras.regularizers.get(kernel_regularizer)
    except (ValueError, TypeError) as err:
        raise ValueError(
            "`kernel_regularizer` must be a Keras regularizer, its name or None; received "
            f"kernel_regularizer={kernel_regularizer!r}."
        ) from err


def _default_shape(kind, input_shape, input_tensor):
    """The shape `resolve_inputs` checks against: the given one (any rank for MLPs; rank 2 or 3
    for CNNs), else the kind's default."""
    given = input_shape
    if input_tensor is not None and keras.backend.is_keras_tensor(input_tensor):
        given = tuple(input_tensor.shape[1:])
    if not isinstance(given, (tuple, list)):
        return DEFAULT_SHAPES[kind]
    if kind == "cnn" and len(given) not in (2, 3):
        raise ValueError(
            "kind='cnn' takes sequences (length, channels) or images (height, width, channels); "
            f"received input_shape={tuple(given)}."
        )
    return tuple(given)


def _initializer(init):
    # A fresh instance per layer: an unseeded Keras initializer fixes its seed when constructed,
    # so one instance shared by equal-shaped layers would give them identical kernels.
    if init == "small":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
    return keras.initializers.get(init)


def _activation_layer(activation, pieces, rank, name):
    if activation == "maxout":
        return ChannelMaxout(pieces, name=name)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=name)
    if activation == "prelu":
        # One slope per channel, shared over positions for feature maps (He et al. 2015).
        shared = list(range(1, rank + 1)) if rank else None
        return keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(PRELU_INIT), shared_axes=shared, name=name
        )
    return keras.layers.Activation(activation, name=name)


def _norm_layer(norm, name):
    if norm == "batch":
        return batch_norm(name)
    # Layer norm over the features (channels, per position for feature maps).
    return keras.layers.LayerNormalization(name=name)


def _dropout_layer(rate, activation, name):
    # SELU networks need AlphaDropout, which keeps the self-normalising mean and variance.
    cls = keras.layers.AlphaDropout if activation == "selu" else keras.layers.Dropout
    return cls(rate, name=name)


def plain_net(
    kind="mlp",
    depth=3,
    width=256,
    activation=None,
    norm="none",
    dropout=0.0,
    init=None,
    layer_type="dense",
    *,
    pieces=2,
    input_dropout=0.0,
    kernel_size=3,
    stages=3,
    downsample="stride",
    transform_bias_init=-2.0,
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
    """A plain stack of `depth` hidden layers: fully connected or convolutional.

    Each hidden layer i is: weight layer -> normalisation (before the activation) -> activation ->
    dropout. MLPs flatten inputs of rank > 1 first (so 8x8x1 digits or (40, 1) MNIST-1D sequences
    feed them directly). CNNs use Conv1D for sequence inputs (length, channels) and Conv2D for
    images (height, width, channels): `kernel_size` convolutions with "same" padding, split into
    `stages` stages of (nearly) equal length with width * 2**s filters in stage s, halving the
    resolution between stages -- by a stride-2 first convolution of the stage (`downsample=
    "stride"`, He et al. 2015) or by a 2x max pooling `pool_s` after the previous stage
    (`"max_pool"`) -- then global average pooling and the classifier. With depth=19, width=16 that
    is He et al.'s CIFAR "plain-20" (the ResNet-20 without shortcuts).

    Args:
        kind: "mlp" (fully connected) or "cnn" (convolutional).
        depth: number of hidden layers (the classifier not counted). For highway MLPs, the number
            of highway layers after the projection.
        width: units per hidden layer (MLP) or filters of the first stage (CNN).
        activation: "sigmoid", "tanh", "relu", "leaky_relu" (slope 0.01), "prelu" (per unit /
            channel, initial slope 0.25), "elu", "selu" or "maxout" (a weight layer with
            width * pieces outputs, then the max over contiguous groups of `pieces`); None means
            "relu" ("maxout" for layer_type="maxout").
        norm: "none", "batch" (BatchNormalization), "layer" (LayerNormalization over the features;
            per position for feature maps) -- both before the activation, weight layers then have
            no bias -- or "weight" (weight layers with weight normalisation and a bias:
            WeightNormDense in MLPs, WeightNormConv1D / WeightNormConv2D in CNNs).
        dropout: rate in [0, 1) after each hidden activation; AlphaDropout when activation="selu".
        init: kernel initialiser: "small" (the lecture's 0.01 * N(0, 1)) or "glorot_normal",
            "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform". None
            picks the activation's customary one (Glorot for sigmoid/tanh/maxout, He for the ReLU
            family and ELU, LeCun normal for SELU). The classifier keeps Keras' default.
        layer_type: MLPs only. "dense"; "highway" (a Dense projection `proj` to `width` with the
            activation, then `depth` Highway layers); "residual" (the same projection, then `depth`
            dense layers whose output is added to their input, `add_i`: identity shortcuts as in He
            et al. 2015); "maxout" (`depth` Maxout layers of `width`
            units with `pieces` pieces each, the paper's dense maxout layer).
        pieces: linear pieces per maxout unit (>= 2 when maxout is used).
        input_dropout: dropout rate on the (flattened) inputs, as in the maxout paper.
        kernel_size: CNN kernel size.
        stages: CNN resolution stages.
        downsample: CNN downsampling between stages, "stride" or "max_pool".
        transform_bias_init: initial transform-gate bias of highway layers.
        kernel_regularizer: regularizer of every hidden kernel (e.g. `keras.regularizers.L2(1e-4)`).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`. Default input shape (784,) for MLPs, (32, 32, 3) for CNNs.
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Returns:
        A `keras.Model`.

    Example:
        >>> model = plain_net("mlp", depth=10, width=128, activation="sigmoid", init="small",
        ...                   input_shape=(8, 8, 1), classes=10)
        >>> model.get_layer("act_10").output.shape
        (None, 128)

    Reference:
        Glorot, Bengio. "Understanding the difficulty of training deep feedforward neural networks."
        AISTATS 2010. He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016
        (arXiv 2015), the plain CIFAR networks of Section 4.2.
    """
    activation, init = _validate(
        kind, depth, width, activation, norm, dropout, init, layer_type, pieces, input_dropout,
        kernel_size, stages, downsample,
    )
    _validate_extras(transform_bias_init, kernel_regularizer)
    validate_head_args(include_top, pooling, classes, classifier_activation)
    default_shape = _default_shape(kind, input_shape, input_tensor)
    inputs, x = resolve_inputs(input_shape, input_tensor, default_shape)

    options = dict(
        activation=activation, norm=norm, dropout=dropout, init=init,
        pieces=pieces, regularizer=kernel_regularizer,
    )
    if kind == "mlp":
        x = _mlp_body(x, depth, width, layer_type, input_dropout, transform_bias_init, **options)
    else:
        x = _cnn_body(x, depth, width, input_dropout, kernel_size, stages, downsample, **options)
    outputs = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    model = keras.Model(inputs, outputs, name=name or f"plain_{kind}")
    return apply_weights(model, weights, name)


def _mlp_body(x, depth, width, layer_type, input_dropout, transform_bias_init, *, activation, norm,
              dropout, init, pieces, regularizer):
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    if input_dropout:
        x = _dropout_layer(input_dropout, activation, "input_dropout")(x)
    def kernel():
        return dict(kernel_initializer=_initializer(init), kernel_regularizer=regularizer)

    if layer_type in ("highway", "residual"):
        x = keras.layers.Dense(width, name="proj", **kernel())(x)
        x = _activation_layer(activation, pieces, 0, "proj_act")(x)
    for i in range(1, depth + 1):
        if layer_type == "highway":
            x = Highway(width, activation=activation, transform_bias_init=transform_bias_init,
                        name=f"highway_{i}", **kernel())(x)
        elif layer_type == "maxout":
            x = Maxout(width, pieces, name=f"maxout_{i}", **kernel())(x)
        else:
            shortcut = x
            units = width * pieces if activation == "maxout" else width
            if norm == "weight":
                x = WeightNormDense(units, name=f"dense_{i}", **kernel())(x)
            else:
                use_bias = norm == "none"
                x = keras.layers.Dense(units, use_bias=use_bias, name=f"dense_{i}", **kernel())(x)
            if norm in ("batch", "layer"):
                x = _norm_layer(norm, f"norm_{i}")(x)
            x = _activation_layer(activation, pieces, 0, f"act_{i}")(x)
        if dropout:
            x = _dropout_layer(dropout, activation, f"dropout_{i}")(x)
        if layer_type == "residual":
            x = keras.layers.Add(name=f"add_{i}")([shortcut, x])
    return x


def _cnn_body(x, depth, width, input_dropout, kernel_size, stages, downsample, *, activation, norm,
              dropout, init, pieces, regularizer):
    rank = len(x.shape) - 2
    if norm == "weight":
        conv_cls = WeightNormConv1D if rank == 1 else WeightNormConv2D
    else:
        conv_cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    pool_cls = keras.layers.MaxPooling1D if rank == 1 else keras.layers.MaxPooling2D
    if input_dropout:
        x = _dropout_layer(input_dropout, activation, "input_dropout")(x)
    stage = 0
    for i in range(1, depth + 1):
        new_stage = (i - 1) * stages // depth
        stride = 1
        if new_stage != stage:
            stage = new_stage
            if downsample == "stride":
                stride = 2
            else:
                x = pool_cls(2, padding="same", name=f"pool_{stage}")(x)
        filters = width * 2**stage * (pieces if activation == "maxout" else 1)
        x = conv_cls(
            filters, kernel_size, strides=stride, padding="same", use_bias=norm in ("none", "weight"),
            kernel_initializer=_initializer(init), kernel_regularizer=regularizer, name=f"conv_{i}",
        )(x)
        if norm in ("batch", "layer"):
            x = _norm_layer(norm, f"norm_{i}")(x)
        x = _activation_layer(activation, pieces, rank, f"act_{i}")(x)
        if dropout:
            x = _dropout_layer(dropout, activation, f"dropout_{i}")(x)
    return x


def hidden_layer_names(model) -> list[str]:
    """Names of the layers whose outputs are the hidden activations of a plain net, in depth order.

    These are `act_i` (dense and convolutional stacks), `highway_i` or `maxout_i`.

    Example:
        >>> hidden_layer_names(plain_net("mlp", depth=2, classes=10))
        ['act_1', 'act_2']
    """
    found = []
    for layer in model.layers:
        match = _HIDDEN_NAME.match(layer.name)
        if match:
            found.append((int(match.group(2)), layer.name))
    return [name for _, name in sorted(found)]
