"""``segment_pool`` gathers the segments' points and adds only those: the means of adding every point into row id, bit
for bit, and the same gradient."""

from __future__ import annotations

import pytest
import torch

from panoptic_perception.models import segment_pool
from panoptic_perception.models.errors import ModelInputError


def scatter_add_mean(features: torch.Tensor, ids: torch.Tensor, k: int) -> torch.Tensor:
    total = features.new_zeros(k + 1, features.shape[1]).index_add_(0, ids, features)
    return (total / torch.bincount(ids, minlength=k + 1).clamp(min=1).to(features.dtype)[:, None])[1:]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pooling_equals_the_scatter_add_over_all_points_bit_for_bit(dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    wide = torch.randn(5000, 40, generator=generator, dtype=dtype) * 30
    features = wide[:, 3:35]  # a strided view, as the runner's valid-point slices can be
    ids = torch.randint(0, 13, (5000,), generator=generator)
    ids[ids == 4] = 0  # segment 4 empty: its mean is 0
    with torch.inference_mode():
        got = segment_pool(features, ids, 14)  # segment 14 has no id at all
    want = scatter_add_mean(features, ids, 14)
    assert got.dtype == dtype and got.shape == (14, 32)
    assert torch.equal(got, want)
    assert not got[3].any() and not got[13].any()


def test_with_a_gradient_the_pool_back_propagates_the_mean() -> None:
    features = torch.randn(50, 4, requires_grad=True)
    ids = torch.tensor([1, 2] * 20 + [0] * 10)
    pooled = segment_pool(features, ids, 2)
    torch.testing.assert_close(pooled, scatter_add_mean(features.detach(), ids, 2), rtol=0, atol=0)
    pooled.sum().backward()
    expected = torch.where(ids[:, None] > 0, torch.full((50, 4), 1 / 20), torch.zeros(50, 4))
    torch.testing.assert_close(features.grad, expected)


def test_segment_ids_outside_the_segments_are_refused() -> None:
    with torch.inference_mode(), pytest.raises(ModelInputError, match=r"must lie in \[0, 2\], got \[0, 3\]"):
        segment_pool(torch.zeros(3, 2), torch.tensor([0, 3, 1]), 2)
