from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import (
    Detection,
    PanopticTracker,
    TrackerConfig,
    TrackingInputError,
    TrackState,
    assign_track_ids,
    matches_of,
)

SEC = 1_000_000_000


def person(x: float, score: float = 0.9, embedding: tuple[float, float] = (1.0, 0.0)) -> Detection:
    return Detection(6, score, np.array([x, 0.0, 0.0]), embedding=np.array(embedding))


def tracker(**overrides: object) -> PanopticTracker:
    return PanopticTracker.from_config(TrackerConfig(**{"min_hits": 3, "max_lost": 4, "n_t": 4, **overrides}))


def test_a_track_goes_tentative_confirmed_lost_and_is_removed_after_max_lost_misses() -> None:
    trk = tracker()
    states = []
    for k in range(3):
        (out,) = trk.update([person(0.1 * k)], (k + 1) * SEC // 10)
        states.append(out.state)
    assert states == [TrackState.TENTATIVE, TrackState.TENTATIVE, TrackState.CONFIRMED]
    assert (out.track_id, out.hits, out.age) == (1, 3, 2)
    lost_states = [trk.update([], (k + 4) * SEC // 10)[0].state for k in range(4)]
    assert lost_states == [TrackState.LOST] * 3 + [TrackState.REMOVED]
    assert trk.tracks == [] and trk.update([], 9 * SEC // 10) == []


def test_a_lost_track_is_re_identified_within_max_lost_frames() -> None:
    trk = tracker()
    for k in range(3):
        trk.update([person(0.0)], (k + 1) * SEC)
    for k in range(3):
        assert trk.update([], (k + 4) * SEC)[0].state == TrackState.LOST
    (out,) = trk.update([person(0.0)], 7 * SEC)
    assert (out.track_id, out.state, out.hits, out.detection_index) == (1, TrackState.CONFIRMED, 4, 0)


def test_a_tentative_track_that_misses_a_frame_is_removed_and_the_next_one_gets_a_new_id() -> None:
    trk = tracker()
    trk.update([person(0.0)], 1 * SEC)
    (gone,) = trk.update([], 2 * SEC)
    assert gone.state == TrackState.REMOVED
    (new,) = trk.update([person(0.0)], 3 * SEC)
    assert new.track_id == 2 and new.state == TrackState.TENTATIVE


def test_detections_below_u_s_are_ignored_and_below_new_track_score_start_no_track() -> None:
    trk = tracker(u_s=0.5, new_track_score=0.7, min_hits=1)
    assert trk.update([person(0.0, score=0.4), person(5.0, score=0.6)], 1 * SEC) == []
    (out,) = trk.update([person(0.0, score=0.8)], 2 * SEC)
    assert out.state == TrackState.CONFIRMED
    # A mid-score detection extends the existing track; a low one does not.
    assert trk.update([person(0.0, score=0.6)], 3 * SEC)[0].detection_index == 0
    assert trk.update([person(0.0, score=0.45)], 4 * SEC)[0].state == TrackState.LOST


def test_track_ids_are_unique_and_never_reused_even_after_reset() -> None:
    trk = tracker(min_hits=1, max_lost=1, n_t=1)
    seen = []
    for k in range(6):  # the object alternates between two far-apart places: a new track each time
        outs = trk.update([person(0.0 if k % 2 == 0 else 50.0)], (k + 1) * SEC)
        seen += [o.track_id for o in outs if o.detection_index >= 0]
    trk.reset()
    seen += [o.track_id for o in trk.update([person(0.0)], 1 * SEC)]
    assert seen == [1, 2, 3, 4, 5, 6, 7]


def test_stamps_must_increase_and_poses_must_be_given_always_or_never() -> None:
    trk = tracker()
    trk.update([person(0.0)], 2 * SEC, np.eye(4))
    with pytest.raises(TrackingInputError, match="is not after the previous"):
        trk.update([], 2 * SEC, np.eye(4))
    with pytest.raises(TrackingInputError, match="every frame or for none"):
        trk.update([], 3 * SEC)
    with pytest.raises(TrackingInputError, match="finite 4x4"):
        trk.update([], 4 * SEC, np.eye(3))


def test_outputs_are_in_the_sensor_frame_while_velocity_is_estimated_in_the_world_frame() -> None:
    trk = tracker(min_hits=1)
    for k in range(20):
        t = k * 0.1
        T = np.eye(4)
        T[0, 3] = 5.0 * t  # ego drives +x at 5 m/s past an object moving +y at 1 m/s
        obj_world = np.array([10.0, 1.0 * t, 0.0])
        (out,) = trk.update([Detection(6, 0.9, obj_world - T[:3, 3], embedding=np.array([1.0, 0.0]))], k * SEC // 10 + 1, T)
    np.testing.assert_allclose(out.velocity_world, [0.0, 1.0, 0.0], atol=0.05)
    np.testing.assert_allclose(out.centroid, obj_world - T[:3, 3], atol=0.05)
    assert out.moving and out.speed == pytest.approx(1.0, abs=0.05)


def test_per_point_track_ids_follow_the_matched_detections_and_the_more_confident_wins_overlaps() -> None:
    dets = [Detection(1, 0.6, np.zeros(3), point_indices=np.array([0, 1, 2])),
            Detection(1, 0.9, np.zeros(3), point_indices=np.array([2, 3])),
            Detection(1, 0.9, np.zeros(3), point_indices=np.array([5]))]
    ids = assign_track_ids(7, dets, {0: 11, 1: 12})
    assert ids.dtype == np.uint32
    assert ids.tolist() == [11, 11, 12, 12, 0, 0, 0]
    with pytest.raises(TrackingInputError, match="detection 0 indexes point 2 of 2"):
        assign_track_ids(2, dets, {0: 1})
    with pytest.raises(TrackingInputError, match="detection index 3 out of range"):
        assign_track_ids(7, dets, {3: 1})


def test_matches_of_maps_observed_detections_to_their_tracks() -> None:
    trk = tracker(min_hits=1)
    outs = trk.update([person(0.0), person(20.0, embedding=(0.0, 1.0))], SEC)
    assert matches_of(outs) == {0: 1, 1: 2}
