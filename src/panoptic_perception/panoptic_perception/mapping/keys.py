"""Voxel and block keys packed into int64 (21 bits per axis, ±2^20 cells: ±209 km at 0.2 m)."""

from __future__ import annotations

import numpy as np

_BITS = 21
_OFFSET = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


def voxel_coords(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """(N, 3) integer cell coordinates of points [m]."""
    return np.floor(np.asarray(points, dtype=np.float64) / voxel_size).astype(np.int64)


def pack(coords: np.ndarray) -> np.ndarray:
    """(N, 3) int cell coordinates -> (N,) int64 keys; key order is x-major, then y, then z."""
    c = np.asarray(coords, dtype=np.int64) + _OFFSET
    if c.size and (c.min() < 0 or c.max() > _MASK):
        raise ValueError(f"cell coordinates outside ±{_OFFSET}; points too far from the map origin")
    return (c[:, 0] << (2 * _BITS)) | (c[:, 1] << _BITS) | c[:, 2]


def unpack(keys: np.ndarray) -> np.ndarray:
    """(N,) int64 keys -> (N, 3) int64 cell coordinates."""
    k = np.asarray(keys, dtype=np.int64)
    return np.stack([(k >> (2 * _BITS)) & _MASK, (k >> _BITS) & _MASK, k & _MASK], axis=1) - _OFFSET


def voxel_keys(points: np.ndarray, voxel_size: float) -> np.ndarray:
    return pack(voxel_coords(points, voxel_size))


def centres(keys: np.ndarray, voxel_size: float) -> np.ndarray:
    """(N, 3) float64 voxel centres [m]."""
    return (unpack(keys).astype(np.float64) + 0.5) * voxel_size


def centre_columns(keys: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, z of the voxel centres [m] as three (N,) float64 arrays (``centres`` without the (N, 3) copies)."""
    k = np.asarray(keys, dtype=np.int64)
    return tuple(((((k >> shift) & _MASK) - _OFFSET).astype(np.float64) + 0.5) * voxel_size
                 for shift in (2 * _BITS, _BITS, 0))


def coarsen(keys: np.ndarray, factor: int) -> np.ndarray:
    """Keys of the cells ``factor`` times larger that contain the given voxels (unique, sorted)."""
    return np.unique(pack(np.floor_divide(unpack(keys), factor)))


def block_ids(keys: np.ndarray, voxels_per_block: int) -> np.ndarray:
    """(N,) int64 ids of the 2D (x, y) column blocks holding the voxels."""
    c = np.floor_divide(unpack(keys)[:, :2], voxels_per_block) + _OFFSET
    return (c[:, 0] << _BITS) | c[:, 1]


def block_coords(block_id: int) -> tuple[int, int]:
    return int((block_id >> _BITS) & _MASK) - _OFFSET, int(block_id & _MASK) - _OFFSET


def block_id_of(bx: int, by: int) -> int:
    return ((bx + _OFFSET) << _BITS) | (by + _OFFSET)
