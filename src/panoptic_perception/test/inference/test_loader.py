"""The model loader: clear errors for broken model directories, never a pickle, stale ONNX refused."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from panoptic_perception.inference import (
    BACKENDS,
    ExportShapes,
    ModelLoadError,
    PanopticRunner,
    load_artifacts,
    load_backend,
)
from panoptic_perception.inference.loader import WEIGHTS_HASH_KEY


def test_missing_directory_and_missing_files_are_named(tmp_path, tiny_model):
    with pytest.raises(ModelLoadError, match="model directory does not exist"):
        load_artifacts(tmp_path / "nowhere")
    (tmp_path / "model.json").write_text((tiny_model.directory / "model.json").read_text())
    with pytest.raises(ModelLoadError, match=r"weights.safetensors: missing"):
        load_artifacts(tmp_path)


def test_wrong_format_version_and_tensor_shape_mismatch_are_refused(tmp_path, tiny_model, helpers):
    doc = json.loads((tiny_model.directory / "model.json").read_text())
    helpers.save_untrained(helpers.tiny_config(hidden_dim=32), tmp_path)  # other weights
    (tmp_path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelLoadError, match="shape mismatch"):
        load_artifacts(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(ModelLoadError, match="unsupported format_version 99"):
        load_artifacts(tmp_path)


def test_a_pickled_weights_file_is_refused_not_unpickled(tmp_path, tiny_model):
    (tmp_path / "model.json").write_text((tiny_model.directory / "model.json").read_text())
    torch.save({"x": torch.zeros(1)}, tmp_path / "weights.safetensors")
    with pytest.raises(ModelLoadError, match="cannot read weights"):
        load_artifacts(tmp_path)


def test_a_shipped_onnx_must_come_from_the_shipped_weights(tmp_path, tiny_model, tiny_onnx):
    for name in ("model.json", "weights.safetensors"):
        (tmp_path / name).write_bytes((tiny_model.directory / name).read_bytes())
    exported = onnx.load(str(tiny_onnx))
    exported.metadata_props.add(key=WEIGHTS_HASH_KEY, value="0" * 64)
    onnx.save(exported, str(tmp_path / "model.onnx"))
    with pytest.raises(ModelLoadError, match="exported from other weights"):
        load_artifacts(tmp_path)
    exported.metadata_props[-1].value = load_artifacts(tiny_model.directory).weights_sha256
    onnx.save(exported, str(tmp_path / "model.onnx"))
    batch = tiny_model.batches[0]
    shapes = ExportShapes(batch.images.shape[1], batch.images.shape[3], batch.images.shape[4], 512)
    assert load_artifacts(tmp_path, export_shapes=shapes).onnx_path() == tmp_path / "model.onnx"


def test_load_backend_returns_a_ready_backend_by_name_exporting_onnx_on_demand(tmp_path, tiny_model):
    shapes = load_artifacts(tiny_model.directory).config.range_spec
    from panoptic_perception.inference import ExportShapes

    artifacts, backend = load_backend(
        tiny_model.directory, "onnxruntime", export_shapes=ExportShapes(1, 64, 160, 512), onnx_cache_dir=tmp_path
    )
    assert backend.name == "onnxruntime" and backend.precision == "fp32" and shapes.height == 16
    exported = list(tmp_path.glob("*.onnx"))
    assert len(exported) == 1 and exported[0].name.startswith(artifacts.weights_sha256[:32])
    batch = tiny_model.batches[0]
    (got,), (expected,) = PanopticRunner(backend, artifacts.config).predict(batch), artifacts.model.predict(batch)
    np.testing.assert_array_equal(got.class_id.numpy(), expected.class_id.numpy())
    assert set(BACKENDS.names()) >= {"torch", "torch_compile", "onnxruntime", "tensorrt"}


def test_write_model_onnx_ships_a_graph_the_loader_uses_and_refuses_after_retraining(tmp_path, tiny_model):
    from panoptic_perception.inference import ExportShapes, write_model_onnx

    for name in ("model.json", "weights.safetensors"):
        (tmp_path / name).write_bytes((tiny_model.directory / name).read_bytes())
    path = write_model_onnx(tmp_path, ExportShapes(1, 64, 160, 512))
    assert path == tmp_path / "model.onnx" and not list(tmp_path.glob(".*partial"))
    artifacts, backend = load_backend(tmp_path, "onnxruntime", export_shapes=ExportShapes(1, 64, 160, 512),
                                      onnx_cache_dir=tmp_path / "cache")
    assert artifacts.onnx_path() == path and not (tmp_path / "cache").exists()  # shipped, not re-exported
    batch = tiny_model.batches[0]
    (got,), (expected,) = PanopticRunner(backend, artifacts.config).predict(batch), artifacts.model.predict(batch)
    np.testing.assert_array_equal(got.class_id.numpy(), expected.class_id.numpy())

    from safetensors.torch import load_file, save_file

    weights = load_file(str(tmp_path / "weights.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0  # "retrained" weights, stale graph
    save_file(weights, str(tmp_path / "weights.safetensors"))
    with pytest.raises(ModelLoadError, match="exported from other weights"):
        load_artifacts(tmp_path, export_shapes=ExportShapes(1, 64, 160, 512))


def test_a_shipped_graph_for_another_camera_size_is_left_aside_for_an_export_that_fits(tmp_path, tiny_model):
    from panoptic_perception.inference import ExportShapes, write_model_onnx

    for name in ("model.json", "weights.safetensors"):
        (tmp_path / name).write_bytes((tiny_model.directory / name).read_bytes())
    write_model_onnx(tmp_path, ExportShapes(1, 64, 160, 512))
    other = load_artifacts(tmp_path, export_shapes=ExportShapes(1, 32, 96, 512), onnx_cache_dir=tmp_path / "cache")
    assert other.onnx_path().parent == tmp_path / "cache" and other.onnx_path().name.endswith("-m1-32x96.onnx")
