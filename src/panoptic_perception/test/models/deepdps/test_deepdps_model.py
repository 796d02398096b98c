import math

import pytest
import torch

from panoptic_perception.models import ModelConfigError, ModelFormatError, load_model, read_config, save_model
from panoptic_perception.models.deepdps import (
    BACKUP_WEIGHT,
    DeepDPS,
    DeepDPSConfig,
    DeepDPSCriterion,
    SegmentDepthHead,
    aggregate_depth,
    covered_pixel_mask,
    fill_uncovered,
)


def test_every_pyramid_level_and_head_has_the_documented_shape(tiny):
    torch.manual_seed(0)
    model = DeepDPS.from_config(tiny)
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 160))
    for pyramid in (out.semantic_pyramid, out.depth_pyramid):
        assert [tuple(x.shape) for x in pyramid] == [(2, 16, 2, 5), (2, 16, 4, 10), (2, 16, 8, 20)]
    assert out.semantic_features.shape == (2, tiny.mask_dim, 16, 40)
    assert out.depth_embedding.shape == (2, tiny.depth_dim, 16, 40)
    assert len(out.layers) == tiny.decoder_layers + 1
    for class_logits, mask_logits in out.layers:
        assert class_logits.shape == (2, tiny.num_queries, tiny.num_classes + 1)
        assert mask_logits.shape == (2, tiny.num_queries, 16, 40)
    assert out.segment_depth.shape == (2, tiny.num_queries, 16, 40)
    assert out.depth.shape == out.backup_depth.shape == out.depth_spread.shape == (2, 16, 40)
    assert out.semantic_logits.shape == (2, tiny.num_classes, 16, 40)
    assert float(out.depth.min()) > 0 and float(out.depth.max()) < tiny.max_depth


def test_the_model_downscales_its_input_and_predicts_at_the_input_size(make_config):
    model = DeepDPS.from_config(make_config(image_scale=0.5)).eval()
    out = model(torch.rand(1, 3, 128, 320))
    assert out.depth.shape == (1, 16, 40)
    pred = model.predict(torch.rand(1, 3, 128, 320))[0]
    for name in ("class_id", "instance_id", "score", "depth", "uncertainty", "backup"):
        assert getattr(pred, name).shape == (128, 320), name
    assert float(pred.uncertainty.min()) >= 0 and float(pred.uncertainty.max()) < 1


def test_per_segment_depth_equals_the_closed_form_for_hand_set_weights():
    head = SegmentDepthHead(dim=2, depth_dim=2, max_depth=80.0)
    with torch.no_grad():
        for linear in (head.psi[0], head.psi[2]):
            linear.weight.copy_(torch.eye(2))
            linear.bias.zero_()
    query = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # kernels (1, 0) and (0, 2) (positive: ReLU passes them)
    embedding = torch.tensor([0.5, -1.0]).view(1, 2, 1, 1).expand(1, 2, 1, 3)
    depth = head(query, embedding)
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert torch.allclose(depth[0, 0], torch.full((1, 3), 80 * sigmoid(0.5)))
    assert torch.allclose(depth[0, 1], torch.full((1, 3), 80 * sigmoid(-2.0)))

    mask_logits = torch.tensor([0.0, 20.0]).view(1, 2, 1, 1).expand(1, 2, 1, 3)  # mask probs 0.5 and ~1
    scores = torch.tensor([[0.8, 0.5]])
    backup = torch.full((1, 1, 3), 30.0)
    mixed, spread = aggregate_depth(depth, mask_logits, scores, backup)
    w1, w2, wb = 0.5 * 0.8, sigmoid(20.0) * 0.5, BACKUP_WEIGHT
    d1, d2 = 80 * sigmoid(0.5), 80 * sigmoid(-2.0)
    expected = (w1 * d1 + w2 * d2 + wb * 30.0) / (w1 + w2 + wb)
    var = (w1 * (d1 - expected) ** 2 + w2 * (d2 - expected) ** 2 + wb * (30.0 - expected) ** 2) / (w1 + w2 + wb)
    assert torch.allclose(mixed, torch.full((1, 1, 3), expected), rtol=1e-5)
    assert torch.allclose(spread, torch.full((1, 1, 3), math.sqrt(var)), rtol=1e-4)


def test_backup_query_fills_exactly_the_pixels_no_confident_mask_covers():
    class_id = torch.tensor([[0, 1, 9], [0, 0, 13]])
    instance_id = torch.tensor([[0, 4, 0], [0, 0, 0]])
    score = torch.tensor([[0.0, 0.9, 0.95], [0.0, 0.0, 0.85]])
    depth = torch.tensor([[0.0, 7.0, 8.0], [0.0, 0.0, 9.0]])
    semantic_logits = torch.zeros(19, 2, 3)
    semantic_logits[16] = 5.0  # train id 17 everywhere
    backup_depth = torch.full((2, 3), 42.0)
    c, i, s, d, backup = fill_uncovered(class_id, instance_id, score, depth, semantic_logits, backup_depth)
    uncovered = torch.tensor([[True, False, False], [True, True, False]])
    assert torch.equal(backup, uncovered)
    assert torch.equal(c, torch.where(uncovered, 17, class_id))
    assert torch.equal(i, instance_id) and torch.equal(d, torch.where(uncovered, 42.0, depth))
    p17 = math.exp(5) / (math.exp(5) + 18)
    assert torch.allclose(s, torch.where(uncovered, torch.tensor(p17), score))


def test_with_no_confident_query_every_pixel_comes_from_the_backup_query(make_config):
    torch.manual_seed(0)
    model = DeepDPS.from_config(make_config(object_mask_threshold=1.1)).eval()
    image = torch.rand(1, 3, 64, 160)
    pred = model.predict(image)[0]
    with torch.no_grad():
        out = model(image)
    assert bool(pred.backup.all())
    up = torch.nn.functional.interpolate(out.semantic_logits, size=(64, 160), mode="bilinear", align_corners=False)
    assert torch.equal(pred.class_id, up[0].argmax(0) + 1)
    assert not pred.instance_id.any()
    backup_depth = torch.nn.functional.interpolate(out.backup_depth[:, None], size=(64, 160), mode="bilinear")[0, 0]
    assert torch.allclose(pred.depth, backup_depth)


def test_latent_reads_only_pixels_covered_by_an_informative_query_mask():
    # 2 queries x 3 pixels, True = not attended; query 1 has the decoder's all-False fallback row.
    attn_mask = torch.tensor([[[True, False, True], [False, False, False]]])
    assert covered_pixel_mask(attn_mask).tolist() == [[[True, False, True]]]
    nothing = torch.zeros(1, 2, 3, dtype=torch.bool)
    assert not covered_pixel_mask(nothing).any()


def test_gradients_reach_every_parameter(tiny, sim_sample):
    torch.manual_seed(0)
    model = DeepDPS.from_config(tiny)
    criterion = DeepDPSCriterion(tiny.num_classes, tiny.thing_class_ids, tiny.max_depth, num_points=512)
    out = model(sim_sample.image)
    losses = criterion(out, sim_sample.semantic, sim_sample.instance, sim_sample.depth, torch.Generator().manual_seed(0))
    losses["loss"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert dead == []
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    assert all(float(v.detach()) >= 0 for v in losses.values())  # SI-log with lambda <= 1 is >= 0 too


def test_a_tiny_model_overfits_one_synthetic_frame(tiny, sim_sample):
    torch.manual_seed(0)
    model = DeepDPS.from_config(tiny)
    criterion = DeepDPSCriterion(tiny.num_classes, tiny.thing_class_ids, tiny.max_depth, num_points=640)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    valid = (sim_sample.depth > 0) & (sim_sample.depth <= tiny.max_depth)

    def abs_rel() -> float:
        model.eval()
        with torch.no_grad():
            depth = model.predict(sim_sample.image)[0].depth[None]
        model.train()
        return float(((depth - sim_sample.depth).abs() / sim_sample.depth)[valid].mean())

    before_abs_rel = abs_rel()
    totals = []
    for _ in range(40):
        losses = criterion(model(sim_sample.image), sim_sample.semantic, sim_sample.instance, sim_sample.depth, generator)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        totals.append(float(losses["loss"].detach()))
    assert min(totals[-5:]) < 0.5 * totals[0]
    assert abs_rel() < 0.7 * before_abs_rel


def test_saving_and_loading_gives_identical_outputs(tmp_path, tiny):
    torch.manual_seed(0)
    model = DeepDPS.from_config(tiny)
    image = torch.rand(1, 3, 64, 160)
    model.train()
    model(image)  # move BatchNorm running statistics away from their init
    model.eval()
    with torch.no_grad():
        expected = model(image)
    save_model(model, tmp_path, metadata={"trained_on": "nothing"})
    loaded = load_model(tmp_path, expected=tiny, architecture="deepdps")
    assert isinstance(loaded, DeepDPS) and loaded.config == tiny and not loaded.training
    with torch.no_grad():
        got = loaded(image)
    for (c_e, m_e), (c_g, m_g) in zip(expected.layers, got.layers, strict=True):
        assert torch.equal(c_e, c_g) and torch.equal(m_e, m_g)
    assert torch.equal(expected.depth, got.depth) and torch.equal(expected.semantic_logits, got.semantic_logits)


def test_a_deepdps_model_is_not_read_as_another_architecture(tmp_path, tiny):
    save_model(DeepDPS.from_config(tiny), tmp_path)
    assert read_config(tmp_path, architecture="deepdps") == tiny
    with pytest.raises(ModelFormatError, match="field 'architecture' must be 'upfuse', got 'deepdps'"):
        load_model(tmp_path)


def test_configs_validate_and_round_trip_through_json(tiny):
    assert DeepDPSConfig.from_dict(tiny.to_dict()) == tiny
    large = DeepDPSConfig.gpu_large()
    assert DeepDPSConfig.from_dict(large.to_dict()) == large
    assert large.hidden_dim > DeepDPSConfig.cpu_default().hidden_dim and large.image_scale == 1.0
    with pytest.raises(ModelConfigError, match="DeepDPSConfig.widths needs 4 entries"):
        DeepDPSConfig(widths=(8, 16))
    with pytest.raises(ModelConfigError, match="unknown DeepDPSConfig field\\(s\\) latent"):
        DeepDPSConfig.from_dict({"latent": 3})
