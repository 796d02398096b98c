import math

import pytest
import torch

from panoptic_perception.models import ModelInputError
from panoptic_perception.models.deepdps import (
    DeepDPS,
    DeepDPSCriterion,
    depth_to_semantic_guidance,
    scale_invariant_log_loss,
    semantic_to_depth_guidance,
)
from panoptic_perception.models.deepdps.losses import grid_depth, segment_ids


def test_scale_invariant_loss_with_lambda_one_ignores_a_global_depth_scale():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 6, 7, generator=g) * 50 + 1
    pred = torch.rand(2, 6, 7, generator=g) * 50 + 1
    valid = torch.rand(2, 6, 7, generator=g) > 0.3
    base = scale_invariant_log_loss(pred, target, valid, lam=1.0)
    assert float(base) > 0.01
    assert torch.allclose(scale_invariant_log_loss(pred * 3.7, target, valid, lam=1.0), base, atol=1e-5)
    assert float(scale_invariant_log_loss(target * 0.25, target, valid, lam=1.0)) == pytest.approx(0.0, abs=1e-6)


def test_scale_invariant_loss_matches_the_closed_form_for_lambda_085():
    pred = torch.tensor([[[2.0, 4.0, 10.0, 7.0]]])
    target = torch.tensor([[[1.0, 4.0, 5.0, 0.0]]])  # last pixel has no depth
    valid = target > 0
    g = [math.log(2.0), 0.0, math.log(2.0)]
    expected = sum(x * x for x in g) / 3 - 0.85 * (sum(g) / 3) ** 2
    assert float(scale_invariant_log_loss(pred, target, valid)) == pytest.approx(expected, rel=1e-6)
    nothing = torch.zeros_like(valid)
    assert float(scale_invariant_log_loss(pred, target, nothing)) == 0.0


def one_patch(embeddings: list[list[float]]) -> torch.Tensor:
    """A 3 x 3 patch of 2-d embeddings, row-major, as (1, 2, 3, 3)."""
    return torch.tensor(embeddings).T.reshape(1, 2, 3, 3)


def test_semantic_to_depth_guidance_is_zero_when_segments_are_separated_by_the_margin():
    segment = torch.tensor([[[1, 1, 2], [1, 1, 2], [1, 1, 2]]])
    right = [1.0, 0.0]
    up = [0.0, 1.0]  # unit vectors at distance sqrt(2) from "right"
    emb = one_patch([right, right, up, right, right, up, right, right, up])
    assert float(semantic_to_depth_guidance(emb, segment, k=3, margin=0.3)) == 0.0


def test_semantic_to_depth_guidance_penalises_the_hardest_positive_and_negative_by_the_margin():
    segment = torch.tensor([[[1, 1, 2], [1, 1, 2], [0, 1, 2]]])
    a = [1.0, 0.0]
    far = [0.0, 1.0]  # same segment as the anchor but far: hardest positive, distance sqrt(2)
    near = [math.cos(0.5), math.sin(0.5)]  # other segment but near: hardest negative, distance 2 sin(0.25)
    unlabelled = [-1.0, 0.0]  # would be the farthest of all; ignored
    emb = one_patch([a, a, far, a, a, near, unlabelled, far, far])
    expected = math.sqrt(2) - 2 * math.sin(0.25) + 0.3
    assert float(semantic_to_depth_guidance(emb, segment, k=3, margin=0.3)) == pytest.approx(expected, rel=1e-5)


def test_semantic_to_depth_guidance_ignores_patches_with_one_segment():
    emb = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    assert float(semantic_to_depth_guidance(emb, torch.ones(1, 3, 3, dtype=torch.long), k=3)) == 0.0


def test_depth_to_semantic_guidance_is_zero_for_equal_features_and_weighted_by_depth_otherwise():
    depth = torch.tensor([[[10.0, 10.0, 30.0], [10.0, 10.0, 30.0], [10.0, 0.0, 30.0]]])
    same = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(1, 2, 3, 3)
    assert float(depth_to_semantic_guidance(same, depth, k=3, tau=10.0)) == 0.0

    a, b = [1.0, 0.0], [0.0, 1.0]  # cosine 0 between them
    # The five pixels at 10 m (weight 1) share the anchor's feature; the three at 30 m differ (weight exp(-10 ln 3)).
    feats = one_patch([a, a, b, a, a, b, a, b, b])
    w_far = math.exp(-10 * math.log(3.0))
    expected = 3 * w_far / (4 + 3 * w_far)  # the pixel without depth (row 2, col 1) counts nowhere
    assert float(depth_to_semantic_guidance(feats, depth, k=3, tau=10.0)) == pytest.approx(expected, rel=1e-5)
    swapped = one_patch([b, b, a, b, a, a, b, a, a])  # now the near pixels differ: weight 1 each
    assert float(depth_to_semantic_guidance(swapped, depth, k=3, tau=10.0)) == pytest.approx(4 / (4 + 3 * w_far), rel=1e-5)


def test_depth_on_the_stride_4_grid_keeps_sparse_lidar_returns():
    depth = torch.zeros(1, 8, 8)
    depth[0, 1, 2] = 12.0
    depth[0, 6, 6], depth[0, 7, 7] = 20.0, 30.0
    grid = grid_depth(depth, (2, 2))
    assert grid.tolist() == [[[12.0, 0.0], [0.0, 25.0]]]


def test_segments_are_one_per_class_and_instance_and_zero_when_unlabelled():
    semantic = torch.tensor([[0, 1, 1, 9]])
    instance = torch.tensor([[0, 3, 4, 0]])
    ids = segment_ids(semantic, instance)
    assert ids[0, 0] == 0 and len(set(ids[0, 1:].tolist())) == 3 and bool((ids[0, 1:] > 0).all())


def test_criterion_refuses_labels_of_different_shapes(tiny):
    out = DeepDPS.from_config(tiny)(torch.rand(1, 3, 64, 96))
    criterion = DeepDPSCriterion(tiny.num_classes, tiny.thing_class_ids, tiny.max_depth)
    with pytest.raises(ModelInputError, match=r"must be equal \(B, H, W\)"):
        criterion(out, torch.zeros(1, 64, 96, dtype=torch.long), torch.zeros(1, 64, 95, dtype=torch.long), torch.zeros(1, 64, 96))
