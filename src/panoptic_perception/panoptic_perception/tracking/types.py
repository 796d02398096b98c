"""Per-frame detections, track states and the tracks the tracker keeps.

Frames: a ``Detection`` is in the LiDAR (sensor) frame of its sweep; a ``Track`` is in the tracking frame,
the world frame when poses are given (else the sensor frame). The tracker keeps its tracks as arrays
(``TrackTable``) and gives them as ``Track`` objects on request.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from .errors import TrackingInputError


class TrackState(IntEnum):
    """Life-cycle state; values mirror ``panoptic_msgs/Track`` STATE_* constants."""

    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2
    REMOVED = 3


def _vec3(value: object, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise TrackingInputError(f"Detection.{name} must be 3 finite numbers, got shape {arr.shape}")
    return arr


@dataclass
class Detection:
    """One thing instance predicted in a sweep.

    ``point_indices`` index the sweep's points (int64); ``points`` are the instance's xyz [m] in the
    sensor frame (needed only by the point-IoU association). ``embedding`` is MOPT's association
    vector (D,), or None when the network gives none.
    """

    class_id: int
    score: float
    centroid: np.ndarray
    box_center: np.ndarray | None = None
    box_size: np.ndarray | None = None
    box_yaw: float = 0.0
    embedding: np.ndarray | None = None
    point_indices: np.ndarray | None = None
    points: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.class_id = int(self.class_id)
        self.score = float(self.score)
        if not 0.0 <= self.score <= 1.0:
            raise TrackingInputError(f"Detection.score must be in [0, 1], got {self.score}")
        self.centroid = _vec3(self.centroid, "centroid")
        self.box_center = self.centroid.copy() if self.box_center is None else _vec3(self.box_center, "box_center")
        self.box_size = np.zeros(3) if self.box_size is None else _vec3(self.box_size, "box_size")
        self.box_yaw = float(self.box_yaw)
        if self.embedding is not None:
            emb = np.asarray(self.embedding, dtype=np.float64)
            if emb.ndim != 1 or emb.size == 0 or not np.all(np.isfinite(emb)):
                raise TrackingInputError(f"Detection.embedding must be a finite (D,) vector, got shape {emb.shape}")
            self.embedding = emb
        if self.point_indices is not None:
            idx = np.asarray(self.point_indices)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or (idx.size and idx.min() < 0):
                raise TrackingInputError(f"Detection.point_indices must be non-negative integers (K,), got {idx.dtype} "
                                         f"{idx.shape}")
            self.point_indices = idx.astype(np.int64, copy=False)
        if self.points is not None:
            pts = np.asarray(self.points, dtype=np.float64)
            if pts.ndim != 2 or pts.shape[1] != 3:
                raise TrackingInputError(f"Detection.points must be (K, 3) xyz, got shape {pts.shape}")
            self.points = pts

    @classmethod
    def trusted(cls, class_id: int, score: float, centroid: np.ndarray, box_center: np.ndarray, box_size: np.ndarray,
                box_yaw: float, embedding: np.ndarray | None, point_indices: np.ndarray | None,
                points: np.ndarray | None) -> Detection:
        """A detection from fields its caller has already validated and converted (types as ``__post_init__`` makes
        them: int, float, float64 arrays, int64 indices); skips the per-object checks (``segment_detections``)."""
        d = object.__new__(cls)
        d.__dict__.update(class_id=class_id, score=score, centroid=centroid, box_center=box_center, box_size=box_size,
                          box_yaw=box_yaw, embedding=embedding, point_indices=point_indices, points=points)
        return d

    @classmethod
    def from_points(cls, xyz: np.ndarray, selection: np.ndarray, class_id: int, score: float,
                    embedding: np.ndarray | None = None, keep_points: bool = True) -> Detection:
        """A detection from the sweep's (N, 3) xyz and a boolean mask (N,) or index array of its points.

        Centroid = mean of the points; box = their axis-aligned extent (yaw 0).
        """
        sel = np.asarray(selection)
        indices = np.flatnonzero(sel) if sel.dtype == bool else sel.astype(np.int64)
        if sel.dtype == bool and sel.shape != (len(xyz),):
            raise TrackingInputError(f"Detection mask has {sel.shape[0]} entries for {len(xyz)} points")
        if indices.size == 0:
            raise TrackingInputError("Detection.from_points needs at least one point")
        pts = np.asarray(xyz)[indices, :3].astype(np.float64)  # select first: converting all N points per instance costs
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return cls(class_id, score, pts.mean(axis=0), (lo + hi) / 2, hi - lo, 0.0, embedding, indices,
                   pts if keep_points else None)


@dataclass
class Track:
    """A tracked thing in the tracking frame; ``mean``/``covariance`` are the Kalman state (x y z vx vy vz)."""

    track_id: int
    class_id: int
    state: TrackState
    mean: np.ndarray
    covariance: np.ndarray
    box_offset: np.ndarray  # box centre - centroid [m], tracking frame
    box_size: np.ndarray
    box_yaw: float  # tracking frame [rad]
    score: float
    last_seen_ns: int
    embedding_window: int = 3
    age: int = 0  # frames since birth
    hits: int = 1  # frames observed
    misses: int = 0  # consecutive frames without an observation
    embeddings: deque[np.ndarray] = field(default_factory=deque)
    embedding: np.ndarray | None = None  # mean of ``embeddings`` (the vector used for association)
    embedding_sum: np.ndarray | None = None
    last_points: np.ndarray | None = None  # (K, 3) last observed points, tracking frame
    positions: deque[tuple[int, np.ndarray]] = field(default_factory=deque)  # (stamp_ns, filtered centroid)
    speed: float = 0.0  # [m/s] between the oldest and newest of ``positions``

    @property
    def centroid(self) -> np.ndarray:
        return self.mean[:3]

    @property
    def velocity(self) -> np.ndarray:
        return self.mean[3:6]

    @property
    def box_center(self) -> np.ndarray:
        return self.mean[:3] + self.box_offset

    @property
    def frames_since_seen(self) -> int:
        return self.misses + 1

    def add_embedding(self, embedding: np.ndarray | None) -> None:
        """Keep the last ``embedding_window`` association vectors and their mean."""
        if embedding is None:
            return
        self.embeddings.append(embedding)
        self.embedding_sum = embedding.copy() if self.embedding_sum is None else self.embedding_sum + embedding
        while len(self.embeddings) > self.embedding_window:
            self.embedding_sum -= self.embeddings.popleft()
        self.embedding = self.embedding_sum / len(self.embeddings)
