"""DeepDPS training (``train.task: deepdps``): camera frames -> panoptic + depth losses, on the shared trainer loop.

Only the parts that differ from UP-Fuse are here (model, data, loss); the loop, learning-rate
schedule, checkpoints, resume, CSV log and ``run.json`` are ``Trainer``'s. Single process.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from panoptic_perception.models.deepdps import DeepDPS, DeepDPSConfig, DeepDPSCriterion, LossWeights
from panoptic_perception.models.deepdps.losses import scale_invariant_log_loss

from .checkpoint import load_model_weights
from .config import ExperimentConfig, ModelConfig
from .deepdps_data import CameraBatch, CameraDepthDataset, collate_camera, mirror_camera_sample
from .errors import TrainingConfigError
from .trainer import Trainer, newest_run_checkpoint

DEEPDPS_LOG_FIELDS = ("step", "epoch", "loss", "loss_ce", "loss_mask", "loss_dice", "loss_semantic", "loss_depth",
                      "loss_depth_backup", "loss_depth_lidar", "loss_s2d", "loss_d2s", "lr", "seconds")


def build_deepdps_config(model: ModelConfig) -> DeepDPSConfig:
    """The DeepDPSConfig of a training config: preset, then ``architecture`` overrides."""
    base = DeepDPSConfig.cpu_default() if model.preset == "cpu_default" else DeepDPSConfig.gpu_large()
    return DeepDPSConfig.from_dict(base.to_dict() | dict(model.architecture), source="model.architecture")


def build_loss_weights(overrides: dict) -> LossWeights:
    known = {f.name for f in dataclasses.fields(LossWeights)}
    unknown = set(overrides) - known
    if unknown:
        raise TrainingConfigError(f"train.loss_weights: unknown {sorted(unknown)}; known: {sorted(known)}")
    try:
        return LossWeights(**{k: float(v) for k, v in overrides.items()})
    except (TypeError, ValueError) as err:
        raise TrainingConfigError(f"train.loss_weights: {err}") from err


class DeepDPSTrainer(Trainer):
    log_fields = DEEPDPS_LOG_FIELDS

    def __init__(self, config: ExperimentConfig, resume: bool = False, progress: bool = True) -> None:
        self._start_single_process(config, "deepdps", progress)
        cfg = config.train
        self.dataset = CameraDepthDataset(config.data, generate=True, progress=progress)
        self.model_config = build_deepdps_config(config.model)
        self.model = DeepDPS(self.model_config)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        self.criterion = DeepDPSCriterion(
            self.model_config.num_classes, self.model_config.thing_class_ids, self.model_config.max_depth,
            build_loss_weights(cfg.loss_weights), num_points=cfg.loss_points, backup_query=self.model_config.backup_query,
        )
        self._finish_single_process(resume)

    def make_batch(self, step: int) -> CameraBatch:
        return collate_camera(self._mirrored_samples(step, mirror_camera_sample), self.config.train.label_stride)

    def deepdps_loss(self, batch: CameraBatch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        mode = self.config.train.depth_supervision
        target = batch.lidar_depth if mode == "lidar" else batch.depth
        out = self.model(batch.images)
        losses = self.criterion(out, batch.semantic, batch.instance, target, generator)
        losses["loss_depth_lidar"] = torch.zeros(())
        if mode == "both":  # the projected sweep as a second, sparse target of the same mixture depth
            up = F.interpolate(out.depth[:, None], size=target.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            valid = (batch.lidar_depth > 0) & (batch.lidar_depth <= self.model_config.max_depth)
            term = scale_invariant_log_loss(up, batch.lidar_depth, valid, self.criterion.silog_lambda)
            losses["loss_depth_lidar"] = term
            losses["loss"] = losses["loss"] + self.criterion.weights.depth * term
        return losses

    def train_step(self, step: int) -> dict[str, float]:
        seed = int(np.random.default_rng([self.config.train.seed, step, 0, 2]).integers(2**62))
        return self._single_process_step(step, lambda batch: self.deepdps_loss(batch, torch.Generator().manual_seed(seed)))


def deepdps_from_run(run_dir: str | Path) -> tuple[DeepDPS, ExperimentConfig, int]:
    """The trained DeepDPS of a run (its newest checkpoint), its config and the checkpoint's step."""
    run_dir = Path(run_dir)
    config, checkpoint = newest_run_checkpoint(run_dir, "deepdps", "DeepDPS model")
    model = DeepDPS(build_deepdps_config(config.model))
    model.load_state_dict(load_model_weights(checkpoint), strict=True)
    return model.eval(), config, int(checkpoint.name.split("_")[-1])
