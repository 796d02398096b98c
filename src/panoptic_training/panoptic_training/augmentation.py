"""Spatial augmentations applied to BOTH modalities consistently (numpy, on one cached sample).

- Rotation about z by theta: points p' = R p; the camera still sees the same scene, so
  T_cam_lidar' = T_cam_lidar R^-1. Camera images are untouched (their pose in the world is unchanged).
- Mirror of y: p' = S p with S = diag(1, -1, 1); the camera image (and its semantic GT) is mirrored
  horizontally too, which is the optical-frame mirror D = diag(-1, 1, 1) with cx' = W - 1 - cx
  (pixel centres at integer coordinates), so T_cam_lidar' = D T_cam_lidar S. Every projection of a
  point into a pixel is the mirror image of the original one.
"""

from __future__ import annotations

import numpy as np

from .config import DataConfig


def rotation_z(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


def rotate_z(sample: dict[str, np.ndarray], theta: float) -> dict[str, np.ndarray]:
    R = rotation_z(theta)
    out = dict(sample)
    points = sample["points"].copy()
    points[:, :3] = points[:, :3] @ R[:3, :3].T.astype(np.float32)
    out["points"] = points
    out["T_cam_lidar"] = sample["T_cam_lidar"] @ R.T  # R^-1 = R^T
    return out


def flip_y(sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    S = np.diag([1.0, -1.0, 1.0, 1.0])
    D = np.diag([-1.0, 1.0, 1.0, 1.0])
    out = dict(sample)
    points = sample["points"].copy()
    points[:, 1] *= -1
    out["points"] = points
    out["T_cam_lidar"] = D @ sample["T_cam_lidar"] @ S
    width = sample["images"].shape[2]  # images (M, H, W, 3)
    K = sample["K"].copy()
    K[:, 0, 2] = width - 1 - K[:, 0, 2]
    out["K"] = K
    out["images"] = np.ascontiguousarray(sample["images"][:, :, ::-1])
    out["camera_semantic"] = np.ascontiguousarray(sample["camera_semantic"][:, :, ::-1])
    return out


def augment_sample(sample: dict[str, np.ndarray], config: DataConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random mirror (probability ``flip_y_prob``) then a random yaw in +-``rotate_z_deg``."""
    if rng.random() < config.flip_y_prob:
        sample = flip_y(sample)
    if config.rotate_z_deg > 0:
        sample = rotate_z(sample, np.radians(rng.uniform(-config.rotate_z_deg, config.rotate_z_deg)))
    return sample
