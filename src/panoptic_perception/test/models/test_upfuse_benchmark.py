"""Latency of the untrained ``cpu_default()`` UP-Fuse in eager PyTorch (2 threads).

Goal of the issue: >= 10 Hz (<= 100 ms per sweep) on the 2-core CPU machine. Figures are
recorded in docs/benchmarks.md; run with ``make bench`` or
``python -m pytest src/panoptic_perception/test/models/test_upfuse_benchmark.py -m benchmark --benchmark-only``.
"""

import pytest
import torch

from panoptic_perception.models import UPFuse, UPFuseConfig, collate

KITTI_K = torch.tensor([[718.856, 0.0, 607.1928], [0.0, 718.856, 185.2157], [0.0, 0.0, 1.0]])


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def kitti_like_sweep(scene):
    """A 32-beam sweep of 32 x 1875 = 60,000 ray-cast points and one 376 x 1241 camera image."""
    config = UPFuseConfig.cpu_default()
    points, _, _ = scene.ray_cast_scene(config.range_spec, beams=32, columns=1875)
    _, T = scene.camera_matrices()
    image = torch.rand(1, 1, 3, 376, 1241, generator=torch.Generator().manual_seed(0))
    return config, points, image, KITTI_K[None, None], T[None, None]


@pytest.mark.benchmark(group="upfuse")
def test_cpu_default_forward_pass_latency(benchmark, two_threads, kitti_like_sweep):
    config, points, image, K, T = kitti_like_sweep
    assert points.shape[0] == 60_000
    batch = collate([points], config.range_spec, image, K, T)
    model = UPFuse.from_config(config).eval()

    def run():
        with torch.inference_mode():
            return model(batch)

    out = benchmark(run)
    assert out.point_logits.shape == (1, config.num_queries, 60_000)
    assert out.camera_masks[0].any()


@pytest.mark.benchmark(group="upfuse")
def test_cpu_default_sweep_to_panoptic_points_latency(benchmark, two_threads, kitti_like_sweep):
    """Range projection + forward pass + panoptic post-processing."""
    config, points, image, K, T = kitti_like_sweep
    model = UPFuse.from_config(config).eval()

    def run():
        return model.predict(collate([points], config.range_spec, image, K, T))

    pred = benchmark(run)[0]
    assert pred.class_id.shape == (60_000,) and pred.uncertainty.shape == (60_000,)


@pytest.mark.benchmark(group="upfuse")
def test_cpu_default_3d_mask_head_latency(benchmark, two_threads, kitti_like_sweep):
    """The per-point stage alone: window ranking, feature gather, MLP, dot with 16 queries."""
    config, points, image, K, T = kitti_like_sweep
    batch = collate([points], config.range_spec, image, K, T)
    head = UPFuse.from_config(config).eval().mask_head
    mask_features = torch.randn(1, config.mask_dim, 8, 256, generator=torch.Generator().manual_seed(0))
    queries = torch.randn(1, config.num_queries, config.mask_dim, generator=torch.Generator().manual_seed(1))
    range_image = batch.range_features[:, 0] * batch.range_mask

    def run():
        with torch.inference_mode():
            return head(mask_features, range_image, batch.point_vu, batch.point_range, queries)

    assert benchmark(run).shape == (1, config.num_queries, 60_000)
