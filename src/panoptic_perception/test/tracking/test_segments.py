"""``segment_detections``: every instance segment of a sweep at once, equal to ``Detection.from_points`` per segment."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import Detection, TrackingInputError, segment_detections


def reference(xyz, segment_id, class_id, score, embeddings, min_points):
    out = []
    for sid in np.unique(segment_id[segment_id > 0]):
        members = np.flatnonzero(segment_id == sid)
        if members.size < min_points:
            continue
        cls = int(np.bincount(class_id[members]).argmax())
        emb = embeddings[sid - 1] if embeddings is not None else None
        out.append(Detection.from_points(xyz, members, cls, float(score[members].mean()), emb))
    return out


def test_segment_detections_equal_per_segment_detections_from_points() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    xyz = rng.normal(scale=20, size=(n, 4)).astype(np.float32)
    segment_id = rng.integers(0, 12, n).astype(np.uint32)
    segment_id[segment_id == 7] = 0  # id 7 absent
    segment_id[np.flatnonzero(segment_id == 3)[3:]] = 0  # id 3 keeps 3 points: below min_points
    class_id = rng.integers(1, 4, n).astype(np.uint16)  # mixed classes: the majority (smallest on a tie) wins
    class_id[segment_id == 5] = 2
    score = rng.uniform(0, 1, n).astype(np.float32)
    embeddings = rng.normal(size=(11, 6))
    got = segment_detections(xyz, segment_id, class_id, score, embeddings, min_points=4)
    expected = reference(xyz[:, :3], segment_id, class_id, score, embeddings, 4)
    assert len(got) == len(expected) == 9  # ids 1-11 without 3 and 7
    for g, e in zip(got, expected, strict=True):
        assert g.class_id == e.class_id and g.score == pytest.approx(e.score, rel=1e-6)
        np.testing.assert_array_equal(g.point_indices, e.point_indices)
        np.testing.assert_allclose(g.centroid, e.centroid, rtol=1e-12)
        np.testing.assert_allclose(g.box_center, e.box_center, rtol=1e-12)
        np.testing.assert_allclose(g.box_size, e.box_size, rtol=1e-12)
        np.testing.assert_array_equal(g.points, e.points)
        np.testing.assert_array_equal(g.embedding, e.embedding)
        assert g.box_yaw == 0.0
    assert segment_detections(xyz, np.zeros(n, np.uint32), class_id, score) == []


def test_segment_detections_validate_their_inputs() -> None:
    xyz = np.zeros((4, 3))
    ids = np.array([0, 1, 1, 2])
    with pytest.raises(TrackingInputError, match="must agree"):
        segment_detections(xyz, ids[:3], np.ones(4, int), np.ones(4))
    with pytest.raises(TrackingInputError, match="a row per segment id up to 2"):
        segment_detections(xyz, ids, np.ones(4, int), np.ones(4), embeddings=np.zeros((1, 3)))
    # A segment below min_points needs no row: ids 1 (2 points) kept, 2 (1 point) dropped, one row suffices.
    (kept,) = segment_detections(xyz, ids, np.ones(4, int), np.ones(4), embeddings=np.ones((1, 3)), min_points=2)
    np.testing.assert_array_equal(kept.point_indices, [1, 2])
    with pytest.raises(TrackingInputError, match=r"scores in \[0, 1\]"):
        segment_detections(xyz, ids, np.ones(4, int), np.full(4, 2.0))


def test_keep_class_drops_the_points_of_other_classes_as_if_they_had_no_segment() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    xyz = rng.normal(scale=10, size=(n, 4)).astype(np.float32)
    segment_id = rng.integers(0, 9, n).astype(np.uint32)
    class_id = rng.integers(0, 6, n).astype(np.uint16)
    score = rng.uniform(0, 1, n).astype(np.float32)
    thing = np.array([False, True, True, False, True, False])
    got = segment_detections(xyz, segment_id, class_id, score, min_points=3, keep_class=thing)
    expected = segment_detections(xyz, np.where(thing[class_id], segment_id, 0), class_id, score, min_points=3)
    assert len(got) == len(expected) == 8
    for g, e in zip(got, expected, strict=True):
        assert g.class_id == e.class_id and thing[g.class_id] and g.score == e.score
        np.testing.assert_array_equal(g.point_indices, e.point_indices)
        np.testing.assert_array_equal(np.stack([g.centroid, g.box_center, g.box_size]), np.stack([e.centroid, e.box_center,
                                                                                                   e.box_size]))
    # The fields have the types Detection's own validation gives them.
    reference = Detection.from_points(xyz, got[0].point_indices, got[0].class_id, got[0].score)
    for name in ("class_id", "score", "box_yaw"):
        assert type(getattr(got[0], name)) is type(getattr(reference, name))
    for name in ("centroid", "box_center", "box_size", "point_indices", "points"):
        assert getattr(got[0], name).dtype == getattr(reference, name).dtype
    with pytest.raises(TrackingInputError, match="keep_class must be a bool table"):
        segment_detections(xyz, segment_id, class_id, score, keep_class=thing[:4])
