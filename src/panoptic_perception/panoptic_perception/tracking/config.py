"""``TrackerConfig``: every tracker and association parameter, with defaults and validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import TrackerConfigError


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of ``PanopticTracker``; names are the YAML/ROS parameter names (section ``tracking``)."""

    association: str = "embedding"  # registry name: embedding | embedding_motion | centroid_kalman | point_iou
    u_s: float = 0.5  # MOPT instance confidence threshold: lower detections are ignored
    n_t: int = 10  # MOPT N_T: tracks last seen at most n_t frames ago are association candidates
    embedding_window: int = 3  # a track's association vector = mean of its last this-many vectors
    embedding_threshold: float = 1.0  # max Euclidean association-vector distance of a match
    gate_m: float = 2.0  # motion gate around the predicted centroid [m] for a track seen last frame
    gate_growth_m: float = 0.5  # gate growth per additional frame since the track was last seen [m]
    # embedding_motion: cost = motion cost / its gate + embedding_weight * vector distance. Defaults chosen on validation
    # drives (panoptic_training.tune_tracking, docs/tracking.md): the vectors did not help there, so the weight is 0.
    embedding_weight: float = 0.0
    motion_metric: str = "euclidean"  # embedding_motion: euclidean (growing gate) | mahalanobis (chi-square gate)
    motion_gate_m: float = 6.0  # embedding_motion, euclidean: gate [m] for a track seen last frame (grows by gate_growth_m)
    min_hits: int = 3  # observations that confirm a tentative track
    max_lost: int = 10  # consecutive missed frames after which a lost track is removed
    new_track_score: float = 0.6  # an unmatched detection starts a track only at this score or above
    process_noise: float = 1.0  # Kalman white-noise acceleration spectral density [m^2/s^3]
    measurement_noise: float = 0.1  # centroid measurement standard deviation [m]
    moving_speed_mps: float = 0.5  # a track is moving above this speed [m/s] ...
    moving_window: int = 5  # ... measured over its last this-many observations
    centroid_metric: str = "euclidean"  # centroid_kalman baseline: euclidean | mahalanobis
    centroid_max_distance_m: float = 2.0  # centroid_kalman baseline, euclidean gate [m]
    gate_probability: float = 0.99  # centroid_kalman baseline, mahalanobis chi-square gate
    iou_voxel_m: float = 0.2  # point_iou baseline voxel size [m]
    min_iou: float = 0.1  # point_iou baseline: minimum voxel IoU of a match
    # Re-identification (embedding and embedding_motion only; the baselines have no vectors): after the gated assignment,
    # unmatched detections are matched by association-vector distance to unmatched live tracks and to tracks removed at
    # most reid_frames ago (0 = off), same class, distance <= reid_threshold, centroid within reid_max_speed_mps x the
    # time since the track was last seen of its last position. A match continues the old track ID.
    reid_frames: int = 0
    reid_threshold: float = 0.5  # max association-vector distance of a re-identification
    reid_max_speed_mps: float = 15.0  # bound on how far an unseen object can have moved [m/s]

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.u_s <= 1.0, "u_s must be in [0, 1]"),
            (self.u_s <= self.new_track_score <= 1.0, "new_track_score must be in [u_s, 1]"),
            (self.n_t >= 1, "n_t must be >= 1"),
            (self.embedding_window >= 1, "embedding_window must be >= 1"),
            (self.min_hits >= 1, "min_hits must be >= 1"),
            (1 <= self.max_lost <= self.n_t, "max_lost must be in [1, n_t] (a lost track must stay matchable)"),
            (self.moving_window >= 2, "moving_window must be >= 2"),
            (self.moving_speed_mps >= 0, "moving_speed_mps must be >= 0"),
            (self.reid_frames >= 0, "reid_frames must be >= 0 (0 = no re-identification)"),
            (self.reid_threshold > 0, "reid_threshold must be > 0"),
            (self.reid_max_speed_mps > 0, "reid_max_speed_mps must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrackerConfigError(f"TrackerConfig: {message}; got {self}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "tracker config") -> TrackerConfig:
        """Build from a YAML/ROS mapping; unknown keys and wrongly typed values raise ``TrackerConfigError``."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise TrackerConfigError(f"{source}: unknown tracking parameter(s) {unknown}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            kind = type(getattr(cls, key))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not kind:
                raise TrackerConfigError(f"{source}: {key} must be {kind.__name__}, got {value!r}")
            kwargs[key] = value
        return cls(**kwargs)
