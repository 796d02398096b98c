"""Benchmark: ``PanopticTracker.update`` with 50 tracked objects and MOPT-sized association vectors.

Goal (issue): <= 5 ms per frame for 50 objects. Embedding dimension 32 * N_thing = 32 * 8 = 256 (MOPT's whole
head output) and 32 (the class slice each instance carries with the shipped tracking head).
Run for real with
``python -m pytest src/panoptic_perception/test/tracking/test_tracker_benchmark.py --benchmark-enable --benchmark-only``;
in CI (benchmarks disabled) it runs once and its result is checked.
"""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import Detection, PanopticTracker, TrackerConfig, TrackState

N_OBJECTS = 50
DIM = 32 * 8
ROUNDS = 300
WARMUP = 10


def make_frames(n_frames: int, dim: int = DIM) -> list[tuple[list[Detection], int, np.ndarray]]:
    rng = np.random.default_rng(0)
    start = np.stack(np.meshgrid(np.arange(10) * 6.0 - 27, np.arange(5) * 8.0 - 16, indexing="ij"), -1).reshape(-1, 2)
    velocity = rng.uniform(-2, 2, size=(N_OBJECTS, 2))
    embeddings = rng.normal(size=(N_OBJECTS, dim)) / np.sqrt(dim)
    classes = rng.integers(1, 9, N_OBJECTS)
    frames = []
    for f in range(n_frames):
        t = 0.1 * f
        T = np.eye(4)
        T[0, 3] = 5.0 * t
        dets = []
        for i in range(N_OBJECTS):
            world = np.array([*(start[i] + velocity[i] * t), 0.8])
            centroid = world - T[:3, 3] + rng.normal(scale=0.05, size=3)
            dets.append(Detection(int(classes[i]), 0.9, centroid, box_size=np.array([4.0, 1.8, 1.5]),
                                  embedding=embeddings[i] + rng.normal(scale=0.02, size=dim),
                                  point_indices=np.arange(i * 100, (i + 1) * 100)))
        frames.append((dets, 1_000_000_000 + f * 100_000_000, T))
    return frames


@pytest.mark.benchmark
@pytest.mark.parametrize(("association", "dim"), [("embedding", DIM), ("embedding", 32), ("embedding_motion", 32),
                                                 ("centroid_kalman", DIM)])
def test_tracker_update_with_50_objects(benchmark, association: str, dim: int) -> None:
    frames = make_frames(WARMUP + ROUNDS + 1, dim)
    tracker = PanopticTracker.from_config(TrackerConfig(association=association))
    for dets, stamp, T in frames[:WARMUP]:
        tracker.update(dets, stamp, T)
    pending = iter(frames[WARMUP:])

    def next_frame() -> tuple[tuple, dict]:
        return next(pending), {}

    outputs = benchmark.pedantic(tracker.update, setup=next_frame, rounds=ROUNDS, iterations=1)
    assert len(outputs) == N_OBJECTS
    assert sorted(o.track_id for o in outputs) == list(range(1, N_OBJECTS + 1))
    assert all(o.state == TrackState.CONFIRMED and o.detection_index == o.track_id - 1 for o in outputs)
