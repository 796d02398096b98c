"""Shared fixtures of the inference tests: tiny and CPU-default models saved to disk, synthetic frames.

Untrained networks keep no query at the shipped thresholds (0.8) and often predict "no object", so
parity tests use thresholds of 0, lower the "no object" bias and sharpen the masks to compare
non-trivial panoptic outputs.
Tests run single-threaded (the CI machine's cores are shared).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.models import UPFuse, UPFuseConfig, batch_from_sensor_frame, save_model

torch.set_num_threads(1)



def tiny_config(**overrides: object) -> UPFuseConfig:
    base = UPFuseConfig(
        range_height=16,
        range_width=128,
        lidar_stem=8,
        lidar_widths=(8, 16, 16, 16),
        camera_stem=8,
        camera_widths=(8, 8, 16, 16),
        camera_scale=0.5,
        fusion_hidden=8,
        hidden_dim=16,
        mask_dim=16,
        heads=2,
        ffn_dim=32,
        num_queries=8,
        decoder_layers=2,
        mask_head_hidden=16,
        object_mask_threshold=0.0,
        overlap_threshold=0.0,
    )
    return dataclasses.replace(base, **overrides)


def save_untrained(config: UPFuseConfig, directory: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    model = UPFuse(config).eval()
    with torch.no_grad():
        model.decoder.class_embed.bias[-1] = -5.0  # "no object" rarely wins: queries are kept
        model.decoder.mask_embed[-1].weight *= 20.0  # decisive masks (untrained logits sit near 0): segments exist
    return save_model(model, directory, metadata={"note": "untrained, for tests"})


def frame_batches(config: UPFuseConfig, rig: str, count: int, seed: int) -> list:
    frames = simulate(SceneConfig(seed=seed), make_rig(rig), count)
    return [batch_from_sensor_frame(f.sensor, config.range_spec) for f in frames]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """An untrained tiny model directory and two synthetic 'tiny' rig frames as batches."""
    config = tiny_config()
    directory = save_untrained(config, tmp_path_factory.mktemp("tiny_model"))
    return SimpleNamespace(directory=directory, config=config, batches=frame_batches(config, "tiny", 2, seed=3))


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's core exported once (dynamic point axis) for the tests that only run it."""
    from panoptic_perception.inference import export_onnx, load_artifacts

    model = load_artifacts(tiny_model.directory).model
    return export_onnx(model, tiny_model.batches[0], tmp_path_factory.mktemp("tiny_onnx") / "core.onnx")


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    return SimpleNamespace(
        tiny_config=tiny_config, save_untrained=save_untrained, frame_batches=frame_batches
    )
