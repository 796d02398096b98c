"""Which tracks move, in the map's frame, when the tracker ran in the moving sensor's frame.

The perception node tracks in the LiDAR frame (it has no odometry), so a track's velocity is relative
to the vehicle: a parked car seen from a car driving at 10 m/s moves at 10 m/s there. With the poses
``T_now`` and ``T_prev`` (odom <- lidar) of two sweeps ``dt`` apart, a point now at ``c`` in the sensor frame
moves in the odom frame at ``R_prev v + (T_now c - T_prev c) / dt``: its own motion in the sensor frame,
rotated, plus the apparent motion the vehicle's translation and rotation give a static point at ``c``
(exact for ``v`` the sensor-frame displacement over ``dt``: ``T_now c - T_prev (c - v dt)``).
"""

from __future__ import annotations

import numpy as np


def odom_velocities(velocity: np.ndarray, centroid: np.ndarray, T_now: np.ndarray, T_prev: np.ndarray,
                    dt_s: float) -> np.ndarray:
    """(K, 3) velocities [m/s] estimated in the sensor frame, of tracks at (K, 3) ``centroid``, in the odom frame."""
    if dt_s <= 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    v = np.asarray(velocity, np.float64).reshape(-1, 3)
    c = np.asarray(centroid, np.float64).reshape(-1, 3)
    moved = (c @ T_now[:3, :3].T + T_now[:3, 3]) - (c @ T_prev[:3, :3].T + T_prev[:3, 3])
    return v @ T_prev[:3, :3].T + moved / dt_s


def moving_tracks(track_ids: np.ndarray, velocity_odom: np.ndarray, speed_mps: float) -> dict[int, bool]:
    """Track id -> whether its horizontal speed in the odom frame exceeds ``speed_mps``."""
    speed = np.hypot(velocity_odom[:, 0], velocity_odom[:, 1])
    return {int(t): bool(s > speed_mps) for t, s in zip(track_ids, speed, strict=True)}
