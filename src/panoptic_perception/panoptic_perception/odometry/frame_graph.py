"""Sliding keyframe window with co-visibility edges (DROID-SLAM's factor graph with proximity edges).

Keyframes i and j (positions in the window) are connected when ``|i - j| <= radius`` or when the mean
flow magnitude between them is below ``covis_flow`` [px] (they still see the same scene). A new frame
becomes a keyframe when its mean flow to the last keyframe reaches ``keyframe_flow`` [px].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .errors import OdometryInputError
from .projective_ops import pixel_grid, projective_transform


def mean_flow_magnitude(flow: np.ndarray, confidence: np.ndarray | None = None) -> float:
    """Mean |flow| [px] of an (H, W, 2) flow field, weighted by confidence when given."""
    mag = np.linalg.norm(np.asarray(flow, dtype=np.float64), axis=-1)
    if confidence is None:
        return float(mag.mean())
    w = np.asarray(confidence, dtype=np.float64)
    return float((mag * w).sum() / max(w.sum(), 1e-12))


def frame_distance(poses: torch.Tensor, disps: torch.Tensor, intrinsics: torch.Tensor, ii: torch.Tensor,
                   jj: torch.Tensor) -> torch.Tensor:
    """(E,) mean magnitude [px] of the flow induced by reprojecting frame ii into frame jj (valid pixels)."""
    coords, valid, _ = projective_transform(poses, disps, intrinsics, ii, jj, jacobian=False)
    u, v = pixel_grid(disps.shape[-2], disps.shape[-1], disps.dtype, disps.device)
    mag = (coords - torch.stack([u, v], dim=-1)).norm(dim=-1)
    w = valid.to(disps.dtype)
    return (mag * w).sum((1, 2)) / w.sum((1, 2)).clamp(min=1.0)


class FrameGraph:
    """Keyframe ids in a bounded window (oldest first) and the edges between them."""

    def __init__(self, window: int = 8, radius: int = 2, covis_flow: float = 16.0, keyframe_flow: float = 4.0) -> None:
        if window < 2 or radius < 1:
            raise OdometryInputError(f"window must be >= 2 and radius >= 1, got window={window}, radius={radius}")
        self.window, self.radius = window, radius
        self.covis_flow, self.keyframe_flow = covis_flow, keyframe_flow
        self.keyframes: list[int] = []
        self._flow: dict[tuple[int, int], float] = {}  # mean flow [px] between two keyframe ids, key sorted

    def is_keyframe(self, mean_flow_to_last: float) -> bool:
        """The first frame always is; later ones once the camera moved enough since the last keyframe."""
        return not self.keyframes or mean_flow_to_last >= self.keyframe_flow

    def add(self, frame_id: int, mean_flow: Mapping[int, float] | None = None) -> int | None:
        """Append a keyframe with its measured mean flow to (some) window keyframes; return the evicted id, if any."""
        if frame_id in self.keyframes:
            raise OdometryInputError(f"frame_id: keyframe {frame_id} is already in the window")
        for other, flow in (mean_flow or {}).items():
            if other not in self.keyframes:
                raise OdometryInputError(f"mean_flow: keyframe {other} is not in the window {self.keyframes}")
            self._flow[(min(other, frame_id), max(other, frame_id))] = float(flow)
        self.keyframes.append(frame_id)
        if len(self.keyframes) <= self.window:
            return None
        evicted = self.keyframes.pop(0)
        self._flow = {k: f for k, f in self._flow.items() if evicted not in k}
        return evicted

    def connected(self, a: int, b: int) -> bool:
        """Whether window positions a and b share an edge."""
        if a == b:
            return False
        key = tuple(sorted((self.keyframes[a], self.keyframes[b])))
        return abs(a - b) <= self.radius or self._flow.get(key, np.inf) < self.covis_flow

    def edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(ii, jj) window positions of all directed edges (both directions of each co-visible pair)."""
        n = len(self.keyframes)
        pairs = [(a, b) for a in range(n) for b in range(n) if self.connected(a, b)]
        if not pairs:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        ii, jj = torch.tensor(pairs, dtype=torch.long).unbind(dim=1)
        return ii, jj
