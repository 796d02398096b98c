"""Re-identification by association vectors: continuing a track ID where the motion gate cannot.

MOPT matches detections to the tracks seen in the last N_T frames by vector distance alone. Our associations gate
by motion first, so an object that reappears after an occlusion outside every motion gate, or after its track was
removed (a tentative track that missed one sweep, a lost track after ``max_lost`` misses), gets a new ID. This step
runs after the gated assignment, for the vector-based associations only: each unmatched detection is compared with
the unmatched live tracks and with the tracks removed at most ``frames`` sweeps ago (the ``Graveyard``, which keeps
their last vector window). A pair is admitted when the classes agree, the vector distance is at most ``threshold``,
and the detection centroid lies within ``max_speed_mps`` x (time since the track was last seen) of the track's last
filtered centroid; Hungarian assignment on the vector distances. Everything is one array expression over the pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from .association import hungarian
from .batches import DetectionBatch
from .errors import TrackerConfigError, TrackingInputError
from .track_table import TrackTable


class Graveyard:
    """Removed tracks kept for re-identification: a ``TrackTable`` of their rows and the sweeps since each removal."""

    def __init__(self, embedding_window: int, moving_window: int) -> None:
        self.table = TrackTable(embedding_window, moving_window)
        self.since_removal = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.table)

    def bury(self, table: TrackTable, rows: np.ndarray) -> None:
        """Keep copies of ``table``'s ``rows`` (removed in this sweep)."""
        if rows.size:
            self.table.extend(table.copy_rows(rows))
            self.since_removal = np.concatenate([self.since_removal, np.zeros(rows.size, np.int64)])

    def exhume(self, rows: np.ndarray) -> TrackTable:
        """Take ``rows`` out (re-identified): returns them as a table."""
        taken = self.table.copy_rows(rows)
        left = np.setdiff1d(np.arange(len(self)), rows)
        self.table.keep(left)
        self.since_removal = self.since_removal[left]
        return taken

    def age(self, frames: int) -> None:
        """One more sweep: ages and misses grow; tracks removed more than ``frames`` sweeps ago are forgotten."""
        self.table.age += 1
        self.table.misses += 1
        self.since_removal += 1
        recent = np.flatnonzero(self.since_removal <= frames)
        if recent.size < len(self):
            self.table.keep(recent)
            self.since_removal = self.since_removal[recent]


class ReIdentification:
    """Matches unmatched detections to unmatched or removed tracks by association-vector distance."""

    def __init__(self, frames: int, threshold: float, max_speed_mps: float) -> None:
        if frames < 1 or threshold <= 0 or max_speed_mps <= 0:
            raise TrackerConfigError(f"re-identification needs frames >= 1, threshold > 0, max_speed_mps > 0; got "
                                     f"{frames}, {threshold}, {max_speed_mps}")
        self.frames, self.threshold, self.max_speed_mps = int(frames), float(threshold), float(max_speed_mps)

    def cost(self, class_id: np.ndarray, embedding: np.ndarray | None, has_embedding: np.ndarray, last_position: np.ndarray,
             last_seen_ns: np.ndarray, detections: DetectionBatch, cols: np.ndarray, stamp_ns: int) -> np.ndarray:
        """(T, len(cols)) vector distance of each admitted (track, detection) pair, inf for the others."""
        cost = np.full((len(class_id), cols.size), np.inf)
        if not cost.size or embedding is None or not has_embedding.any():
            return cost
        if detections.embedding is None or not detections.has_embedding[cols].all():
            raise TrackingInputError("re-identification: every detection needs an association vector")
        det_vectors = detections.embedding[cols]
        if det_vectors.shape[1] != embedding.shape[1]:
            raise TrackingInputError(f"re-identification: detections have dimension {det_vectors.shape[1]}, tracks "
                                     f"{embedding.shape[1]}")
        reach = self.max_speed_mps * (stamp_ns - last_seen_ns) * 1e-9
        admitted = (class_id[:, None] == detections.class_id[cols][None, :]) & has_embedding[:, None]
        admitted &= cdist(last_position, detections.centroid[cols]) <= reach[:, None]
        distance = cdist(embedding, det_vectors)
        return np.where(admitted & (distance <= self.threshold), distance, np.inf)

    def match(self, table: TrackTable, live_rows: np.ndarray, graveyard: Graveyard, detections: DetectionBatch,
              cols: np.ndarray, stamp_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Re-identify detections ``cols`` among the live ``rows`` of ``table`` and the graveyard's tracks.

        Returns (live rows, their detections, graveyard rows, their detections), detections as indices into
        ``detections``."""
        empty = np.zeros(0, np.int64)
        grave = graveyard.table
        if not cols.size or not (live_rows.size + len(grave)):
            return empty, empty, empty, empty
        class_id = np.concatenate([table.class_id[live_rows], grave.class_id])
        has = np.concatenate([table.embedding_added[live_rows] > 0, grave.embedding_added > 0])
        embedding = _stacked_vectors(table.embedding[live_rows], grave.embedding, has)
        position = np.concatenate([table.last_position[live_rows], grave.last_position])
        seen = np.concatenate([table.last_seen_ns[live_rows], grave.last_seen_ns])
        result = hungarian(self.cost(class_id, embedding, has, position, seen, detections, cols, stamp_ns), self.threshold)
        tracks, dets = result.matches[:, 0], cols[result.matches[:, 1]]
        live = tracks < live_rows.size
        return live_rows[tracks[live]], dets[live], tracks[~live] - live_rows.size, dets[~live]


def _stacked_vectors(live: np.ndarray, buried: np.ndarray, has: np.ndarray) -> np.ndarray | None:
    """The two tables' vectors in one (T, D) array; None when no track has one. A table that never held a vector has
    dimension 0: its rows get zeros of the other's dimension (they are not admitted: ``has`` is False there)."""
    if not has.any():
        return None
    dim = max(live.shape[1], buried.shape[1])
    parts = [a if a.shape[1] == dim else np.zeros((len(a), dim)) for a in (live, buried)]
    return np.concatenate(parts)
