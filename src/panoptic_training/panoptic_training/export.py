"""Export a training run to the runtime's model format (``panoptic_perception.models.io``) + a model card."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from panoptic_perception.models import UPFuse, save_model

from .checkpoint import latest_checkpoint, load_model_weights
from .config import LIGHT_NAMES, ExperimentConfig, load_config
from .data import scene_for_seed, sequence_seeds
from .errors import CheckpointError
from .trainer import build_model_config

CARD_FILE = "MODEL_CARD.md"


def model_from_run(run_dir: str | Path) -> tuple[UPFuse, ExperimentConfig, dict[str, Any]]:
    """The trained UP-Fuse of a run (weights of its newest checkpoint), its config and ``run.json``."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    if config.train.task != "panoptic":
        raise CheckpointError(f"{run_dir}: a {config.train.task!r} run holds no panoptic model to export")
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise CheckpointError(f"{run_dir}: no checkpoint to export")
    model = UPFuse(build_model_config(config.model))
    model.load_state_dict(load_model_weights(checkpoint), strict=True)
    summary_path = run_dir / "run.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["checkpoint_step"] = int(checkpoint.name.split("_")[-1])
    return model.eval(), config, summary


def data_summary(config: ExperimentConfig) -> dict[str, Any]:
    seeds = sequence_seeds(config.data)
    lights = Counter(scene_for_seed(s, config.data).light for s in seeds)
    shares = [scene_for_seed(s, config.data).dynamic_share for s in seeds]
    return {
        "rig": config.data.rig,
        "split": config.data.split,
        "seeds": f"{seeds[0]}-{seeds[-1]}",
        "sequences": len(seeds),
        "frames": len(seeds) * config.data.frames_per_sequence,
        "lights": {name: lights.get(name, 0) for name in LIGHT_NAMES},
        "dynamic_share": f"{min(shares):.2f}-{max(shares):.2f} (mean {np.mean(shares):.2f})",
    }


def write_model_card(directory: Path, name: str, model: UPFuse, config: ExperimentConfig, summary: dict[str, Any],
                     metrics: dict[str, Any] | None) -> Path:
    data = data_summary(config)
    params = sum(p.numel() for p in model.parameters())
    t = config.train
    weights, frozen = config.model.camera_encoder_weights, config.model.freeze_camera_encoder
    encoder = "trained jointly" if not frozen else "frozen at random initialisation"
    if weights:
        pretrain = Path(weights).parent / "run.json"
        info = json.loads(pretrain.read_text()) if pretrain.exists() else {}
        encoder = (f"pre-trained camera-only (`{weights}`, {info.get('steps', '?')} steps, {info.get('wall_seconds', '?')} s, "
                   f"per-pixel semantics of the world's camera ground truth), {'frozen' if frozen else 'fine-tuned'}")
    joint_instability = model.config.fusion == "upfuse" and config.model.use_camera and t.camera_augmentation
    lights = ", ".join(f"{k} {v}" for k, v in data["lights"].items())
    keys = ("pq", "pq_th", "pq_st", "sq", "rq", "miou")
    lines = [
        f"# {name}: UP-Fuse panoptic LiDAR-camera fusion (trained)",
        "",
        f"Files: `model.json` (architecture) + `weights.safetensors`; load with "
        f"`panoptic_perception.models.load_model('models/{name}')`.",
        "",
        "## Model",
        f"- architecture: UP-Fuse `{config.model.preset}` preset, fusion `{model.config.fusion}`, "
        f"range view {model.config.range_height}x{model.config.range_width}, {params:,} parameters",
        f"- camera input used in training: {'yes' if config.model.use_camera else 'no (LiDAR-only)'}; camera encoder "
        f"{encoder}",
    ]
    if model.config.instability_lidar_cue:
        lines.append("- instability MLP input: warped camera features and the cell's LiDAR features (consistency cue)")
    if model.config.tracking_head:
        lines.append(f"- MOPT tracking head: mask pooling of the 3D mask head's per-point features, "
                     f"FC {model.config.tracking_hidden} -> FC {model.config.association_dim} x "
                     f"{len(model.config.thing_class_ids)} thing classes, one unit association vector per instance")
    lines += [
        "",
        "## Training data (synthetic world, `panoptic_datasets.world`)",
        f"- rig `{data['rig']}`, split `{data['split']}`, sequence seeds {data['seeds']}: {data['sequences']} sequences x "
        f"{config.data.frames_per_sequence} frames = {data['frames']} frames",
        f"- light per sequence: {lights}; dynamic share {data['dynamic_share']}",
        f"- augmentation: yaw +-{config.data.rotate_z_deg:g} deg (composed into T_cam_lidar), "
        f"y-mirror p={config.data.flip_y_prob:g} "
        f"(image and K mirrored), camera corruptions (`augment_camera`) {'on' if t.camera_augmentation else 'off'}"
        + (f", calibration drift up to {t.extrinsic_drift_deg:g} deg on the corrupted pass"
           + ("" if t.drift_panoptic_input else " (drift for the instability heads only)") if t.extrinsic_drift_deg > 0 else "")
        + ("" if not t.camera_augmentation or t.corrupt_panoptic_input
           else " (instability heads only: the panoptic loss sees the clean input)"),
        "",
        "## Training",
        f"- {summary.get('checkpoint_step', t.steps)} steps x batch {t.batch_size} x {summary.get('world_size', 1)} process(es), "
        f"AdamW lr {config.optim.lr:g} (warm-up {config.optim.warmup_steps}, poly {config.optim.poly_power:g}), "
        f"weight decay {config.optim.weight_decay:g}, seed {t.seed}",
        f"- losses: set loss (CE + mask BCE + dice over all decoder layers, {t.loss_points} points per mask)"
        + (f" + {t.instability_weight:g} x instability loss (Huber, delta 1)" if joint_instability else ""),
        f"- wall time: {summary.get('wall_seconds', float('nan')):.0f} s on the 2-core CPU dev machine "
        f"({t.threads} torch threads); final loss (mean of last 50 steps) {summary.get('final_loss', float('nan')):.3f}",
    ]
    if config.model.init_weights:
        lines.append(f"- fine-tuned from `{config.model.init_weights}`: its weights at lr x "
                     f"{config.optim.pretrained_lr_scale:g}, new parts from scratch at the full lr")
    if t.tracking_window:
        lines.append(f"- tracking: {t.batch_size} mini-sequence(s) of {t.tracking_window} consecutive frames per step; "
                     f"+ {t.triplet_weight:g} x batch-hard triplet loss (margin {t.triplet_margin:g}) over instance vectors "
                     f"pooled under ground-truth masks (instances of >= {t.triplet_min_points} points)")
    if metrics:
        lines += ["", "## Measured (held-out test split)", "", f"{metrics.get('description', '')}", "",
                  "| row | PQ | PQ_th | PQ_st | SQ | RQ | mIoU |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in metrics.get("rows", []):
            lines.append(f"| {row['name']} | " + " | ".join(f"{100 * row[k]:.1f}" for k in keys) + " |")
        report = metrics.get("report", "docs/upfuse_results.md")
        lines += ["", f"Reproduce: `{metrics.get('command', '')}`; full table: `{report}`."]
    lines += ["", "## Limits",
              "- a tiny CPU model trained briefly on synthetic data only; not validated on real sensors.",
              "- see `docs/upfuse.md` for where the architecture departs from the paper."]
    path = directory / CARD_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def export_run(run_dir: str | Path, name: str, models_dir: str | Path = "models", metrics_path: str | Path | None = None) -> Path:
    """Write ``<models_dir>/<name>/{model.json, weights.safetensors, MODEL_CARD.md}`` from a run."""
    model, config, summary = model_from_run(run_dir)
    metadata = {
        "name": name,
        "training_run": str(run_dir),
        "steps": str(summary["checkpoint_step"]),
        "use_camera": str(config.model.use_camera).lower(),
        "train_frames": str(config.data.num_sequences * config.data.frames_per_sequence),
        "wall_seconds": str(summary.get("wall_seconds", "")),
    }
    directory = save_model(model, Path(models_dir) / name, metadata)
    metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else None
    write_model_card(directory, name, model, config, summary, metrics)
    return directory
