"""The flow update operator: shapes, gradients, correlation lookup against brute force, safetensors round trip."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
import torch.nn.functional as F

from panoptic_perception.models import ModelConfigError, ModelInputError, load_model, read_config, save_model
from panoptic_perception.models.correlation import CorrelationPyramid, coords_grid
from panoptic_perception.models.update_operator import UpdateOperator, UpdateOperatorConfig, convex_upsample

TINY = UpdateOperatorConfig(stem=8, widths=(8, 8, 16, 16), feature_dim=16, hidden_dim=16, context_dim=8, motion_dim=16,
                            corr_levels=2, corr_radius=2, iterations=3)


def images(batch: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=g), torch.rand(batch, 3, height, width, generator=g)


def test_outputs_have_the_input_size_for_sizes_not_divisible_by_eight():
    torch.manual_seed(0)
    model = UpdateOperator(TINY)
    img0, img1 = images(2, 37, 70)
    pred = model.train()(img0, img1)
    assert len(pred.flows) == len(pred.confidence_logits) == len(pred.dynamic_logits) == 3
    assert pred.flow.shape == (2, 2, 37, 70)
    assert pred.confidence.shape == pred.dynamic.shape == (2, 1, 37, 70)
    assert 0 <= float(pred.confidence.detach().min()) and float(pred.confidence.detach().max()) <= 1
    with torch.no_grad():
        last_only = model.eval()(img0, img1, iterations=5)
    assert len(last_only.flows) == 1 and last_only.flow.shape == (2, 2, 37, 70)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = UpdateOperator(TINY).train()
    pred = model(*images(1, 32, 48))
    loss = sum(f.abs().mean() for f in pred.flows) + sum(c.mean() for c in pred.confidence_logits)
    loss = loss + sum(d.mean() for d in pred.dynamic_logits)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    assert all(float(p.grad.abs().sum()) > 0 for n, p in model.named_parameters() if n.startswith("flow_head"))


def _bilinear_zero_padded(fmap: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """fmap (D, H, W) at (x, y); taps outside the map count as zero."""
    _, height, width = fmap.shape
    x0, y0 = int(torch.floor(torch.tensor(x))), int(torch.floor(torch.tensor(y)))
    out = torch.zeros(fmap.shape[0], dtype=torch.float64)
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        weight = (1 - abs(x - xi)) * (1 - abs(y - yi))
        if 0 <= xi < width and 0 <= yi < height:
            out += weight * fmap[:, yi, xi].double()
    return out


def test_correlation_lookup_matches_a_brute_force_computation():
    g = torch.Generator().manual_seed(1)
    batch, dim, height, width, levels, radius = 2, 5, 6, 9, 3, 1
    fmap0, fmap1 = torch.randn(batch, dim, height, width, generator=g), torch.randn(batch, dim, height, width, generator=g)
    coords = coords_grid(batch, height, width) + 2.5 * torch.randn(batch, 2, height, width, generator=g)
    looked_up = CorrelationPyramid(fmap0, fmap1, levels, radius)(coords)
    side = 2 * radius + 1
    assert looked_up.shape == (batch, levels * side * side, height, width)
    pooled = [fmap1]
    for _ in range(levels - 1):  # correlation is linear in fmap1: pooling the volume == correlating pooled features
        pooled.append(F.avg_pool2d(pooled[-1], 2, stride=2, ceil_mode=True))
    worst = 0.0
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                cx, cy = float(coords[b, 0, y, x]), float(coords[b, 1, y, x])
                for level in range(levels):
                    for dy in range(-radius, radius + 1):
                        for dx in range(-radius, radius + 1):
                            sample = _bilinear_zero_padded(pooled[level][b], cx / 2**level + dx, cy / 2**level + dy)
                            expected = float(fmap0[b, :, y, x].double() @ sample) / dim**0.5
                            channel = level * side * side + (dy + radius) * side + (dx + radius)
                            worst = max(worst, abs(expected - float(looked_up[b, channel, y, x])))
    assert worst < 1e-4


def test_convex_upsampling_of_a_constant_flow_is_the_scaled_constant():
    flow = torch.tensor([1.5, -0.5]).view(1, 2, 1, 1).expand(1, 2, 4, 5).contiguous()
    mask = torch.randn(1, 9 * 8 * 8, 4, 5)
    up = convex_upsample(flow, mask, 8)
    assert up.shape == (1, 2, 32, 40)
    # interior pixels mix 9 equal neighbours; border pixels also mix the zero padding
    assert torch.allclose(up[:, :, 8:24, 8:32], torch.tensor([12.0, -4.0]).view(1, 2, 1, 1), atol=1e-5)


def test_save_and_load_round_trip_without_pickle(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = UpdateOperator(TINY).eval()
    save_model(model, tmp_path / "flow", {"name": "tiny"})
    doc = json.loads((tmp_path / "flow" / "model.json").read_text())
    assert doc["architecture"] == "update_operator" and doc["config"]["corr_radius"] == 2

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_model(tmp_path / "flow", architecture="update_operator")
    assert read_config(tmp_path / "flow", "update_operator") == TINY
    img0, img1 = images(1, 24, 40)
    with torch.no_grad():
        a, b = model(img0, img1), loaded(img0, img1)
    assert torch.equal(a.flow, b.flow) and torch.equal(a.confidence, b.confidence) and torch.equal(a.dynamic, b.dynamic)


def test_bad_configs_and_inputs_raise_clear_errors():
    with pytest.raises(ModelConfigError, match="widths"):
        UpdateOperatorConfig(widths=(8, 8, 16))
    with pytest.raises(ModelConfigError, match="corr_radius"):
        UpdateOperatorConfig(corr_radius=-1)
    model = UpdateOperator(TINY)
    with pytest.raises(ModelInputError, match="img0, img1"):
        model(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 24))
    with pytest.raises(ModelInputError, match="iterations"):
        model(*images(1, 16, 16), iterations=0)


def test_flow_init_is_where_the_iterations_start():
    torch.manual_seed(0)
    model = UpdateOperator(TINY).eval()
    with torch.no_grad():  # a flow head that never moves the flow leaves the (upsampled) initial flow
        model.flow_head.weight.zero_()
        model.flow_head.bias.zero_()
        init = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 40, 64).contiguous()
        pred = model(*images(1, 40, 64), flow_init=init)
    assert torch.allclose(pred.flow[..., 8:32, 8:56], init[..., 8:32, 8:56], atol=1e-4)
    with pytest.raises(ModelInputError, match="flow_init"):
        model(*images(1, 40, 64), flow_init=init[..., :32, :])
