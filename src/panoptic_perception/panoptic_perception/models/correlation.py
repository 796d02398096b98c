"""All-pairs correlation pyramid with a windowed lookup around the current flow (RAFT / DROID-SLAM).

``C(x, y) = <f0(x), f1(y)> / sqrt(D)`` for every pixel pair of two 1/8-resolution feature maps, then
average-pooled over ``y`` into ``levels`` scales. A lookup samples, at every level ``l``, the
``(2r+1)^2`` window around ``(x + flow(x)) / 2^l`` bilinearly (zeros outside the map).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ModelInputError


def coords_grid(batch: int, height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(B, 2, H, W) pixel coordinates (x, y) of each cell."""
    y, x = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                          torch.arange(width, device=device, dtype=torch.float32), indexing="ij")
    return torch.stack((x, y)).unsqueeze(0).expand(batch, -1, -1, -1)


def bilinear_sample(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Sample (N, C, H, W) at pixel coordinates (N, h, w, 2) as (x, y); zeros outside (align_corners)."""
    height, width = image.shape[-2:]
    x = 2 * coords[..., 0] / max(width - 1, 1) - 1
    y = 2 * coords[..., 1] / max(height - 1, 1) - 1
    return F.grid_sample(image, torch.stack((x, y), dim=-1), mode="bilinear", padding_mode="zeros", align_corners=True)


class CorrelationPyramid:
    """The correlation volume of one image pair and its lookup; built once, looked up every iteration."""

    def __init__(self, fmap0: torch.Tensor, fmap1: torch.Tensor, levels: int, radius: int) -> None:
        if fmap0.shape != fmap1.shape or fmap0.ndim != 4:
            raise ModelInputError(f"feature maps must both be (B, D, H, W), got {tuple(fmap0.shape)} and {tuple(fmap1.shape)}")
        if levels < 1 or radius < 0:
            raise ModelInputError(f"levels must be >= 1 and radius >= 0, got {levels} and {radius}")
        batch, dim, height, width = fmap0.shape
        self.levels, self.radius = levels, radius
        corr = torch.einsum("bdn,bdm->bnm", fmap0.flatten(2), fmap1.flatten(2)) / dim**0.5
        corr = corr.reshape(batch * height * width, 1, height, width)
        self.pyramid = [corr]
        for _ in range(levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2, ceil_mode=True) if min(corr.shape[-2:]) > 1 else corr
            self.pyramid.append(corr)
        d = torch.arange(-radius, radius + 1, dtype=fmap0.dtype, device=fmap0.device)
        dy, dx = torch.meshgrid(d, d, indexing="ij")
        self.offsets = torch.stack((dx, dy), dim=-1).view(1, 2 * radius + 1, 2 * radius + 1, 2)

    @property
    def channels(self) -> int:
        return self.levels * (2 * self.radius + 1) ** 2

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """(B, 2, H, W) target coordinates ``x + flow`` -> (B, levels * (2r+1)^2, H, W) correlation features.

        Channel order: level, then window row (dy), then window column (dx).
        """
        batch, _, height, width = coords.shape
        centre = coords.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        out = []
        for level, corr in enumerate(self.pyramid):
            window = centre / 2**level + self.offsets
            sampled = bilinear_sample(corr, window)  # (BHW, 1, 2r+1, 2r+1)
            out.append(sampled.view(batch, height, width, -1))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2).contiguous()
