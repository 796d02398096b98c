"""The LiDAR path: scan-to-map ICP against a local map of recent static scans, moving things removed.

Every sweep (whichever path estimated its pose) adds its static points to the local map, so the path
is ready the moment the camera fails. Registration starts from a constant-velocity prediction (from
identity, ICP fails on a 0.8 m step). Points on moving things get weight 0, the same panoptic
weighting as the visual path.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .errors import OdometryInputError
from .lidar_registration import ICPResult, VoxelMap, register_scan


def first_per_voxel(points: np.ndarray, voxel: float) -> np.ndarray:
    """Indices of one point per occupied voxel (the first), a cheap per-scan thinning."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.floor(points / voxel).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    flat = (keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]
    _, idx = np.unique(flat, return_index=True)
    return np.sort(idx)


class LidarOdometry:
    """Local map of the last ``map_scans`` static scans (odom frame) and point-to-plane registration."""

    def __init__(self, voxel: float = 0.5, map_scans: int = 10, max_distance: float = 1.5, min_range: float = 2.0) -> None:
        if voxel <= 0 or map_scans < 1:
            raise OdometryInputError(f"voxel must be > 0 and map_scans >= 1, got {voxel}, {map_scans}")
        self.voxel, self.max_distance, self.min_range = voxel, max_distance, min_range
        self._scans: deque[np.ndarray] = deque(maxlen=map_scans)

    @property
    def ready(self) -> bool:
        return len(self._scans) > 0

    def static_points(self, xyz: np.ndarray, dynamic: np.ndarray) -> np.ndarray:
        """Points off moving things and beyond ``min_range`` (the ego vehicle's own returns)."""
        keep = ~dynamic & (np.linalg.norm(xyz, axis=1) >= self.min_range)
        return xyz[keep]

    def add(self, xyz: np.ndarray, dynamic: np.ndarray, T_odom_lidar: np.ndarray) -> None:
        """Insert a scan's static points at its estimated pose."""
        pts = self.static_points(xyz, dynamic)
        pts = pts[first_per_voxel(pts, self.voxel / 2)]
        self._scans.append(pts @ T_odom_lidar[:3, :3].T + T_odom_lidar[:3, 3])

    def register(self, xyz: np.ndarray, dynamic: np.ndarray, T_predicted: np.ndarray) -> ICPResult:
        """T_odom_lidar of the scan, from the prediction; moving-thing points carry weight 0."""
        if not self.ready:
            raise OdometryInputError("LidarOdometry.register: the local map is empty; add a scan first")
        voxel_map = VoxelMap(np.vstack(self._scans), voxel_size=self.voxel)
        near = np.flatnonzero(np.linalg.norm(xyz, axis=1) >= self.min_range)
        near = near[first_per_voxel(xyz[near], self.voxel / 4)]
        weights = (~dynamic[near]).astype(np.float64)
        return register_scan(xyz[near], voxel_map, T_init=T_predicted, weights=weights, max_distance=self.max_distance)

    def reset(self) -> None:
        self._scans.clear()
