"""Every built-in model as data: its family builder, the arguments that make the variant, the paper and
its published results.

A row is what timm's variant functions say in code (`resnet50 = ResNet(Bottleneck, [3, 4, 6, 3])`),
written as data so that the registry lists the models without importing TensorFlow and the tuner reads
a variant's depth, width or growth rate instead of parsing its name. A variant's arguments are
defaults: every one of them can be overridden by keyword (`create_model("wrn_28_10", dropout=0.3)`;
`create_model("plain_cnn", depth=55)` is plain-56).
"""

from __future__ import annotations

from kzoo.models import papers
from kzoo.models.papers import (
    GLOROT_2010,
    GOODFELLOW_2013,
    HE_2015,
    HE_2016,
    HOWARD_2017,
    HU_2018,
    HUANG_2017,
    KLAMBAUER_2017,
    LI_2017,
    SANDLER_2018,
    SIMONYAN_2015,
    SRIVASTAVA_2015,
    TAN_2019,
    XIE_2017,
    ZAGORUYKO_2016,
)

MLP = (784,)
CIFAR = (32, 32, 3)
IMAGENET = (224, 224, 3)
SEQUENCE = (40, 1)  # MNIST-1D
C10, C100, TOP1 = "cifar10_error", "cifar100_error", "imagenet_top1_error"


def _torchvision(top1_accuracy: float) -> dict:
    # torchvision's IMAGENET1K_V1 weights for exactly this architecture (single 224 crop).
    return {TOP1: round(100.0 - top1_accuracy, 3)}


# (name, family module, family builder, variant arguments, paper, input shape, published, summary)
VARIANTS = (
    # --- plain networks (kzoo.models.plain.plain_net) ---
    ("plain_mlp", "plain", "plain_net", dict(kind="mlp", depth=3, width=256, name="plain_mlp"),
     GLOROT_2010, MLP, {}, "Plain MLP: 3 hidden layers of 256 ReLU units, He init."),
    ("deep_plain_mlp", "plain", "plain_net",
     dict(kind="mlp", depth=20, width=71, name="deep_plain_mlp"), SRIVASTAVA_2015, MLP, {},
     "Deep plain MLP: 20 hidden layers of 71 ReLU units -- the plain counterpart of highway_mlp "
     "with about as many parameters (Srivastava et al. Fig. 1)."),
    ("highway_mlp", "plain", "plain_net",
     dict(kind="mlp", depth=20, width=50, layer_type="highway", name="highway_mlp"),
     SRIVASTAVA_2015, MLP, {},
     "Highway MLP: a Dense projection to 50 ReLU units, then 20 highway layers (gate bias -2)."),
    ("residual_mlp", "plain", "plain_net",
     dict(kind="mlp", depth=8, width=256, layer_type="residual", name="residual_mlp"),
     HE_2015, MLP, {},
     "Residual MLP: a projection to 256 ReLU units, then 8 dense layers with identity shortcuts "
     "(the ResNet MLPs Klambauer et al. 2017 compare SNNs with)."),
    ("maxout_mlp", "plain", "plain_net",
     dict(kind="mlp", depth=2, width=240, layer_type="maxout", pieces=5, input_dropout=0.2,
          dropout=0.5, name="maxout_mlp"),
     GOODFELLOW_2013, MLP, {"mnist_error": 0.94},
     "Maxout MLP: two maxout layers of 240 units x 5 pieces, input dropout 0.2, hidden dropout "
     "0.5 (the paper's permutation-invariant MNIST network, Section 5.1)."),
    ("plain_cnn", "plain", "plain_net",
     dict(kind="cnn", depth=19, width=16, norm="batch", name="plain_cnn"), HE_2015, CIFAR, {},
     "Plain CNN: He et al.'s CIFAR plain-20, ResNet-20 without its shortcuts (depth=55 gives "
     "plain-56; input_shape=(40, 1) makes it a Conv1D net)."),
    # --- self-normalising networks (kzoo.models.snn.snn_mlp) ---
    ("snn_mlp", "snn", "snn_mlp", {}, KLAMBAUER_2017, MLP, {"uci121_avg_rank_diff": -0.756},
     "Self-normalizing MLP: 8 Dense layers of 256 SELU units, LeCun-normal weights, "
     "AlphaDropout 0.05."),
    # --- CIFAR ResNets (kzoo.models.resnet.resnet_cifar), He et al. 2015 Table 6 ---
    ("resnet20", "resnet", "resnet_cifar", dict(depth=20), HE_2015, CIFAR, {C10: 8.75},
     "ResNet-20 (CIFAR): n=3 basic blocks per stage, shortcut A."),
    ("resnet32", "resnet", "resnet_cifar", dict(depth=32), HE_2015, CIFAR, {C10: 7.51},
     "ResNet-32 (CIFAR): n=5 basic blocks per stage, shortcut A."),
    ("resnet44", "resnet", "resnet_cifar", dict(depth=44), HE_2015, CIFAR, {C10: 7.17},
     "ResNet-44 (CIFAR): n=7 basic blocks per stage, shortcut A."),
    ("resnet56", "resnet", "resnet_cifar", dict(depth=56), HE_2015, CIFAR, {C10: 6.97},
     "ResNet-56 (CIFAR): n=9 basic blocks per stage, shortcut A."),
    ("resnet110", "resnet", "resnet_cifar", dict(depth=110), HE_2015, CIFAR, {C10: 6.43},
     "ResNet-110 (CIFAR): n=18 basic blocks per stage, shortcut A."),
    ("resnet1202", "resnet", "resnet_cifar", dict(depth=1202), HE_2015, CIFAR, {C10: 7.93},
     "ResNet-1202 (CIFAR): n=200 basic blocks per stage, shortcut A."),
    # He et al. 2016 Table 3: pre-activation, 1x1 projection shortcuts.
    ("preact_resnet110", "resnet", "resnet_cifar", dict(depth=110, preact=True, shortcut="B"),
     HE_2016, CIFAR, {C10: 6.37},
     "Pre-activation ResNet-110: n=18 basic blocks per stage, 1x1 projections (shortcut B)."),
    ("preact_resnet164", "resnet", "resnet_cifar",
     dict(depth=164, preact=True, bottleneck=True, shortcut="B"), HE_2016, CIFAR, {C10: 5.46},
     "Pre-activation ResNet-164: n=18 bottleneck blocks per stage, 1x1 projections."),
    ("preact_resnet1001", "resnet", "resnet_cifar",
     dict(depth=1001, preact=True, bottleneck=True, shortcut="B"), HE_2016, CIFAR, {C10: 4.92},
     "Pre-activation ResNet-1001: n=111 bottleneck blocks per stage, 1x1 projections."),
    # Hu et al. 2018: SE gates (r=16) on post-activation ResNets, and on the pre-activation ResNets
    # of their CIFAR table.
    ("se_resnet20", "resnet", "resnet_cifar", dict(depth=20, se_ratio=16), HU_2018, CIFAR, {},
     "SE-ResNet-20: ResNet-20 (shortcut A) with an r=16 SE gate on every residual branch."),
    ("se_resnet56", "resnet", "resnet_cifar", dict(depth=56, se_ratio=16), HU_2018, CIFAR, {},
     "SE-ResNet-56: ResNet-56 (shortcut A) with an r=16 SE gate on every residual branch."),
    ("se_resnet110", "resnet", "resnet_cifar", dict(depth=110, se_ratio=16), HU_2018, CIFAR, {},
     "SE-ResNet-110: ResNet-110 (shortcut A) with an r=16 SE gate on every residual branch."),
    ("se_preact_resnet110", "resnet", "resnet_cifar",
     dict(depth=110, preact=True, se_ratio=16, shortcut="B"), HU_2018, CIFAR, {C10: 5.21},
     "SE-ResNet-110 as Hu et al. train it on CIFAR: pre-activation ResNet-110 with r=16 SE gates."),
    ("se_preact_resnet164", "resnet", "resnet_cifar",
     dict(depth=164, preact=True, bottleneck=True, se_ratio=16, shortcut="B"), HU_2018, CIFAR,
     {C10: 4.39},
     "SE-ResNet-164: pre-activation bottleneck ResNet-164 with r=16 SE gates on the 4x channels."),
    # --- ImageNet ResNets (kzoo.models.resnet_imagenet.resnet_imagenet), torchvision's layout ---
    ("resnet18", "resnet_imagenet", "resnet_imagenet", dict(depth=18), HE_2015, IMAGENET,
     _torchvision(69.758), "ResNet-18 (ImageNet form): basic blocks 2-2-2-2."),
    ("resnet34", "resnet_imagenet", "resnet_imagenet", dict(depth=34), HE_2015, IMAGENET,
     _torchvision(73.314), "ResNet-34 (ImageNet form): basic blocks 3-4-6-3."),
    ("resnet50", "resnet_imagenet", "resnet_imagenet", dict(depth=50), HE_2015, IMAGENET,
     _torchvision(76.130),
     "ResNet-50 (ImageNet form): bottleneck blocks 3-4-6-3, stride on the 3x3 convolution."),
    ("resnet101", "resnet_imagenet", "resnet_imagenet", dict(depth=101), HE_2015, IMAGENET,
     _torchvision(77.374), "ResNet-101 (ImageNet form): bottleneck blocks 3-4-23-3."),
    ("resnet152", "resnet_imagenet", "resnet_imagenet", dict(depth=152), HE_2015, IMAGENET,
     _torchvision(78.312), "ResNet-152 (ImageNet form): bottleneck blocks 3-8-36-3."),
    # --- Wide ResNets (kzoo.models.wide_resnet.wide_resnet), Zagoruyko & Komodakis Table 4 ---
    ("wrn_16_4", "wide_resnet", "wide_resnet", dict(depth=16, widen_factor=4), ZAGORUYKO_2016,
     CIFAR, {}, "WRN-16-4: n=2 blocks per stage, widths 64/128/256."),
    ("wrn_16_8", "wide_resnet", "wide_resnet", dict(depth=16, widen_factor=8), ZAGORUYKO_2016,
     CIFAR, {C10: 4.27, C100: 20.43}, "WRN-16-8: n=2 blocks per stage, widths 128/256/512."),
    # Without dropout; with dropout=0.3 the paper reports 3.89 (CIFAR-10) and 18.85 (CIFAR-100).
    ("wrn_28_10", "wide_resnet", "wide_resnet", dict(depth=28, widen_factor=10), ZAGORUYKO_2016,
     CIFAR, {C10: 4.00, C100: 19.25}, "WRN-28-10: n=4 blocks per stage, widths 160/320/640."),
    ("wrn_40_4", "wide_resnet", "wide_resnet", dict(depth=40, widen_factor=4), ZAGORUYKO_2016,
     CIFAR, {}, "WRN-40-4: n=6 blocks per stage, widths 64/128/256."),
    # --- DenseNets (kzoo.models.densenet.densenet), Huang et al. Table 2 ---
    ("densenet_40_12", "densenet", "densenet",
     dict(depth=40, growth_rate=12, bottleneck=False, compression=1.0), HUANG_2017, CIFAR,
     {C10: 5.24, C100: 24.42}, "DenseNet (L=40, k=12): 1.0M parameters."),
    ("densenet_bc_100_12", "densenet", "densenet",
     dict(depth=100, growth_rate=12, bottleneck=True, compression=0.5), HUANG_2017, CIFAR,
     {C10: 4.51, C100: 22.27}, "DenseNet-BC (L=100, k=12): 0.8M parameters."),
    ("densenet_bc_250_24", "densenet", "densenet",
     dict(depth=250, growth_rate=24, bottleneck=True, compression=0.5), HUANG_2017, CIFAR,
     {C10: 3.62, C100: 17.60}, "DenseNet-BC (L=250, k=24): 15.3M parameters."),
    ("densenet_bc_190_40", "densenet", "densenet",
     dict(depth=190, growth_rate=40, bottleneck=True, compression=0.5), HUANG_2017, CIFAR,
     {C10: 3.46, C100: 17.18}, "DenseNet-BC (L=190, k=40): 25.6M parameters."),
    # --- recurrent nets (kzoo.models.recurrent.recurrent_net), on MNIST-1D's (40, 1) sequences ---
    ("lstm", "recurrent", "recurrent_net", dict(cell="lstm", units=32, depth=2, name="lstm"),
     papers.HOCHREITER_1997, SEQUENCE, {},
     "Stacked LSTM: 2 layers of 32 units; the last step's output feeds the classifier."),
    ("gru", "recurrent", "recurrent_net",
     dict(cell="gru", units=6, bidirectional=True, readout="flatten", name="gru"),
     papers.GREYDANUS_2020, SEQUENCE, {"mnist1d_error": 9.0},
     "Greydanus' MNIST-1D GRU: one bidirectional GRU of 6 units, every step's output flattened "
     "into the classifier (5,134 parameters)."),
    ("grid_lstm", "recurrent", "recurrent_net",
     dict(cell="grid_lstm", units=16, depth=3, tied=True, name="grid_lstm"),
     papers.KALCHBRENNER_2015, SEQUENCE, {},
     "Tied 2-D Grid LSTM: 3 blocks of 16 units along depth per time step, weights shared across "
     "depth; the last step's top output feeds the classifier."),

    # --- ResNeXt (kzoo.models.resnext), Xie et al. 2017 Table 7 (CIFAR) and torchvision (ImageNet) ---
    ("resnext29_8x64d", "resnext", "resnext_cifar", dict(depth=29, cardinality=8, group_width=64),
     XIE_2017, CIFAR, {C10: 3.65, C100: 17.77},
     "ResNeXt-29 8x64d (CIFAR): 3 stages of 3 blocks, 8 groups of 64 channels in stage 1."),
    ("resnext29_16x64d", "resnext", "resnext_cifar",
     dict(depth=29, cardinality=16, group_width=64), XIE_2017, CIFAR, {C10: 3.58, C100: 17.31},
     "ResNeXt-29 16x64d (CIFAR): 3 stages of 3 blocks, 16 groups of 64 channels in stage 1."),
    ("resnext50_32x4d", "resnext", "resnext_imagenet",
     dict(depth=50, cardinality=32, group_width=4), XIE_2017, IMAGENET, _torchvision(77.618),
     "ResNeXt-50 32x4d (ImageNet, torchvision's layout): ResNet-50 with 32-group 3x3 convs."),
    ("resnext101_32x8d", "resnext", "resnext_imagenet",
     dict(depth=101, cardinality=32, group_width=8), XIE_2017, IMAGENET, _torchvision(79.312),
     "ResNeXt-101 32x8d (ImageNet, torchvision's layout): ResNet-101 with 32-group 3x3 convs."),
    # --- VGG (kzoo.models.vgg), configurations D and E; torchvision's errors ---
    ("vgg16", "vgg", "vgg", dict(depth=16, batch_norm=False), SIMONYAN_2015, IMAGENET,
     _torchvision(71.592), "VGG-16 (configuration D): 13 3x3 convs, 3 dense layers, dropout 0.5."),
    ("vgg16_bn", "vgg", "vgg", dict(depth=16, batch_norm=True), SIMONYAN_2015, IMAGENET,
     _torchvision(73.360), "VGG-16 with batch norm after every convolution (torchvision)."),
    ("vgg19_bn", "vgg", "vgg", dict(depth=19, batch_norm=True), SIMONYAN_2015, IMAGENET,
     _torchvision(74.218), "VGG-19 (configuration E) with batch norm after every convolution."),
    ("vgg16_cifar", "vgg", "vgg_cifar", dict(depth=16), LI_2017, CIFAR, {C10: 6.75},
     "VGG-16 for CIFAR (Li et al. 2017): BN after every conv, then 512-BN-ReLU and classes."),
    # --- MobileNets (kzoo.models.mobilenet); v1: Howard et al. Tables 6-7; v2: torchvision ---
    ("mobilenet_v1", "mobilenet", "mobilenet_v1", dict(alpha=1.0, name="mobilenet_v1"),
     HOWARD_2017, IMAGENET, {TOP1: 29.4},
     "1.0 MobileNet-224: 13 depthwise-separable blocks (the paper: 569M mult-adds, 4.2M)."),
    ("mobilenet_v1_075", "mobilenet", "mobilenet_v1", dict(alpha=0.75, name="mobilenet_v1_075"),
     HOWARD_2017, IMAGENET, {TOP1: 31.6}, "0.75 MobileNet-224: width multiplier 0.75."),
    ("mobilenet_v1_050", "mobilenet", "mobilenet_v1", dict(alpha=0.5, name="mobilenet_v1_050"),
     HOWARD_2017, IMAGENET, {TOP1: 36.3}, "0.5 MobileNet-224: width multiplier 0.5."),
    ("mobilenet_v1_025", "mobilenet", "mobilenet_v1", dict(alpha=0.25, name="mobilenet_v1_025"),
     HOWARD_2017, IMAGENET, {TOP1: 49.4}, "0.25 MobileNet-224: width multiplier 0.25."),
    ("mobilenet_v1_160", "mobilenet", "mobilenet_v1",
     dict(alpha=1.0, resolution_multiplier=160 / 224, name="mobilenet_v1_160"), HOWARD_2017,
     (160, 160, 3), {TOP1: 32.8}, "1.0 MobileNet-160: resolution multiplier 160/224."),
    ("mobilenet_v1_128", "mobilenet", "mobilenet_v1",
     dict(alpha=1.0, resolution_multiplier=128 / 224, name="mobilenet_v1_128"), HOWARD_2017,
     (128, 128, 3), {TOP1: 35.6}, "1.0 MobileNet-128: resolution multiplier 128/224."),
    ("mobilenet_v1_cifar", "mobilenet", "mobilenet_v1",
     dict(alpha=1.0, small_inputs=True, name="mobilenet_v1_cifar"), HOWARD_2017, CIFAR, {},
     "MobileNet v1 for 32x32 inputs: the stem convolution at stride 1 (no published result)."),
    ("mobilenet_v2", "mobilenet", "mobilenet_v2", dict(alpha=1.0, name="mobilenet_v2"),
     SANDLER_2018, IMAGENET, _torchvision(71.878),
     "MobileNet v2 (torchvision's layout): 17 inverted residuals, expansion 6, ReLU6."),
    ("mobilenet_v2_cifar", "mobilenet", "mobilenet_v2",
     dict(alpha=1.0, small_inputs=True, name="mobilenet_v2_cifar"), SANDLER_2018, CIFAR, {},
     "MobileNet v2 for 32x32 inputs: stride 1 in the stem and stage 2 (no published result)."),
    # --- EfficientNet (kzoo.models.efficientnet.efficientnet), Tan & Le Table 2. B0 is phi = 0;
    # B1-B7 use the reference implementation's released (width, depth, resolution, dropout). ---
    ("efficientnet_b0", "efficientnet", "efficientnet",
     dict(phi=0, dropout=0.2, name="efficientnet_b0"),
     TAN_2019, (224, 224, 3), {TOP1: 22.9},
     "EfficientNet-B0: 16 MBConv blocks (SE, SiLU), compound coefficient phi = 0."),
    ("efficientnet_b1", "efficientnet", "efficientnet",
     dict(width_coefficient=1.0, depth_coefficient=1.1, resolution=240, dropout=0.2,
          name="efficientnet_b1"),
     TAN_2019, (240, 240, 3), {TOP1: 20.9},
     "EfficientNet-B1: width x1.0, depth x1.1, 240 px (the released coefficients)."),
    ("efficientnet_b2", "efficientnet", "efficientnet",
     dict(width_coefficient=1.1, depth_coefficient=1.2, resolution=260, dropout=0.3,
          name="efficientnet_b2"),
     TAN_2019, (260, 260, 3), {TOP1: 19.9},
     "EfficientNet-B2: width x1.1, depth x1.2, 260 px (the released coefficients)."),
    ("efficientnet_b3", "efficientnet", "efficientnet",
     dict(width_coefficient=1.2, depth_coefficient=1.4, resolution=300, dropout=0.3,
          name="efficientnet_b3"),
     TAN_2019, (300, 300, 3), {TOP1: 18.4},
     "EfficientNet-B3: width x1.2, depth x1.4, 300 px (the released coefficients)."),
    ("efficientnet_b4", "efficientnet", "efficientnet",
     dict(width_coefficient=1.4, depth_coefficient=1.8, resolution=380, dropout=0.4,
          name="efficientnet_b4"),
     TAN_2019, (380, 380, 3), {TOP1: 17.1},
     "EfficientNet-B4: width x1.4, depth x1.8, 380 px (the released coefficients)."),
    ("efficientnet_b5", "efficientnet", "efficientnet",
     dict(width_coefficient=1.6, depth_coefficient=2.2, resolution=456, dropout=0.4,
          name="efficientnet_b5"),
     TAN_2019, (456, 456, 3), {TOP1: 16.4},
     "EfficientNet-B5: width x1.6, depth x2.2, 456 px (the released coefficients)."),
    ("efficientnet_b6", "efficientnet", "efficientnet",
     dict(width_coefficient=1.8, depth_coefficient=2.6, resolution=528, dropout=0.5,
          name="efficientnet_b6"),
     TAN_2019, (528, 528, 3), {TOP1: 16.0},
     "EfficientNet-B6: width x1.8, depth x2.6, 528 px (the released coefficients)."),
    ("efficientnet_b7", "efficientnet", "efficientnet",
     dict(width_coefficient=2.0, depth_coefficient=3.1, resolution=600, dropout=0.5,
          name="efficientnet_b7"),
     TAN_2019, (600, 600, 3), {TOP1: 15.7},
     "EfficientNet-B7: width x2.0, depth x3.1, 600 px (the released coefficients)."),
)
