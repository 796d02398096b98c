import pytest
import torch

from panoptic_perception.models import (
    FUSION_MODULES,
    ConcatFusion,
    DeformableCrossModalAttention,
    UncertaintyAwareFusion,
    augment_camera,
    instability_loss,
    uncertainty_from_instability,
)
from panoptic_perception.models.camera_augmentation import match_histogram


def inputs(seed: int = 0, c_l: int = 8, c_c: int = 6, h: int = 4, w: int = 16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, c_l, h, w, generator=g), torch.randn(2, c_c, h, w, generator=g)


def test_uncertainty_lies_in_zero_to_one_and_stays_below_one_for_huge_instability():
    torch.manual_seed(0)
    fusion = UncertaintyAwareFusion(8, 6, heads=2, points=4, hidden=8)
    f_l, f_c = inputs()
    out = fusion(f_l, f_c * 1e4, torch.ones(2, 1, 4, 16, dtype=torch.bool))
    assert out.uncertainty.min() >= 0 and out.uncertainty.max() < 1
    assert uncertainty_from_instability(torch.tensor([0.0, 1.0, 1e9])).tolist() == pytest.approx(
        [0.0, 1 - torch.exp(torch.tensor(-1.0)).item(), 1.0], abs=1e-6
    )
    assert uncertainty_from_instability(torch.tensor([1e9])).item() < 1.0


def test_an_empty_camera_mask_gives_exactly_the_lidar_features():
    torch.manual_seed(0)
    fusion = UncertaintyAwareFusion(8, 6, heads=2, points=4, hidden=8)
    with torch.no_grad():  # move the sampling away from the init so the test is not trivial
        fusion.attention.offsets.weight.normal_(0, 0.5)
        fusion.attention.weights.weight.normal_(0, 0.5)
    f_l, f_c = inputs()
    out = fusion(f_l, f_c, torch.zeros(2, 1, 4, 16, dtype=torch.bool))
    assert torch.equal(out.fused, f_l)


def test_cells_whose_samples_all_miss_mapped_cells_keep_the_lidar_features():
    torch.manual_seed(0)
    fusion = UncertaintyAwareFusion(8, 6, heads=1, points=4, hidden=8)
    f_l, f_c = inputs(w=32)
    mask = torch.zeros(2, 1, 4, 32, dtype=torch.bool)
    mask[..., :4] = True  # camera covers columns 0-3; init samples reach at most 4 cells to the right
    out = fusion(f_l, f_c, mask)
    assert torch.equal(out.fused[..., 10:], f_l[..., 10:])
    assert not torch.allclose(out.fused[..., :4], f_l[..., :4])


def test_deformable_attention_with_zero_offsets_reads_the_own_cell():
    torch.manual_seed(0)
    attn = DeformableCrossModalAttention(8, 6, heads=2, points=4)
    with torch.no_grad():
        attn.offsets.bias.zero_()
    f_l, f_c = inputs()
    mask = torch.ones(2, 1, 4, 16, dtype=torch.bool)
    expected = attn.output(attn.value(f_c))  # every sample at the cell centre: weights sum to 1
    assert torch.allclose(attn(f_l, f_c, mask), expected, atol=1e-5)


def test_gradients_reach_every_parameter_of_the_fusion():
    torch.manual_seed(0)
    fusion = UncertaintyAwareFusion(8, 6, heads=2, points=4, hidden=8)
    f_l, f_c = inputs()
    out = fusion(f_l, f_c, torch.ones(2, 1, 4, 16, dtype=torch.bool))
    (out.fused.square().mean() + out.instability.mean()).backward()
    for name, p in fusion.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_only_the_lidar_cue_head_reads_the_lidar_features():
    f_l, f_c = inputs()
    other_f_l = f_l.flip(-1)
    for cue in (False, True):
        torch.manual_seed(0)
        fusion = UncertaintyAwareFusion(8, 6, heads=2, points=4, hidden=8, lidar_cue=cue)
        assert fusion.instability.mlp[0].in_channels == 6 + 8 * cue
        changed = not torch.equal(fusion.instability(f_c, f_l), fusion.instability(f_c, other_f_l))
        assert changed is cue


def test_instability_loss_is_huber_against_the_feature_shift_norm():
    f_orig = torch.zeros(1, 2, 1, 2)
    f_aug = torch.tensor([[[[3.0, 0.0]], [[4.0, 0.0]]]])  # shift norms 5 and 0
    d = torch.tensor([[[[0.0, 0.5]]]])
    # Huber(delta=1): |5 - 0| -> 5 - 0.5 = 4.5; |0.5 - 0| -> 0.5 * 0.25 = 0.125
    assert instability_loss(d, f_orig, f_aug).item() == pytest.approx((4.5 + 0.125) / 2)
    mask = torch.tensor([[[[False, True]]]])
    assert instability_loss(d, f_orig, f_aug, mask).item() == pytest.approx(0.125)


def test_camera_augmentation_leaves_half_the_images_alone_and_uses_every_corruption():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 16, 24, generator=g)
    reference = torch.rand(3, 16, 24, generator=g) ** 3
    kinds = []
    for _ in range(200):
        out, kind = augment_camera(image, g, reference)
        kinds.append(kind)
        assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
        if kind == "none":
            assert torch.equal(out, image)
        else:
            assert not torch.equal(out, image)
    assert 70 < kinds.count("none") < 130
    assert {"photometric", "dropout", "histogram"} <= set(kinds)
    a, _ = augment_camera(image, torch.Generator().manual_seed(5), reference)
    b, _ = augment_camera(image, torch.Generator().manual_seed(5), reference)
    assert torch.equal(a, b)


def test_histogram_matching_gives_the_reference_value_distribution():
    g = torch.Generator().manual_seed(1)
    image, reference = torch.rand(3, 8, 8, generator=g), torch.rand(3, 8, 8, generator=g) ** 4
    out = match_histogram(image, reference)
    assert torch.equal(out.reshape(3, -1).sort(1).values, reference.reshape(3, -1).sort(1).values)
    # order of pixel brightness is kept
    assert torch.equal(out[0].flatten().argsort(), image[0].flatten().argsort())


def test_fusion_modules_are_swappable_by_name():
    assert {"upfuse", "concat"} <= set(FUSION_MODULES.names())
    assert FUSION_MODULES.get("concat") is ConcatFusion
    concat = FUSION_MODULES.get("concat")(8, 6)
    f_l, f_c = inputs()
    out = concat(f_l, f_c, torch.ones(2, 1, 4, 16, dtype=torch.bool))
    assert out.fused.shape == f_l.shape and out.uncertainty is None
    with pytest.raises(ValueError, match="unknown fusion module 'sum'"):
        FUSION_MODULES.get("sum")
