"""``PanopticTracker``: MOPT-style online tracking of thing instances with a track life cycle.

Life cycle: a confident unmatched detection starts a TENTATIVE track; ``min_hits`` observations confirm it;
a tentative track that misses a frame is REMOVED (clutter); a confirmed track that misses becomes LOST, is
re-identified (CONFIRMED again) when the association matches it within ``max_lost`` missed frames, and is
REMOVED after ``max_lost`` consecutive misses. Track IDs are uint32 from 1, never reused by a tracker.

Tracks live in the world frame when ``T_world_lidar`` is given (ego motion is not object motion), else in
the sensor frame; outputs are in the sensor frame of the current sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .association import Association, confident
from .batches import DetectionBatch
from .config import TrackerConfig
from .errors import TrackerConfigError, TrackingInputError
from .kalman import ConstantVelocityKalman
from .registry import ASSOCIATIONS
from .reid import Graveyard, ReIdentification
from .track_table import TrackTable
from .types import Detection, Track, TrackState

_MAX_TRACK_ID = np.iinfo(np.uint32).max
_STATES = tuple(TrackState)


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


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _yaw_of(T: np.ndarray) -> float:
    return float(np.arctan2(T[1, 0], T[0, 0]))


class PanopticTracker:
    """Associates each sweep's detections to tracks and runs the track life cycle.

    The tracks' state is a ``TrackTable`` (arrays over tracks) and the detections reach the association as one
    ``DetectionBatch``: a sweep costs a fixed number of numpy calls, not a few per object.
    """

    def __init__(self, association: Association, *, u_s: float = 0.5, n_t: int = 10, embedding_window: int = 3,
                 min_hits: int = 3, max_lost: int = 10, new_track_score: float = 0.6,
                 kalman: ConstantVelocityKalman | None = None, moving_speed_mps: float = 0.5,
                 moving_window: int = 5, reid: ReIdentification | None = None) -> None:
        # Validation lives in TrackerConfig; building one checks the same ranges for direct construction.
        TrackerConfig(u_s=u_s, n_t=n_t, embedding_window=embedding_window, min_hits=min_hits, max_lost=max_lost,
                      new_track_score=new_track_score, moving_speed_mps=moving_speed_mps, moving_window=moving_window)
        self.association = association
        self.u_s, self.n_t, self.embedding_window = u_s, n_t, embedding_window
        self.min_hits, self.max_lost, self.new_track_score = min_hits, max_lost, new_track_score
        self.kalman = kalman or ConstantVelocityKalman()
        self.moving_speed_mps, self.moving_window = moving_speed_mps, moving_window
        self.table = TrackTable(embedding_window, moving_window)
        if reid is not None:
            if not getattr(association, "supports_reid", False):
                raise TrackerConfigError(f"re-identification needs a vector-based association, not "
                                         f"{type(association).__name__}")
            association.uses_embeddings = True  # the detections must carry vectors even where the cost ignores them
        self.reid = reid
        self.graveyard = Graveyard(embedding_window, moving_window)
        self._next_id = 1
        self._last_stamp_ns: int | None = None
        self._world: bool | None = None

    @classmethod
    def from_config(cls, cfg: TrackerConfig) -> PanopticTracker:
        if cfg.association not in ASSOCIATIONS:
            raise TrackerConfigError(f"unknown association {cfg.association!r}; registered: {sorted(ASSOCIATIONS)}")
        association = ASSOCIATIONS[cfg.association].from_config(cfg)
        # Only the vector-based associations re-identify; the baselines ignore reid_frames (they have no vectors).
        reid = ReIdentification(cfg.reid_frames, cfg.reid_threshold, cfg.reid_max_speed_mps) \
            if cfg.reid_frames > 0 and getattr(association, "supports_reid", False) else None
        return cls(association, u_s=cfg.u_s, n_t=cfg.n_t,
                   embedding_window=cfg.embedding_window, min_hits=cfg.min_hits, max_lost=cfg.max_lost,
                   new_track_score=cfg.new_track_score,
                   kalman=ConstantVelocityKalman(cfg.process_noise, cfg.measurement_noise),
                   moving_speed_mps=cfg.moving_speed_mps, moving_window=cfg.moving_window, reid=reid)

    @property
    def tracks(self) -> list[Track]:
        """The live tracks as ``Track`` objects (copies: the tracker keeps its state in a ``TrackTable``)."""
        return self.table.tracks()

    def reset(self) -> None:
        """Drop all tracks and the time base; IDs keep counting so none is ever reused."""
        self.table = TrackTable(self.embedding_window, self.moving_window)
        self.graveyard = Graveyard(self.embedding_window, self.moving_window)
        self._last_stamp_ns = None
        self._world = None

    def update(self, detections: Sequence[Detection], stamp_ns: int,
               T_world_lidar: np.ndarray | None = None) -> list[TrackOutput]:
        """Track one sweep; returns every live track plus those removed in this frame (state REMOVED)."""
        T = self._check_frame(stamp_ns, T_world_lidar)
        dt = 0.0 if self._last_stamp_ns is None else (stamp_ns - self._last_stamp_ns) * 1e-9
        self._last_stamp_ns = stamp_ns
        table = self.table
        table.age += 1

        # Confident detections, moved into the tracking frame
        keep = np.array(confident(detections, self.u_s), dtype=np.int64)
        dets = self._to_tracking_frame([detections[i] for i in keep.tolist()], T)

        # Predict
        if len(table) and dt > 0:
            table.mean, table.covariance = self.kalman.predict(table.mean, table.covariance, dt)

        # Associate with tracks seen in the last n_t frames (all live tracks while max_lost <= n_t)
        candidates = np.flatnonzero(table.misses + 1 <= self.n_t)
        everyone = len(candidates) == len(table)
        result = self.association.associate(table.batch(None if everyone else candidates), dets)

        # Update matched tracks
        observed = np.full(len(table), -1, np.int64)  # per row: the confident detection (dets row) it saw, or -1
        rows, cols = candidates[result.matches[:, 0]], result.matches[:, 1]
        if rows.size:
            table.mean[rows], table.covariance[rows] = self.kalman.update(table.mean[rows], table.covariance[rows],
                                                                          dets.centroid[cols])
            table.observe(rows, dets, cols, stamp_ns)
            table.hits[rows] += 1
            table.misses[rows] = 0
            confirm = (table.state[rows] == TrackState.LOST) | (table.hits[rows] >= self.min_hits)
            table.state[rows[confirm]] = TrackState.CONFIRMED
            observed[rows] = cols

        unmatched = result.unmatched_detections
        if self.reid is not None:
            observed, unmatched = self._reidentify(dets, unmatched, observed, stamp_ns)

        # Miss unmatched tracks
        missed = np.flatnonzero(observed < 0)
        table.misses[missed] += 1
        gone = (table.state[missed] == TrackState.TENTATIVE) | (table.misses[missed] >= self.max_lost)
        table.state[missed] = np.where(gone, TrackState.REMOVED, TrackState.LOST)

        # Start tracks from confident unmatched detections
        born = unmatched[dets.score[unmatched] >= self.new_track_score]
        if born.size:
            if self._next_id + born.size - 1 > _MAX_TRACK_ID:
                raise TrackingInputError("tracker: uint32 track IDs exhausted")
            state = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
            new_rows = table.start(np.arange(self._next_id, self._next_id + born.size), state,
                                   *self.kalman.initiate(dets.centroid[born]))
            self._next_id += int(born.size)
            table.observe(new_rows, dets, born, stamp_ns)
            observed = np.concatenate([observed, born])

        outputs = self._outputs(T, observed, dets.num_points, keep)
        alive = np.flatnonzero(table.state != TrackState.REMOVED)
        if alive.size < len(table):
            if self.reid is not None:
                self.graveyard.bury(table, np.flatnonzero(table.state == TrackState.REMOVED))
            table.keep(alive)
        return outputs

    def _reidentify(self, dets: DetectionBatch, unmatched: np.ndarray, observed: np.ndarray,
                    stamp_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """Re-identification after the gated assignment: unmatched detections continue unmatched live tracks or
        recently removed ones (brought back into the table) by vector distance. A re-identified track restarts its
        Kalman state at the detection (its motion model lost it). Returns ``observed`` (rows added for the tracks
        brought back) and the detections still unmatched."""
        table, graveyard = self.table, self.graveyard
        graveyard.age(self.reid.frames)
        live, live_cols, buried, buried_cols = self.reid.match(table, np.flatnonzero(observed < 0), graveyard, dets,
                                                                unmatched, stamp_ns)
        if buried.size:
            back = table.extend(graveyard.exhume(buried))
            live, live_cols = np.concatenate([live, back]), np.concatenate([live_cols, buried_cols])
            observed = np.concatenate([observed, np.full(back.size, -1, np.int64)])
        if live.size:
            table.mean[live], table.covariance[live] = self.kalman.initiate(dets.centroid[live_cols])
            table.observe(live, dets, live_cols, stamp_ns)
            table.hits[live] += 1
            table.misses[live] = 0
            table.state[live] = np.where(table.hits[live] >= self.min_hits, TrackState.CONFIRMED, TrackState.TENTATIVE)
            observed[live] = live_cols
        return observed, np.setdiff1d(unmatched, live_cols)

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

    def _to_tracking_frame(self, detections: list[Detection], T: np.ndarray) -> DetectionBatch:
        """The detections as one batch with centroid, box and (if the association uses them) points in the tracking
        frame."""
        batch = DetectionBatch.of(detections)
        R, p = T[:3, :3], T[:3, 3]
        batch.centroid = batch.centroid @ R.T + p
        batch.box_center = batch.box_center @ R.T + p
        batch.box_yaw = _wrap(batch.box_yaw + _yaw_of(T))
        batch.points = [None if d.points is None else d.points @ R.T + p for d in detections] if self.association.uses_points \
            else [None] * len(detections)
        return batch

    def _outputs(self, T: np.ndarray, observed: np.ndarray, num_points: np.ndarray, keep: np.ndarray) -> list[TrackOutput]:
        """One ``TrackOutput`` per table row. ``observed`` (T,): the confident detection each row saw, or -1;
        ``num_points`` the point count of each confident detection; ``keep`` their input indices."""
        table = self.table
        if not len(table):
            return []
        R_inv = T[:3, :3].T
        t_inv = -R_inv @ T[:3, 3]
        centroids = np.ascontiguousarray(table.mean[:, :3]) @ R_inv.T + t_inv
        box_centers = centroids + table.box_offset @ R_inv.T
        velocities = np.ascontiguousarray(table.mean[:, 3:]) @ R_inv.T
        velocities_world = table.mean[:, 3:].copy()
        box_sizes = table.box_size.copy()
        box_yaws = _wrap(table.box_yaw - _yaw_of(T)).tolist()
        seen = observed >= 0
        index, points = np.full(len(table), -1, np.int64), np.zeros(len(table), np.int64)
        index[seen], points[seen] = keep[observed[seen]], num_points[observed[seen]]
        moving = (table.speed > self.moving_speed_mps).tolist()
        columns = zip(table.track_id.tolist(), table.class_id.tolist(), table.state.tolist(), table.score.tolist(),
                      table.age.tolist(), table.hits.tolist(), box_yaws, table.speed.tolist(), moving, points.tolist(),
                      index.tolist(), strict=True)
        return [TrackOutput(track_id, class_id, _STATES[state], score, age, hits, centroids[k], box_centers[k], box_sizes[k],
                            yaw, velocities[k], velocities_world[k], speed, is_moving, n, index)
                for k, (track_id, class_id, state, score, age, hits, yaw, speed, is_moving, n, index) in enumerate(columns)]


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
    order = sorted(matches, key=lambda j: detections[j].score)  # least confident first: later writes win
    indices = []
    for j in order:
        idx = detections[j].point_indices
        if idx is None:
            raise TrackingInputError(f"assign_track_ids: detection {j} has no point_indices")
        indices.append(idx)
    if not indices:
        return track_id
    flat = np.concatenate(indices)
    if flat.size and flat.max() >= num_points:
        j = next(j for j, idx in zip(order, indices, strict=True) if idx.size and idx.max() >= num_points)
        raise TrackingInputError(f"assign_track_ids: detection {j} indexes point {detections[j].point_indices.max()} of "
                                 f"{num_points}")
    if flat.size and np.bincount(flat).max() > 1:  # overlapping instances: write them one by one, in order
        for j, idx in zip(order, indices, strict=True):
            track_id[idx] = matches[j]
        return track_id
    track_id[flat] = np.repeat(np.array([matches[j] for j in order], np.uint32), [idx.size for idx in indices])
    return track_id
