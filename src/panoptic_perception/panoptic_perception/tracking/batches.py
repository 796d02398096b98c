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
        if not n:
            return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0),
                       None, np.zeros(0, bool), [], np.zeros(0, np.int64))
        # One pass over the objects, then one array per field.
        class_id, score, centroid, box_center, box_size, box_yaw, vectors, points, indices = zip(
            *((d.class_id, d.score, d.centroid, d.box_center, d.box_size, d.box_yaw, d.embedding, d.points, d.point_indices)
              for d in detections), strict=True)
        has = np.array([v is not None for v in vectors], dtype=bool)
        embedding = None
        if has.all():
            embedding = np.array(vectors, dtype=np.float64)
        elif has.any():
            present = np.stack([v for v in vectors if v is not None])
            embedding = np.zeros((n, present.shape[1]))
            embedding[has] = present
        return cls(np.array(class_id, np.int64), np.array(score, np.float64), np.array(centroid, np.float64),
                   np.array(box_center, np.float64), np.array(box_size, np.float64), np.array(box_yaw, np.float64), embedding,
                   has, list(points), np.array([0 if i is None else i.size for i in indices], np.int64))
