"""The tracker as it was before its state became arrays (one ``Track`` object per track, one step per object).

Kept only as the reference that ``test_tracker_equivalence.py`` compares ``PanopticTracker`` with: the same life
cycle, Kalman steps, vector window and outputs, written per object as in commit 0c2d6bd. The associations are
called with ``Track`` / ``Detection`` lists, their per-object entry.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from panoptic_perception.tracking import ConstantVelocityKalman, Detection, Track, TrackOutput, TrackState, confident


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def _yaw_of(T: np.ndarray) -> float:
    return float(np.arctan2(T[1, 0], T[0, 0]))


class ReferenceTracker:
    def __init__(self, association: object, *, u_s: float, n_t: int, embedding_window: int, min_hits: int, max_lost: int,
                 new_track_score: float, kalman: ConstantVelocityKalman, moving_speed_mps: float, moving_window: int) -> None:
        self.association = association
        self.u_s, self.n_t, self.embedding_window = u_s, n_t, embedding_window
        self.min_hits, self.max_lost, self.new_track_score = min_hits, max_lost, new_track_score
        self.kalman = kalman
        self.moving_speed_mps, self.moving_window = moving_speed_mps, moving_window
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None

    def update(self, detections: Sequence[Detection], stamp_ns: int, T_world_lidar: np.ndarray | None = None
               ) -> list[TrackOutput]:
        T = np.eye(4) if T_world_lidar is None else np.asarray(T_world_lidar, dtype=np.float64)
        dt = 0.0 if self._last_stamp_ns is None else (stamp_ns - self._last_stamp_ns) * 1e-9
        self._last_stamp_ns = stamp_ns
        for t in self.tracks:
            t.age += 1
        keep = confident(detections, self.u_s)
        dets = self._to_tracking_frame([detections[i] for i in keep], T)
        if self.tracks and dt > 0:
            mean, cov = self.kalman.predict(np.stack([t.mean for t in self.tracks]),
                                            np.stack([t.covariance for t in self.tracks]), dt)
            for t, m, c in zip(self.tracks, mean, cov, strict=True):
                t.mean, t.covariance = m, c
        candidates = [t for t in self.tracks if t.frames_since_seen <= self.n_t]
        result = self.association.associate(candidates, dets)  # type: ignore[attr-defined]
        observed: dict[int, int] = {}
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
        for t in self.tracks:
            if t.track_id in observed:
                continue
            t.misses += 1
            t.state = TrackState.REMOVED if t.state == TrackState.TENTATIVE or t.misses >= self.max_lost else TrackState.LOST
        for j in result.unmatched_detections:
            if dets[j].score >= self.new_track_score:
                t = self._new_track(dets[j], stamp_ns)
                self.tracks.append(t)
                observed[t.track_id] = keep[j]
        outputs = self._outputs(T, observed, detections)
        self.tracks = [t for t in self.tracks if t.state != TrackState.REMOVED]
        return outputs

    def _to_tracking_frame(self, detections: list[Detection], T: np.ndarray) -> list[Detection]:
        if not detections:
            return []
        R, p = T[:3, :3], T[:3, 3]
        centroids = np.stack([d.centroid for d in detections]) @ R.T + p
        box_centers = np.stack([d.box_center for d in detections]) @ R.T + p  # type: ignore[misc]
        yaw = _yaw_of(T)
        out = []
        for d, c, b in zip(detections, centroids, box_centers, strict=True):
            m = copy.copy(d)
            m.centroid, m.box_center, m.box_yaw = c, b, _wrap(d.box_yaw + yaw)
            m.points = d.points @ R.T + p if (self.association.uses_points and d.points is not None) else None  # type: ignore[attr-defined]
            out.append(m)
        return out

    def _observe(self, t: Track, d: Detection, stamp_ns: int) -> None:
        t.class_id, t.score = d.class_id, d.score
        t.box_offset = d.box_center - d.centroid  # type: ignore[operator]
        t.box_size, t.box_yaw = d.box_size, d.box_yaw  # type: ignore[assignment]
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
        mean, cov = self.kalman.initiate(d.centroid)
        state = TrackState.CONFIRMED if self.min_hits <= 1 else TrackState.TENTATIVE
        t = Track(self._next_id, d.class_id, state, mean, cov, d.box_center - d.centroid, d.box_size, d.box_yaw,  # type: ignore[arg-type,operator]
                  d.score, stamp_ns, embedding_window=self.embedding_window, positions=deque())
        self._next_id += 1
        self._observe(t, d, stamp_ns)
        return t

    def _outputs(self, T: np.ndarray, observed: dict[int, int], detections: Sequence[Detection]) -> list[TrackOutput]:
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
            out.append(TrackOutput(t.track_id, t.class_id, t.state, t.score, t.age, t.hits, centroids[k],
                                   centroids[k] + offsets[k], t.box_size.copy(), _wrap(t.box_yaw - yaw), velocities[k],
                                   t.mean[3:].copy(), t.speed, t.speed > self.moving_speed_mps,
                                   0 if idx is None else int(idx.size), j))
        return out
