"""Shared fixtures: the tiny smoke config with its frame cache in a per-session temp folder.

Helpers are fixtures because the suite runs with ``--import-mode=importlib``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from panoptic_training.config import ExperimentConfig, load_config
from panoptic_training.data import ensure_cache

torch.set_num_threads(1)

TINY_CONFIG = Path(__file__).resolve().parents[1] / "config" / "tiny_smoke.yaml"


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config's two frames, generated once per session."""
    cache = tmp_path_factory.mktemp("cache")
    ensure_cache(load_config(TINY_CONFIG, [f"data.cache_dir={cache}"]).data, progress=False)
    return cache


@pytest.fixture
def tiny_config_path() -> Path:
    return TINY_CONFIG


@pytest.fixture
def make_tiny_config(tiny_cache: Path, tmp_path: Path) -> Callable[..., ExperimentConfig]:
    """``make_tiny_config(*overrides, out="run")``: the tiny config writing into ``tmp_path / out``."""

    def make(*overrides: str, out: str = "run") -> ExperimentConfig:
        return load_config(TINY_CONFIG, [f"data.cache_dir={tiny_cache}", f"train.out_dir={tmp_path / out}", *overrides])

    return make
