"""Shared tiny inputs of the DeepDPS tests: a tiny config and one synthetic camera frame with ground truth.

Helpers are fixtures because the suite runs with ``--import-mode=importlib``; tests run single-threaded
(the CI machine's 2 cores are shared).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from panoptic_perception.models.deepdps import DeepDPSConfig

torch.set_num_threads(1)


def tiny_config(**overrides: object) -> DeepDPSConfig:
    base = DeepDPSConfig(
        stem=8,
        widths=(8, 16, 16, 16),
        image_scale=1.0,
        hidden_dim=16,
        mask_dim=16,
        depth_dim=8,
        semantic_decoder_layers=1,
        depth_decoder_layers=0,
        heads=2,
        ffn_dim=32,
        num_queries=8,
        decoder_layers=3,
        latent_tokens=4,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
def tiny() -> DeepDPSConfig:
    return tiny_config()


@pytest.fixture
def make_config():
    return tiny_config


@pytest.fixture(scope="session")
def sim_sample() -> SimpleNamespace:
    """The 'front' camera of frame 0 of the synthetic world (tiny rig, 64 x 160): image, labels, depth, camera."""
    from panoptic_datasets.world import SceneConfig, make_rig, simulate

    frame = next(iter(simulate(SceneConfig(seed=0), make_rig("tiny"), 1)))
    name = sorted(frame.cameras)[0]
    truth, image = frame.cameras[name], frame.sensor.cameras[name]
    return SimpleNamespace(
        image=torch.from_numpy(image.rgb).permute(2, 0, 1).float().div(255.0)[None],
        semantic=torch.from_numpy(truth.semantic.astype(np.int64))[None],
        instance=torch.from_numpy(truth.instance.astype(np.int64))[None],
        depth=torch.from_numpy(truth.depth.astype(np.float32))[None],
        camera=image.camera,
    )
