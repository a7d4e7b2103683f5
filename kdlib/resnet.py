"""CIFAR-form residual networks (He et al., 2016) for the practical experiment of Fig. 5 left and Fig. S1.

The paper distils a ResNet-50 teacher into ResNet-18 students on CIFAR-10 (Sec. S2, S4: teacher
6.97 % test error, student from scratch 10.48 %). This module builds those networks in the form
commonly used for 32×32 inputs: a 3×3 stride-1 stem convolution and no max-pool (He et al. 2016,
Sec. 4.2, use the same stem for CIFAR; the stage widths and block counts are those of their
ImageNet ResNet-18/50, Table 1), four stages of widths w, 2w, 4w, 8w with strides 1, 2, 2, 2,
global average pooling and one linear layer. At w = 64 and 10 classes ResNet-18 has 11,173,962
parameters and ResNet-50 23,520,842, the counts of the widely used CIFAR implementations
(e.g. github.com/kuangliu/pytorch-cifar). A smaller ``width`` gives the same topology with
≈ (w/64)² of the parameters and FLOPs, for quick profiles.

The stride of a bottleneck stage sits on its 3×3 convolution ("ResNet v1.5", as in torchvision);
projection shortcuts (1×1 convolution + batch norm) are used where the shape changes (option B of
He et al.). Initialisation follows torchvision: He-normal (fan-out) convolutions, batch-norm
γ = 1, β = 0, and PyTorch's default uniform linear layer, all drawn from an optional generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ARCHITECTURES", "BasicBlock", "Bottleneck", "ResNet", "forward_flops", "resnet"]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(_conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (He et al. 2016, Fig. 2; ResNet-18/34).

    relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); the first convolution carries the stride.
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = _shortcut(in_channels, channels * self.expansion, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def convolutions(self) -> list[nn.Conv2d]:
        """The residual branch's convolutions in order (for :func:`forward_flops`)."""
        return [self.conv1, self.conv2]

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (with the stride), 1×1 expand ×4, plus a residual (He et al. 2016, Fig. 5; ResNet-50)."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = _conv1x1(channels, channels * self.expansion)
        self.bn3 = nn.BatchNorm2d(channels * self.expansion)
        self.shortcut = _shortcut(in_channels, channels * self.expansion, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def convolutions(self) -> list[nn.Conv2d]:
        """The residual branch's convolutions in order (for :func:`forward_flops`)."""
        return [self.conv1, self.conv2, self.conv3]

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-form ResNet: 3×3 stem, four stages (strides 1, 2, 2, 2), average pool, linear.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-50.
        num_classes: number of output logits (≥ 1).
        width: channels of the stem and first stage (64 in He et al.); stage k has width·2^k
            (times the block's expansion at its output).
        in_channels: input channels (3 for CIFAR, 1 for 8×8 digits).
        zero_init_residual: start each block's last batch-norm at γ = 0, so every block starts as
            its shortcut (Goyal et al., 2017); off by default, as in He et al.
        generator: CPU generator for the initialisation (repeatable models); None uses torch's global one.
    Forward:
        images (N, in_channels, H, W), any H, W ≥ 1 → logits (N, num_classes). The final
        feature map is averaged over whatever spatial size it has (4×4 for 32×32 inputs, 1×1 for 8×8).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        *,
        num_classes: int = 10,
        width: int = 64,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or any(not isinstance(n, int) or n < 1 for n in layers):
            raise ValueError(f"layers must be four block counts ≥ 1, got {tuple(layers)!r}")
        for name, value in (("num_classes", num_classes), ("width", width), ("in_channels", in_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
        self.block_name = block.__name__
        self.layers_per_stage = tuple(layers)
        self.width, self.in_channels, self.num_classes = width, in_channels, num_classes
        self.stem = nn.Sequential(_conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        channels_in = width
        stages = []
        for stage, count in enumerate(layers):
            channels = width * 2**stage
            blocks = []
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(block(channels_in, channels, stride))
                channels_in = channels * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels_in, num_classes)
        self._initialize(zero_init_residual, generator)

    def _initialize(self, zero_init_residual: bool, generator: torch.Generator | None) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        bound = 1.0 / math.sqrt(self.fc.in_features)  # nn.Linear's default, drawn from the generator
        nn.init.kaiming_uniform_(self.fc.weight, a=math.sqrt(5), generator=generator)
        nn.init.uniform_(self.fc.bias, -bound, bound, generator=generator)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, BasicBlock | Bottleneck):
                    nn.init.zeros_(module.last_bn.weight)

    def features(self, x: Tensor) -> Tensor:
        """The pooled penultimate features, shape (N, 8·width·expansion)."""
        return torch.flatten(self.pool(self.stages(self.stem(x))), 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"images must have shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.fc(self.features(x))


ARCHITECTURES: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}
"""Name → (block, blocks per stage), Table 1 of He et al. (2016)."""


def resnet(
    name: str,
    *,
    num_classes: int = 10,
    width: int = 64,
    in_channels: int = 3,
    zero_init_residual: bool = False,
    generator: torch.Generator | None = None,
) -> ResNet:
    """Build a CIFAR-form ResNet by name: "resnet18" (the paper's students), "resnet50" (its teacher), "resnet34".

    Names are matched ignoring case, '-' and '_' ("ResNet-18" works). See :class:`ResNet` for the
    other arguments; ``width=64`` is He et al.'s network, a smaller width a narrow copy.

    Raises:
        ValueError: unknown name (the message lists the known ones) or invalid sizes.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in ARCHITECTURES:
        raise ValueError(f"name must be one of {sorted(ARCHITECTURES)}, got {name!r}")
    block, layers = ARCHITECTURES[key]
    return ResNet(block, layers, num_classes=num_classes, width=width, in_channels=in_channels,
                  zero_init_residual=zero_init_residual, generator=generator)


def _conv_flops(conv: nn.Conv2d, height: int, width: int) -> tuple[int, int, int]:
    """2·C_out·(C_in/groups)·k_h·k_w·H_out·W_out and the output size, from the layer's settings."""
    sizes = []
    for size, kernel, stride, padding, dilation in zip(
        (height, width), conv.kernel_size, conv.stride, conv.padding, conv.dilation, strict=True
    ):
        sizes.append((size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1)
    out_h, out_w = sizes
    macs = conv.out_channels * (conv.in_channels // conv.groups) * conv.kernel_size[0] * conv.kernel_size[1]
    return 2 * macs * out_h * out_w, out_h, out_w


def forward_flops(model: ResNet, image_size: int | tuple[int, int] = 32) -> int:
    """Forward-pass FLOPs per image of a :class:`ResNet`: 2 × the multiply-adds of its convolutions and linear layer.

    Computed analytically from each layer's channels, kernel, stride and padding, following the
    spatial size through the network. Batch norm, ReLU, residual additions and pooling (about one
    operation per activation, < 1 % of the total, and bound by memory traffic rather than arithmetic)
    are not counted, which is also what ``torch.utils.flop_counter.FlopCounterMode`` counts. A
    training step (forward, backward for activations and for weights) costs about 3× this.
    For reference: ResNet-18 at 32×32, width 64, ≈ 1.11 GFLOPs; ResNet-50 ≈ 2.6 GFLOPs.

    Args:
        model: the network.
        image_size: H (square) or (H, W) of the input, each ≥ 1.
    Returns:
        FLOPs for one image (an exact integer).
    """
    if not isinstance(model, ResNet):
        raise ValueError(f"model must be a kdlib.resnet.ResNet, got {type(model).__name__}")
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if not (isinstance(height, int) and isinstance(width, int) and height >= 1 and width >= 1):
        raise ValueError(f"image_size must be a positive int or (H, W) pair, got {image_size!r}")
    total, height, width = _conv_flops(model.stem[0], height, width)
    for stage in model.stages:
        for block in stage:
            if isinstance(block.shortcut, nn.Sequential):
                total += _conv_flops(block.shortcut[0], height, width)[0]
            for conv in block.convolutions():
                flops, height, width = _conv_flops(conv, height, width)
                total += flops
    return total + 2 * model.fc.in_features * model.fc.out_features
