"""View transformation: camera features -> range view (UP-Fuse Sec. "view transformation").

LiDAR points are projected into each camera and densified (``depth_completion``); every camera
feature pixel at every scale is back-projected with that depth, mapped into the range view with
the same spherical projection as the LiDAR, and its features are averaged into the range-view
cell it lands in (scatter-add + count: colliding pixels, also from several cameras, average).
Cells that receive no pixel are marked by a mask and hold zeros.

Pixel convention: pixel centres at integer coordinates; a map at stride ``s`` of an image has
pixel ``j`` centred at image coordinate ``(j + 0.5) s - 0.5``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .depth_completion import complete_depth, render_sparse_depth
from .range_view import RangeViewSpec, range_view_coordinates

DEPTH_EPS = 1e-3  # [m]


def scale_intrinsics(K: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """Intrinsics of an image resampled by (sx, sy) (pixel-centre convention)."""
    K = K.clone()
    K[..., 0, 0] = K[..., 0, 0] * sx
    K[..., 0, 1] = K[..., 0, 1] * sx
    K[..., 0, 2] = (K[..., 0, 2] + 0.5) * sx - 0.5
    K[..., 1, 1] = K[..., 1, 1] * sy
    K[..., 1, 2] = (K[..., 1, 2] + 0.5) * sy - 0.5
    return K


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product over the last axis (written out: ONNX has no cross-product operator)."""
    a0, a1, a2 = a.unbind(-1)
    b0, b1, b2 = b.unbind(-1)
    return torch.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=-1)


def invert_3x3(m: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 3, 3) matrices by the adjugate; ONNX has no matrix-inverse operator.

    With rows r0, r1, r2 of M, the columns of M^-1 are (r1 x r2, r2 x r0, r0 x r1) / det M.
    """
    r0, r1, r2 = m.unbind(-2)
    columns = torch.stack([cross(r1, r2), cross(r2, r0), cross(r0, r1)], dim=-1)
    det = (r0 * cross(r1, r2)).sum(-1)
    return columns / det[..., None, None]


def project_to_cameras(xyz: torch.Tensor, K: torch.Tensor, T_cam_lidar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, N, 3) LiDAR points -> pixel coordinates (B, M, N, 2) and depth (B, M, N) in M cameras."""
    # xyz R^T as a matrix product: ONNX Runtime runs its einsum form several times slower on a CPU
    cam = torch.matmul(xyz[:, None], T_cam_lidar[..., :3, :3].transpose(-1, -2)) + T_cam_lidar[..., None, :3, 3]
    depth = cam[..., 2]
    pix = torch.einsum("bmij,bmnj->bmni", K, cam)
    uv = pix[..., :2] / depth.clamp_min(DEPTH_EPS)[..., None]
    return uv, depth


def dense_camera_depth(
    xyz: torch.Tensor,
    point_valid: torch.Tensor,
    K_grid: torch.Tensor,
    T_cam_lidar: torch.Tensor,
    height: int,
    width: int,
    max_depth: float,
) -> torch.Tensor:
    """Completed depth (B*M, 1, height, width) on a camera grid whose intrinsics are ``K_grid``."""
    b, m = K_grid.shape[:2]
    uv, depth = project_to_cameras(xyz, K_grid, T_cam_lidar)
    valid = point_valid[:, None, :].expand(b, m, -1) & (depth > DEPTH_EPS)
    sparse = render_sparse_depth(uv.flatten(0, 1), depth.flatten(0, 1), valid.flatten(0, 1), height, width)
    return complete_depth(sparse, max_depth=max_depth)


def sample_depth(depth: torch.Tensor, grid_stride: int, level_stride: int, size: tuple[int, int]) -> torch.Tensor:
    """Depth at the pixel centres of a coarser level, interpolating INVERSE depth (exact on planes).

    ``depth`` (B, 1, h, w) lives on the stride-``grid_stride`` grid; returns (B, h_l, w_l), 0 where
    any interpolation neighbour is empty.
    """
    b, _, h, w = depth.shape
    h_l, w_l = size
    f = level_stride / grid_stride
    ys = (torch.arange(h_l, device=depth.device, dtype=depth.dtype) + 0.5) * f - 0.5
    xs = (torch.arange(w_l, device=depth.device, dtype=depth.dtype) + 0.5) * f - 0.5
    gy = (ys + 0.5) / h * 2 - 1
    gx = (xs + 0.5) / w * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1).expand(b, h_l, w_l, 2)
    valid = (depth > DEPTH_EPS).to(depth.dtype)
    inv = torch.where(depth > DEPTH_EPS, 1.0 / depth.clamp_min(DEPTH_EPS), torch.zeros_like(depth))
    sampled = F.grid_sample(torch.cat([inv, valid], 1), grid, mode="bilinear", padding_mode="border", align_corners=False)
    ok = sampled[:, 1] > 1 - 1e-4
    return torch.where(ok, 1.0 / sampled[:, 0].clamp_min(1e-9), torch.zeros_like(sampled[:, 0]))


def backproject_to_range_view(
    depth: torch.Tensor, K: torch.Tensor, T_cam_lidar: torch.Tensor, spec: RangeViewSpec
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Range-view (v, u) of every camera pixel: ``depth`` (B, M, h, w) on a grid with intrinsics K.

    Returns v, u (B, M*h*w) continuous full-resolution range-view coordinates and a valid mask
    (pixel has depth and lands inside the LiDAR's vertical field of view).
    """
    b, m, h, w = depth.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=depth.device, dtype=depth.dtype),
        torch.arange(w, device=depth.device, dtype=depth.dtype),
        indexing="ij",
    )
    pix = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, 1, h * w, 3)
    rays = torch.einsum("bmij,bmnj->bmni", invert_3x3(K), pix.expand(b, m, -1, -1))
    cam = rays * depth.view(b, m, h * w, 1)
    # p_lidar = R^T (p_cam - t)
    R = T_cam_lidar[..., :3, :3]
    t = T_cam_lidar[..., :3, 3]
    lidar = torch.einsum("bmji,bmnj->bmni", R, cam - t[:, :, None, :])
    v, u, _ = range_view_coordinates(lidar, spec)
    valid = (depth.view(b, m, h * w) > DEPTH_EPS) & (v >= 0) & (v < spec.height)
    return v.reshape(b, -1), u.reshape(b, -1), valid.reshape(b, -1)


def warp_to_range_view(
    features: torch.Tensor,
    v: torch.Tensor,
    u: torch.Tensor,
    valid: torch.Tensor,
    stride: int,
    size: tuple[int, int],
    spec: RangeViewSpec,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Average (B, C, P) pixel features into the range-view cells of one level.

    ``v, u, valid`` (B, P) as from ``backproject_to_range_view``; returns features (B, C, h, w) and
    mask (B, 1, h, w) of cells that received at least one pixel.
    """
    b, c, p = features.shape
    h, w = size
    row = torch.floor(v / stride).long().clamp(0, h - 1)
    col = torch.div(torch.remainder(torch.floor(u).long(), spec.width), stride, rounding_mode="floor").clamp(0, w - 1)
    dump = h * w
    flat = torch.where(valid, row * w + col, torch.full_like(row, dump))
    summed = features.new_zeros(b, c, dump + 1).scatter_add_(2, flat[:, None, :].expand(b, c, p), features)
    count = features.new_zeros(b, 1, dump + 1).scatter_add_(2, flat[:, None, :], valid[:, None, :].to(features.dtype))
    summed, count = summed[..., :dump], count[..., :dump]
    mean = summed / count.clamp_min(1.0)
    return mean.view(b, c, h, w), (count > 0).view(b, 1, h, w)


def camera_to_range_view(
    camera_features: list[torch.Tensor],
    camera_strides: tuple[int, ...],
    depth_grid: torch.Tensor,
    depth_stride: int,
    K_image: torch.Tensor,
    T_cam_lidar: torch.Tensor,
    spec: RangeViewSpec,
    range_sizes: list[tuple[int, int]],
    range_strides: tuple[int, ...],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Warp every camera scale into its range-view scale.

    ``camera_features[l]`` (B*M, C_l, h_l, w_l) at ``camera_strides[l]`` of the image whose
    intrinsics are ``K_image`` (B, M, 3, 3); ``depth_grid`` (B*M, 1, h, w) completed depth on the
    stride-``depth_stride`` grid. Returns per level (features (B, C_l, H_l, W_l), mask (B, 1, H_l, W_l)).
    """
    b, m = K_image.shape[:2]
    out = []
    for feats, c_stride, size, r_stride in zip(camera_features, camera_strides, range_sizes, range_strides, strict=True):
        _, c, h_l, w_l = feats.shape
        depth = sample_depth(depth_grid, depth_stride, c_stride, (h_l, w_l)).view(b, m, h_l, w_l)
        K_l = scale_intrinsics(K_image, 1.0 / c_stride, 1.0 / c_stride)
        v, u, valid = backproject_to_range_view(depth, K_l, T_cam_lidar, spec)
        per_pixel = feats.view(b, m, c, h_l * w_l).permute(0, 2, 1, 3).reshape(b, c, m * h_l * w_l)
        out.append(warp_to_range_view(per_pixel, v, u, valid, r_stride, size, spec))
    return out
