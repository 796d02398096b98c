from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import (
    ASSOCIATIONS,
    CentroidKalmanAssociation,
    Detection,
    EmbeddingAssociation,
    EmbeddingMotionAssociation,
    PanopticTracker,
    PointIoUAssociation,
    TrackerConfig,
    TrackerConfigError,
    TrackingInputError,
    TrackState,
)


def test_track_states_mirror_the_track_message_constants() -> None:
    msg = pytest.importorskip("panoptic_msgs.msg")
    assert TrackState.TENTATIVE == msg.Track.STATE_TENTATIVE == 0
    assert TrackState.CONFIRMED == msg.Track.STATE_CONFIRMED == 1
    assert TrackState.LOST == msg.Track.STATE_LOST == 2
    assert TrackState.REMOVED == msg.Track.STATE_REMOVED == 3


def test_detection_from_points_takes_centroid_and_axis_aligned_box_of_its_points() -> None:
    xyz = np.array([[0.0, 0, 0], [2.0, 0, 0], [2.0, 4.0, 1.0], [9.0, 9, 9]])
    d = Detection.from_points(xyz, np.array([True, True, True, False]), 1, 0.8, embedding=np.ones(4))
    np.testing.assert_allclose(d.centroid, [4 / 3, 4 / 3, 1 / 3])
    np.testing.assert_allclose(d.box_center, [1.0, 2.0, 0.5])
    np.testing.assert_allclose(d.box_size, [2.0, 4.0, 1.0])
    assert d.point_indices.tolist() == [0, 1, 2]
    assert d.points.shape == (3, 3)


def test_detection_rejects_bad_fields() -> None:
    with pytest.raises(TrackingInputError, match=r"Detection.centroid must be 3 finite numbers"):
        Detection(1, 0.5, np.zeros(2))
    with pytest.raises(TrackingInputError, match=r"Detection.score must be in \[0, 1\]"):
        Detection(1, 1.5, np.zeros(3))
    with pytest.raises(TrackingInputError, match=r"Detection.embedding must be a finite"):
        Detection(1, 0.5, np.zeros(3), embedding=np.array([np.nan]))
    with pytest.raises(TrackingInputError, match=r"Detection mask has 2 entries for 3 points"):
        Detection.from_points(np.zeros((3, 3)), np.array([True, False]), 1, 0.5)


def test_config_from_dict_accepts_known_keys_and_converts_ints_to_floats() -> None:
    cfg = TrackerConfig.from_dict({"association": "point_iou", "gate_m": 3, "min_hits": 2})
    assert cfg.association == "point_iou" and cfg.gate_m == 3.0 and cfg.min_hits == 2


def test_config_from_dict_names_unknown_and_mistyped_parameters() -> None:
    with pytest.raises(TrackerConfigError, match=r"tracking.yaml: unknown tracking parameter\(s\) \['gate'\]"):
        TrackerConfig.from_dict({"gate": 1.0}, "tracking.yaml")
    with pytest.raises(TrackerConfigError, match="min_hits must be int"):
        TrackerConfig.from_dict({"min_hits": 2.5})


def test_config_rejects_a_lost_window_longer_than_the_memory() -> None:
    with pytest.raises(TrackerConfigError, match=r"max_lost must be in \[1, n_t\]"):
        TrackerConfig(n_t=5, max_lost=6)
    with pytest.raises(TrackerConfigError, match=r"new_track_score must be in \[u_s, 1\]"):
        TrackerConfig(u_s=0.5, new_track_score=0.4)


@pytest.mark.parametrize(("name", "kind"), [("embedding", EmbeddingAssociation),
                                            ("embedding_motion", EmbeddingMotionAssociation),
                                            ("centroid_kalman", CentroidKalmanAssociation),
                                            ("point_iou", PointIoUAssociation)])
def test_tracker_from_config_builds_the_registered_association(name: str, kind: type) -> None:
    tracker = PanopticTracker.from_config(TrackerConfig(association=name, min_hits=2))
    assert isinstance(tracker.association, kind) and ASSOCIATIONS[name] is kind
    assert tracker.min_hits == 2


def test_tracker_from_config_rejects_an_unknown_association() -> None:
    with pytest.raises(TrackerConfigError, match="unknown association 'sort'"):
        PanopticTracker.from_config(TrackerConfig(association="sort"))
