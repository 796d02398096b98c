"""Fine-tuning: start from a shipped model's weights, new parts (a tracking head) from scratch, at their own lr."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .errors import TrainingConfigError

WEIGHTS_FILE = "weights.safetensors"  # as panoptic_perception.models.io writes it
NEW_PART_PREFIXES = ("tracking_head.",)  # parts a saved model may lack: they keep their random initialisation


def load_init_weights(model: nn.Module, path: str | Path) -> set[str]:
    """Load a model directory's (or a safetensors file's) weights into ``model``; returns the loaded names.

    Every weight of the file must fit; the model may have extra weights only under ``NEW_PART_PREFIXES``.
    """
    path = Path(path)
    file = path / WEIGHTS_FILE if path.is_dir() else path
    try:
        state = load_file(str(file))
    except (OSError, SafetensorError) as err:
        raise TrainingConfigError(f"model.init_weights: cannot read {file}: {err}") from err
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.startswith(NEW_PART_PREFIXES))
    wrong = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if unexpected or missing or wrong:
        raise TrainingConfigError(f"model.init_weights: {file} does not fit the model (unexpected {unexpected[:3]}, "
                                  f"missing {missing[:3]}, shape mismatch {wrong[:3]})")
    model.load_state_dict(state, strict=False)
    return set(state)


def parameter_groups(model: nn.Module, pretrained: set[str], pretrained_lr_scale: float) -> list[dict]:
    """Trainable parameters in two optimizer groups: loaded ones (``lr_scale`` = the given scale) and new ones (1)."""
    old, new = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (old if name in pretrained else new).append(p)
    groups = [{"params": new, "lr_scale": 1.0}, {"params": old, "lr_scale": float(pretrained_lr_scale)}]
    return [g for g in groups if g["params"]]


def group_lr(group: dict, lr: float) -> float:
    return lr * float(group.get("lr_scale", 1.0))



