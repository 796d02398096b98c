"""``PanopticTracker``: MOPT-style online tracking of thing instances with a track life cycle.

Life cycle: a confident unmatched detection starts a TENTATIVE track; ``min_hits`` observations confirm it;
a tentative track that misses a frame is REMOVED (clutter); a confirmed track that misses becomes LOST, is
re-identified (CONFIRMED again) when the association matches it within ``max_lost`` missed frames, and is
REMOVED after ``max_lost`` consecutive misses. Track IDs are uint32 from 1, never reused by a tracker.

Tracks live in the world frame when ``T_world_lidar`` is given (ego motion is not object motion), else in
the sensor frame; outputs are in the sensor frame of the current sweep.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .association import Association, confident
from .config import TrackerConfig
from .errors import TrackerConfigError, TrackingInputError
from .kalman import ConstantVelocityKalman
from .registry import ASSOCIATIONS
from .types import Detection, Track, TrackState

_MAX_TRACK_ID = np.iinfo(np.uint32).max


@dataclass
class TrackOutput:
    """One track at the current sweep, in the sensor frame (``velocity_world`` in the tracking frame)."""

    track_id: int
    class_id: int
    state: TrackState
    score: float
    age: int
    hits: int
    centroid: np.ndarray  # (3,) [m]
    box_center: np.ndarray
    box_size: np.ndarray
    box_yaw: float
    velocity: np.ndarray  # (3,) [m/s], sensor-frame axes
    velocity_world: np.ndarray
    speed: float  # [m/s] over the moving window
    moving: bool
    num_points: int
    detection_index: int  # index into this frame's detections, -1 when not observed


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def _yaw_of(T: np.ndarray) -> float:
    return float(np.arctan2(T[1, 0], T[0, 0]))


class PanopticTracker:
    """Associates each sweep's detections to tracks and runs the track life cycle."""

    def __init__(self, association: Association, *, u_s: float = 0.5, n_t: int = 10, embedding_window: int = 3,
                 min_hits: int = 3, max_lost: int = 10, new_track_score: float = 0.6,
                 kalman: ConstantVelocityKalman | None = None, moving_speed_mps: float = 0.5,
                 moving_window: int = 5) -> None:
        # Validation lives in TrackerConfig; building one checks the same ranges for direct construction.
        TrackerConfig(u_s=u_s, n_t=n_t, embedding_window=embedding_window, min_hits=min_hits, max_lost=max_lost,
                      new_track_score=new_track_score, moving_speed_mps=moving_speed_mps, moving_window=moving_window)
        self.association = association
        self.u_s, self.n_t, self.embedding_window = u_s, n_t, embedding_window
        self.min_hits, self.max_lost, self.new_track_score = min_hits, max_lost, new_track_score
        self.kalman = kalman or ConstantVelocityKalman()
        self.moving_speed_mps, self.moving_window = moving_speed_mps, moving_window
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None
        self._world: bool | None = None

    @classmethod
    def from_config(cls, cfg: TrackerConfig) -> PanopticTracker:
        if cfg.association not in ASSOCIATIONS:
            raise TrackerConfigError(f"unknown association {cfg.association!r}; registered: {sorted(ASSOCIATIONS)}")
        return cls(ASSOCIATIONS[cfg.association].from_config(cfg), u_s=cfg.u_s, n_t=cfg.n_t,
                   embedding_window=cfg.embedding_window, min_hits=cfg.min_hits, max_lost=cfg.max_lost,
                   new_track_score=cfg.new_track_score,
                   kalman=ConstantVelocityKalman(cfg.process_noise, cfg.measurement_noise),
                   moving_speed_mps=cfg.moving_speed_mps, moving_window=cfg.moving_window)

    def reset(self) -> None:
        """Drop all tracks and the time base; IDs keep counting so none is ever reused."""
        self.tracks = []
        self._last_stamp_ns = None
        self._world = None

    def update(self, detections: Sequence[Detection], stamp_ns: int,
               T_world_lidar: np.ndarray | None = None) -> list[TrackOutput]:
        """Track one sweep; returns every live track plus those removed in this frame (state REMOVED)."""
        T = self._check_frame(stamp_ns, T_world_lidar)
        dt = 0.0 if self._last_stamp_ns is None else (stamp_ns - self._last_stamp_ns) * 1e-9
        self._last_stamp_ns = stamp_ns
        for t in self.tracks:
            t.age += 1

        # Confident detections, moved into the tracking frame
        keep = confident(detections, self.u_s)
        dets = self._to_tracking_frame([detections[i] for i in keep], T)

        # Predict
        if self.tracks and dt > 0:
            mean, cov = self.kalman.predict(np.stack([t.mean for t in self.tracks]),
                                            np.stack([t.covariance for t in self.tracks]), dt)
            for t, m, c in zip(self.tracks, mean, cov, strict=True):
                t.mean, t.covariance = m, c

        # Associate with tracks seen in the last n_t frames
        candidates = [t for t in self.tracks if t.frames_since_seen <= self.n_t]
        result = self.association.associate(candidates, dets)

        # Update matched tracks
        observed: dict[int, int] = {}  # track_id -> detection index (input numbering)
        if len(result.matches):
            matched = [candidates[i] for i in result.matches[:, 0]]
            z = np.stack([dets[j].centroid for j in result.matches[:, 1]])
            mean, cov = self.kalman.update(np.stack([t.mean for t in matched]),
                                           np.stack([t.covariance for t in matched]), z)
            for t, j, m, c in zip(matched, result.matches[:, 1], mean, cov, strict=True):
                t.mean, t.covariance = m, c
                self._observe(t, dets[j], stamp_ns)
                t.hits += 1
                t.misses = 0
                if t.state == TrackState.LOST or t.hits >= self.min_hits:
                    t.state = TrackState.CONFIRMED
                observed[t.track_id] = keep[j]

        # Miss unmatched tracks
        matched_ids = set(observed)
        for t in self.tracks:
            if t.track_id in matched_ids:
                continue
            t.misses += 1
            if t.state == TrackState.TENTATIVE or t.misses >= self.max_lost:
                t.state = TrackState.REMOVED
            else:
                t.state = TrackState.LOST

        # Start tracks from confident unmatched detections
        for j in result.unmatched_detections:
            if dets[j].score >= self.new_track_score:
                t = self._new_track(dets[j], stamp_ns)
                self.tracks.append(t)
                observed[t.track_id] = keep[j]

        outputs = self._outputs(T, observed, detections)
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        return outputs

    def _check_frame(self, stamp_ns: int, T_world_lidar: np.ndarray | None) -> np.ndarray:
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            raise TrackingInputError(f"tracker: stamp {stamp_ns} ns is not after the previous {self._last_stamp_ns} ns")
        world = T_world_lidar is not None
        if self._world is not None and world != self._world:
            raise TrackingInputError("tracker: T_world_lidar must be given for every frame or for none "
                                     "(call reset() to switch)")
        self._world = world
        if T_world_lidar is None:
            return np.eye(4)
        T = np.asarray(T_world_lidar, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise TrackingInputError(f"tracker: T_world_lidar must be a finite 4x4 transform, got shape {T.shape}")
        return T

    def _to_tracking_frame(self, detections: list[Detection], T: np.ndarray) -> list[Detection]:
        """Shallow copies with centroid, box and (if the association uses them) points in the tracking frame."""
        if not detections:
            return []
        R, p = T[:3, :3], T[:3, 3]
        centroids = np.stack([d.centroid for d in detections]) @ R.T + p
        box_centers = np.stack([d.box_center for d in detections]) @ R.T + p  # type: ignore[misc]
        yaw = _yaw_of(T)
        out = []
        for d, c, b in zip(detections, centroids, box_centers, strict=True):
            m = copy.copy(d)  # fields are already validated; skip __post_init__
            m.centroid, m.box_center, m.box_yaw = c, b, _wrap(d.box_yaw + yaw)
            m.points = d.points @ R.T + p if (self.association.uses_points and d.points is not None) else None
            out.append(m)
        return out

    def _observe(self, t: Track, d: Detection, stamp_ns: int) -> None:
        t.class_id, t.score = d.class_id, d.score
        t.box_offset = d.box_center - d.centroid
        t.box_size, t.box_yaw = d.box_size, d.box_yaw
        t.add_embedding(d.embedding)
        t.last_points = d.points
        t.last_seen_ns = stamp_ns
        t.positions.append((stamp_ns, t.mean[:3].copy()))
        while len(t.positions) > self.moving_window:
            t.positions.popleft()
        if len(t.positions) >= 2:
            (t0, p0), (t1, p1) = t.positions[0], t.positions[-1]
            t.speed = math.dist(p0, p1) / ((t1 - t0) * 1e-9)

    def _new_track(self, d: Detection, stamp_ns: int) -> Track:
        if self._next_id > _MAX_TRACK_ID:
            raise TrackingInputError("tracker: uint32 track IDs exhausted")
        mean, cov = self.kalman.initiate(d.centroid)
        state = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
        t = Track(self._next_id, d.class_id, state, mean, cov, d.box_center - d.centroid, d.box_size, d.box_yaw,
                  d.score, stamp_ns, embedding_window=self.embedding_window, positions=deque())
        self._next_id += 1
        self._observe(t, d, stamp_ns)
        return t

    def _outputs(self, T: np.ndarray, observed: Mapping[int, int], detections: Sequence[Detection]) -> list[TrackOutput]:
        if not self.tracks:
            return []
        R_inv = T[:3, :3].T
        t_inv = -R_inv @ T[:3, 3]
        yaw = _yaw_of(T)
        centroids = np.stack([t.mean[:3] for t in self.tracks]) @ R_inv.T + t_inv
        offsets = np.stack([t.box_offset for t in self.tracks]) @ R_inv.T
        velocities = np.stack([t.mean[3:] for t in self.tracks]) @ R_inv.T
        out = []
        for k, t in enumerate(self.tracks):
            j = observed.get(t.track_id, -1)
            idx = detections[j].point_indices if j >= 0 else None
            speed = t.speed
            out.append(TrackOutput(t.track_id, t.class_id, t.state, t.score, t.age, t.hits, centroids[k],
                                   centroids[k] + offsets[k], t.box_size.copy(), _wrap(t.box_yaw - yaw), velocities[k],
                                   t.mean[3:].copy(), speed, speed > self.moving_speed_mps,
                                   0 if idx is None else int(idx.size), j))
        return out


def matches_of(outputs: Sequence[TrackOutput]) -> dict[int, int]:
    """{detection index: track id} of the tracks observed in this frame."""
    return {o.detection_index: o.track_id for o in outputs if o.detection_index >= 0}


def assign_track_ids(num_points: int, detections: Sequence[Detection], matches: Mapping[int, int]) -> np.ndarray:
    """Per-point uint32 track IDs (0 = untracked) from ``matches`` {detection index: track id}.

    Detections need ``point_indices``; where instances overlap the most confident detection wins.
    """
    track_id = np.zeros(num_points, dtype=np.uint32)
    for j in matches:
        if not 0 <= j < len(detections):
            raise TrackingInputError(f"assign_track_ids: detection index {j} out of range ({len(detections)})")
    for j in sorted(matches, key=lambda j: detections[j].score):
        idx = detections[j].point_indices
        if idx is None:
            raise TrackingInputError(f"assign_track_ids: detection {j} has no point_indices")
        if idx.size and idx.max() >= num_points:
            raise TrackingInputError(f"assign_track_ids: detection {j} indexes point {idx.max()} of {num_points}")
        track_id[idx] = matches[j]
    return track_id
