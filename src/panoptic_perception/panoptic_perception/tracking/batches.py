"""What an association reads about a sweep's tracks and detections, as arrays over all of them.

The associations build their cost matrices from these in one numpy expression each. ``TrackBatch.of`` and
``DetectionBatch.of`` accept ``Track`` / ``Detection`` lists too (the per-object API), so callers may pass either;
the tracker passes batches cut from its ``TrackTable`` and the sweep's detections without making objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .types import Detection, Track


@dataclass
class TrackBatch:
    """T tracks in the tracking frame: ``class_id`` (T,), Kalman ``mean`` (T, 6) and ``covariance`` (T, 6, 6),
    ``misses`` (T,) consecutive missed sweeps, ``embedding`` (T, D) association vectors (rows where
    ``has_embedding`` is False are unused; None when no track has one), ``last_points`` per track or None."""

    class_id: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    misses: np.ndarray
    embedding: np.ndarray | None
    has_embedding: np.ndarray
    last_points: Sequence[np.ndarray | None]

    def __len__(self) -> int:
        return len(self.class_id)

    @property
    def frames_since_seen(self) -> np.ndarray:
        """(T,) 1 for a track seen in the previous sweep."""
        return self.misses + 1

    @classmethod
    def of(cls, tracks: TrackBatch | Sequence[Track]) -> TrackBatch:
        if isinstance(tracks, TrackBatch):
            return tracks
        n = len(tracks)
        has = np.fromiter((t.embedding is not None for t in tracks), bool, n)
        embedding = None
        if has.any():
            vectors = np.stack([t.embedding for t in tracks if t.embedding is not None])
            embedding = np.zeros((n, vectors.shape[1]))
            embedding[has] = vectors
        return cls(np.fromiter((t.class_id for t in tracks), np.int64, n),
                   np.stack([t.mean for t in tracks]) if n else np.zeros((0, 6)),
                   np.stack([t.covariance for t in tracks]) if n else np.zeros((0, 6, 6)),
                   np.fromiter((t.misses for t in tracks), np.int64, n), embedding, has, [t.last_points for t in tracks])


@dataclass
class DetectionBatch:
    """D detections: ``class_id`` (D,) int64, ``score`` (D,), ``centroid``, ``box_center``, ``box_size`` (D, 3),
    ``box_yaw`` (D,), ``embedding`` (D, E) (rows where ``has_embedding`` is False are unused; None when no detection
    has one), ``points`` (K, 3) per detection (None when not carried), ``num_points`` (D,) sizes of their
    ``point_indices`` (0 without)."""

    class_id: np.ndarray
    score: np.ndarray
    centroid: np.ndarray
    box_center: np.ndarray
    box_size: np.ndarray
    box_yaw: np.ndarray
    embedding: np.ndarray | None
    has_embedding: np.ndarray
    points: Sequence[np.ndarray | None]
    num_points: np.ndarray

    def __len__(self) -> int:
        return len(self.class_id)

    @classmethod
    def of(cls, detections: DetectionBatch | Sequence[Detection]) -> DetectionBatch:
        if isinstance(detections, DetectionBatch):
            return detections
        n = len(detections)
        has = np.fromiter((d.embedding is not None for d in detections), bool, n)
        embedding = None
        if has.all() and n:
            embedding = np.array([d.embedding for d in detections], dtype=np.float64)
        elif has.any():
            vectors = np.stack([d.embedding for d in detections if d.embedding is not None])
            embedding = np.zeros((n, vectors.shape[1]))
            embedding[has] = vectors

        def rows(name: str) -> np.ndarray:
            return np.array([getattr(d, name) for d in detections], dtype=np.float64) if n else np.zeros((0, 3))

        return cls(np.fromiter((d.class_id for d in detections), np.int64, n),
                   np.fromiter((d.score for d in detections), np.float64, n), rows("centroid"), rows("box_center"),
                   rows("box_size"), np.fromiter((d.box_yaw for d in detections), np.float64, n), embedding, has,
                   [d.points for d in detections],
                   np.fromiter((0 if d.point_indices is None else d.point_indices.size for d in detections), np.int64, n))
