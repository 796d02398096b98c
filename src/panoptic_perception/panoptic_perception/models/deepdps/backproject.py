"""Camera-only fallback: a depth-aware panoptic image becomes a 3D panoptic cloud in the LiDAR frame.

Pixel centres sit at integer coordinates (as in ``CameraModel.project``); a pixel (u, v) with depth
d along the optical axis is ``p_cam = d * K^-1 (u, v, 1)`` and ``p_lidar = T_cam_lidar^-1 p_cam``.
Lens distortion is ignored, as in ``CameraModel.project``. ROS-free; numpy in, numpy out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from panoptic_perception.core import CameraModel, PanopticCloud

from ..errors import ModelInputError


def _array(name: str, value: Any, shape: tuple[int, int]) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ModelInputError(f"back-projection: {name} must have the camera's image shape {shape}, got {arr.shape}")
    return arr


def backproject_pixels(u: np.ndarray, v: np.ndarray, depth: np.ndarray, camera: CameraModel) -> np.ndarray:
    """Pixels (N,) u right, v down, with depth (N,) [m] along the optical axis -> (N, 3) LiDAR-frame points."""
    K = camera.K
    x = (np.asarray(u, dtype=np.float64) - K[0, 2]) / K[0, 0]
    y = (np.asarray(v, dtype=np.float64) - K[1, 2]) / K[1, 1]
    d = np.asarray(depth, dtype=np.float64)
    cam = np.stack([x * d, y * d, d], axis=1)
    R, t = camera.T_cam_lidar[:3, :3], camera.T_cam_lidar[:3, 3]
    return (cam - t) @ R  # R^T (p_cam - t), row-vector form


def camera_panoptic_cloud(
    camera: CameraModel,
    class_id: Any,
    instance_id: Any,
    score: Any,
    depth: Any,
    uncertainty: Any,
    stride: int = 4,
    stamp_ns: int = 0,
    frame_id: str = "lidar",
    max_depth: float = float("inf"),
) -> PanopticCloud:
    """Back-project every ``stride``-th pixel (rows and columns from 0) with a valid depth (0 < d <= max_depth).

    Per-pixel maps (H, W) at the camera's image size (numpy arrays or torch tensors). Intensity is 0
    (a camera measures none). ``uncertainty`` is the prediction's depth uncertainty in [0, 1].
    """
    if stride < 1:
        raise ModelInputError(f"back-projection: stride must be >= 1, got {stride}")
    shape = (camera.height, camera.width)
    maps = {
        name: _array(name, value, shape)[::stride, ::stride]
        for name, value in (
            ("class_id", class_id),
            ("instance_id", instance_id),
            ("score", score),
            ("depth", depth),
            ("uncertainty", uncertainty),
        )
    }
    v, u = np.mgrid[0 : camera.height : stride, 0 : camera.width : stride]
    d = maps["depth"].astype(np.float64)
    keep = np.isfinite(d) & (d > 0) & (d <= max_depth)
    xyz = backproject_pixels(u[keep], v[keep], d[keep], camera)
    points = np.zeros((xyz.shape[0], 4), dtype=np.float32)
    points[:, :3] = xyz
    return PanopticCloud(
        stamp_ns=stamp_ns,
        points=points,
        class_id=maps["class_id"][keep].astype(np.uint16),
        instance_id=maps["instance_id"][keep].astype(np.uint32),
        score=maps["score"][keep].astype(np.float32),
        uncertainty=np.clip(maps["uncertainty"][keep], 0.0, 1.0).astype(np.float32),
        frame_id=frame_id,
    )


def prediction_to_cloud(
    prediction: Any, camera: CameraModel, stride: int = 4, stamp_ns: int = 0, frame_id: str = "lidar"
) -> PanopticCloud:
    """``camera_panoptic_cloud`` of a ``DepthPanopticPrediction``."""
    return camera_panoptic_cloud(
        camera,
        prediction.class_id,
        prediction.instance_id,
        prediction.score,
        prediction.depth,
        prediction.uncertainty,
        stride=stride,
        stamp_ns=stamp_ns,
        frame_id=frame_id,
    )
