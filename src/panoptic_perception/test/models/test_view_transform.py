import math

import numpy as np
import torch

from panoptic_perception.models import RangeViewSpec, camera_to_range_view, scale_intrinsics
from panoptic_perception.models.view_transform import dense_camera_depth

SPEC = RangeViewSpec.tiny()
STRIDES = (4, 8)


def plane_points(K: np.ndarray, R: np.ndarray, h: int, w: int) -> np.ndarray:
    """LiDAR-frame 3D points (h, w, 3) where each pixel's ray meets the wall x = 8 + 0.3 y."""
    v, u = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    rays_cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T
    rays_lidar = rays_cam @ R  # R^T applied to row vectors
    t = 8.0 / (rays_lidar[..., 0] - 0.3 * rays_lidar[..., 1])
    return rays_lidar * t[..., None]


def reference_warp(points: np.ndarray, values: np.ndarray, stride: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Average of ``values`` of the pixels whose 3D point falls into each range-view cell (float64)."""
    p = points.reshape(-1, 3)
    r = np.linalg.norm(p, axis=1)
    u = 0.5 * (1 - np.arctan2(p[:, 1], p[:, 0]) / math.pi) * SPEC.width
    fov_down = math.radians(-SPEC.fov_down_deg)
    v = (1 - (np.arcsin(p[:, 2] / r) + fov_down) / math.radians(SPEC.fov_up_deg - SPEC.fov_down_deg)) * SPEC.height
    ok = (v >= 0) & (v < SPEC.height)
    cell = (np.floor(v[ok] / stride).astype(int)) * size[1] + (np.floor(u[ok]).astype(int) % SPEC.width) // stride
    total = np.zeros((size[0] * size[1], values.shape[-1]))
    count = np.zeros(size[0] * size[1])
    np.add.at(total, cell, values.reshape(-1, values.shape[-1])[ok])
    np.add.at(count, cell, 1)
    mean = total / np.maximum(count, 1)[:, None]
    return mean.reshape(*size, -1), (count > 0).reshape(size)


def test_warped_features_are_the_average_of_a_known_function_of_the_3d_point(scene):
    K, T = scene.camera_matrices()  # 96 x 32 camera looking along +x
    R_np = T[:3, :3].double().numpy()
    grid_h, grid_w = 8, 24  # stride-4 grid of the 32 x 96 image
    K_grid = scale_intrinsics(K.double(), 0.25, 0.25).numpy()
    true_depth = plane_points(K_grid, R_np, grid_h, grid_w) @ R_np.T  # back to camera frame
    depth_grid = torch.from_numpy(true_depth[..., 2]).float()[None, None]

    features, references = [], []
    for stride in STRIDES:
        K_l = scale_intrinsics(K.double(), 1 / stride, 1 / stride).numpy()
        pts = plane_points(K_l, R_np, 32 // stride, 96 // stride)
        g = np.concatenate([pts, np.linalg.norm(pts, axis=-1, keepdims=True)], -1)  # g(X) = (x, y, z, |X|)
        features.append(torch.from_numpy(g).float().permute(2, 0, 1)[None])
        size = (math.ceil(SPEC.height / stride), math.ceil(SPEC.width / stride))
        references.append((pts, g, size))

    warped = camera_to_range_view(
        features, STRIDES, depth_grid, 4, K[None, None], T[None, None], SPEC, [ref[2] for ref in references], STRIDES
    )
    for stride, (f, mask), (pts, g, size) in zip(STRIDES, warped, references, strict=True):
        expected, expected_mask = reference_warp(pts, g, stride, size)
        got, got_mask = f[0].permute(1, 2, 0).double().numpy(), mask[0, 0].numpy()
        assert got_mask.sum() > 10
        # Cells where a pixel sits on a cell border in float32 vs float64 may differ; allow 2 %.
        agree = got_mask == expected_mask
        assert agree.mean() > 0.98
        close = np.all(np.abs(got - expected) < 1e-3 * (1 + np.abs(expected)), axis=-1)
        assert close[agree & got_mask].mean() > 0.98
        # Unmapped cells are masked and hold zeros; mapped cells average points of the wall.
        assert np.all(got[~got_mask] == 0)
        mean_points = got[got_mask][:, :3]
        assert np.abs(mean_points[:, 0] - 8 - 0.3 * mean_points[:, 1]).max() < 1e-3
        # Only the camera's forward sector is mapped: columns near azimuth 0 (the range-view middle).
        cols = np.nonzero(got_mask)[1] * stride
        assert cols.min() > SPEC.width * 0.25 and cols.max() < SPEC.width * 0.75


def test_lidar_depth_is_densified_into_each_camera_grid(scene):
    K, T = scene.camera_matrices()
    K_grid = scale_intrinsics(K, 0.5, 0.5)  # 16 x 48 grid, about 2 deg per pixel
    # A LiDAR-like sampling of the wall (0.5 x 1.5 deg), projected, rendered and completed.
    az = torch.linspace(-0.9, 0.9, 200)
    el = torch.linspace(-0.45, 0.45, 36)
    A, E = torch.meshgrid(az, el, indexing="ij")
    d = torch.stack([E.cos() * A.cos(), E.cos() * A.sin(), E.sin()], -1).reshape(-1, 3).double()
    t = 8.0 / (d[:, 0] - 0.3 * d[:, 1])
    xyz = (d * t[:, None]).float()[None]
    depth = dense_camera_depth(
        xyz, torch.ones(1, xyz.shape[1], dtype=torch.bool), K_grid[None, None], T[None, None], 16, 48, 100.0
    )
    truth = plane_points(K_grid.double().numpy(), T[:3, :3].double().numpy(), 16, 48) @ T[:3, :3].double().numpy().T
    rel = np.abs(depth[0, 0].numpy() - truth[..., 2]) / truth[..., 2]
    assert (depth > 0).all()
    assert rel.max() < 0.02


def test_a_missing_camera_maps_no_cell(scene):
    K, T = scene.camera_matrices()
    feats = [torch.ones(1, 2, 8, 24), torch.ones(1, 2, 4, 12)]
    warped = camera_to_range_view(
        feats, STRIDES, torch.zeros(1, 1, 8, 24), 4, K[None, None], T[None, None], SPEC, [(4, 32), (2, 16)], STRIDES
    )
    for f, m in warped:
        assert not m.any() and f.abs().sum() == 0
