"""ONNX Runtime against PyTorch: logits within tolerance and identical panoptic points."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from panoptic_perception.inference import (
    ExportError,
    OnnxRuntimeBackend,
    PanopticRunner,
    TorchBackend,
    export_onnx,
    load_artifacts,
    pad_points,
)
from panoptic_perception.inference.tensor_core import batch_to_inputs, output_names
from panoptic_perception.models import UPFuseConfig

LOGIT_ATOL = 1e-4
LOGIT_RTOL = 1e-5  # trained logits reach |x| ~ 200, where float32 rounding alone is ~1e-4
# Trained weights exported by panoptic_training are covered as soon as they are committed.
TRAINED_MODEL_DIRS = [d for d in (Path(__file__).resolve().parents[4] / "models" / "upfuse_cpu",) if (d / "model.json").is_file()]


def model_cases() -> list:
    cases = [pytest.param("tiny", id="tiny-untrained"), pytest.param("cpu_default", id="cpu_default-untrained")]
    return cases + [pytest.param(d, id=f"trained-{d.name}") for d in TRAINED_MODEL_DIRS]


@pytest.fixture
def model_case(request, tiny_model, tiny_onnx, helpers, tmp_path):
    """(model directory, frames, ONNX or None) for a case: tiny on the tiny rig, CPU models on hdl32-front."""
    case = request.param
    if case == "tiny":
        return tiny_model.directory, tiny_model.batches, tiny_onnx
    if case == "cpu_default":
        config = dataclasses.replace(UPFuseConfig.cpu_default(), object_mask_threshold=0.0, overlap_threshold=0.0)
        directory = helpers.save_untrained(config, tmp_path / "cpu_default")
        return directory, helpers.frame_batches(config, "hdl32-front", 1, seed=5), None
    config = load_artifacts(case).config
    return Path(case), helpers.frame_batches(config, "hdl32-front", 2, seed=5), None


@pytest.mark.parametrize("model_case", model_cases(), indirect=True)
def test_onnx_runtime_matches_pytorch_logits_and_panoptic_points(model_case, tmp_path):
    directory, batches, onnx_path = model_case
    artifacts = load_artifacts(directory, onnx_cache_dir=tmp_path / "onnx")
    onnx_path = onnx_path or export_onnx(artifacts.model, batches[0], tmp_path / "core.onnx")
    head = artifacts.model.tracking_head
    torch_runner = PanopticRunner(TorchBackend(artifacts.model), artifacts.config, bucket=1024, tracking_head=head)
    ort_runner = PanopticRunner(OnnxRuntimeBackend(onnx_path), artifacts.config, bucket=1024, tracking_head=head)
    assigned = 0
    for batch in batches:
        inputs = torch_runner.inputs(batch)
        expected, got = torch_runner.backend.run(inputs), ort_runner.backend.run(inputs)
        assert set(got) == set(expected) == set(output_names(artifacts.model))
        assert {"class_logits", "point_logits", "point_uncertainty"} <= set(got)
        for name in expected:
            np.testing.assert_allclose(got[name], expected[name], rtol=LOGIT_RTOL, atol=LOGIT_ATOL, err_msg=name)
        (p_torch,), (p_ort,) = torch_runner.predict(batch), ort_runner.predict(batch)
        assert p_torch.class_id.shape == (batch.point_xyz.shape[1],)
        assert torch.equal(p_torch.class_id, p_ort.class_id)
        assert torch.equal(p_torch.instance_id, p_ort.instance_id)
        if artifacts.config.tracking_head:
            np.testing.assert_allclose(p_ort.association.numpy(), p_torch.association.numpy(), atol=1e-4)
        assigned += int((p_torch.class_id > 0).sum())
    assert assigned > 0  # a non-trivial comparison: some points are given a class


def test_one_onnx_file_serves_every_point_count_and_padding_leaves_real_points_unchanged(tiny_model, tiny_onnx):
    batch = tiny_model.batches[1]
    backend = OnnxRuntimeBackend(tiny_onnx)
    n = batch.point_xyz.shape[1]
    plain = backend.run(batch_to_inputs(batch))
    padded = backend.run(batch_to_inputs(pad_points(batch, 3000)))
    assert padded["point_logits"].shape[2] == 6000 > n == plain["point_logits"].shape[2]
    np.testing.assert_allclose(padded["point_logits"][..., :n], plain["point_logits"], atol=1e-5)
    np.testing.assert_array_equal(padded["class_logits"], plain["class_logits"])
    graph = onnx.load(str(tiny_onnx)).graph
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims["point_xyz"] == [1, "N", 3] and dims["point_valid"] == [1, "N"]
    assert dims["images"] == [1, 1, 3, 64, 160]  # cameras and image size are fixed per export


def test_export_refuses_an_opset_without_grid_sample_and_layer_norm(tiny_model, tmp_path):
    model = load_artifacts(tiny_model.directory).model
    with pytest.raises(ExportError, match="opset 16 is too old"):
        export_onnx(model, tiny_model.batches[0], tmp_path / "old.onnx", opset=16)
