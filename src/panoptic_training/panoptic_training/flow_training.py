"""Flow update operator training (``train.task: flow``) on the shared trainer loop, and its export.

Only what differs from UP-Fuse lives here (model, frame-pair data, loss); the loop, learning-rate
schedule, checkpoints, resume, CSV log and ``run.json`` are ``Trainer``'s. Single process.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from panoptic_perception.models import save_model
from panoptic_perception.models.update_operator import UpdateOperator, UpdateOperatorConfig

from .checkpoint import load_model_weights
from .config import LIGHT_NAMES, ExperimentConfig
from .data import scene_for_seed, sequence_seeds
from .errors import TrainingConfigError
from .flow_data import FlowBatch, FlowPairDataset, collate_pairs, flow_rig, mirror_pair
from .flow_loss import FlowLossWeights, flow_sequence_loss
from .trainer import Trainer, newest_run_checkpoint

FLOW_LOG_FIELDS = ("step", "epoch", "loss", "loss_flow", "loss_confidence", "loss_dynamic", "epe", "lr", "seconds")
CARD_FILE = "MODEL_CARD.md"


def build_flow_config(config: ExperimentConfig) -> UpdateOperatorConfig:
    """Defaults, then ``input_width`` = the training image width, then ``model.architecture`` overrides."""
    width = next(iter(flow_rig(config.data).cameras.values())).width
    fields = UpdateOperatorConfig().to_dict() | {"input_width": width} | dict(config.model.architecture)
    try:
        return UpdateOperatorConfig.from_dict(fields, source="model.architecture")
    except ValueError as err:
        raise TrainingConfigError(str(err)) from err


class FlowTrainer(Trainer):
    log_fields = FLOW_LOG_FIELDS

    def __init__(self, config: ExperimentConfig, resume: bool = False, progress: bool = True) -> None:
        self._start_single_process(config, "flow", progress)
        cfg = config.train
        self.dataset = FlowPairDataset(config.data, generate=True, progress=progress)
        self.model_config = build_flow_config(config)
        self.model = UpdateOperator(self.model_config)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        self.loss_weights = FlowLossWeights.from_overrides(cfg.loss_weights)
        self._finish_single_process(resume)

    def make_batch(self, step: int) -> FlowBatch:
        return collate_pairs(self._mirrored_samples(step, mirror_pair))

    def flow_loss(self, batch: FlowBatch) -> dict[str, torch.Tensor]:
        pred = self.model(batch.img0, batch.img1, all_iterations=True)
        return flow_sequence_loss(pred, batch.flow, batch.valid, batch.dynamic, self.loss_weights)

    def train_step(self, step: int) -> dict[str, float]:
        return self._single_process_step(step, self.flow_loss)


def flow_model_from_run(run_dir: str | Path) -> tuple[UpdateOperator, ExperimentConfig, dict[str, Any]]:
    """The trained update operator of a run (its newest checkpoint), its config and ``run.json`` (+ checkpoint step)."""
    run_dir = Path(run_dir)
    config, checkpoint = newest_run_checkpoint(run_dir, "flow", "flow model")
    model = UpdateOperator(build_flow_config(config))
    model.load_state_dict(load_model_weights(checkpoint), strict=True)
    summary_path = run_dir / "run.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["checkpoint_step"] = int(checkpoint.name.split("_")[-1])
    return model.eval(), config, summary


def write_flow_model_card(directory: Path, name: str, model: UpdateOperator, config: ExperimentConfig,
                          summary: dict[str, Any], metrics: dict[str, Any] | None) -> Path:
    seeds = sequence_seeds(config.data)
    lights = Counter(scene_for_seed(s, config.data).light for s in seeds)
    cam = next(iter(flow_rig(config.data).cameras.values()))
    mc, t, o = model.config, config.train, config.optim
    w = FlowLossWeights.from_overrides(t.loss_weights)
    lines = [
        f"# {name}: PVO-style learned flow update operator (trained)",
        "",
        f"Files: `model.json` + `weights.safetensors`; load with `panoptic_perception.models.load_model('models/{name}', "
        "architecture='update_operator')`, or use it as a flow front end: "
        f"`panoptic_perception.odometry.make_flow_estimator('learned')`.",
        "",
        "## Model",
        f"- residual encoder (stem {mc.stem}, widths {list(mc.widths)}), strides 8-32 fused at 1/8, {mc.feature_dim}-d matching "
        f"features, correlation pyramid {mc.corr_levels} levels radius {mc.corr_radius}, ConvGRU hidden {mc.hidden_dim}, "
        f"{mc.iterations} iterations, convex upsampling; {sum(p.numel() for p in model.parameters()):,} parameters",
        f"- outputs: flow [px], confidence (P(EPE < {w.confidence_px:g} px)), dynamic mask (P(moving object))",
        f"- trained at {cam.width}x{cam.height} (`input_width` {mc.input_width}: `LearnedFlow` resizes inputs to this width)",
        "",
        "## Training data (synthetic world, `panoptic_datasets.world`)",
        f"- rig `{config.data.rig}` camera(s) rendered at scale {config.data.image_scale:g} ({cam.width}x{cam.height}), "
        f"split `{config.data.split}`, seeds {seeds[0]}-{seeds[-1]}: {len(seeds)} sequences x "
        f"{config.data.frames_per_sequence} consecutive pairs = {len(seeds) * config.data.frames_per_sequence} pairs per camera",
        f"- light per sequence: {', '.join(f'{k} {lights.get(k, 0)}' for k in LIGHT_NAMES)}; dynamic share "
        f"{config.data.dynamic_share_range[0]:g}-{config.data.dynamic_share_range[1]:g}; "
        f"left-right mirror p={config.data.flip_y_prob:g}",
        "",
        "## Training",
        f"- {summary.get('checkpoint_step', t.steps)} steps x batch {t.batch_size}, AdamW lr {o.lr:g} (warm-up {o.warmup_steps}, "
        f"poly {o.poly_power:g}), weight decay {o.weight_decay:g}, grad clip {o.grad_clip:g}, seed {t.seed}",
        f"- losses: flow L1 (gamma {w.gamma:g} over iterations, |flow| < {w.max_flow:g} px) + {w.confidence:g} x confidence "
        f"BCE + {w.dynamic:g} x dynamic-mask BCE (positives x {w.dynamic_pos_weight:g})",
        f"- wall time: {summary.get('wall_seconds', float('nan')):.0f} s on the shared 2-core CPU dev machine ({t.threads} torch "
        f"thread(s)); final loss (mean of last 50 steps) {summary.get('final_loss', float('nan')):.3f}",
    ]
    if metrics:
        lines += ["", "## Measured (held-out test split)", "", metrics.get("description", ""), "",
                  *metrics.get("table", []), "", f"Reproduce: `{metrics.get('command', '')}`; see `docs/odometry.md`."]
    lines += ["", "## Limits", "- a small CPU model trained briefly on synthetic frames only; not validated on real images."]
    path = directory / CARD_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def export_flow_run(run_dir: str | Path, name: str, models_dir: str | Path = "models",
                    metrics_path: str | Path | None = None) -> Path:
    """Write ``<models_dir>/<name>/{model.json, weights.safetensors, MODEL_CARD.md}`` from a flow run."""
    model, config, summary = flow_model_from_run(run_dir)
    metadata = {"name": name, "training_run": str(run_dir), "steps": str(summary["checkpoint_step"]),
                "train_pairs": str(len(sequence_seeds(config.data)) * config.data.frames_per_sequence
                                   * len(flow_rig(config.data).cameras)),
                "wall_seconds": str(summary.get("wall_seconds", ""))}
    directory = save_model(model, Path(models_dir) / name, metadata)
    metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else None
    write_flow_model_card(directory, name, model, config, summary, metrics)
    return directory
