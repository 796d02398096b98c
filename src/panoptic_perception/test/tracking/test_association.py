from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from panoptic_perception.tracking import (
    CentroidKalmanAssociation,
    Detection,
    EmbeddingAssociation,
    PointIoUAssociation,
    Track,
    TrackingInputError,
    TrackState,
    confident,
    hungarian,
)


def make_track(track_id: int, class_id: int, centroid: tuple[float, float, float], embedding: list[float] | None = None,
               misses: int = 0, velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Track:
    t = Track(track_id, class_id, TrackState.CONFIRMED, np.array([*centroid, *velocity], dtype=float), np.eye(6) * 0.1,
              np.zeros(3), np.ones(3), 0.0, 0.9, 0, misses=misses, positions=deque())
    if embedding is not None:
        t.add_embedding(np.array(embedding, dtype=float))
    return t


def det(class_id: int, centroid: tuple[float, float, float], embedding: list[float] | None = None,
        score: float = 0.9) -> Detection:
    return Detection(class_id, score, np.array(centroid), embedding=None if embedding is None else np.array(embedding))


def test_hungarian_finds_the_minimum_total_cost_and_drops_matches_above_the_threshold() -> None:
    cost = np.array([[1.0, 2.0, np.inf], [1.5, 5.0, np.inf], [np.inf, np.inf, 9.0]])
    result = hungarian(cost, max_cost=3.0)
    assert sorted(map(tuple, result.matches.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(sorted(result.costs), [1.5, 2.0])
    assert result.unmatched_detections.tolist() == [2]
    assert result.unmatched_tracks.tolist() == [2]


def test_hungarian_of_an_empty_or_fully_forbidden_matrix_matches_nothing() -> None:
    empty = hungarian(np.zeros((0, 3)), 1.0)
    assert empty.matches.shape == (0, 2) and empty.unmatched_detections.tolist() == [0, 1, 2]
    forbidden = hungarian(np.full((2, 2), np.inf), 1.0)
    assert forbidden.matches.shape == (0, 2) and forbidden.unmatched_tracks.tolist() == [0, 1]


def test_confident_keeps_detections_at_or_above_u_s() -> None:
    dets = [det(1, (0, 0, 0), score=s) for s in (0.2, 0.5, 0.49, 0.9)]
    assert confident(dets, 0.5) == [1, 3]


def test_embedding_association_matches_by_association_vector_not_by_position() -> None:
    tracks = [make_track(1, 6, (0, 0, 0), [1, 0]), make_track(2, 6, (0.5, 0, 0), [0, 1])]
    # The detection nearer track 1 carries track 2's vector and vice versa.
    dets = [det(6, (0.45, 0, 0), [0.05, 1]), det(6, (0.05, 0, 0), [1, 0.05])]
    result = EmbeddingAssociation(embedding_threshold=0.5, gate_m=2.0).associate(tracks, dets)
    assert sorted(map(tuple, result.matches.tolist())) == [(0, 1), (1, 0)]
    np.testing.assert_allclose(result.costs, 0.05)


def test_embedding_association_never_matches_different_classes() -> None:
    tracks = [make_track(1, 1, (0, 0, 0), [1, 0])]
    result = EmbeddingAssociation().associate(tracks, [det(6, (0, 0, 0), [1, 0])])
    assert result.matches.shape == (0, 2)


def test_embedding_association_rejects_pairs_beyond_the_motion_gate_which_grows_with_missed_frames() -> None:
    assoc = EmbeddingAssociation(embedding_threshold=1.0, gate_m=2.0, gate_growth_m=0.5)
    far = [det(1, (3.0, 0, 0), [1, 0])]
    assert assoc.associate([make_track(1, 1, (0, 0, 0), [1, 0], misses=0)], far).matches.shape == (0, 2)
    # Seen 3 frames ago: gate 2 + 0.5 * 2 = 3 m.
    assert assoc.associate([make_track(1, 1, (0, 0, 0), [1, 0], misses=2)], far).matches.tolist() == [[0, 0]]
    np.testing.assert_allclose(assoc.motion_gate([make_track(1, 1, (0, 0, 0), misses=4)]), [4.0])


def test_embedding_association_rejects_vectors_farther_than_the_threshold() -> None:
    result = EmbeddingAssociation(embedding_threshold=0.5).associate([make_track(1, 1, (0, 0, 0), [1, 0])],
                                                                     [det(1, (0, 0, 0), [0.4, 0.0])])
    assert result.matches.shape == (0, 2)


def test_embedding_association_requires_embeddings_on_detections() -> None:
    with pytest.raises(TrackingInputError, match="detection 0 has no embedding"):
        EmbeddingAssociation().associate([make_track(1, 1, (0, 0, 0), [1, 0])], [det(1, (0, 0, 0))])


def test_track_association_vector_is_the_mean_of_its_last_window_of_vectors() -> None:
    t = make_track(1, 1, (0, 0, 0))
    t.embedding_window = 2
    for v in ([4.0, 0.0], [0.0, 2.0], [2.0, 2.0]):
        t.add_embedding(np.array(v))
    np.testing.assert_allclose(t.embedding, [1.0, 2.0])


def test_centroid_association_matches_the_nearest_predicted_centroid_within_the_distance() -> None:
    tracks = [make_track(1, 1, (0, 0, 0)), make_track(2, 1, (10, 0, 0))]
    dets = [det(1, (10.5, 0, 0)), det(1, (0.3, 0, 0)), det(1, (5, 0, 0))]
    result = CentroidKalmanAssociation("euclidean", max_distance_m=1.0).associate(tracks, dets)
    assert sorted(map(tuple, result.matches.tolist())) == [(0, 1), (1, 0)]
    assert result.unmatched_detections.tolist() == [2]


def test_mahalanobis_centroid_cost_uses_the_track_covariance() -> None:
    assoc = CentroidKalmanAssociation("mahalanobis", measurement_noise=0.1)
    t = make_track(1, 1, (0, 0, 0))  # position variance 0.1, S = 0.1 + 0.01
    cost = assoc.cost_matrix([t], [det(1, (0.5, 0, 0))])
    np.testing.assert_allclose(cost, [[0.25 / 0.11]])
    assert assoc.max_cost == pytest.approx(11.3449, abs=1e-3)


def test_voxel_iou_counts_shared_voxels() -> None:
    assoc = PointIoUAssociation(voxel_m=1.0)
    a = np.array([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5], [2.5, 0.5, 0.5], [3.5, 0.5, 0.5]])
    b = a + [2.0, 0.0, 0.0]  # shares voxels 2 and 3
    far = a + [0.0, 50.0, 0.0]
    iou = assoc.iou_matrix([a, None], [a, b, far])
    np.testing.assert_allclose(iou, [[1.0, 2 / 6, 0.0], [0.0, 0.0, 0.0]])


def test_point_iou_association_matches_overlapping_instances_and_needs_points() -> None:
    pts = np.random.default_rng(0).uniform(0, 2, size=(100, 3))
    t = make_track(1, 1, (1, 1, 1))
    t.last_points = pts
    d = Detection(1, 0.9, pts.mean(axis=0), points=pts + 0.01)
    result = PointIoUAssociation(voxel_m=0.2, min_iou=0.1).associate([t], [d])
    assert result.matches.tolist() == [[0, 0]]
    assert result.costs[0] < 0.5
    with pytest.raises(TrackingInputError, match="detection 0 has no points"):
        PointIoUAssociation().associate([t], [det(1, (1, 1, 1))])
