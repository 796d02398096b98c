"""``embedding_motion``: gate-normalised motion cost + weight x association-vector distance."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import (
    CentroidKalmanAssociation,
    EmbeddingMotionAssociation,
    PanopticTracker,
    TrackerConfig,
    TrackerConfigError,
    TrackingInputError,
    chi2_gate,
)

from .test_association import det, make_track


def test_mahalanobis_cost_is_the_squared_distance_over_the_chi_square_gate_plus_the_weighted_vector_distance() -> None:
    assoc = EmbeddingMotionAssociation(embedding_weight=2.0, motion_metric="mahalanobis", gate_probability=0.99,
                                       measurement_noise=0.1)
    t = make_track(1, 1, (0, 0, 0), [1.0, 0.0])  # position variance 0.1, so S = 0.1 + 0.01 per axis
    d = det(1, (0.5, 0, 0), [0.8, 0.6])
    expected = (0.25 / 0.11) / chi2_gate(3, 0.99) + 2.0 * np.hypot(0.2, 0.6)
    np.testing.assert_allclose(assoc.cost_matrix([t], [d]), [[expected]])
    assert assoc.max_cost == pytest.approx(1.0 + 2.0 * 1.0)


def test_euclidean_cost_is_the_distance_over_the_gate_that_grows_with_missed_frames() -> None:
    assoc = EmbeddingMotionAssociation(embedding_weight=0.5, motion_metric="euclidean", gate_m=2.0, gate_growth_m=0.5)
    seen = make_track(1, 1, (0, 0, 0), [1.0, 0.0])
    lost = make_track(2, 1, (0, 0, 0), [1.0, 0.0], misses=2)  # third frame since seen: gate 3 m
    d = det(1, (0, 1.5, 0), [1.0, 0.0])
    np.testing.assert_allclose(assoc.cost_matrix([seen, lost], [d]), [[1.5 / 2.0], [1.5 / 3.0]])


def test_pairs_outside_the_motion_gate_beyond_the_vector_threshold_or_of_another_class_never_match() -> None:
    assoc = EmbeddingMotionAssociation(embedding_weight=1.0, motion_metric="euclidean", embedding_threshold=0.5)
    t = make_track(1, 1, (0, 0, 0), [1.0, 0.0])
    far = det(1, (2.5, 0, 0), [1.0, 0.0])
    unlike = det(1, (0.1, 0, 0), [0.0, 1.0])  # vectors sqrt(2) apart
    other_class = det(2, (0.1, 0, 0), [1.0, 0.0])
    result = assoc.associate([t], [far, unlike, other_class])
    assert result.matches.shape == (0, 2) and result.unmatched_detections.tolist() == [0, 1, 2]
    assert np.isinf(assoc.cost_matrix([t], [far, unlike])).all()


def test_the_weight_trades_position_against_the_vectors_inside_the_gate() -> None:
    tracks = [make_track(1, 6, (0, 0, 0), [1.0, 0.0]), make_track(2, 6, (0.6, 0, 0), [0.0, 1.0])]
    # The detection nearer track 1 carries track 2's vector and vice versa; both lie inside both gates.
    dets = [det(6, (0.2, 0, 0), [0.1, 1.0]), det(6, (0.4, 0, 0), [1.0, 0.1])]

    def pairs(weight: float) -> list[tuple[int, int]]:
        result = EmbeddingMotionAssociation(weight, "euclidean", embedding_threshold=2.0).associate(tracks, dets)
        return sorted(map(tuple, result.matches.tolist()))

    assert pairs(0.0) == [(0, 0), (1, 1)]  # by position
    assert pairs(1.0) == [(0, 1), (1, 0)]  # by vector


def test_with_weight_zero_it_matches_as_the_mahalanobis_centroid_baseline() -> None:
    rng = np.random.default_rng(0)
    centres = rng.uniform(-2, 2, size=(12, 3))  # crowded: most detections fall in several gates
    tracks = [make_track(i, 1 + i % 2, tuple(centres[i]), list(rng.normal(size=4))) for i in range(12)]
    dets = [det(1 + j % 2, tuple(centres[j] + rng.normal(scale=0.4, size=3)), list(rng.normal(size=4))) for j in range(10)]
    combined = EmbeddingMotionAssociation(0.0, "mahalanobis", embedding_threshold=100.0).associate(tracks, dets)
    baseline = CentroidKalmanAssociation("mahalanobis").associate(tracks, dets)
    assert len(baseline.matches) >= 5
    np.testing.assert_array_equal(combined.matches, baseline.matches)


def test_detections_need_vectors_unless_the_weight_is_zero_and_bad_parameters_are_refused() -> None:
    with pytest.raises(TrackingInputError, match="embedding_motion association: detection 0 has no embedding"):
        EmbeddingMotionAssociation().associate([make_track(1, 1, (0, 0, 0), [1.0])], [det(1, (0, 0, 0))])
    motion_only = EmbeddingMotionAssociation(embedding_weight=0.0, motion_metric="euclidean")
    assert not motion_only.uses_embeddings and EmbeddingMotionAssociation(embedding_weight=0.5).uses_embeddings
    result = motion_only.associate([make_track(1, 1, (0, 0, 0))], [det(1, (0.5, 0, 0)), det(1, (2.5, 0, 0))])
    assert result.matches.tolist() == [[0, 0]] and result.costs.tolist() == [0.25]
    with pytest.raises(TrackerConfigError, match="motion_metric"):
        EmbeddingMotionAssociation(motion_metric="manhattan")
    with pytest.raises(TrackerConfigError, match="embedding_weight >= 0"):
        EmbeddingMotionAssociation(embedding_weight=-1.0)


def test_with_vectors_the_tracker_keeps_both_ids_where_two_persons_meet_and_turn_back(turn_back_frames, track_all,
                                                                                      count_switches) -> None:
    tracker = PanopticTracker.from_config(TrackerConfig(association="embedding_motion", embedding_weight=1.0, min_hits=1))
    assigned, _ = track_all(tracker, turn_back_frames)
    assert count_switches(assigned) == 0 and len(set(assigned[1]) | set(assigned[2])) == 2
    # The validated default (weight 0, the motion cue alone) follows the constant-velocity prediction onto the other person.
    motion_only = PanopticTracker.from_config(TrackerConfig(association="embedding_motion", min_hits=1))
    assert motion_only.association.weight == 0.0
    assigned, _ = track_all(motion_only, turn_back_frames)
    assert count_switches(assigned) >= 1
