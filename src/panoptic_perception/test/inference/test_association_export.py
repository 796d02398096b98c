"""The tracking head through the exported graph: ONNX Runtime gives the association vectors PyTorch gives."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from panoptic_perception.inference import OnnxRuntimeBackend, PanopticRunner, TorchBackend, export_onnx, load_artifacts
from panoptic_perception.inference.tensor_core import output_names
from panoptic_perception.models import UPFuse, save_model


@pytest.fixture(scope="module")
def head_model(helpers, tmp_path_factory):
    config = helpers.tiny_config(tracking_head=True, association_dim=8)
    torch.manual_seed(0)  # a seed whose untrained masks cover points (checked below: instances > 0)
    model = UPFuse(config).eval()
    with torch.no_grad():
        model.decoder.class_embed.bias[:] = -5.0
        model.decoder.class_embed.bias[0] = 5.0  # every query predicts a car (a thing): instances with vectors exist
        model.decoder.mask_embed[-1].weight *= 20.0  # decisive masks (untrained logits sit near 0): segments exist
    directory = save_model(model, tmp_path_factory.mktemp("tiny_head"))
    batches = helpers.frame_batches(config, "tiny", 2, seed=4)
    artifacts = load_artifacts(directory, onnx_cache_dir=tmp_path_factory.mktemp("cache"))
    path = export_onnx(artifacts.model, batches[0], tmp_path_factory.mktemp("onnx") / "core.onnx")
    return artifacts, batches, path


def test_the_exported_graph_outputs_per_query_association_vectors(head_model):
    artifacts, _, path = head_model
    graph = onnx.load(str(path)).graph
    names = [o.name for o in graph.output]
    assert names == list(output_names(artifacts.model)) and names[-1] == "association"
    dims = [d.dim_param or d.dim_value for d in graph.output[-1].type.tensor_type.shape.dim]
    assert dims == [1, artifacts.config.num_queries, len(artifacts.config.thing_class_ids), 8]


def test_onnx_runtime_association_vectors_match_pytorch_per_query_and_per_instance(head_model):
    artifacts, batches, path = head_model
    torch_runner = PanopticRunner(TorchBackend(artifacts.model), artifacts.config, bucket=1024)
    ort_runner = PanopticRunner(OnnxRuntimeBackend(path), artifacts.config, bucket=1024)
    instances = 0
    for batch in batches:
        inputs = torch_runner.inputs(batch)
        expected, got = torch_runner.backend.run(inputs)["association"], ort_runner.backend.run(inputs)["association"]
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-5)
        (p_torch,), (p_ort,) = torch_runner.predict(batch), ort_runner.predict(batch)
        assert torch.equal(p_torch.instance_id, p_ort.instance_id)
        assert p_ort.association.shape == (int(p_ort.instance_id.max()), 8)
        np.testing.assert_allclose(p_ort.association.numpy(), p_torch.association.numpy(), atol=1e-5)
        instances += p_ort.association.shape[0]
    assert instances > 0  # a non-trivial comparison: the untrained model makes thing instances
