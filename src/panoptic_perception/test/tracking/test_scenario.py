"""The tracker on the synthetic world of conftest.py: crossings, an occlusion, a newcomer, ego motion."""

from __future__ import annotations

import numpy as np

from panoptic_perception.tracking import PanopticTracker, TrackerConfig, TrackState, assign_track_ids, matches_of


def make(association: str = "embedding", **overrides: object) -> PanopticTracker:
    return PanopticTracker.from_config(TrackerConfig(association=association, **overrides))


def test_embedding_tracker_keeps_ids_through_the_crossing_and_the_occlusion(crossing_frames, track_all,
                                                                             count_switches) -> None:
    assigned, history = track_all(make(), crossing_frames)
    assert count_switches(assigned) == 0
    assert sorted(assigned) == [1, 2, 3, 4, 5, 6]
    ids = {gt: set(v) for gt, v in assigned.items()}
    assert all(len(v) == 1 for v in ids.values())
    assert len(set.union(*ids.values())) == 6  # one distinct track per object
    # The occluded car is LOST for frames 15-19 and CONFIRMED again at 20 with its old ID.
    occluded = ids[4].pop()
    states = [next(o.state for o in outs if o.track_id == occluded) for outs in history[14:21]]
    assert states == [TrackState.CONFIRMED] + [TrackState.LOST] * 5 + [TrackState.CONFIRMED]


def test_a_new_object_gets_a_new_id_and_ids_are_never_reused(crossing_frames, track_all) -> None:
    assigned, history = track_all(make(), crossing_frames)
    first_seen = {}
    for f, outs in enumerate(history):
        for o in outs:
            first_seen.setdefault(o.track_id, f)
    newcomer = assigned[6][0]
    assert first_seen[newcomer] == 20 and newcomer == max(first_seen)
    assert sorted(first_seen) == list(range(1, len(first_seen) + 1))


def test_states_follow_the_life_cycle(crossing_frames, track_all) -> None:
    _, history = track_all(make(min_hits=3), crossing_frames)
    allowed = {(TrackState.TENTATIVE, TrackState.TENTATIVE), (TrackState.TENTATIVE, TrackState.CONFIRMED),
               (TrackState.TENTATIVE, TrackState.REMOVED), (TrackState.CONFIRMED, TrackState.CONFIRMED),
               (TrackState.CONFIRMED, TrackState.LOST), (TrackState.LOST, TrackState.LOST),
               (TrackState.LOST, TrackState.CONFIRMED), (TrackState.LOST, TrackState.REMOVED)}
    per_track: dict[int, list[TrackState]] = {}
    for outs in history:
        for o in outs:
            per_track.setdefault(o.track_id, []).append(o.state)
    for states in per_track.values():
        assert states[0] == TrackState.TENTATIVE
        assert all(pair in allowed for pair in zip(states, states[1:], strict=False))
    assert all(states[2] == TrackState.CONFIRMED for states in per_track.values() if len(states) > 2)


def test_per_point_track_ids_match_the_detections(crossing_frames) -> None:
    trk = make()
    for fr in crossing_frames[:5]:
        outs = trk.update(fr.detections, fr.stamp_ns, fr.T_world_lidar)
    ids = assign_track_ids(fr.num_points, fr.detections, matches_of(outs))
    by_track = {o.track_id: o for o in outs}
    assert np.all(ids[:100] == 0)  # background points
    for j, d in enumerate(fr.detections):
        (tid,) = np.unique(ids[d.point_indices])
        assert by_track[int(tid)].detection_index == j and by_track[int(tid)].num_points == d.point_indices.size


def test_world_frame_velocity_separates_moving_from_parked_objects_under_ego_motion(crossing_frames, track_all,
                                                                                     world) -> None:
    assigned, history = track_all(make(), crossing_frames)
    last = {o.track_id: o for o in history[-1]}
    car, parked = last[assigned[1][-1]], last[assigned[5][-1]]
    assert car.moving
    np.testing.assert_allclose(np.linalg.norm(car.velocity_world), 8.0, atol=0.3)
    assert not parked.moving and np.linalg.norm(parked.velocity_world) < 0.2
    # Without poses the tracker works in the sensor frame, where the parked truck moves with the ego speed.
    assigned_s, history_s = track_all(make(), crossing_frames, use_poses=False)
    parked_s = next(o for o in history_s[-1] if o.track_id == assigned_s[5][-1])
    assert parked_s.moving and np.linalg.norm(parked_s.velocity_world) > 4.0


def test_centroid_baseline_switches_ids_where_two_objects_meet_and_turn_back(turn_back_frames, track_all,
                                                                             count_switches) -> None:
    assigned, _ = track_all(make("centroid_kalman"), turn_back_frames)
    assert count_switches(assigned) >= 1
    assigned, _ = track_all(make("embedding"), turn_back_frames)
    assert count_switches(assigned) == 0 and len(set(assigned[1]) | set(assigned[2])) == 2


def test_centroid_baseline_keeps_ids_of_objects_far_from_others(crossing_frames, track_all) -> None:
    assigned, _ = track_all(make("centroid_kalman"), crossing_frames)
    for gt in (1, 4, 5, 6):  # lone car, occluded car (re-found by its prediction), parked truck, newcomer
        assert len(set(assigned[gt])) == 1, gt


def test_point_iou_baseline_follows_a_parked_object_but_not_one_moving_farther_than_its_points(crossing_frames,
                                                                                             track_all) -> None:
    assigned, _ = track_all(make("point_iou"), crossing_frames)
    assert len(set(assigned[5])) == 1
    # The car moves 0.8 m per sweep: its sparse points share no 0.2 m voxel with the previous sweep's.
    assert len(set(assigned[1])) > 10


def test_point_iou_baseline_loses_a_parked_object_without_ego_motion_compensation(crossing_frames, track_all) -> None:
    assigned, _ = track_all(make("point_iou"), crossing_frames, use_poses=False)
    assert len(set(assigned[5])) > 1
