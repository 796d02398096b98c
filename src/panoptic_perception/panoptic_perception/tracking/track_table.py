"""``TrackTable``: the state of every live track as arrays, one row per track in birth order.

The tracker updates all tracks of a sweep with one numpy expression per step (predict, update, observe, miss,
start, remove) instead of one Python object per track: with 50 objects the per-object work was most of the
tracker's time. The arithmetic is that of ``Track``: the association vector is the mean of the last
``embedding_window`` vectors kept as a running sum (add the new one, then subtract the one leaving the window),
the speed the distance between the oldest and newest of the last ``moving_window`` filtered centroids over their
time span. ``tracks()`` gives the same state as ``Track`` objects (copies, for inspection).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .batches import DetectionBatch, TrackBatch
from .errors import TrackingInputError
from .types import Track, TrackState

_STATES = tuple(TrackState)


class TrackTable:
    """Arrays over the T live tracks (tracking frame); ring buffers hold each track's recent vectors and positions."""

    def __init__(self, embedding_window: int, moving_window: int) -> None:
        self.embedding_window, self.moving_window = embedding_window, moving_window
        self.track_id = np.zeros(0, np.int64)
        self.class_id = np.zeros(0, np.int64)
        self.state = np.zeros(0, np.int8)  # TrackState values
        self.score = np.zeros(0)
        self.age = np.zeros(0, np.int64)  # sweeps since birth
        self.hits = np.zeros(0, np.int64)  # sweeps observed
        self.misses = np.zeros(0, np.int64)  # consecutive sweeps without an observation
        self.last_seen_ns = np.zeros(0, np.int64)
        self.mean = np.zeros((0, 6))  # Kalman state x y z vx vy vz
        self.covariance = np.zeros((0, 6, 6))
        self.box_offset = np.zeros((0, 3))  # box centre - centroid [m]
        self.box_size = np.zeros((0, 3))
        self.box_yaw = np.zeros(0)
        # Association vectors: ring of the last embedding_window (slot = added % window), their sum and mean.
        self.embeddings = np.zeros((0, embedding_window, 0))
        self.embedding_added = np.zeros(0, np.int64)
        self.embedding_sum = np.zeros((0, 0))
        self.embedding = np.zeros((0, 0))
        # Filtered centroids at the last moving_window observations: ring (slot = added % window) and stamps.
        self.positions = np.zeros((0, moving_window, 3))
        self.position_ns = np.zeros((0, moving_window), np.int64)
        self.position_added = np.zeros(0, np.int64)
        self.speed = np.zeros(0)  # [m/s] between the oldest and newest kept positions
        self.last_points: list[np.ndarray | None] = []  # last observed points (point-IoU association only)

    _ARRAYS = ("track_id", "class_id", "state", "score", "age", "hits", "misses", "last_seen_ns", "mean", "covariance",
               "box_offset", "box_size", "box_yaw", "embeddings", "embedding_added", "embedding_sum", "embedding",
               "positions", "position_ns", "position_added", "speed")

    def __len__(self) -> int:
        return len(self.track_id)

    def batch(self, rows: np.ndarray | None = None) -> TrackBatch:
        """What the association reads, for all tracks (views) or the given rows."""
        has = self.embedding_added > 0
        embedding = self.embedding if has.any() else None
        if rows is None:
            return TrackBatch(self.class_id, self.mean, self.covariance, self.misses, embedding, has, self.last_points)
        return TrackBatch(self.class_id[rows], self.mean[rows], self.covariance[rows], self.misses[rows],
                          None if embedding is None else embedding[rows], has[rows],
                          [self.last_points[r] for r in rows.tolist()])

    def start(self, track_ids: np.ndarray, state: TrackState, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
        """Append tracks born now (hits 1, age 0); returns their rows. ``observe`` then fills what they saw."""
        n, first = len(track_ids), len(self)
        for name in self._ARRAYS:
            arr = getattr(self, name)
            setattr(self, name, np.concatenate([arr, np.zeros((n, *arr.shape[1:]), arr.dtype)]))
        rows = np.arange(first, first + n)
        self.track_id[rows] = track_ids
        self.state[rows] = state
        self.hits[rows] = 1
        self.mean[rows], self.covariance[rows] = mean, covariance
        self.last_points += [None] * n
        return rows

    def observe(self, rows: np.ndarray, detections: DetectionBatch, cols: np.ndarray, stamp_ns: int) -> None:
        """Tracks ``rows`` saw detections ``cols`` (after their Kalman update): class, score, box, vector, position."""
        self.class_id[rows] = detections.class_id[cols]
        self.score[rows] = detections.score[cols]
        self.box_offset[rows] = detections.box_center[cols] - detections.centroid[cols]
        self.box_size[rows] = detections.box_size[cols]
        self.box_yaw[rows] = detections.box_yaw[cols]
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            self.last_points[r] = detections.points[c]
        self.last_seen_ns[rows] = stamp_ns
        if detections.embedding is not None:
            with_vector = detections.has_embedding[cols]
            self._add_embeddings(rows[with_vector], detections.embedding[cols[with_vector]])
        self._add_positions(rows, stamp_ns)

    def _add_embeddings(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        if not rows.size:
            return
        self._embedding_dimension(vectors.shape[1])
        window = self.embedding_window
        added = self.embedding_added[rows]
        slot = added % window
        total = np.where((added == 0)[:, None], vectors, self.embedding_sum[rows] + vectors)
        full = added >= window
        if full.any():  # the oldest vector leaves the window (its slot is the one written now)
            total[full] -= self.embeddings[rows[full], slot[full]]
        self.embeddings[rows, slot] = vectors
        self.embedding_added[rows] = added + 1
        self.embedding_sum[rows] = total
        self.embedding[rows] = total / np.minimum(added + 1, window)[:, None]

    def _embedding_dimension(self, dim: int) -> None:
        current = self.embedding.shape[1]
        if dim == current:
            return
        if np.any(self.embedding_added > 0):
            raise TrackingInputError(f"tracker: association vectors of dimension {dim}, the tracks hold {current}")
        n = len(self)
        self.embeddings = np.zeros((n, self.embedding_window, dim))
        self.embedding_sum, self.embedding = np.zeros((n, dim)), np.zeros((n, dim))

    def _add_positions(self, rows: np.ndarray, stamp_ns: int) -> None:
        window = self.moving_window
        added = self.position_added[rows]
        slot = added % window
        self.positions[rows, slot] = self.mean[rows, :3]
        self.position_ns[rows, slot] = stamp_ns
        added = added + 1
        self.position_added[rows] = added
        kept = np.minimum(added, window)
        moved = kept >= 2
        if moved.any():
            r, newest = rows[moved], slot[moved]
            oldest = (added[moved] - kept[moved]) % window
            step = self.positions[r, newest] - self.positions[r, oldest]
            span_s = (self.position_ns[r, newest] - self.position_ns[r, oldest]) * 1e-9
            self.speed[r] = np.sqrt(np.sum(step * step, axis=1)) / span_s

    @property
    def last_position(self) -> np.ndarray:
        """(T, 3) each track's filtered centroid at its last observation (tracking frame)."""
        newest = (self.position_added - 1) % self.moving_window
        return self.positions[np.arange(len(self)), newest]

    def copy_rows(self, rows: np.ndarray) -> TrackTable:
        """A new table holding copies of ``rows`` (in order)."""
        out = TrackTable(self.embedding_window, self.moving_window)
        for name in self._ARRAYS:
            setattr(out, name, getattr(self, name)[rows])
        out.last_points = [self.last_points[r] for r in rows.tolist()]
        return out

    def extend(self, other: TrackTable) -> np.ndarray:
        """Append ``other``'s rows (a table of the same windows); returns their rows here."""
        if (other.embedding_window, other.moving_window) != (self.embedding_window, self.moving_window):
            raise TrackingInputError("TrackTable.extend: the tables keep windows of different lengths")
        first = len(self)
        if len(other):
            mine, theirs = self.embedding.shape[1], other.embedding.shape[1]
            if mine != theirs:  # one side must hold no vectors yet: it takes the other's dimension (else this raises)
                if np.any(other.embedding_added > 0):
                    self._embedding_dimension(theirs)
                else:
                    other._embedding_dimension(mine)
            for name in self._ARRAYS:
                setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
            self.last_points = self.last_points + list(other.last_points)
        return np.arange(first, len(self))

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (in order): the removed tracks leave the table."""
        for name in self._ARRAYS:
            setattr(self, name, getattr(self, name)[rows])
        self.last_points = [self.last_points[r] for r in rows.tolist()]

    def tracks(self) -> list[Track]:
        """The tracks as ``Track`` objects (copies of the table's state)."""
        out = []
        for k in range(len(self)):
            n_vec = min(int(self.embedding_added[k]), self.embedding_window)
            vec_slots = [(int(self.embedding_added[k]) - n_vec + i) % self.embedding_window for i in range(n_vec)]
            n_pos = min(int(self.position_added[k]), self.moving_window)
            pos_slots = [(int(self.position_added[k]) - n_pos + i) % self.moving_window for i in range(n_pos)]
            out.append(Track(
                int(self.track_id[k]), int(self.class_id[k]), _STATES[self.state[k]], self.mean[k].copy(),
                self.covariance[k].copy(), self.box_offset[k].copy(), self.box_size[k].copy(), float(self.box_yaw[k]),
                float(self.score[k]), int(self.last_seen_ns[k]), self.embedding_window, int(self.age[k]),
                int(self.hits[k]), int(self.misses[k]), deque(self.embeddings[k, s].copy() for s in vec_slots),
                self.embedding[k].copy() if n_vec else None, self.embedding_sum[k].copy() if n_vec else None,
                self.last_points[k], deque((int(self.position_ns[k, s]), self.positions[k, s].copy()) for s in pos_slots),
                float(self.speed[k])))
        return out
