"""PyTorch twins of kzoo's CIFAR ResNet, WRN and DenseNet-BC, for the benchmark's references only.

Written here because torchvision has no CIFAR ResNet (shortcut A), Wide ResNet or DenseNet-BC for
32x32 inputs, and torchvision cannot be installed beside this machine's CPU torch wheel anyway.
Each twin has the same layers, shapes and trainable parameter count as kzoo's model (the harness
asserts the counts before timing); initialisation does not matter for throughput and is left at
PyTorch's defaults. Import only where torch is installed (`pip install 'kzoo[bench]'`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Keras `momentum=0.9` is PyTorch's `momentum=0.1` (the running average keeps 0.9 of its value).
_BN = dict(eps=1e-5, momentum=0.1)


def _conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class _BasicV1(nn.Module):
    """Post-activation basic block with the parameter-free shortcut A (kzoo `BasicBlock`)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = _conv3(cin, cout, stride), nn.BatchNorm2d(cout, **_BN)
        self.conv2, self.bn2 = _conv3(cout, cout), nn.BatchNorm2d(cout, **_BN)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        s = x[:, :, :: self.stride, :: self.stride] if self.stride == 2 else x
        if self.extra:
            s = F.pad(s, (0, 0, 0, 0, 0, self.extra))
        return F.relu(h + s)


class _BasicV2(nn.Module):
    """Pre-activation basic block; 1x1 projection of the pre-activated input where shapes change."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin, **_BN), _conv3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout, **_BN), _conv3(cout, cout)
        project = stride != 1 or cin != cout
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if project else None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        h = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return h + (x if self.shortcut is None else self.shortcut(pre))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2), v1, shortcut A: kzoo's `resnet20` / `resnet56`."""

    def __init__(self, depth, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(_conv3(3, 16), nn.BatchNorm2d(16, **_BN), nn.ReLU())
        blocks, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for b in range(n):
                blocks.append(_BasicV1(cin, cout, 2 if stage and not b else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class WideResNet(nn.Module):
    """WRN-depth-width (pre-activation, 1x1 projections): kzoo's `wrn_16_8`."""

    def __init__(self, depth, width, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        self.stem = _conv3(3, 16)
        blocks, cin = [], 16
        for stage, cout in enumerate((16 * width, 32 * width, 64 * width)):
            for b in range(n):
                blocks.append(_BasicV2(cin, cout, 2 if stage and not b else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin, **_BN)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        h = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


class _DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k), concatenated to its input."""

    def __init__(self, cin, k):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin, **_BN), nn.Conv2d(cin, 4 * k, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(4 * k, **_BN), _conv3(4 * k, k)

    def forward(self, x):
        h = self.conv1(F.relu(self.bn1(x)))
        return torch.cat([x, self.conv2(F.relu(self.bn2(h)))], 1)


class _Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn, self.conv = nn.BatchNorm2d(cin, **_BN), nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBC(nn.Module):
    """DenseNet-BC (bottleneck, compression 0.5, stem 2k): kzoo's `densenet_bc_100_12`."""

    def __init__(self, depth, k, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        layers, c = [_conv3(3, 2 * k)], 2 * k
        for b in range(3):
            for _ in range(n):
                layers.append(_DenseLayer(c, k))
                c += k
            if b < 2:
                layers.append(_Transition(c, c // 2))
                c //= 2
        self.features = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c, **_BN)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        h = F.relu(self.bn(self.features(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


BUILDERS = {
    "resnet20": lambda classes: ResNetCifar(20, classes),
    "resnet56": lambda classes: ResNetCifar(56, classes),
    "resnet110": lambda classes: ResNetCifar(110, classes),
    "resnet1202": lambda classes: ResNetCifar(1202, classes),
    "wrn_16_8": lambda classes: WideResNet(16, 8, classes),
    "densenet_bc_100_12": lambda classes: DenseNetBC(100, 12, classes),
}


def torch_model(name: str, classes: int = 10) -> nn.Module:
    """The PyTorch twin of kzoo model `name` (one of `BUILDERS`)."""
    if name not in BUILDERS:
        raise ValueError(
            f"`name` must be a model with a PyTorch twin ({', '.join(BUILDERS)}); received "
            f"name={name!r}."
        )
    return BUILDERS[name](classes)


def trainable_params(module: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
