"""Trainable parameters and multiply-adds of the case-study networks, counted from the papers'
architecture tables in plain Python -- independently of kzoo's builders (nothing here imports
kzoo), so the builders' counts can be checked against them and them against the published ones.

Conventions: convolutions before batch norm have no bias (VGG's keep theirs); batch norm has two
trainable vectors; MACs are one per kernel weight per output position (dense layers: per example),
as `kzoo.count_macs`; strided convolutions and pools give ceil(side / stride) (floor for VGG's
2x2 max pools).
"""

from __future__ import annotations

import math


class Tally:
    """Running parameter and MAC totals of a feed-forward net on a square input of `side`."""

    def __init__(self, side):
        self.side, self.params, self.macs = side, 0, 0

    def conv(self, k, cin, cout, stride=1, groups=1, bias=False, bn=True, side=None):
        """A k x k convolution (+BN); `side` counts it at another output side (a shortcut)."""
        if side is None:
            self.side = -(-self.side // stride)
            side = self.side
        weights = k * k * (cin // groups) * cout
        self.params += weights + (cout if bias else 0) + (2 * cout if bn else 0)
        self.macs += weights * side * side

    def dense(self, cin, cout, bn=False):
        self.params += cin * cout + cout + (2 * cout if bn else 0)
        self.macs += cin * cout


def make_divisible(v, divisor=8):
    """MobileNet v2's / EfficientNet's rounding, written out from the reference code."""
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


# --------------------------------------------------------------------------------- ResNeXt
def resnext(blocks, cardinality, group_width, *, side, classes, imagenet, base=64, channels=3):
    """Xie et al.: stages of bottlenecks, widths C*d*2^s, outputs 4*base*2^s, 1x1 projections."""
    t = Tally(side)
    if imagenet:
        t.conv(7, channels, 64, stride=2)
        t.side = -(-t.side // 2)  # 3x3/2 max pool, padding 1
        cin = 64
    else:
        t.conv(3, channels, base)
        cin = base
    for s, n in enumerate(blocks):
        width, out = cardinality * group_width * 2**s, 4 * base * 2**s
        for i in range(n):
            stride = 2 if s > 0 and i == 0 else 1
            t.conv(1, cin, width)
            t.conv(3, width, width, stride=stride, groups=cardinality)
            t.conv(1, width, out)
            if i == 0:
                t.conv(1, cin, out, side=t.side)
            cin = out
    t.dense(cin, classes)
    return t


# ------------------------------------------------------------------------------------- VGG
VGG_CONVS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg(depth, *, bn, side, classes, cifar=False, widths=(64, 128, 256, 512, 512), fc=None,
        channels=3):
    """Simonyan & Zisserman Table 1 (+BN); ImageNet: 7x7 adaptive pool, fc-fc-classes;
    CIFAR (Li et al.): fc (BN) - classes on the pooled 512 features."""
    t = Tally(side)
    cin = channels
    for n, width in zip(VGG_CONVS[depth], widths, strict=True):
        for _ in range(n):
            t.conv(3, cin, width, bias=True, bn=bn or cifar)
            cin = width
        t.side //= 2
    if cifar:
        fc = fc or 512
        t.dense(cin, fc, bn=True)
    else:
        fc = fc or 4096
        t.dense(cin * 49, fc)
        t.dense(fc, fc)
    t.dense(fc, classes)
    return t


# ------------------------------------------------------------------------------- MobileNets
MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
    (1024, 2),
    (1024, 1),
]
MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenet_v1(alpha, *, side, classes, small=False, channels=3):
    """Howard et al. Table 1: conv 3x3/2, 13 x (depthwise 3x3 + pointwise 1x1), pool, fc."""
    t = Tally(side)
    c = int(32 * alpha)
    t.conv(3, channels, c, stride=1 if small else 2)
    for filters, stride in MOBILENET_V1:
        f = int(filters * alpha)
        t.conv(3, c, c, stride=stride, groups=c)
        t.conv(1, c, f)
        c = f
    t.dense(c, classes)
    return t


def mobilenet_v2(alpha, *, side, classes, small=False):
    """Sandler et al. Table 2 as torchvision: inverted residuals, a 1x1 conv to 1280, fc."""
    t = Tally(side)
    c = make_divisible(32 * alpha)
    t.conv(3, 3, c, stride=1 if small else 2)
    for stage, (e, f, n, s) in enumerate(MOBILENET_V2):
        out = make_divisible(f * alpha)
        for i in range(n):
            stride = 1 if i or (small and stage == 1) else s
            hidden = c * e
            if e != 1:
                t.conv(1, c, hidden)
            t.conv(3, hidden, hidden, stride=stride, groups=hidden)
            t.conv(1, hidden, out)
            c = out
    last = make_divisible(1280 * max(1.0, alpha))
    t.conv(1, c, last)
    t.dense(last, classes)
    return t


# ---------------------------------------------------------------------------- EfficientNet
EFFICIENTNET_B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1)]
# Released (width, depth, resolution) of B0-B7 in the reference implementation.
EFFICIENTNET_RELEASED = [(1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260), (1.2, 1.4, 300),
                         (1.4, 1.8, 380), (1.6, 2.2, 456), (1.8, 2.6, 528), (2.0, 3.1, 600)]


def efficientnet(width, depth, *, side, classes):
    """Tan & Le Table 1: stem 3x3/2, MBConv stages (SE on the expanded channels with
    int(in / 4) units), 1x1 conv to 1280, fc; channels and repeats rounded as the reference."""
    t = Tally(side)
    stem = make_divisible(32 * width)
    t.conv(3, 3, stem, stride=2)
    c = stem
    for e, k, s, _, f, n in EFFICIENTNET_B0:
        out = make_divisible(f * width)
        for i in range(int(math.ceil(n * depth))):
            hidden = c * e
            if e != 1:
                t.conv(1, c, hidden)
            t.conv(k, hidden, hidden, stride=s if i == 0 else 1, groups=hidden)
            squeeze = max(1, c // 4)
            t.dense(hidden, squeeze)
            t.dense(squeeze, hidden)
            t.conv(1, hidden, out)
            c = out
    head = make_divisible(1280 * width)
    t.conv(1, c, head)
    t.dense(head, classes)
    return t
