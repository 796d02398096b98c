"""Spherical (range-view) projection of a LiDAR sweep, in torch so it can run inside the model.

Paper notation: ``u = 0.5 (1 - atan2(y, x) / pi) W``, ``v = (1 - (asin(z / r) + |f_down|) / f) H``
with ``f = f_up + |f_down|`` the vertical field of view. Rows grow downwards (row 0 looks up);
column 0 looks backwards (azimuth +-180 deg) and azimuth decreases to the right, so the
0/360 deg seam sits between column W-1 and column 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import ModelInputError

# Channel order of the range image features.
RANGE_CHANNELS = ("range", "z", "intensity", "x", "y")


@dataclass(frozen=True)
class RangeViewSpec:
    """Range-image size and the sensor's vertical field of view [deg]."""

    height: int
    width: int
    fov_up_deg: float
    fov_down_deg: float

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ModelInputError(f"range view size must be positive, got {self.height}x{self.width}")
        if self.fov_up_deg <= self.fov_down_deg:
            raise ModelInputError(f"fov_up_deg ({self.fov_up_deg}) must be above fov_down_deg ({self.fov_down_deg})")

    @classmethod
    def hdl64(cls) -> RangeViewSpec:
        return cls(64, 2048, 3.0, -25.0)

    @classmethod
    def vlp32(cls) -> RangeViewSpec:
        return cls(32, 1024, 10.0, -30.0)

    @classmethod
    def tiny(cls) -> RangeViewSpec:
        return cls(16, 128, 10.0, -30.0)


@dataclass
class RangeProjection:
    """A projected sweep.

    ``features`` (5, H, W): r, z, intensity, x, y of the pixel's winning point (0 where empty);
    ``mask`` (H, W) bool; ``point_vu`` (N, 2) long pixel of EVERY point (also those that lost
    their pixel to a nearer point); ``point_range`` (N,); ``pixel_point`` (H, W) long index of the
    winning point, -1 where empty; ``visible`` (N,) bool, True for the winners.
    """

    features: torch.Tensor
    mask: torch.Tensor
    point_vu: torch.Tensor
    point_range: torch.Tensor
    pixel_point: torch.Tensor
    visible: torch.Tensor


def range_view_coordinates(xyz: torch.Tensor, spec: RangeViewSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Continuous (v, u) pixel coordinates and range of (..., 3) points; not clamped."""
    x, y, z = xyz.unbind(-1)
    r = torch.linalg.vector_norm(xyz, dim=-1)
    fov_up = math.radians(spec.fov_up_deg)
    fov_down = math.radians(spec.fov_down_deg)
    fov = fov_up - fov_down
    u = 0.5 * (1.0 - torch.atan2(y, x) / math.pi) * spec.width
    elevation = torch.asin(torch.clamp(z / r.clamp_min(1e-6), -1.0, 1.0))
    v = (1.0 - (elevation + abs(fov_down)) / fov) * spec.height
    return v, u, r


def pixel_indices(v: torch.Tensor, u: torch.Tensor, spec: RangeViewSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixel of continuous coordinates: rows clamped, columns wrapped (u = W is azimuth -180 deg)."""
    row = torch.clamp(torch.floor(v), 0, spec.height - 1).long()
    col = torch.remainder(torch.floor(u).long(), spec.width)
    return row, col


def project_to_range_view(points: torch.Tensor, spec: RangeViewSpec) -> RangeProjection:
    """Project (N, 4) points x, y, z, intensity; the nearest point wins each pixel."""
    if points.ndim != 2 or points.shape[1] != 4:
        raise ModelInputError(f"points must be (N, 4) x, y, z, intensity; got {tuple(points.shape)}")
    points = points.float()
    n = points.shape[0]
    height, width = spec.height, spec.width
    v, u, r = range_view_coordinates(points[:, :3], spec)
    row, col = pixel_indices(v, u, spec)
    flat = row * width + col

    # Nearest wins: per-pixel minimum range, then the lowest point index among exact ties.
    inf = torch.full((height * width,), float("inf"), dtype=points.dtype, device=points.device)
    min_range = inf.scatter_reduce(0, flat, r, reduce="amin", include_self=True)
    is_min = r == min_range[flat]
    index = torch.arange(n, device=points.device)
    sentinel = torch.full((height * width,), n, dtype=torch.long, device=points.device)
    candidate = torch.where(is_min, index, torch.full_like(index, n))
    winner = sentinel.scatter_reduce(0, flat, candidate, reduce="amin", include_self=True)
    mask = winner < n
    pixel_point = torch.where(mask, winner, torch.full_like(winner, -1))
    visible = torch.zeros(n, dtype=torch.bool, device=points.device)
    visible[winner[mask]] = True

    per_point = torch.stack([r, points[:, 2], points[:, 3], points[:, 0], points[:, 1]], dim=0)
    features = torch.zeros(5, height * width, dtype=points.dtype, device=points.device)
    features[:, mask] = per_point[:, winner[mask]]
    return RangeProjection(
        features=features.view(5, height, width),
        mask=mask.view(height, width),
        point_vu=torch.stack([row, col], dim=1),
        point_range=r,
        pixel_point=pixel_point.view(height, width),
        visible=visible,
    )
