"""Baseline associations for comparison with MOPT's embedding association; same life cycle, other costs.

- ``CentroidKalmanAssociation`` (AB3DMOT-style): distance between the detection centroid and the track's
  constant-velocity Kalman prediction, Euclidean [m] or squared Mahalanobis (gate: chi-square quantile).
- ``PointIoUAssociation``: overlap of the points of consecutive observations. Both point sets are in the
  tracking frame (the world frame when poses are given, i.e. the previous frame's points are moved by the
  ego motion), voxelised at ``voxel_m``; cost = 1 - voxel IoU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .association import CostAssociation, Detections, Tracks, centroid_distances
from .batches import DetectionBatch, TrackBatch
from .errors import TrackerConfigError, TrackingInputError
from .kalman import ConstantVelocityKalman, chi2_gate

_METRICS = ("euclidean", "mahalanobis")


class CentroidKalmanAssociation(CostAssociation):
    """Cost = distance from the predicted centroid; Hungarian with a distance (or chi-square) threshold."""

    def __init__(self, metric: str = "euclidean", max_distance_m: float = 2.0, gate_probability: float = 0.99,
                 measurement_noise: float = 0.1) -> None:
        if metric not in _METRICS:
            raise TrackerConfigError(f"centroid_metric must be one of {_METRICS}, got {metric!r}")
        if max_distance_m <= 0:
            raise TrackerConfigError(f"centroid_max_distance_m must be positive, got {max_distance_m}")
        self.metric = metric
        self.kalman = ConstantVelocityKalman(measurement_noise=measurement_noise)
        self.max_cost = float(max_distance_m) if metric == "euclidean" else chi2_gate(3, gate_probability)

    @classmethod
    def from_config(cls, cfg: object) -> CentroidKalmanAssociation:
        return cls(cfg.centroid_metric, cfg.centroid_max_distance_m, cfg.gate_probability,  # type: ignore[attr-defined]
                   cfg.measurement_noise)  # type: ignore[attr-defined]

    def cost_matrix(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
        if self.metric == "euclidean":
            return centroid_distances(tracks, detections)
        return self.kalman.gating_distance(tracks.mean, tracks.covariance, detections.centroid)


def voxel_keys(points: np.ndarray, voxel_m: float) -> np.ndarray:
    """Sorted unique int64 keys of the voxels occupied by (K, 3) points (21 bits per axis, +-209 km at 0.2 m)."""
    v = np.floor(np.asarray(points) / voxel_m).astype(np.int64) + (1 << 20)
    if v.size and (v.min() < 0 or v.max() >= (1 << 21)):
        raise TrackingInputError("point-IoU association: points out of the voxel key range")
    return np.unique((v[:, 0] << 42) | (v[:, 1] << 21) | v[:, 2])


class PointIoUAssociation(CostAssociation):
    """Cost = 1 - IoU of the voxels occupied by the track's last points and the detection's points."""

    uses_points = True

    def __init__(self, voxel_m: float = 0.2, min_iou: float = 0.1) -> None:
        if voxel_m <= 0 or not 0.0 < min_iou <= 1.0:
            raise TrackerConfigError(f"point-IoU association needs iou_voxel_m > 0 and min_iou in (0, 1]; "
                                     f"got {voxel_m}, {min_iou}")
        self.voxel_m = float(voxel_m)
        self.max_cost = 1.0 - float(min_iou)

    @classmethod
    def from_config(cls, cfg: object) -> PointIoUAssociation:
        return cls(cfg.iou_voxel_m, cfg.min_iou)  # type: ignore[attr-defined]

    def iou_matrix(self, track_points: Sequence[np.ndarray | None], det_points: Sequence[np.ndarray]) -> np.ndarray:
        """(T, D) voxel IoU; a track without points overlaps nothing."""
        t_keys = [voxel_keys(p, self.voxel_m) if p is not None else np.zeros(0, np.int64) for p in track_points]
        d_keys = [voxel_keys(p, self.voxel_m) for p in det_points]
        t_size = np.array([k.size for k in t_keys])
        d_size = np.array([k.size for k in d_keys])
        n_t, n_d = len(t_keys), len(d_keys)
        inter = np.zeros(n_t * n_d, dtype=np.int64)
        d_all = np.concatenate(d_keys) if n_d else np.zeros(0, np.int64)
        if d_all.size and t_size.sum():
            d_owner = np.repeat(np.arange(n_d), d_size)
            order = np.argsort(d_all, kind="stable")
            d_sorted, d_owner = d_all[order], d_owner[order]
            t_all = np.concatenate(t_keys)
            t_owner = np.repeat(np.arange(n_t), t_size)
            lo = np.searchsorted(d_sorted, t_all, side="left")
            hi = np.searchsorted(d_sorted, t_all, side="right")
            counts = hi - lo
            # Expand each track voxel into the detections sharing it (usually 0 or 1).
            pair_t = np.repeat(t_owner, counts)
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            pair_d = d_owner[starts]
            inter = np.bincount(pair_t * n_d + pair_d, minlength=n_t * n_d)
        inter = inter.reshape(n_t, n_d)
        union = t_size[:, None] + d_size[None, :] - inter
        return np.where(union > 0, inter / np.maximum(union, 1), 0.0)

    def cost_matrix(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
        for i, points in enumerate(detections.points):
            if points is None or len(points) == 0:
                raise TrackingInputError(f"point-IoU association: detection {i} has no points")
        iou = self.iou_matrix(tracks.last_points, detections.points)  # type: ignore[arg-type]
        return 1.0 - iou
