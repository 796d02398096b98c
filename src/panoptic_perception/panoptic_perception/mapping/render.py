"""Render the map into any pinhole camera: class, instance and depth images by z-buffered splatting.

Each occupied voxel centre is projected and splatted as a square of half-width
ceil(f * voxel_size / (2 z)) pixels (its apparent size, capped at ``max_splat_px``); per pixel the
nearest splat wins. Used for label transfer to images and for consistency checks against a camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import MappingInputError
from .panoptic_map import MapSnapshot


@dataclass
class RenderedView:
    class_id: np.ndarray  # (H, W) uint16, 0 where nothing
    instance_id: np.ndarray  # (H, W) uint32
    depth: np.ndarray  # (H, W) float32 along the optical axis [m], 0 where nothing


def render(snapshot: MapSnapshot, K: np.ndarray, width: int, height: int, T_cam_odom: np.ndarray,
           voxel_size: float, max_splat_px: int = 8, near: float = 0.1) -> RenderedView:
    """Render ``snapshot`` seen by a camera with intrinsics ``K`` at pose ``T_cam_odom`` (odom -> optical)."""
    K = np.asarray(K, np.float64)
    T = np.asarray(T_cam_odom, np.float64)
    if K.shape != (3, 3) or T.shape != (4, 4):
        raise MappingInputError(f"render: K must be 3x3 and T_cam_odom 4x4; got {K.shape}, {T.shape}")
    if width <= 0 or height <= 0:
        raise MappingInputError(f"render: image size must be positive; got {width}x{height}")
    cam = snapshot.centres @ T[:3, :3].T + T[:3, 3]
    front = cam[:, 2] > near
    cam = cam[front]
    z = cam[:, 2]
    u = K[0, 0] * cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * cam[:, 1] / z + K[1, 2]
    half = np.minimum(np.ceil(K[0, 0] * voxel_size / (2 * z)), max_splat_px).astype(np.int64)
    rows = np.flatnonzero(front)
    ui, vi = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    pix_parts, z_parts, src_parts = [], [], []
    for dy in range(-max_splat_px, max_splat_px + 1):
        for dx in range(-max_splat_px, max_splat_px + 1):
            m = half >= max(abs(dx), abs(dy))
            if not m.any():
                continue
            x, y = ui[m] + dx, vi[m] + dy
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            pix_parts.append((y * width + x)[inside])
            z_parts.append(z[m][inside])
            src_parts.append(rows[m][inside])
    cls = np.zeros(height * width, np.uint16)
    inst = np.zeros(height * width, np.uint32)
    depth = np.zeros(height * width, np.float32)
    if pix_parts:
        pix, zz, src = np.concatenate(pix_parts), np.concatenate(z_parts), np.concatenate(src_parts)
        order = np.lexsort((zz, pix))  # by pixel, nearest first
        p, first = np.unique(pix[order], return_index=True)
        win = order[first]
        cls[p] = snapshot.class_id[src[win]]
        inst[p] = snapshot.instance_id[src[win]]
        depth[p] = zz[win]
    return RenderedView(cls.reshape(height, width), inst.reshape(height, width), depth.reshape(height, width))
