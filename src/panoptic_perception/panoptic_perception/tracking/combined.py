"""Association by both cues: the motion cost from the Kalman prediction plus the association-vector distance.

Cost of a (track, detection) pair of the same class:

    c = m + w_e * d_e,     m = d_M^2 / chi2_{3, p}   (``motion_metric: mahalanobis``)
                           m = d / (g + gate_growth_m * (k - 1))   (``motion_metric: euclidean``, g = ``motion_gate_m``)

``m`` is the motion cost normalised by its own gate, so it lies in [0, 1] for every pair the gate admits:
the squared Mahalanobis distance of the detection centroid from the track's constant-velocity prediction
(innovation covariance ``S = H P H^T + R``, which widens by itself while a track is lost), or the
Euclidean distance [m] over a gate that grows like the embedding association's (k = frames since the track
was last seen). ``d_e`` is the Euclidean distance of the association vectors (track: mean of its last
``embedding_window``), admitted up to ``embedding_threshold``. Pairs outside either gate never match.

``w_e`` (``embedding_weight``) trades the cues: 0 is pure motion (the ``centroid_kalman`` baseline's
order of costs inside the gate), a large weight lets the vectors decide among the pairs the motion gate
admits (the ``embedding`` association with a Kalman gate). Its default was chosen on validation drives
(``panoptic_training.tune_tracking``; docs/tracking.md).
"""

from __future__ import annotations

import numpy as np

from .association import CostAssociation, Detections, Tracks, centroid_distances, embedding_distances, growing_gate
from .batches import DetectionBatch, TrackBatch
from .errors import TrackerConfigError
from .kalman import ConstantVelocityKalman, chi2_gate

MOTION_METRICS = ("euclidean", "mahalanobis")


class EmbeddingMotionAssociation(CostAssociation):
    """Cost = gate-normalised motion cost + ``embedding_weight`` x association-vector distance."""

    uses_embeddings = supports_reid = True

    def __init__(self, embedding_weight: float = 1.0, motion_metric: str = "mahalanobis", embedding_threshold: float = 1.0,
                 gate_probability: float = 0.99, gate_m: float = 2.0, gate_growth_m: float = 0.5,
                 measurement_noise: float = 0.1) -> None:
        if motion_metric not in MOTION_METRICS:
            raise TrackerConfigError(f"motion_metric must be one of {MOTION_METRICS}, got {motion_metric!r}")
        if embedding_weight < 0 or embedding_threshold <= 0 or gate_m <= 0 or gate_growth_m < 0:
            raise TrackerConfigError(f"embedding_motion association needs embedding_weight >= 0, embedding_threshold > 0, "
                                     f"gate_m > 0, gate_growth_m >= 0; got {embedding_weight}, {embedding_threshold}, "
                                     f"{gate_m}, {gate_growth_m}")
        self.weight = float(embedding_weight)
        self.uses_embeddings = self.cost_reads_vectors = self.weight > 0  # re-identification may set uses_embeddings
        self.metric = motion_metric
        self.embedding_threshold = float(embedding_threshold)
        self.chi2 = chi2_gate(3, gate_probability)
        self.gate_m, self.gate_growth_m = float(gate_m), float(gate_growth_m)
        self.kalman = ConstantVelocityKalman(measurement_noise=measurement_noise)
        self.max_cost = 1.0 + self.weight * self.embedding_threshold

    @classmethod
    def from_config(cls, cfg: object) -> EmbeddingMotionAssociation:
        return cls(cfg.embedding_weight, cfg.motion_metric, cfg.embedding_threshold,  # type: ignore[attr-defined]
                   cfg.gate_probability, cfg.motion_gate_m, cfg.gate_growth_m, cfg.measurement_noise)  # type: ignore[attr-defined]

    def motion_cost(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        """(T, D) motion cost over its gate: <= 1 inside the gate."""
        tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
        if self.metric == "euclidean":
            return centroid_distances(tracks, detections) / growing_gate(tracks, self.gate_m, self.gate_growth_m)[:, None]
        return self.kalman.gating_distance(tracks.mean, tracks.covariance, detections.centroid) / self.chi2

    def cost_matrix(self, tracks: Tracks, detections: Detections) -> np.ndarray:
        tracks, detections = TrackBatch.of(tracks), DetectionBatch.of(detections)
        motion = self.motion_cost(tracks, detections)
        if self.weight == 0.0:  # the motion cue alone: vectors are neither needed nor gated
            return np.where(motion <= 1.0, motion, np.inf)
        embedding = embedding_distances(tracks, detections, "embedding_motion association")
        cost = motion + self.weight * embedding
        return np.where((motion <= 1.0) & (embedding <= self.embedding_threshold), cost, np.inf)
