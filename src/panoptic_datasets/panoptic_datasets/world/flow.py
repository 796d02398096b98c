"""Forward optical flow ground truth: where each pixel's surface point is one frame later."""

from __future__ import annotations

import numpy as np

from panoptic_perception.core import CameraModel


def forward_flow(cam: CameraModel, points: np.ndarray, tri_agent: np.ndarray, T_agent_now: np.ndarray,
                 T_agent_next: np.ndarray, active_next: np.ndarray, T_map_cam_next: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 flow [px] from pixel centres; NaN for sky and surfaces gone or behind the camera.

    ``points`` (H*W, 3) are the map-frame hits of the frame (NaN for sky), ``tri_agent`` (H*W,) the
    agent index of each hit (-1: static). Static points stay put; agent points move rigidly with
    their agent: ``X' = T_agent(t+1) T_agent(t)^-1 X``.
    """
    H, W = cam.height, cam.width
    hi = np.flatnonzero(np.isfinite(points[:, 0]))
    moved = points[hi]
    agent = tri_agent[hi]
    dyn = np.flatnonzero(agent >= 0)
    valid = np.ones(len(hi), dtype=bool)
    if len(dyn):
        delta = T_agent_next @ np.linalg.inv(T_agent_now)
        a = agent[dyn]
        moved[dyn] = np.einsum("nij,nj->ni", delta[a, :3, :3], moved[dyn]) + delta[a, :3, 3]
        valid[dyn] = active_next[a]
    T_cam_map = np.linalg.inv(T_map_cam_next)
    pc = np.einsum("ij,kj->ik", moved, T_cam_map[:3, :3]) + T_cam_map[:3, 3]
    valid &= pc[:, 2] > 1e-3
    z = np.where(valid, pc[:, 2], 1.0)
    u = pc[:, 0] / z * cam.K[0, 0] + cam.K[0, 2] - (hi % W + 0.5)
    v = pc[:, 1] / z * cam.K[1, 1] + cam.K[1, 2] - (hi // W + 0.5)
    flow = np.full((H * W, 2), np.nan, dtype=np.float32)
    flow[hi[valid], 0] = u[valid]
    flow[hi[valid], 1] = v[valid]
    return flow.reshape(H, W, 2)
