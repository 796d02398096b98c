"""Cost of the MOPT tracking head: pooling + FC 128 + FC 32 * N_thing.

Until 2026-11-21 the head ran in the network on every query (48 in the shipped model) under (K, N) masks
over a 60,000-point sweep; here also on 50 instance masks (the issue's 50 objects). Now it pools each final
segment in one pass over the points (``segment_vectors``) and runs the FC layers on those instances only.
Figures recorded in docs/benchmarks.md; run with
``python -m pytest src/panoptic_perception/test/models/test_tracking_head_benchmark.py --benchmark-enable --benchmark-only``.
"""

from __future__ import annotations

import pytest
import torch

from panoptic_perception.models import TrackingHead, mask_pool, segment_pool

N_POINTS = 60_000
MASK_DIM = 32  # the shipped cpu_default model's per-point feature size
N_THING = 8


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.benchmark(group="tracking_head")
@pytest.mark.parametrize("instances", [48, 50])
def test_tracking_head_cost_per_sweep(benchmark, two_threads, instances: int) -> None:
    torch.manual_seed(0)
    head = TrackingHead(MASK_DIM, N_THING).eval()
    features = torch.randn(1, N_POINTS, MASK_DIM)
    owner = torch.randint(0, instances, (N_POINTS,))
    masks = (owner[None, :] == torch.arange(instances)[:, None])[None]  # (1, K, N) disjoint instance masks

    @torch.no_grad()
    def run() -> torch.Tensor:
        return head(mask_pool(features, masks))

    out = benchmark.pedantic(run, rounds=50, iterations=1, warmup_rounds=3)
    assert out.shape == (1, instances, N_THING, 32)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(1, instances, N_THING))


@pytest.mark.benchmark(group="tracking_head")
def test_tracking_head_on_50_final_segments_per_sweep(benchmark, two_threads) -> None:
    torch.manual_seed(0)
    head = TrackingHead(MASK_DIM, N_THING).eval()
    features = torch.randn(N_POINTS, MASK_DIM)
    segment = torch.randint(0, 51, (N_POINTS,))  # 50 disjoint segments, id 0 = stuff
    slot = torch.randint(0, N_THING, (50,))

    @torch.no_grad()
    def run() -> torch.Tensor:
        return head.segment_vectors(features, segment, slot)

    out = benchmark.pedantic(run, rounds=50, iterations=1, warmup_rounds=3)
    masks = segment[None, :] == torch.arange(1, 51)[:, None]
    torch.testing.assert_close(segment_pool(features, segment, 50), mask_pool(features[None], masks[None])[0])
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(50))
