"""Models are data: ``model.json`` (architecture + config) and ``weights.safetensors``. Never pickle."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelConfigError, ModelFormatError
from .upfuse import UPFuse, UPFuseConfig

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT_VERSION = 1
ARCHITECTURE = "upfuse"


def save_model(model: UPFuse, directory: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.json`` and ``weights.safetensors`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    doc = {
        "architecture": ARCHITECTURE,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "metadata": dict(metadata or {}),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"architecture": ARCHITECTURE})
    return directory


def read_config(directory: str | Path) -> UPFuseConfig:
    path = Path(directory) / CONFIG_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFormatError(f"{path}: cannot read model config: {err}") from err
    if not isinstance(doc, dict) or doc.get("architecture") != ARCHITECTURE:
        found = doc.get("architecture") if isinstance(doc, dict) else doc
        raise ModelFormatError(f"{path}: field 'architecture' must be {ARCHITECTURE!r}, got {found!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{path}: unsupported format_version {doc.get('format_version')!r} (expected {FORMAT_VERSION})")
    try:
        return UPFuseConfig.from_dict(doc.get("config"), source=f"{path}: field 'config'")
    except ModelConfigError as err:
        raise ModelFormatError(str(err)) from err


def load_model(directory: str | Path, expected: UPFuseConfig | None = None, device: torch.device | str = "cpu") -> UPFuse:
    """Build the model from ``model.json`` and load ``weights.safetensors`` strictly (eval mode).

    With ``expected``, refuses a saved config that differs from it (naming the differing fields).
    """
    directory = Path(directory)
    config = read_config(directory)
    if expected is not None and expected != config:
        diff = [
            f"{k}: saved {v!r} != expected {expected.to_dict()[k]!r}"
            for k, v in config.to_dict().items()
            if expected.to_dict()[k] != v
        ]
        raise ModelConfigError(f"{directory / CONFIG_FILE}: config does not match the expected one ({'; '.join(diff)})")
    model = UPFuse.from_config(config)
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
