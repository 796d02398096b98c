"""LiDAR path for when the camera fails: robust scan-to-map point-to-plane ICP.

The map is voxel-downsampled (one centroid per voxel) and each map point carries the normal of a local
PCA over its nearest neighbours; only planar neighbourhoods are kept. ICP solves, by iteratively
reweighted Gauss-Newton over the left perturbation ``T <- Exp(xi) T`` (xi = [rho, phi]),

    min_T  sum_k  s_k * rho( n_k . (T p_k - q_k) )

with per-point weights s_k (0 removes a point, e.g. one on a moving thing) and a robust kernel rho
(Geman-McClure or Huber). ``T`` maps scan points into the map frame.

A raw sweep (each point in the sensor frame of its own firing time ``tau`` after the stamp) can be
de-skewed inside the registration (``SweepMotion``): with the constant velocity ``V = Log(T_prev^-1 T) / dt``
that takes the previous sweep's pose to the current estimate, ``p_k <- p_k + tau_k (w x p_k + v)``, and
the residual's Jacobian includes the path through V (``dV/dxi = Ad(T^-1) / dt`` to first order), so pose
and de-skew are one least-squares problem. De-skewing with a velocity fixed beforehand instead feeds that
velocity's error into the pose (half of it: the mean firing time is half a sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pypose as pp
import torch
from scipy.spatial import cKDTree

from . import motion
from .errors import DegenerateGeometryError, OdometryInputError


def _points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3:
        raise OdometryInputError(f"{name}: expected (N, 3) points, got {points.shape}")
    return points[:, :3]


def deskew(xyz: np.ndarray, point_time: np.ndarray | None, velocity: np.ndarray) -> np.ndarray:
    """Points in the sensor frame at the sweep stamp, first order in the per-point time: p + tau (w x p + v).

    ``point_time`` [s] after the stamp (None: returned as they are), ``velocity`` the body twist [v, w] per second.
    """
    if point_time is None:
        return xyz
    tau = np.asarray(point_time, dtype=np.float64)[:, None]
    return xyz + tau * (np.cross(velocity[3:], xyz) + velocity[:3])


@dataclass(frozen=True)
class SweepMotion:
    """What de-skews a raw sweep inside ``register_scan``: per-point times and the previous sweep's pose."""

    point_time: np.ndarray  # (N,) [s] after this sweep's stamp, one per scan point
    T_previous: np.ndarray  # (4, 4) pose (scan -> map) of the previous sweep
    dt: float  # [s] from the previous sweep's stamp to this one's

    def velocity(self, T: np.ndarray) -> np.ndarray:
        """Body twist per second that takes the previous pose to T."""
        return motion.log(np.linalg.inv(self.T_previous) @ T) / self.dt


def voxel_downsample(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Centroid of the points in each occupied voxel, ordered by voxel index (x, then y, then z)."""
    keys = np.floor(points / voxel_size).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    # One integer per voxel, ordered like the (x, y, z) rows: a 1-D unique is far faster than unique(axis=0).
    flat = (keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse.ravel(), points)
    return sums / counts[:, None]


class VoxelMap:
    """Voxel-downsampled map points with PCA normals, searchable by nearest neighbour."""

    def __init__(self, points: np.ndarray, voxel_size: float = 0.2, neighbours: int = 12, max_flatness: float = 0.05) -> None:
        if voxel_size <= 0 or neighbours < 3:
            raise OdometryInputError(f"voxel_size must be > 0 and neighbours >= 3, got {voxel_size}, {neighbours}")
        centroids = voxel_downsample(_points(points, "points"), voxel_size)
        if len(centroids) < neighbours:
            raise OdometryInputError(f"points: {len(centroids)} voxels are too few for {neighbours}-neighbour normals")
        _, nn = cKDTree(centroids).query(centroids, k=neighbours)
        local = centroids[nn] - centroids[nn].mean(axis=1, keepdims=True)
        eigval, eigvec = np.linalg.eigh(np.einsum("nki,nkj->nij", local, local))  # ascending eigenvalues
        # Planar where the smallest eigenvalue is a small share of the spread (surface variation, Pauly 2002).
        planar = eigval[:, 0] < max_flatness * eigval.sum(axis=1)
        self.points = centroids[planar]
        self.normals = eigvec[planar, :, 0]
        self.tree = cKDTree(self.points)


@dataclass(frozen=True)
class ICPResult:
    T: np.ndarray  # (4, 4) scan -> map
    iterations: int
    converged: bool
    inliers: int  # correspondences with nonzero weight in the last iteration
    rmse: float  # [m] weighted point-to-plane RMS of the last iteration
    information: np.ndarray  # (6, 6) weighted Gauss-Newton J^T W J of the last iteration, xi = [rho, phi]


def robust_weights(residuals: np.ndarray, kernel: str, scale: float) -> np.ndarray:
    """IRLS weights rho'(r) / r, normalised to 1 at r = 0."""
    if kernel == "geman_mcclure":
        return (scale**2 / (scale**2 + residuals**2)) ** 2
    if kernel == "huber":
        return np.minimum(1.0, scale / np.maximum(np.abs(residuals), 1e-12))
    raise OdometryInputError(f"kernel: expected 'geman_mcclure' or 'huber', got {kernel!r}")


def _exp(xi: np.ndarray) -> np.ndarray:
    return pp.se3(torch.from_numpy(xi)).Exp().matrix().numpy()


def register_scan(
    scan: np.ndarray,
    voxel_map: VoxelMap,
    T_init: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    max_distance: float = 1.0,
    kernel: str = "geman_mcclure",
    kernel_scale: float = 0.1,
    max_iterations: int = 50,
    tolerance: float = 1e-4,
    sweep: SweepMotion | None = None,
) -> ICPResult:
    """Align ``scan`` (N, 3) to ``voxel_map``; ``weights`` (N,) in [0, 1] scale each point (0 drops it).

    With ``sweep`` the scan is raw and de-skewed at every iteration with the velocity from the previous pose
    to the current estimate (module docstring).

    Converged when the step |xi| falls below ``tolerance``; much tighter values can stall in a limit
    cycle of switching nearest neighbours without changing the pose by more than a fraction of a mm.
    """
    scan = _points(scan, "scan")
    s = np.ones(len(scan)) if weights is None else np.asarray(weights, dtype=np.float64)
    if s.shape != (len(scan),) or np.any(s < 0):
        raise OdometryInputError(f"weights: expected ({len(scan)},) non-negative values, got shape {s.shape}")
    T = np.eye(4) if T_init is None else np.array(T_init, dtype=np.float64)
    if T.shape != (4, 4):
        raise OdometryInputError(f"T_init: expected (4, 4), got {T.shape}")
    if sweep is not None and (np.shape(sweep.point_time) != (len(scan),) or not sweep.dt > 0):
        raise OdometryInputError(f"sweep: expected ({len(scan)},) point times and dt > 0, got "
                                 f"{np.shape(sweep.point_time)} and {sweep.dt}")
    active = s > 0
    raw, s = scan[active], s[active]
    tau = None if sweep is None else np.asarray(sweep.point_time, dtype=np.float64)[active]

    converged, w, r, H = False, np.zeros(0), np.zeros(0), np.zeros((6, 6))
    iterations = 0
    while iterations < max_iterations and not converged:
        iterations += 1
        scan = raw if sweep is None else deskew(raw, tau, sweep.velocity(T))
        moved = scan @ T[:3, :3].T + T[:3, 3]
        dist, idx = voxel_map.tree.query(moved, distance_upper_bound=max_distance)
        found = np.isfinite(dist)
        p, q, n = moved[found], voxel_map.points[idx[found]], voxel_map.normals[idx[found]]
        r = np.einsum("ij,ij->i", n, p - q)
        w = s[found] * robust_weights(r, kernel, kernel_scale)
        J = np.hstack([n, np.cross(p, n)])  # d r / d xi for Exp(xi) T p, xi = [rho, phi]
        if sweep is not None:  # + d r / d V dV / d xi: r moves by n . R tau (dv + dw x p_raw)
            m, p_raw = n @ T[:3, :3], raw[found]
            J = J + tau[found, None] * np.hstack([m, np.cross(p_raw, m)]) @ motion.adjoint(np.linalg.inv(T)) / sweep.dt
        H = (J * w[:, None]).T @ J
        if np.linalg.matrix_rank(H) < 6:
            raise DegenerateGeometryError(f"scan: {len(r)} correspondences do not constrain all 6 degrees of freedom")
        xi = np.linalg.solve(H, -(J * w[:, None]).T @ r)
        T = _exp(xi) @ T
        converged = bool(np.linalg.norm(xi) < tolerance)
    rmse = float(np.sqrt((w * r**2).sum() / max(w.sum(), 1e-12)))
    return ICPResult(T=T, iterations=iterations, converged=converged, inliers=int((w > 0).sum()), rmse=rmse,
                     information=H)
