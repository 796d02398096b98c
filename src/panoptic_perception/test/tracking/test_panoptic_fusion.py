from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import TrackingInputError, fuse_panoptic

# Classes of these tests: 0 unlabeled, 1 car, 2 person (things), 3 road, 4 building (stuff).
THINGS = (1, 2)


def logits(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_instances_take_their_points_and_stuff_takes_the_semantic_argmax() -> None:
    sem = logits([[0, 5, 0, 1, 0],   # car-ish, covered by the car instance
                  [0, 4, 0, 0, 0],   # car-ish
                  [0, 0, 0, 6, 0],   # road
                  [0, 0, 0, 0, 7]])  # building
    masks = logits([[3, 3, -3, -3]])
    out = fuse_panoptic(sem, masks, np.array([1]), np.array([0.9]), thing_ids=THINGS)
    assert out.class_id.dtype == np.uint16 and out.instance_id.dtype == np.uint32
    assert out.class_id.tolist() == [1, 1, 3, 4]
    assert out.instance_id.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(out.score[:2], 0.9)
    assert out.kept.tolist() == [0]


def test_fused_logit_is_the_hadamard_sum_product_and_competes_with_stuff() -> None:
    # Point 0: A = 1, B = 1 -> (s(1) + s(1)) * 2 = 2.924 beats road 2.9; point 1: A = 1, B = 1 loses to road 3.0.
    sem = logits([[0, 1, 0, 2.9, 0], [0, 1, 0, 3.0, 0]])
    out = fuse_panoptic(sem, logits([[1, 1]]), np.array([1]), np.array([0.9]), thing_ids=THINGS)
    assert out.class_id.tolist() == [1, 3]
    assert out.instance_id.tolist() == [1, 0]


def test_overlapping_instances_split_points_by_fused_logit_and_ties_go_to_the_more_confident() -> None:
    sem = logits([[0, 2, 2, 0, 0]] * 4)
    masks = logits([[4, 4, 1, -1],    # person, confidence 0.7 (input index 0)
                    [-1, 1, 4, 4]])   # car, confidence 0.9 (index 1)
    out = fuse_panoptic(sem, masks, np.array([2, 1]), np.array([0.7, 0.9]), thing_ids=THINGS, overlap_threshold=0.7)
    assert out.instance_id.tolist() == [1, 1, 2, 2]
    assert out.class_id.tolist() == [2, 2, 1, 1]
    assert out.kept.tolist() == [1, 0]  # by confidence
    # Equal logits on a shared point: the more confident instance (car) wins.
    tie = fuse_panoptic(logits([[0, 2, 2, 0, 0]]), logits([[3], [3]]), np.array([2, 1]), np.array([0.7, 0.9]),
                        thing_ids=THINGS, overlap_threshold=1.0)
    assert tie.instance_id.tolist() == [2]


def test_low_confidence_and_mostly_overlapped_instances_are_dropped() -> None:
    sem = logits([[0, 3, 0, 0, 0]] * 3)
    masks = logits([[2, 2, 2], [2, 2, -2], [5, 5, 5]])
    out = fuse_panoptic(sem, masks, np.array([1, 1, 1]), np.array([0.9, 0.8, 0.3]), thing_ids=THINGS,
                        min_score=0.5, overlap_threshold=0.5)
    assert out.kept.tolist() == [0]
    assert out.instance_id.tolist() == [1, 1, 1]


def test_thing_points_no_instance_claims_and_small_stuff_segments_become_unlabeled() -> None:
    sem = logits([[0, 5, 0, 0, 0],   # car by semantics, no instance
                  [0, 0, 0, 4, 0],   # road x3
                  [0, 0, 0, 4, 0],
                  [0, 0, 0, 4, 0],
                  [0, 0, 0, 0, 4],   # building x1: below min_stuff_points
                  [9, 0, 0, 0, 0]])  # unlabeled
    out = fuse_panoptic(sem, np.zeros((0, 6)), np.zeros(0), np.zeros(0), thing_ids=THINGS, min_stuff_points=2)
    assert out.class_id.tolist() == [0, 3, 3, 3, 0, 0]
    assert out.instance_id.tolist() == [0] * 6
    assert out.score[0] == 0.0 and out.score[4] == 0.0
    np.testing.assert_allclose(out.score[1], np.exp(4) / (np.exp(4) + 4), rtol=1e-5)


def test_default_thing_ids_come_from_the_class_table() -> None:
    sem = np.zeros((2, 20), dtype=np.float32)
    sem[:, 9] = 1.0  # road
    out = fuse_panoptic(sem, logits([[2, -2]]), np.array([6]), np.array([0.8]))
    assert out.class_id.tolist() == [6, 9]
    with pytest.raises(TrackingInputError, match="must be thing ids"):
        fuse_panoptic(sem, logits([[2, -2]]), np.array([9]), np.array([0.8]))


def test_mismatched_shapes_are_rejected() -> None:
    with pytest.raises(TrackingInputError, match=r"expected mask_logits \(1, 3\)"):
        fuse_panoptic(np.zeros((3, 5)), np.zeros((1, 4)), np.array([1]), np.array([0.9]), thing_ids=THINGS)
    with pytest.raises(TrackingInputError, match="finite"):
        fuse_panoptic(np.full((1, 5), np.nan), np.zeros((0, 1)), np.zeros(0), np.zeros(0), thing_ids=THINGS)
