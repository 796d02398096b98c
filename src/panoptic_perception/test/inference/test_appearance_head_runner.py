"""A tracking head with camera colour and shape inputs behind the runner: the same vectors as the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panoptic_perception.inference import BackendInputError, OnnxRuntimeBackend, PanopticRunner, export_onnx, load_artifacts
from panoptic_perception.inference.runner import HEAD_CONTEXT, predictions_from_outputs
from panoptic_perception.models import UPFuse, input_dim, save_model


def test_the_runner_gives_an_appearance_head_the_sweeps_images_and_matches_the_model(helpers, tmp_path):
    config = helpers.tiny_config(tracking_head=True, association_dim=8, tracking_inputs="appearance_shape")
    torch.manual_seed(0)
    model = UPFuse(config).eval()
    d = input_dim("appearance_shape", config.mask_dim)
    model.tracking_head.set_input_statistics(torch.linspace(-0.5, 0.5, d), torch.linspace(0.5, 1.5, d))
    with torch.no_grad():
        model.decoder.class_embed.bias[:] = -5.0
        model.decoder.class_embed.bias[0] = 5.0  # every query predicts a car: instances with vectors exist
        model.decoder.mask_embed[-1].weight *= 20.0
    directory = save_model(model, tmp_path / "model")
    batches = helpers.frame_batches(config, "tiny", 2, seed=4)
    artifacts = load_artifacts(directory, onnx_cache_dir=tmp_path / "cache")
    path = export_onnx(artifacts.model, batches[0], tmp_path / "core.onnx")
    runner = PanopticRunner(OnnxRuntimeBackend(path), artifacts.config, bucket=1024, tracking_head=artifacts.model.tracking_head)
    instances = 0
    for batch in batches:
        (got,), (expected,) = runner.predict(batch), artifacts.model.predict(batch)
        assert torch.equal(got.instance_id, expected.instance_id)
        np.testing.assert_allclose(got.association.numpy(), expected.association.numpy(), atol=1e-5)
        instances += got.association.shape[0]
    assert instances > 0
    outputs, valid = runner.run_core(batches[0])
    assert set(HEAD_CONTEXT) <= set(outputs)
    core_only = {k: v for k, v in outputs.items() if k not in HEAD_CONTEXT}
    with pytest.raises(BackendInputError, match="'appearance_shape' inputs need the core inputs"):
        predictions_from_outputs(core_only, valid, artifacts.config, artifacts.model.tracking_head)
