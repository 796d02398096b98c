"""Generation speed of one full frame: a 64 x 2048 sweep and a 1241 x 376 image with all ground truth.

Run for real with ``make bench`` (or ``python -m pytest <this file> --benchmark-enable``);
the figure is recorded in docs/datasets.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_datasets.world import SceneConfig, make_rig, simulate


@pytest.mark.benchmark(group="synthetic-world")
def test_benchmark_one_hdl64_front_frame_with_all_ground_truth(benchmark):
    frames = simulate(SceneConfig(seed=0), make_rig("hdl64-front"), 100)
    next(frames)  # world construction and first-use caches are not part of the per-frame cost
    frame = benchmark.pedantic(lambda: next(frames), rounds=10, iterations=1, warmup_rounds=1)
    truth = frame.cameras["front"]
    assert frame.sensor.points.shape[0] > 100_000  # of 131072 rays (sky and dropout return nothing)
    assert frame.sensor.cameras["front"].rgb.shape == (376, 1241, 3)
    assert truth.flow.shape == (376, 1241, 2) and np.isfinite(truth.flow).mean() > 0.6
