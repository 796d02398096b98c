"""The tracking head around the exported graph: the core outputs per-point features, the runner pools them over each
final segment and runs the head; ONNX Runtime gives the association vectors PyTorch gives."""

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


def test_the_exported_graph_outputs_per_point_features_and_no_per_query_pooling(head_model):
    artifacts, _, path = head_model
    graph = onnx.load(str(path)).graph
    names = [o.name for o in graph.output]
    assert names == list(output_names(artifacts.model)) and names[-1] == "point_features"
    dims = [d.dim_param or d.dim_value for d in graph.output[-1].type.tensor_type.shape.dim]
    assert dims == [1, "N", artifacts.config.mask_dim]
    head_weights = {n for n in (i.name for i in graph.initializer) if "tracking_head" in n}
    assert not head_weights  # the FC layers run on the pooled vectors, outside the graph


def test_onnx_runtime_association_vectors_match_pytorch_and_the_segment_pooling_reference(head_model):
    artifacts, batches, path = head_model
    head = artifacts.model.tracking_head
    torch_runner = PanopticRunner(TorchBackend(artifacts.model), artifacts.config, bucket=1024, tracking_head=head)
    ort_runner = PanopticRunner(OnnxRuntimeBackend(path), artifacts.config, bucket=1024, tracking_head=head)
    instances = 0
    for batch in batches:
        inputs = torch_runner.inputs(batch)
        expected, got = torch_runner.backend.run(inputs), ort_runner.backend.run(inputs)
        np.testing.assert_allclose(got["point_features"], expected["point_features"], atol=1e-5)
        (p_torch,), (p_ort,) = torch_runner.predict(batch), ort_runner.predict(batch)
        (p_model,) = artifacts.model.predict(batch)
        assert torch.equal(p_torch.instance_id, p_ort.instance_id)
        assert p_ort.association.shape == (int(p_ort.instance_id.max()), 8)
        np.testing.assert_allclose(p_ort.association.numpy(), p_torch.association.numpy(), atol=1e-5)
        np.testing.assert_allclose(p_model.association.numpy(), p_torch.association.numpy(), atol=1e-5)
        # Reference: mean feature of each final segment through the head, the instance's class slice.
        features = torch.from_numpy(got["point_features"][0, : batch.point_xyz.shape[1]])
        ids = p_ort.instance_id
        for k in range(p_ort.association.shape[0]):
            cls = int(torch.bincount(p_ort.class_id[ids == k + 1]).argmax())
            with torch.no_grad():
                ref = head(features[ids == k + 1].mean(0))[artifacts.config.thing_class_ids.index(cls)]
            np.testing.assert_allclose(p_ort.association[k].numpy(), ref.numpy(), atol=1e-5)
        instances += p_ort.association.shape[0]
    assert instances > 0  # a non-trivial comparison: the untrained model makes thing instances
    without = PanopticRunner(OnnxRuntimeBackend(path), artifacts.config, bucket=1024).predict(batches[0])[0]
    assert without.association is None
