"""``PanopticTracker`` (state as arrays over tracks) against the per-object tracker it replaced (``reference_tracker``).

Both track the same recorded sequences of detections: a crowded random one (three classes, occlusions, scores
below ``u_s`` and between ``u_s`` and ``new_track_score``, clutter seen once, box yaw, an ego that drives and turns)
and the crossing world of conftest.py. Every sweep's outputs must agree: IDs, classes, states, ages, hits, matched
detections, point counts and ``moving`` exactly, with the same Python types; centroids, boxes, velocities, scores and
speeds to 1e-12 (the per-object speed used ``math.dist``, the arrays a square root of the summed squares).
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from panoptic_perception.tracking import (
    ASSOCIATIONS,
    Detection,
    PanopticTracker,
    TrackerConfig,
    TrackOutput,
    assign_track_ids,
)

from .conftest import crossing_world, simulate
from .reference_tracker import ReferenceTracker

EXACT = ("track_id", "class_id", "state", "age", "hits", "moving", "num_points", "detection_index")
CLOSE = ("score", "centroid", "box_center", "box_size", "box_yaw", "velocity", "velocity_world", "speed")


def recorded_sequence(n_frames: int = 60, n_objects: int = 24, seed: int = 7, dim: int = 8,
                      vectorless: float = 0.0) -> list[tuple[list[Detection], int, np.ndarray]]:
    """Detections in the LiDAR frame of each sweep; ``vectorless`` is the fraction of detections without a vector."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(-15, 15, size=(n_objects, 3)) * [1, 1, 0.1]
    velocity = rng.uniform(-3, 3, size=(n_objects, 3)) * [1, 1, 0]
    turn = rng.uniform(-0.3, 0.3, size=n_objects)  # rad/s: the constant-velocity prediction is off on curves
    classes = rng.integers(1, 4, n_objects)
    identity = rng.normal(size=(n_objects, dim))
    identity /= np.linalg.norm(identity, axis=1, keepdims=True)
    size = rng.uniform(0.5, 4.5, size=(n_objects, 3))
    sequence = []
    for f in range(n_frames):
        t = 0.1 * f
        yaw = 0.15 * t
        T = np.eye(4)
        T[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
        T[:3, 3] = [4.0 * t, 0.5 * t, 0.0]
        heading = turn * t
        world = start + t * np.stack([velocity[:, 0] * np.cos(heading) - velocity[:, 1] * np.sin(heading),
                                      velocity[:, 0] * np.sin(heading) + velocity[:, 1] * np.cos(heading),
                                      np.zeros(n_objects)], axis=1)
        seen = np.flatnonzero(rng.random(n_objects) < 0.8)  # occlusions and misses
        n_clutter = int(rng.integers(0, 4))
        centres = np.concatenate([world[seen], rng.uniform(-20, 20, size=(n_clutter, 3))])
        labels = np.concatenate([classes[seen], rng.integers(1, 4, n_clutter)])
        vectors = np.concatenate([identity[seen] + rng.normal(scale=0.1, size=(len(seen), dim)),
                                  rng.normal(size=(n_clutter, dim))])
        sizes = np.concatenate([size[seen], rng.uniform(0.5, 2, size=(n_clutter, 3))])
        order = rng.permutation(len(centres))
        R_inv, p = T[:3, :3].T, T[:3, 3]
        detections, offset = [], 0
        for k in order:
            local = (centres[k] - p) @ R_inv.T + rng.normal(scale=0.05, size=3)
            points = local + rng.uniform(-0.5, 0.5, size=(20, 3)) * sizes[k]
            vector = None if rng.random() < vectorless else vectors[k]
            detections.append(Detection(int(labels[k]), float(rng.uniform(0.3, 1.0)), local, local + [0.1, -0.05, 0.2],
                                        sizes[k], float(rng.uniform(-np.pi, np.pi)), vector,
                                        np.arange(offset, offset + len(points)), points))
            offset += len(points)
        sequence.append((detections, 1_000_000_000 + f * 100_000_000, T))
    return sequence


def both(config: TrackerConfig) -> tuple[PanopticTracker, ReferenceTracker]:
    tracker = PanopticTracker.from_config(config)
    reference = ReferenceTracker(ASSOCIATIONS[config.association].from_config(config), u_s=config.u_s, n_t=config.n_t,
                                 embedding_window=config.embedding_window, min_hits=config.min_hits,
                                 max_lost=config.max_lost, new_track_score=config.new_track_score, kalman=tracker.kalman,
                                 moving_speed_mps=config.moving_speed_mps, moving_window=config.moving_window)
    return tracker, reference


def assert_same(got: list[TrackOutput], want: list[TrackOutput], frame: int) -> None:
    assert len(got) == len(want), frame
    for name in EXACT + CLOSE:
        a, b = [getattr(g, name) for g in got], [getattr(w, name) for w in want]
        assert [type(v) for v in a] == [type(v) for v in b], (frame, name)
        if name in EXACT:
            assert a == b, (frame, name)
        elif a:
            np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-12, atol=1e-12, err_msg=f"frame {frame}: {name}")


def run_both(config: TrackerConfig, sequence: list, use_poses: bool = True) -> tuple[PanopticTracker, ReferenceTracker]:
    tracker, reference = both(config)
    for f, (detections, stamp, T) in enumerate(sequence):
        pose = T if use_poses else None
        assert_same(tracker.update(detections, stamp, pose), reference.update(detections, stamp, pose), f)
    return tracker, reference


@pytest.mark.parametrize(("association", "overrides"), [
    ("embedding", {}),
    ("embedding", {"embedding_window": 1, "min_hits": 1, "moving_window": 2}),
    ("embedding_motion", {"embedding_weight": 1.0}),
    ("embedding_motion", {"embedding_weight": 0.5, "motion_metric": "mahalanobis", "max_lost": 3, "n_t": 3}),
    ("embedding_motion", {}),
    ("centroid_kalman", {"centroid_metric": "mahalanobis"}),
    ("centroid_kalman", {"min_hits": 2}),
    ("point_iou", {"iou_voxel_m": 0.5}),
])
@pytest.mark.parametrize("use_poses", [True, False])
def test_the_array_tracker_gives_the_per_object_trackers_outputs_on_a_crowded_sequence(association: str, overrides: dict,
                                                                                      use_poses: bool) -> None:
    sequence = recorded_sequence(vectorless=0.0 if ASSOCIATIONS[association].uses_embeddings else 0.2)
    tracker, reference = run_both(TrackerConfig(association=association, **overrides), sequence, use_poses)
    assert len(reference.tracks) > 10
    for got, want in zip(tracker.tracks, reference.tracks, strict=True):
        assert (got.track_id, got.class_id, got.state, got.age, got.hits, got.misses, got.last_seen_ns) == \
            (want.track_id, want.class_id, want.state, want.age, want.hits, want.misses, want.last_seen_ns)
        np.testing.assert_allclose(got.mean, want.mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.covariance, want.covariance, rtol=1e-12, atol=1e-12)
        assert (got.embedding is None) == (want.embedding is None)
        if want.embedding is not None:
            np.testing.assert_allclose(got.embedding, want.embedding, rtol=1e-12, atol=1e-12)
            assert len(got.embeddings) == len(want.embeddings)
        assert [ns for ns, _ in got.positions] == [ns for ns, _ in want.positions]


def test_the_outputs_name_every_track_output_field() -> None:
    assert {f.name for f in fields(TrackOutput)} == set(EXACT + CLOSE)


def test_the_sequence_covers_every_life_cycle_edge() -> None:
    """The crowded sequence is only a good reference if tracks are born, confirmed, lost, re-found and removed in it."""
    tracker = PanopticTracker.from_config(TrackerConfig(association="embedding_motion", embedding_weight=1.0, max_lost=3, n_t=3))
    history = [tracker.update(d, s, T) for d, s, T in recorded_sequence()]
    per_track: dict[int, list[int]] = {}
    for outputs in history:
        for o in outputs:
            per_track.setdefault(o.track_id, []).append(int(o.state))
    edges = {pair for states in per_track.values() for pair in zip(states, states[1:], strict=False)}
    assert {(0, 0), (0, 1), (0, 3), (1, 1), (1, 2), (2, 2), (2, 1), (2, 3)} <= edges
    assert any(o.detection_index >= 0 and o.state == 0 for outputs in history for o in outputs)


@pytest.mark.parametrize("association", ["embedding", "centroid_kalman", "point_iou"])
def test_the_array_tracker_gives_the_per_object_trackers_outputs_in_the_crossing_world(association: str) -> None:
    sequence = [(fr.detections, fr.stamp_ns, fr.T_world_lidar) for fr in simulate(crossing_world(), 40)]
    run_both(TrackerConfig(association=association), sequence)


@pytest.mark.parametrize("overlapping", [False, True])
def test_per_point_ids_equal_writing_each_matched_detection_in_order_of_confidence(overlapping: bool) -> None:
    rng = np.random.default_rng(3)
    owner = rng.integers(0, 31, 3000)  # 30 disjoint segments, 0 = none
    detections = [Detection(1, float(rng.uniform(0.5, 1)), np.zeros(3), point_indices=np.flatnonzero(owner == k))
                  for k in range(1, 31)]
    if overlapping:  # detection 0 also claims half of detection 1's points
        detections[0].point_indices = np.concatenate([detections[0].point_indices, detections[1].point_indices[::2]])
    matches = {j: 100 + j for j in range(30) if j % 7}  # some detections unmatched
    expected = np.zeros(3000, np.uint32)
    for j in sorted(matches, key=lambda j: detections[j].score):
        expected[detections[j].point_indices] = matches[j]
    got = assign_track_ids(3000, detections, matches)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.uint32 and np.count_nonzero(got) > 2000


def test_tracks_unseen_for_more_than_n_t_sweeps_are_left_out_of_the_association_as_before() -> None:
    """With ``max_lost <= n_t`` (what the config enforces) every live track is a candidate; a tracker built with a
    shorter memory (set after construction here) must leave the others out exactly as the per-object one did."""
    config = TrackerConfig(association="embedding", max_lost=4, n_t=4)
    tracker, reference = both(config)
    tracker.n_t = reference.n_t = 1
    for f, (detections, stamp, T) in enumerate(recorded_sequence(n_frames=40)):
        assert_same(tracker.update(detections, stamp, T), reference.update(detections, stamp, T), f)
    assert any(t.misses > 0 for t in reference.tracks)
