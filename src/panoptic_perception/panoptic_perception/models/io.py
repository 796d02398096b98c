"""Models are data: ``model.json`` (architecture + config) and ``weights.safetensors``. Never pickle.

One format for every network: ``model.json`` names the architecture (a key of ``ARCHITECTURES``);
``read_config``/``load_model`` take the architecture the caller expects (default ``"upfuse"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelConfigError, ModelFormatError
from .registry import ARCHITECTURES
from .upfuse import UPFuse  # noqa: F401  (registers "upfuse")

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1
ARCHITECTURE = "upfuse"


def architecture_of(model: Any) -> str:
    for name in ARCHITECTURES.names():
        if type(model) is ARCHITECTURES.get(name):
            return name
    raise ModelConfigError(f"{type(model).__name__} is not a registered architecture; registered: {ARCHITECTURES.names()}")


def save_model(model: Any, directory: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.json`` and ``weights.safetensors`` of a registered network into ``directory``."""
    architecture = architecture_of(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "architecture": architecture,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "metadata": dict(metadata or {}),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"architecture": architecture})
    return directory


def read_config(directory: str | Path, architecture: str = ARCHITECTURE) -> Any:
    """The config dataclass stored in ``model.json``; refuses a file of another architecture."""
    config_class = ARCHITECTURES.get(architecture).config_class
    path = Path(directory) / CONFIG_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFormatError(f"{path}: cannot read model config: {err}") from err
    if not isinstance(doc, dict) or doc.get("architecture") != architecture:
        found = doc.get("architecture") if isinstance(doc, dict) else doc
        raise ModelFormatError(f"{path}: field 'architecture' must be {architecture!r}, got {found!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: unsupported format_version {doc.get('format_version')!r} (expected {FORMAT_VERSION})")
    try:
        return config_class.from_dict(doc.get("config"), source=f"{path}: field 'config'")
    except ModelConfigError as err:
        raise ModelFormatError(str(err)) from err


def load_model(
    directory: str | Path,
    expected: Any | None = None,
    device: torch.device | str = "cpu",
    architecture: str = ARCHITECTURE,
) -> Any:
    """Build the ``architecture`` network from ``model.json`` and load ``weights.safetensors`` strictly (eval mode).

    With ``expected``, refuses a saved config that differs from it (naming the differing fields).
    """
    directory = Path(directory)
    config = read_config(directory, architecture)
    if expected is not None and expected != config:
        diff = [
            f"{k}: saved {v!r} != expected {expected.to_dict()[k]!r}"
            for k, v in config.to_dict().items()
            if expected.to_dict()[k] != v
        ]
        raise ModelConfigError(f"{directory / CONFIG_FILE}: config does not match the expected one ({'; '.join(diff)})")
    model = ARCHITECTURES.get(architecture).from_config(config)
    path = directory / WEIGHTS_FILE
    try:
        state = load_file(str(path), device=str(device))
    except (OSError, SafetensorError) as err:
        raise ModelFormatError(f"{path}: cannot read weights: {err}") from err
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in set(own) & set(state) if state[k].shape != own[k].shape
    )
    if missing or unexpected or wrong:
        parts = [
            f"{name}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
            for name, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
            if items
        ]
        raise ModelFormatError(f"{path}: weights do not match the architecture in {CONFIG_FILE} ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
