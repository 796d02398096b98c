"""A spinning LiDAR by ray casting, with the motion distortion of a real sensor.

Column c fires at ``t_c = (c + 0.5) / columns / rate`` after the sweep stamp, from the LiDAR
pose at that instant; its azimuth runs clockwise from behind (``pi`` -> ``-pi``) like a
Velodyne, so the front is swept mid-period. Each point is reported in the sensor frame of its
own firing instant (what the sensor measures); ``point_time`` allows de-skewing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..frame import LidarSpec
from .raycast import RayScene

RANGE_NOISE_STD = 0.015  # [m]
DROPOUT = 0.02  # random share of returns lost


def beam_directions(spec: LidarSpec) -> np.ndarray:
    """(columns, beams, 3) unit ray directions in the LiDAR frame."""
    elev = np.radians(np.linspace(spec.fov_up_deg, spec.fov_down_deg, spec.beams))
    az = np.pi - 2 * np.pi * (np.arange(spec.columns) + 0.5) / spec.columns
    ce = np.cos(elev)
    return np.stack(np.broadcast_arrays(np.cos(az)[:, None] * ce, np.sin(az)[:, None] * ce, np.sin(elev)[None, :]), axis=-1)


def column_times(spec: LidarSpec) -> np.ndarray:
    """(columns,) firing time of each column after the sweep stamp [s]."""
    return (np.arange(spec.columns) + 0.5) / spec.columns / spec.rate_hz


@dataclass
class Sweep:
    points: np.ndarray  # (N, 4) float32 x, y, z (sensor frame at the firing instant), intensity
    point_time: np.ndarray  # (N,) float32 [s] after the stamp
    triangle: np.ndarray  # (N,) int64 global triangle id of each return
    column: np.ndarray  # (N,) int32
    beam: np.ndarray  # (N,) int32


def scan(rays: RayScene, spec: LidarSpec, pose_at: Callable[[np.ndarray], np.ndarray], reflectivity: np.ndarray,
         rng: np.random.Generator) -> Sweep:
    """Cast one sweep. ``pose_at(times)`` gives T_map_lidar (C, 4, 4) at offsets from the stamp."""
    local = beam_directions(spec)  # (C, B, 3)
    times = column_times(spec)
    T = pose_at(times)
    dirs = np.einsum("cij,cbj->cbi", T[:, :3, :3], local).reshape(-1, 3)
    origins = np.repeat(T[:, :3, 3], spec.beams, axis=0)
    dist, tri, normal = rays.cast(origins, dirs)
    n = len(dist)
    noisy = dist + rng.normal(0.0, RANGE_NOISE_STD, n)
    keep = (tri >= 0) & (noisy >= spec.min_range) & (noisy <= spec.max_range) & (rng.random(n) >= DROPOUT)
    idx = np.flatnonzero(keep)
    nrm = normal[idx]
    cos_inc = np.abs(np.einsum("ij,ij->i", nrm, dirs[idx])) / np.maximum(np.linalg.norm(nrm, axis=1), 1e-12)
    # Lambertian return, weakly attenuated with range, plus receiver noise.
    intensity = reflectivity[tri[idx]] * (0.2 + 0.8 * cos_inc) * (1.0 - 0.25 * noisy[idx] / spec.max_range)
    intensity = np.clip(intensity + rng.normal(0.0, 0.01, len(idx)), 0.0, 1.0)
    xyz = noisy[idx, None] * local.reshape(-1, 3)[idx]
    col, beam = np.divmod(idx, spec.beams)
    points = np.concatenate([xyz, intensity[:, None]], axis=1).astype(np.float32)
    return Sweep(points, times[col].astype(np.float32), tri[idx], col.astype(np.int32), beam.astype(np.int32))


def deskew(points: np.ndarray, point_time: np.ndarray, pose_at: Callable[[np.ndarray], np.ndarray],
           T_stamp: np.ndarray) -> np.ndarray:
    """Express raw points (N, >=3) in the LiDAR frame at the stamp, given the poses T_map_lidar."""
    T = np.linalg.inv(T_stamp) @ pose_at(np.asarray(point_time, dtype=np.float64))
    return np.einsum("nij,nj->ni", T[:, :3, :3], points[:, :3]) + T[:, :3, 3]
