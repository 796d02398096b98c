"""Checkpoints without pickle: weights and optimizer tensors in safetensors, scalars in JSON.

``<out>/checkpoints/step_000250/{model.safetensors, optimizer.safetensors, state.json}`` and
``<out>/checkpoints/latest.json`` naming the newest one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import CheckpointError

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
LATEST_FILE = "latest.json"
KEEP = 2  # newest checkpoints kept on disk


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(
    directory: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, extra: dict[str, Any]
) -> Path:
    """Write one checkpoint (to a temp folder, then renamed) and point ``latest.json`` at it."""
    root = Path(directory)
    final = root / f"step_{step:06d}"
    tmp = root / f".step_{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / MODEL_FILE))
    tensors, optim_json = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / OPTIMIZER_FILE))
    doc = {"step": step, "optimizer": optim_json, "torch_rng_state": torch.get_rng_state().tolist(), **extra}
    (tmp / STATE_FILE).write_text(json.dumps(doc, indent=1) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    (root / LATEST_FILE).write_text(json.dumps({"step": step, "path": final.name}) + "\n")
    for old in sorted(root.glob("step_*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: str | Path) -> Path | None:
    path = Path(directory) / LATEST_FILE
    if not path.exists():
        return None
    try:
        name = json.loads(path.read_text())["path"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: unreadable ({err})") from err
    return Path(directory) / name


def load_model_weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    path = Path(checkpoint) / MODEL_FILE
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as err:
        raise CheckpointError(f"{path}: cannot read weights: {err}") from err


def load_checkpoint(checkpoint: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model, optimizer and the global torch RNG; returns the JSON state (``step`` etc.)."""
    checkpoint = Path(checkpoint)
    try:
        doc = json.loads((checkpoint / STATE_FILE).read_text())
        optim_tensors = load_file(str(checkpoint / OPTIMIZER_FILE))
    except (OSError, json.JSONDecodeError, SafetensorError) as err:
        raise CheckpointError(f"{checkpoint}: cannot read checkpoint: {err}") from err
    model.load_state_dict(load_model_weights(checkpoint), strict=True)
    state: dict[int, dict[str, Any]] = {}
    for name, value in optim_tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for name, value in doc["optimizer"]["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": doc["optimizer"]["param_groups"]})
    torch.set_rng_state(torch.tensor(doc["torch_rng_state"], dtype=torch.uint8))
    return doc
