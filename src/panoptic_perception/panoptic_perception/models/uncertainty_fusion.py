"""Uncertainty-aware LiDAR-camera fusion (UP-Fuse) and the concatenation baseline.

At each scale: an MLP predicts the instability ``d`` of the warped camera features (optionally
with the LiDAR features of the cell as a consistency cue),
``U = 1 - exp(-d)``; camera features are modulated ``F_C' = (1 - U) * F_C``; a deformable
cross-modal attention (1 level, P sampling points) with LiDAR queries ``F_L`` samples ``F_C'``
and gives ``F_A``; the fused map is ``F_F = F_L + F_A``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .registry import FUSION_MODULES

MAX_INSTABILITY = 15.0  # caps d in U so that U < 1 in float32


@dataclass
class FusionOutput:
    fused: torch.Tensor  # F_F (B, C_L, H, W)
    uncertainty: torch.Tensor | None  # U (B, 1, H, W) in [0, 1); None when the module has none
    instability: torch.Tensor | None  # d (B, 1, H, W) >= 0, for the instability loss


class InstabilityHead(nn.Module):
    """Three 1x1-conv layers: warped camera features -> instability d >= 0.

    With ``lidar_channels`` > 0 the LiDAR features of the cell are a second input: a consistency cue that lets
    the head see camera features that do not belong to the cell (a drifted extrinsic), which no property of
    the camera features alone reveals.
    """

    def __init__(self, channels: int, hidden: int, lidar_channels: int = 0) -> None:
        super().__init__()
        self.lidar_channels = lidar_channels
        self.mlp = nn.Sequential(
            nn.Conv2d(channels + lidar_channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, f_cam: torch.Tensor, f_lidar: torch.Tensor) -> torch.Tensor:
        x = torch.cat([f_cam, f_lidar], dim=1) if self.lidar_channels else f_cam
        return F.softplus(self.mlp(x))


def uncertainty_from_instability(d: torch.Tensor) -> torch.Tensor:
    """U = 1 - exp(-d) (paper's mapping of instability to uncertainty)."""
    return -torch.expm1(-d.clamp(max=MAX_INSTABILITY))


def instability_loss(
    d: torch.Tensor, f_orig: torch.Tensor, f_aug: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Huber loss (delta = 1) between d and the feature shift ||F_orig - F_aug||_2 over channels.

    ``d`` (B, 1, H, W); features (B, C, H, W); ``mask`` (B, 1, H, W) bool restricts to mapped cells.
    """
    target = torch.linalg.vector_norm((f_orig - f_aug).detach(), dim=1, keepdim=True)
    loss = F.huber_loss(d, target, reduction="none", delta=1.0)
    if mask is None:
        return loss.mean()
    weight = mask.to(loss.dtype)
    return (loss * weight).sum() / weight.sum().clamp_min(1.0)


class DeformableCrossModalAttention(nn.Module):
    """Deformable attention (Zhu et al. 2021), 1 level, ``points`` samples per head, via grid_sample.

    Queries are LiDAR features; sampling offsets [cells] and attention weights are predicted from
    them; values are projected camera features, zeroed where no camera pixel maps. The output
    projection has no bias, so if every sample falls on unmapped cells the output is exactly 0.
    """

    def __init__(self, query_channels: int, value_channels: int, heads: int = 1, points: int = 4) -> None:
        super().__init__()
        if query_channels % heads:
            raise ValueError(f"query_channels {query_channels} not divisible by heads {heads}")
        self.heads, self.points = heads, points
        self.offsets = nn.Conv2d(query_channels, heads * points * 2, 1)
        self.weights = nn.Conv2d(query_channels, heads * points, 1)
        self.value = nn.Conv2d(value_channels, query_channels, 1)
        self.output = nn.Conv2d(query_channels, query_channels, 1, bias=False)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Deformable DETR's init: head h, point p starts at radius p+1 along the head's direction.
        nn.init.zeros_(self.offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2 * math.pi / self.heads)
        direction = torch.stack([angles.cos(), angles.sin()], -1)
        direction = direction / direction.abs().max(-1, keepdim=True).values
        bias = direction[:, None, :] * torch.arange(1, self.points + 1, dtype=torch.float32)[None, :, None]
        with torch.no_grad():
            self.offsets.bias.copy_(bias.flatten())
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)

    def forward(self, f_lidar: torch.Tensor, f_cam: torch.Tensor, cam_mask: torch.Tensor) -> torch.Tensor:
        b, c, h, w = f_lidar.shape
        nh, p = self.heads, self.points
        value = self.value(f_cam) * cam_mask.to(f_cam.dtype)
        value = value.view(b * nh, c // nh, h, w)
        offsets = self.offsets(f_lidar).view(b, nh, p, 2, h, w)
        attn = self.weights(f_lidar).view(b, nh, p, h, w).softmax(dim=2)
        ys, xs = torch.meshgrid(
            torch.arange(h, device=f_lidar.device, dtype=f_lidar.dtype),
            torch.arange(w, device=f_lidar.device, dtype=f_lidar.dtype),
            indexing="ij",
        )
        x = (xs + 0.5 + offsets[:, :, :, 0]) / w * 2 - 1  # (B, nh, P, H, W), align_corners=False
        y = (ys + 0.5 + offsets[:, :, :, 1]) / h * 2 - 1
        grid = torch.stack([x, y], dim=-1).view(b * nh, p * h, w, 2)
        sampled = F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(b, nh, c // nh, p, h, w)
        out = (sampled * attn[:, :, None]).sum(dim=3).reshape(b, c, h, w)
        return self.output(out)


@FUSION_MODULES.register("upfuse")
class UncertaintyAwareFusion(nn.Module):
    """One scale of UP-Fuse fusion: F_F = F_L + DeformAttn(F_L, (1 - U) * F_C)."""

    def __init__(self, lidar_channels: int, camera_channels: int, heads: int = 1, points: int = 4, hidden: int = 32,
                 lidar_cue: bool = False) -> None:
        super().__init__()
        self.instability = InstabilityHead(camera_channels, hidden, lidar_channels if lidar_cue else 0)
        self.attention = DeformableCrossModalAttention(lidar_channels, camera_channels, heads, points)

    def forward(self, f_lidar: torch.Tensor, f_cam: torch.Tensor, cam_mask: torch.Tensor) -> FusionOutput:
        d = self.instability(f_cam, f_lidar)
        u = uncertainty_from_instability(d)
        f_cam_mod = (1.0 - u) * f_cam  # Eq.: F_C' = (1 - U) * F_C
        f_a = self.attention(f_lidar, f_cam_mod, cam_mask)
        return FusionOutput(fused=f_lidar + f_a, uncertainty=u, instability=d)


@FUSION_MODULES.register("concat")
class ConcatFusion(nn.Module):
    """Baseline: F_F = Conv1x1([F_L, M * F_C]); no uncertainty."""

    def __init__(self, lidar_channels: int, camera_channels: int, **_: object) -> None:
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(lidar_channels + camera_channels, lidar_channels, 1, bias=False),
            nn.BatchNorm2d(lidar_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, f_lidar: torch.Tensor, f_cam: torch.Tensor, cam_mask: torch.Tensor) -> FusionOutput:
        fused = self.project(torch.cat([f_lidar, f_cam * cam_mask.to(f_cam.dtype)], dim=1))
        return FusionOutput(fused=fused, uncertainty=None, instability=None)
