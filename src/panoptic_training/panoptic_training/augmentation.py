"""Spatial augmentations applied to BOTH modalities consistently (numpy, on one cached sample).

- Rotation about z by theta: points p' = R p; the camera still sees the same scene, so
  T_cam_lidar' = T_cam_lidar R^-1. Camera images are untouched (their pose in the world is unchanged).
- Mirror of y: p' = S p with S = diag(1, -1, 1); the camera image (and its semantic GT) is mirrored
  horizontally too, which is the optical-frame mirror D = diag(-1, 1, 1) with cx' = W - 1 - cx
  (pixel centres at integer coordinates), so T_cam_lidar' = D T_cam_lidar S. Every projection of a
  point into a pixel is the mirror image of the original one.

``random_extrinsic_drift`` is different in kind: it corrupts the calibration handed to the model (torch,
on a collated batch), the way a camera that moved on its mount would.
"""

from __future__ import annotations

import numpy as np
import torch

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


def axis_angle_rotations(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotations (..., 3, 3) by ``angle`` [rad] (...) about the unit ``axis`` (..., 3)."""
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).unflatten(-1, (3, 3))
    s, c = angle.sin()[..., None, None], angle.cos()[..., None, None]
    return torch.eye(3, dtype=axis.dtype) + s * k + (1 - c) * k @ k


def random_extrinsic_drift(T_cam_lidar: torch.Tensor, max_deg: float, generator: torch.Generator,
                           prob: float = 0.5) -> torch.Tensor:
    """Each camera's T_cam_lidar (..., 4, 4), with probability ``prob``, left-multiplied by a rotation about a
    uniformly random axis by an angle uniform in [0, ``max_deg``]; the others unchanged."""
    shape = T_cam_lidar.shape[:-2]
    axis = torch.randn(*shape, 3, generator=generator)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    drift = torch.rand(shape, generator=generator) < prob
    angle = torch.rand(shape, generator=generator) * np.radians(max_deg) * drift
    R = torch.eye(4).expand(*shape, 4, 4).clone()
    R[..., :3, :3] = axis_angle_rotations(axis, angle)
    return R.to(T_cam_lidar.dtype) @ T_cam_lidar
