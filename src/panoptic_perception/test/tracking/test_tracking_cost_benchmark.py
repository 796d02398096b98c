"""Benchmark: the whole tracking cost of a sweep with 50 thing instances, the tracking head included.

Goal (issue): tracking adds <= 5 ms per frame for 50 objects. Per sweep of 32,768 points (the hdl32-front
bucket) with 50 instances of 200 points each: the association vectors (the head's 32-d point features
pooled over each final segment, FC 128 -> FC 32 x 8, class slice: ``TrackingHead.segment_vectors``, one torch
thread as the node runs here), the
detections (``thing_detections``), ``PanopticTracker.update`` with the ``embedding_motion`` association (vectors
weighted in) and the per-point track IDs. The head is also timed alone. Run for real with
``python -m pytest src/panoptic_perception/test/tracking/test_tracking_cost_benchmark.py --benchmark-enable --benchmark-only``;
in CI (benchmarks disabled) each runs once and its result is checked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from panoptic_perception.core import PanopticCloud, load_class_table
from panoptic_perception.models import TrackingHead
from panoptic_perception.pipeline import thing_detections
from panoptic_perception.tracking import PanopticTracker, TrackerConfig, TrackState, assign_track_ids, matches_of

N_POINTS = 32768
N_OBJECTS = 50
POINTS_PER_OBJECT = 200
FEATURES = 32  # UP-Fuse mask_dim
ROUNDS = 200
WARMUP = 10


class Sweeps:
    """50 objects on a grid moving at up to 2 m/s, the ego at 5 m/s; per sweep a cloud, point features, ids."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.start = np.stack(np.meshgrid(np.arange(10) * 6.0 - 27, np.arange(5) * 8.0 - 16, indexing="ij"), -1).reshape(-1, 2)
        self.velocity = rng.uniform(-2, 2, size=(N_OBJECTS, 2))
        self.classes = rng.integers(1, 9, N_OBJECTS)
        self.offsets = rng.uniform(-1, 1, size=(N_OBJECTS, POINTS_PER_OBJECT, 3)) * [2.0, 0.9, 0.7]
        self.identity = rng.normal(size=(N_OBJECTS, FEATURES)).astype(np.float32)
        self.rng = rng
        self.is_thing = load_class_table().is_thing_lut()
        self.slots = torch.from_numpy(self.classes - 1)  # thing class c is slot c - 1 (classes 1..8)

    def frame(self, f: int) -> tuple[PanopticCloud, torch.Tensor, np.ndarray]:
        t = 0.1 * f
        T = np.eye(4)
        T[0, 3] = 5.0 * t
        points = np.zeros((N_POINTS, 4), np.float32)
        points[:, :3] = self.rng.uniform(-40, 40, size=(N_POINTS, 3))
        class_id = np.full(N_POINTS, 9, np.uint16)  # road (stuff)
        instance_id = np.zeros(N_POINTS, np.uint32)
        features = self.rng.normal(size=(N_POINTS, FEATURES)).astype(np.float32)
        order = self.rng.permutation(N_POINTS)[: N_OBJECTS * POINTS_PER_OBJECT].reshape(N_OBJECTS, POINTS_PER_OBJECT)
        for i in range(N_OBJECTS):
            centre = np.array([*(self.start[i] + self.velocity[i] * t), 0.8]) - T[:3, 3]
            points[order[i], :3] = centre + self.offsets[i]
            class_id[order[i]] = self.classes[i]
            instance_id[order[i]] = i + 1
            features[order[i]] += self.identity[i]
        cloud = PanopticCloud(1_000_000_000 + f * 100_000_000, points, class_id, instance_id,
                              np.full(N_POINTS, 0.9, np.float32), np.zeros(N_POINTS, np.float32))
        return cloud, torch.from_numpy(features), T


@pytest.fixture(autouse=True)
def one_torch_thread():
    """As the perception node runs on this machine (perception.yaml ``threads: 1``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def head() -> TrackingHead:
    torch.manual_seed(0)
    return TrackingHead(FEATURES, 8, 128, 32).eval()


def tracking_step(model: TrackingHead, sweeps: Sweeps, tracker: PanopticTracker) -> Callable[..., tuple]:
    @torch.inference_mode()
    def step(cloud: PanopticCloud, features: torch.Tensor, T: np.ndarray) -> tuple:
        vectors = model.segment_vectors(features, torch.from_numpy(cloud.instance_id.astype(np.int64)), sweeps.slots)
        detections = thing_detections(cloud, sweeps.is_thing, 5, vectors.numpy())
        outputs = tracker.update(detections, cloud.stamp_ns, T)
        return outputs, assign_track_ids(len(cloud.points), detections, matches_of(outputs))

    return step


@pytest.mark.benchmark
def test_tracking_cost_with_50_objects_head_detections_association_update_and_point_ids(benchmark) -> None:
    sweeps = Sweeps()
    # With the vectors in the cost (weight 1): the validated default weight 0 would not need the head at all.
    tracker = PanopticTracker.from_config(TrackerConfig(association="embedding_motion", embedding_weight=1.0))
    step = tracking_step(head(), sweeps, tracker)
    for f in range(WARMUP):
        step(*sweeps.frame(f))
    pending = (sweeps.frame(f) for f in range(WARMUP, WARMUP + ROUNDS))  # made in the untimed setup

    def next_frame() -> tuple[tuple, dict]:
        return next(pending), {}

    outputs, track_id = benchmark.pedantic(step, setup=next_frame, rounds=ROUNDS, iterations=1)
    assert sorted(o.track_id for o in outputs) == list(range(1, N_OBJECTS + 1))
    assert all(o.state == TrackState.CONFIRMED for o in outputs)
    assert np.count_nonzero(track_id) == N_OBJECTS * POINTS_PER_OBJECT


@pytest.mark.benchmark
def test_tracking_head_vectors_for_50_segments_of_a_32k_point_sweep(benchmark) -> None:
    sweeps = Sweeps()
    cloud, features, _ = sweeps.frame(0)
    model = head()
    instance_id = torch.from_numpy(cloud.instance_id.astype(np.int64))
    with torch.inference_mode():
        vectors = benchmark(model.segment_vectors, features, instance_id, sweeps.slots)
        reference = torch.stack([model(features[instance_id == k + 1].mean(0))[int(sweeps.slots[k])]
                                 for k in range(N_OBJECTS)])
    assert vectors.shape == (N_OBJECTS, 32)
    torch.testing.assert_close(vectors, reference)
