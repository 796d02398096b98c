"""Small residual conv encoders giving feature maps at strides 4, 8, 16, 32.

Every stride-2 conv is ``k=3, p=1``, so a level has ``ceil(H / stride)`` rows; the view
transform relies on that to find the cell of a range-view pixel (``row // stride``).
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import BACKBONES

STRIDES = (4, 8, 16, 32)


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Basic ResNet block (two 3x3 convs), with a 1x1 projection when shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@BACKBONES.register("residual")
class ResidualEncoder(nn.Module):
    """Stem (two stride-2 convs) then four residual stages; returns maps at strides 4, 8, 16, 32."""

    strides = STRIDES

    def __init__(self, in_channels: int, stem_channels: int, widths: tuple[int, ...], blocks: tuple[int, ...]) -> None:
        super().__init__()
        if len(widths) != 4 or len(blocks) != 4:
            raise ValueError(f"encoder needs 4 stage widths and block counts, got {widths} and {blocks}")
        self.out_channels = tuple(int(w) for w in widths)
        self.stem = nn.Sequential(
            conv_bn_relu(in_channels, stem_channels, stride=2),
            conv_bn_relu(stem_channels, stem_channels, stride=2),
        )
        stages = []
        c_prev = stem_channels
        for i, (width, n_blocks) in enumerate(zip(widths, blocks, strict=True)):
            layers = [ResidualBlock(c_prev, width, stride=1 if i == 0 else 2)]
            layers += [ResidualBlock(width, width) for _ in range(max(int(n_blocks), 1) - 1)]
            stages.append(nn.Sequential(*layers))
            c_prev = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
