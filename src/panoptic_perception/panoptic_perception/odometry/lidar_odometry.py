"""The LiDAR path: scan-to-map ICP against a local map of recent static scans, moving things removed.

Every sweep (whichever path estimated its pose) adds its static points to the local map, so the path
is ready the moment the camera fails. Registration starts from a constant-velocity prediction (from
identity, ICP fails on a 0.8 m step). Points on moving things get weight 0, the same panoptic
weighting as the visual path.

De-skewing: each point is measured from the sensor pose at its own firing time. ``register_sweep``
carries the points to the sweep stamp with the sweep's motion and finds motion and pose together: it
starts from the motion before the sweep, then re-estimates the motion from the previous sweep's pose to
the registered one and registers again until the de-skew settles. De-skewing with the earlier motion
alone (KISS-ICP's constant velocity) feeds each frame's pose error into the next frame's de-skew with
the opposite sign, so errors alternate from frame to frame and do not decay.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from . import motion
from .errors import OdometryInputError
from .lidar_registration import ICPResult, SweepMotion, VoxelMap, deskew, register_scan


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
        self._map: VoxelMap | None = None  # built from _scans on demand, dropped when a scan is added
        self._unskewed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (points, times, pose) of a sweep to de-skew

    @property
    def ready(self) -> bool:
        return len(self._scans) > 0

    def add(self, xyz: np.ndarray, dynamic: np.ndarray, T_odom_lidar: np.ndarray, point_time: np.ndarray | None = None,
            velocity: np.ndarray | None = None) -> None:
        """Insert a scan's static points at its estimated pose, de-skewed with ``velocity`` (body twist per second).

        A sweep with per-point times whose motion is not known yet (``velocity`` None: the first sweep) goes in as
        measured and is de-skewed with the first motion known: by the next ``register_sweep`` or ``add``.
        """
        keep = ~dynamic & (np.linalg.norm(xyz, axis=1) >= self.min_range)  # off moving things and the ego vehicle
        pts = xyz[keep]
        sel = first_per_voxel(pts, self.voxel / 2)
        pts = pts[sel]
        times = None if point_time is None else np.asarray(point_time, dtype=np.float64)[keep][sel]
        if self._unskewed is not None and velocity is not None:
            self._deskew_unskewed(velocity)
        self._unskewed = (pts, times, T_odom_lidar) if times is not None and velocity is None else None
        self._scans.append(_transform(deskew(pts, times, np.zeros(6) if velocity is None else velocity), T_odom_lidar))
        self._map = None

    def _deskew_unskewed(self, velocity: np.ndarray) -> None:
        """Re-insert the sweep added without a known motion (always the newest scan), de-skewed with ``velocity``."""
        assert self._unskewed is not None
        pts, times, T = self._unskewed
        self._scans[-1] = _transform(deskew(pts, times, velocity), T)
        self._map = None

    def voxel_map(self) -> VoxelMap:
        if not self.ready:
            raise OdometryInputError("LidarOdometry.register: the local map is empty; add a scan first")
        if self._map is None:
            self._map = VoxelMap(np.vstack(self._scans), voxel_size=self.voxel)
        return self._map

    def register(self, xyz: np.ndarray, dynamic: np.ndarray, T_predicted: np.ndarray,
                 point_time: np.ndarray | None = None, previous: tuple[float, np.ndarray] | None = None) -> ICPResult:
        """T_odom_lidar of the scan, from the prediction; moving-thing points carry weight 0.

        With ``point_time`` and ``previous`` = (dt [s], T_odom_lidar of the previous sweep dt earlier) the scan is
        raw and de-skewed inside the registration (``SweepMotion``); otherwise it is registered as given.
        """
        voxel_map = self.voxel_map()
        near = np.flatnonzero(np.linalg.norm(xyz, axis=1) >= self.min_range)
        near = near[first_per_voxel(xyz[near], self.voxel / 4)]
        weights = (~dynamic[near]).astype(np.float64)
        sweep = None
        if point_time is not None and previous is not None:
            sweep = SweepMotion(np.asarray(point_time, dtype=np.float64)[near], previous[1], previous[0])
        return register_scan(xyz[near], voxel_map, T_init=T_predicted, weights=weights, max_distance=self.max_distance,
                             sweep=sweep)

    def register_sweep(self, xyz: np.ndarray, dynamic: np.ndarray, T_predicted: np.ndarray, point_time: np.ndarray | None,
                       velocity: np.ndarray, previous: tuple[float, np.ndarray] | None = None, max_passes: int = 6,
                       tolerance: float = 1e-3) -> tuple[ICPResult, np.ndarray]:
        """Register a raw sweep; returns the result and the body twist per second it was de-skewed with.

        ``previous`` = (dt [s], T_odom_lidar of the previous sweep dt earlier): pose and de-skew are estimated together
        (``register``). Without it (or without times) the sweep is de-skewed with ``velocity``, the motion before it.
        A map sweep added before any motion was known is de-skewed with the motion found and the registration
        repeated until no map point moves by more than ``tolerance`` [m] (at most ``max_passes`` registrations; the
        error of that sweep's motion shrinks to about 40 % per pass).
        """
        velocity = np.asarray(velocity, dtype=np.float64)
        if point_time is None or previous is None or not previous[0] > 0:
            return self.register(deskew(xyz, point_time, velocity), dynamic, T_predicted), velocity
        for _ in range(max_passes):
            if self._unskewed is not None:
                self._deskew_unskewed(velocity)
            icp = self.register(xyz, dynamic, T_predicted, point_time, previous)
            found = motion.log(np.linalg.inv(previous[1]) @ icp.T) / previous[0]
            settled = self._unskewed is None or _largest_shift(self._unskewed[0], self._unskewed[1], found - velocity) < tolerance
            velocity, T_predicted = found, icp.T
            if settled:
                break
        if self._unskewed is not None:
            self._deskew_unskewed(velocity)
            self._unskewed = None
        return icp, velocity

    def reset(self) -> None:
        self._scans.clear()
        self._map = None
        self._unskewed = None


def _largest_shift(xyz: np.ndarray, point_time: np.ndarray, velocity_change: np.ndarray) -> float:
    """[m] the most a point's de-skew moves when the velocity changes by ``velocity_change``."""
    shift = deskew(xyz, point_time, velocity_change) - xyz
    return float(np.sqrt((shift**2).sum(axis=1).max())) if len(xyz) else 0.0


def _transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    return points @ T[:3, :3].T + T[:3, 3]
