import json

import pytest
import torch

from panoptic_perception.models import ModelConfigError, ModelFormatError, UPFuse, load_model, read_config, save_model


def test_saving_and_loading_gives_identical_outputs(tmp_path, scene):
    torch.manual_seed(0)
    config = scene.tiny_config()
    model = UPFuse.from_config(config)
    batch, _, _ = scene.tiny_batch(config)
    model.train()
    model(batch)  # move BatchNorm running statistics away from their init
    model.eval()
    with torch.no_grad():
        expected = model(batch)
    save_model(model, tmp_path / "m", metadata={"trained_on": "nothing"})
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "weights.safetensors"]
    loaded = load_model(tmp_path / "m", expected=config)
    assert loaded.config == config and not loaded.training
    with torch.no_grad():
        got = loaded(batch)
    for (c_e, p_e), (c_g, p_g) in zip(expected.layers, got.layers, strict=True):
        assert torch.equal(c_e, c_g) and torch.equal(p_e, p_g)
    assert torch.equal(expected.point_uncertainty, got.point_uncertainty)


def test_loading_refuses_a_config_other_than_the_expected_one(tmp_path, scene):
    save_model(UPFuse.from_config(scene.tiny_config()), tmp_path)
    with pytest.raises(ModelConfigError, match=r"model.json: config does not match.*hidden_dim: saved 16 != expected 32"):
        load_model(tmp_path, expected=scene.tiny_config(hidden_dim=32, heads=2))


def test_loading_refuses_weights_that_do_not_fit_the_json_architecture(tmp_path, scene):
    save_model(UPFuse.from_config(scene.tiny_config()), tmp_path)
    doc = json.loads((tmp_path / "model.json").read_text())
    doc["config"]["lidar_widths"] = [8, 16, 16, 32]
    (tmp_path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match=r"weights.safetensors: weights do not match the architecture.*shape mismatch"):
        load_model(tmp_path)


def test_reading_a_config_names_the_bad_field(tmp_path, scene):
    save_model(UPFuse.from_config(scene.tiny_config()), tmp_path)
    doc = json.loads((tmp_path / "model.json").read_text())
    doc["config"]["num_querys"] = 4
    (tmp_path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match=r"model.json: field 'config': unknown UPFuseConfig field\(s\) num_querys"):
        read_config(tmp_path)
    doc["architecture"] = "panoptic-deeplab"
    (tmp_path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFormatError, match="field 'architecture' must be 'upfuse'"):
        read_config(tmp_path)


def test_loading_reports_missing_or_corrupt_files(tmp_path, scene):
    with pytest.raises(ModelFormatError, match="model.json: cannot read model config"):
        load_model(tmp_path)
    save_model(UPFuse.from_config(scene.tiny_config()), tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelFormatError, match="weights.safetensors: cannot read weights"):
        load_model(tmp_path)
