"""Fine-tuning: start from a shipped model's weights, new parts (a tracking head) from scratch, at their own lr."""

from __future__ import annotations

from pathlib import Path

import torch
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





def attach_head(run_dir: str | Path, model_dir: str | Path, onnx: bool = True) -> Path:
    """Ship a ``model.freeze_pretrained`` run: ``model_dir`` gets the run's tracking head, nothing else changes.

    Refuses unless every weight ``model_dir`` holds is bit-identical in the run's checkpoint (the panoptic
    output stays exactly that of the shipped model); keeps its metadata and adds the run's; re-exports
    ``model.onnx`` (``write_model_onnx``, as ``panoptic-export --onnx``) when asked.
    """
    import json

    from panoptic_perception.models import save_model

    from .export import model_from_run

    model_dir = Path(model_dir)
    model, config, summary = model_from_run(run_dir)
    shipped = load_file(str(model_dir / WEIGHTS_FILE))
    state = model.state_dict()
    changed = sorted(k for k, v in shipped.items() if k not in state or not torch.equal(state[k], v))
    if changed:
        raise TrainingConfigError(f"{run_dir}: weights differ from {model_dir} ({changed[:3]}); not a frozen head run of it")
    metadata = json.loads((model_dir / "model.json").read_text()).get("metadata", {})
    metadata |= {"tracking_head_run": str(run_dir), "tracking_head_steps": str(summary["checkpoint_step"]),
                 "tracking_head_wall_seconds": str(summary.get("wall_seconds", "")),
                 "tracking_head_train_frames": str(config.data.num_sequences * config.data.frames_per_sequence)}
    save_model(model, model_dir, metadata)
    (model_dir / "model.onnx").unlink(missing_ok=True)  # stale: its outputs and weights hash are the old model's
    if onnx:
        from panoptic_perception.inference import write_model_onnx

        write_model_onnx(model_dir)
    return model_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m panoptic_training.finetune RUN_DIR MODEL_DIR [--no-onnx]``: see ``attach_head``."""
    import argparse

    parser = argparse.ArgumentParser(description="Add a frozen-network run's tracking head to a shipped model directory.")
    parser.add_argument("run_dir")
    parser.add_argument("model_dir")
    parser.add_argument("--no-onnx", action="store_true", help="do not re-export model.onnx")
    args = parser.parse_args(argv)
    print(f"wrote {attach_head(args.run_dir, args.model_dir, onnx=not args.no_onnx)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
