"""What fusion_contribution reads out of a UP-Fuse network."""

from __future__ import annotations

import pytest
import torch

from panoptic_perception.models import UPFuse
from panoptic_training.config import load_config
from panoptic_training.data import SyntheticPanopticDataset, collate_samples
from panoptic_training.errors import TrainingConfigError
from panoptic_training.fusion_contribution import fusion_contribution
from panoptic_training.trainer import build_model_config


def _model_and_batch(tiny_cache, tiny_config_path, *overrides):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}", *overrides])
    torch.manual_seed(0)
    model = UPFuse(build_model_config(config.model)).eval()
    batch = collate_samples([SyntheticPanopticDataset(config.data)[0]], model.config.range_spec).inputs
    return model, batch


def test_every_scale_reports_its_mapped_share_uncertainty_and_feature_sizes(tiny_cache, tiny_config_path):
    model, batch = _model_and_batch(tiny_cache, tiny_config_path)
    scales = fusion_contribution(model, batch)

    assert len(scales) == len(model.lidar_encoder.strides)
    for s in scales:
        assert 0 < s.mapped_share < 1  # a front camera maps part of the range view
        assert 0 <= s.uncertainty < 1
        assert s.lidar_norm > 0 and s.attention_norm > 0


def test_a_camera_the_network_ignores_shows_as_zero_attention_output(tiny_cache, tiny_config_path):
    model, batch = _model_and_batch(tiny_cache, tiny_config_path)
    with torch.no_grad():
        for fusion in model.fusion:
            fusion.attention.output.weight.zero_()  # F_A = 0, F_F = F_L

    assert all(s.attention_norm == 0 for s in fusion_contribution(model, batch))


def test_a_model_without_uncertainty_fusion_is_refused(tiny_cache, tiny_config_path):
    model, batch = _model_and_batch(tiny_cache, tiny_config_path, "model.fusion=concat")
    with pytest.raises(TrainingConfigError, match="fusion 'upfuse'"):
        fusion_contribution(model, batch)
