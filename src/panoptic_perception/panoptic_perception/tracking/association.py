"""MOPT association: Euclidean distance between association vectors, same class only, Hungarian assignment.

PanopticTrackNet (Hurtado et al., MOPT) keeps instances whose confidence exceeds ``u_s`` and matches each to
the tracks seen in the last ``N_T`` frames by the Euclidean distance of their association vectors. A track's
vector is the mean of its last ``embedding_window`` observed vectors (kept by the tracker). Beyond the
paper, since we have 3D centroids, a pair is also rejected when the detection lies farther than
``gate_m + gate_growth_m * (k - 1)`` from the track's constant-velocity predicted centroid, k = frames since
the track was last seen. Pairs of different classes never match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from .batches import DetectionBatch, TrackBatch
from .errors import TrackerConfigError, TrackingInputError
from .types import Detection, Track

Tracks = TrackBatch | Sequence[Track]
Detections = DetectionBatch | Sequence[Detection]


@dataclass
class AssociationResult:
    """``matches`` (K, 2) int rows of (track index, detection index); the rest index the inputs too."""

    matches: np.ndarray
    unmatched_detections: np.ndarray
    unmatched_tracks: np.ndarray
    costs: np.ndarray  # (K,) cost of each match


class Association(Protocol):
    """A cost between live tracks and this frame's detections (both in the tracking frame; objects or batches)."""

    uses_points: bool
    uses_embeddings: bool

    def associate(self, tracks: Tracks, detections: Detections) -> AssociationResult: ...


def confident(detections: Sequence[Detection], u_s: float) -> list[int]:
    """Indices of detections whose score is at least ``u_s`` (MOPT's instance confidence threshold)."""
    return [i for i, d in enumerate(detections) if d.score >= u_s]


def hungarian(cost: np.ndarray, max_cost: float) -> AssociationResult:
    """Minimum-cost assignment; infinite entries are forbidden and matches costing more than ``max_cost`` dropped."""
    cost = np.asarray(cost, dtype=np.float64)
    n_tracks, n_dets = cost.shape
    feasible = np.isfinite(cost) & (cost <= max_cost)
    rows = np.flatnonzero(feasible.any(axis=1))
    cols = np.flatnonzero(feasible.any(axis=0))
    matches = np.zeros((0, 2), dtype=np.int64)
    if rows.size and cols.size:
        every = rows.size == n_tracks and cols.size == n_dets  # usual: every track and detection has a feasible pair
        sub = cost if every else cost[np.ix_(rows, cols)]
        sub_ok = feasible if every else feasible[np.ix_(rows, cols)]
        big = (max_cost + 1.0) * 2.0 + float(np.max(np.where(sub_ok, np.abs(sub), 0.0)))
        r, c = linear_sum_assignment(np.where(sub_ok, sub, big))
        keep = sub_ok[r, c]
        matches = np.stack([rows[r[keep]], cols[c[keep]]], axis=1).astype(np.int64)
    matched_t = np.zeros(n_tracks, bool)
    matched_d = np.zeros(n_dets, bool)
    matched_t[matches[:, 0]] = True
    matched_d[matches[:, 1]] = True
    return AssociationResult(matches, np.flatnonzero(~matched_d), np.flatnonzero(~matched_t),
                             cost[matches[:, 0], matches[:, 1]])


def class_mask(tracks: Tracks, detections: Detections) -> np.ndarray:
    """(T, D) True where track and detection have the same class."""
    return TrackBatch.of(tracks).class_id[:, None] == DetectionBatch.of(detections).class_id[None, :]


def centroid_distances(tracks: Tracks, detections: Detections) -> np.ndarray:
    """(T, D) Euclidean distance [m] between predicted track centroids and detection centroids."""
    return cdist(TrackBatch.of(tracks).mean[:, :3], DetectionBatch.of(detections).centroid)


class CostAssociation:
    """Base of the cost-matrix associations: subclasses fill ``cost_matrix`` and ``max_cost``."""

    uses_points = False
    uses_embeddings = False  # needs Detection.embedding (a network with the MOPT tracking head)
    cost_reads_vectors = False  # its cost itself reads the vectors (re-identification aside)
    supports_reid = False  # the tracker may re-identify with its vectors (TrackerConfig.reid_frames)
    max_cost: float

    def cost_matrix(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        raise NotImplementedError

    def associate(self, tracks: Tracks, detections: Detections) -> AssociationResult:
        if not len(tracks) or not len(detections):
            return hungarian(np.zeros((len(tracks), len(detections))), self.max_cost)
        tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
        cost = np.where(class_mask(tracks, detections), self.cost_matrix(tracks, detections), np.inf)
        return hungarian(cost, self.max_cost)


class EmbeddingAssociation(CostAssociation):
    """MOPT: cost = ||a_track - a_detection||_2, gated by class and by distance to the predicted centroid."""

    uses_embeddings = cost_reads_vectors = supports_reid = True

    def __init__(self, embedding_threshold: float = 1.0, gate_m: float = 2.0, gate_growth_m: float = 0.5) -> None:
        if embedding_threshold <= 0 or gate_m <= 0 or gate_growth_m < 0:
            raise TrackerConfigError(f"embedding association needs embedding_threshold > 0, gate_m > 0, "
                                     f"gate_growth_m >= 0; got {embedding_threshold}, {gate_m}, {gate_growth_m}")
        self.max_cost = float(embedding_threshold)
        self.gate_m = float(gate_m)
        self.gate_growth_m = float(gate_growth_m)

    @classmethod
    def from_config(cls, cfg: object) -> EmbeddingAssociation:
        return cls(cfg.embedding_threshold, cfg.gate_m, cfg.gate_growth_m)  # type: ignore[attr-defined]

    def motion_gate(self, tracks: Tracks) -> np.ndarray:
        """(T,) gate radius [m]; grows with the frames since each track was last seen."""
        return growing_gate(tracks, self.gate_m, self.gate_growth_m)

    def cost_matrix(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        cost = embedding_distances(tracks, detections, "embedding association")
        within = centroid_distances(tracks, detections) <= self.motion_gate(tracks)[:, None]
        return np.where(within, cost, np.inf)


def growing_gate(tracks: Tracks, gate_m: float, gate_growth_m: float) -> np.ndarray:
    """(T,) gate radius [m]: ``gate_m + gate_growth_m * (k - 1)``, k = frames since each track was last seen."""
    return gate_m + gate_growth_m * (TrackBatch.of(tracks).frames_since_seen.astype(np.float64) - 1.0)


def embedding_distances(tracks: Tracks, detections: Detections, who: str) -> np.ndarray:
    """(T, D) Euclidean distance between track and detection association vectors; inf for a track without one."""
    tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
    missing = np.flatnonzero(~detections.has_embedding)
    if missing.size:
        raise TrackingInputError(f"{who}: detection {missing[0]} has no embedding")
    cost = np.full((len(tracks), len(detections)), np.inf)
    if tracks.embedding is not None and len(detections):
        det_emb = detections.embedding
        if tracks.embedding.shape[1] != det_emb.shape[1]:  # type: ignore[union-attr]
            raise TrackingInputError(f"{who}: detections have dimension {det_emb.shape[1]}, "  # type: ignore[union-attr]
                                     f"tracks {tracks.embedding.shape[1]}")
        with_emb = tracks.has_embedding
        cost[with_emb] = cdist(tracks.embedding if with_emb.all() else tracks.embedding[with_emb], det_emb)
    return cost
