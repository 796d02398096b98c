"""Config-driven trainer: camera pre-training and UP-Fuse panoptic training, single or multi process.

Multi-process data parallel runs under ``torchrun`` (``python -m torch.distributed.run
--nproc_per_node 2 -m panoptic_training.cli train CONFIG``): DistributedDataParallel with the gloo
backend on CPU. Every random draw of a step (sample order, augmentation, camera corruption, loss
point sampling) comes from generators seeded by (seed, step, rank), so a resumed run continues
exactly where the checkpoint left it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from panoptic_perception.models import (
    SetCriterion,
    UPFuse,
    UPFuseBatch,
    UPFuseConfig,
    UPFuseOutput,
    augment_camera,
    build_targets,
    instability_loss,
)

from .augmentation import augment_sample, random_extrinsic_drift
from .camera_pretrain import ENCODER_PREFIX, CameraSemanticModel, camera_semantic_loss
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import ExperimentConfig, ModelConfig, load_config
from .data import SyntheticPanopticDataset, TrainBatch, collate_samples, sequence_windows
from .errors import CheckpointError, TrainingConfigError
from .finetune import group_lr, load_init_weights, parameter_groups
from .tracking_loss import window_batches, window_triplet_loss

LOG_FIELDS = ("step", "epoch", "loss", "loss_ce", "loss_mask", "loss_dice", "loss_instability", "loss_triplet",
              "triplet_anchors", "lr", "seconds")
CAMERA_ENCODER_FILE = "camera_encoder.safetensors"


def build_model_config(model: ModelConfig) -> UPFuseConfig:
    """The UPFuseConfig of a training config: preset, then ``fusion``, then ``architecture`` overrides."""
    base = UPFuseConfig.cpu_default() if model.preset == "cpu_default" else UPFuseConfig.gpu_large()
    fields = base.to_dict() | {"fusion": model.fusion} | dict(model.architecture)
    return UPFuseConfig.from_dict(fields, source="model.architecture")


def load_camera_encoder(model: nn.Module, path: str | Path) -> None:
    """Load ``camera_encoder.*`` weights from a pre-training run into ``model.camera_encoder``."""
    path = Path(path)
    if not path.exists():
        raise TrainingConfigError(f"model.camera_encoder_weights: {path} does not exist (run camera pre-training first)")
    state = load_file(str(path))
    encoder_state = {k[len(ENCODER_PREFIX):]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
    try:
        model.camera_encoder.load_state_dict(encoder_state, strict=True)
    except RuntimeError as err:
        raise TrainingConfigError(f"model.camera_encoder_weights: {path} does not fit the camera encoder: {err}") from err


def corrupt_images(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``augment_camera`` on every (B, M) image; the histogram reference is the next image of the batch."""
    flat = images.flatten(0, 1)
    out = [augment_camera(img, generator, flat[(i + 1) % len(flat)] if len(flat) > 1 else None)[0] for i, img in enumerate(flat)]
    return torch.stack(out).view_as(images)


def newest_run_checkpoint(run_dir: Path, task: str, what: str) -> tuple[ExperimentConfig, Path]:
    """The config of a ``train.task: task`` run and its newest checkpoint; ``what`` names the model in errors."""
    config = load_config(run_dir / "config.yaml")
    if config.train.task != task:
        raise CheckpointError(f"{run_dir}: a {config.train.task!r} run holds no {what}")
    checkpoint = latest_checkpoint(run_dir / "checkpoints")
    if checkpoint is None:
        raise CheckpointError(f"{run_dir}: no checkpoint")
    return config, checkpoint


def learning_rate(step: int, base: float, warmup: int, total: int, power: float) -> float:
    """Linear warm-up, then polynomial decay to 0 at ``total`` steps."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return base * warm * max(0.0, 1.0 - step / total) ** power


@dataclass
class RunSummary:
    task: str
    steps: int
    wall_seconds: float
    world_size: int
    frames: int
    final_loss: float
    out_dir: str


class Trainer:
    log_fields: tuple[str, ...] = LOG_FIELDS

    def __init__(self, config: ExperimentConfig, resume: bool = False, progress: bool = True) -> None:
        self.config = config
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.distributed = self.world_size > 1
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("gloo")
        self.rank = dist.get_rank() if self.distributed else 0
        self.is_main = self.rank == 0
        self.progress = progress and self.is_main
        cfg = config.train
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.out = Path(cfg.out_dir)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            config.write(self.out / "config.yaml")
        if self.is_main:
            self.dataset = SyntheticPanopticDataset(config.data, generate=True, progress=self.progress)
        self._barrier()
        if not self.is_main:
            self.dataset = SyntheticPanopticDataset(config.data, generate=False)
        self.model_config = build_model_config(config.model)
        self.pretrained: set[str] = set()
        self.model = self._build_model()
        self.windows = sequence_windows(config.data, cfg.tracking_window) if cfg.tracking_window else []
        if self.windows and not self.model_config.tracking_head:
            raise TrainingConfigError("train.tracking_window needs model.architecture.tracking_head: true")
        if config.model.freeze_pretrained and not self.windows:
            raise TrainingConfigError("model.freeze_pretrained trains only the tracking head: it needs train.tracking_window")
        groups = parameter_groups(self.model, self.pretrained, config.optim.pretrained_lr_scale)
        self.optimizer = torch.optim.AdamW(groups, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        self.criterion = SetCriterion(self.model_config.num_classes, num_points=cfg.loss_points)
        self.step = 0
        self.seconds_before = 0.0
        if resume:
            self._resume()
        self.ddp: nn.Module = (
            DistributedDataParallel(self.model, find_unused_parameters=True) if self.distributed else self.model
        )

    # -- setup -------------------------------------------------------------------------------------------------
    def _start_single_process(self, config: ExperimentConfig, task: str, progress: bool) -> None:
        """The common start of the trainers of other tasks (``deepdps``, ``flow``), which run in one process."""
        if config.train.task != task:
            raise TrainingConfigError(f"{type(self).__name__} needs train.task: {task}, got {config.train.task!r}")
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TrainingConfigError(f"{task} training runs in a single process")
        self.config = config
        self.world_size, self.distributed, self.rank, self.is_main = 1, False, 0, True
        self.progress = progress
        torch.set_num_threads(config.train.threads)
        torch.manual_seed(config.train.seed)
        self.out = Path(config.train.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        config.write(self.out / "config.yaml")

    def _finish_single_process(self, resume: bool) -> None:
        """The common end of those trainers' start: a fresh step count, or the newest checkpoint with ``resume``."""
        self.step = 0
        self.seconds_before = 0.0
        if resume:
            self._resume()
        self.ddp = self.model

    def _mirrored_samples(self, step: int, mirror: Any) -> list[Any]:
        """The step's samples, each mirrored (``mirror(sample)``) with probability ``data.flip_y_prob``."""
        rng = np.random.default_rng([self.config.train.seed, step, 0, 1])
        samples = [self.dataset[i] for i in self.batch_indices(step)]
        return [mirror(sample) if rng.random() < self.config.data.flip_y_prob else sample for sample in samples]

    def _single_process_step(self, step: int, loss_of: Any) -> dict[str, float]:
        """One optimiser step of a single-process trainer: ``loss_of(batch)`` gives the loss dict (key ``loss``)."""
        ocfg, tcfg = self.config.optim, self.config.train
        lr = learning_rate(step, ocfg.lr, ocfg.warmup_steps, tcfg.steps, ocfg.poly_power)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        losses = loss_of(self.make_batch(step))
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), ocfg.grad_clip)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()} | {"lr": lr}

    def _build_model(self) -> nn.Module:
        mcfg = self.config.model
        if self.config.train.task == "camera_pretrain":
            return CameraSemanticModel(self.model_config)
        model = UPFuse(self.model_config)
        if mcfg.init_weights:
            self.pretrained = load_init_weights(model, mcfg.init_weights)
            if mcfg.freeze_pretrained:
                for name, p in model.named_parameters():
                    p.requires_grad_(name not in self.pretrained)
        if mcfg.camera_encoder_weights:
            load_camera_encoder(model, mcfg.camera_encoder_weights)
        if mcfg.freeze_camera_encoder:
            for p in model.camera_encoder.parameters():
                p.requires_grad_(False)
        return model

    def _resume(self) -> None:
        checkpoint = latest_checkpoint(self.out / "checkpoints")
        if checkpoint is None:
            raise CheckpointError(f"--resume: no checkpoint under {self.out / 'checkpoints'}")
        state = load_checkpoint(checkpoint, self.model, self.optimizer)
        self.step = int(state["step"])
        self.seconds_before = float(state.get("seconds", 0.0))
        log = self.out / "log.csv"
        if self.is_main and log.exists():  # drop rows logged after the checkpoint
            with log.open() as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= self.step]
            self._write_log(rows, mode="w")

    def _barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # -- data --------------------------------------------------------------------------------------------------
    def batch_indices(self, step: int) -> list[int]:
        """Sample indices of this rank at ``step``: an epoch-wise permutation read as one endless stream."""
        bs, n = self.config.train.batch_size, len(self.dataset)
        start = step * bs * self.world_size + self.rank * bs
        out = []
        for position in range(start, start + bs):
            epoch, offset = divmod(position, n)
            out.append(int(np.random.default_rng([self.config.train.seed, epoch]).permutation(n)[offset]))
        return out

    def frame_windows(self) -> list[int]:
        """With ``train.tracking_window``: the mini-sequence (0, 1, ...) of each frame of the step's batch."""
        cfg = self.config.train
        return [w for w in range(cfg.batch_size) for _ in range(cfg.tracking_window)] if self.windows else []

    def make_batch(self, step: int) -> TrainBatch:
        rng = np.random.default_rng([self.config.train.seed, step, self.rank, 1])
        cfg = self.config.train
        if self.windows:  # batch_size mini-sequences of tracking_window consecutive frames
            chosen = window_batches(self.windows, step, cfg.batch_size, cfg.seed, self.rank, self.world_size)
            indices = [i for window in chosen for i in window]
        else:
            indices = self.batch_indices(step)
        samples = [augment_sample(self.dataset[i], self.config.data, rng) for i in indices]
        return collate_samples(samples, self.model_config.range_spec, use_camera=self.config.model.use_camera)

    # -- steps -------------------------------------------------------------------------------------------------
    def _module(self) -> nn.Module:
        return self.ddp.module if isinstance(self.ddp, DistributedDataParallel) else self.ddp

    def panoptic_loss(self, batch: TrainBatch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config.train
        inputs: UPFuseBatch = batch.inputs
        corrupt = cfg.camera_augmentation and self.config.model.use_camera
        photometric = dataclasses.replace(inputs, images=corrupt_images(inputs.images, generator)) if corrupt else inputs
        corrupted = photometric
        if corrupt and cfg.extrinsic_drift_deg > 0:
            corrupted = dataclasses.replace(
                photometric, T_cam_lidar=random_extrinsic_drift(inputs.T_cam_lidar, cfg.extrinsic_drift_deg, generator))
        if not cfg.corrupt_panoptic_input:
            seen = inputs
        else:
            seen = corrupted if cfg.drift_panoptic_input else photometric
        out = self.ddp(seen)
        targets = [
            build_targets(batch.semantic[i], batch.instance[i], self.model_config.thing_class_ids, self.model_config.num_classes,
                          valid=inputs.point_valid[i])
            for i in range(batch.semantic.shape[0])
        ]
        losses = self.criterion(out.layers, targets, generator=generator)
        loss_inst = torch.zeros(())
        if out.instability is not None and corrupt and cfg.instability_weight > 0:
            terms = [instability_loss(*term) for term in self.instability_terms(out, inputs, seen, corrupted)]
            loss_inst = torch.stack(terms).mean()
        losses["loss_instability"] = loss_inst
        losses["loss"] = losses["loss"] + cfg.instability_weight * loss_inst
        if self.windows:
            triplet, anchors = window_triplet_loss(
                self._module().tracking_head, out.point_features, batch.semantic, batch.instance, inputs.point_valid,
                self.frame_windows(), self.model_config.thing_class_ids, cfg.triplet_margin, cfg.triplet_min_points, seen,
            )
            losses["loss_triplet"] = triplet
            losses["triplet_anchors"] = torch.tensor(float(anchors))
            losses["loss"] = losses["loss"] + cfg.triplet_weight * triplet
        return losses

    def instability_terms(self, out: UPFuseOutput, clean: UPFuseBatch, seen: UPFuseBatch,
                          corrupted: UPFuseBatch) -> list[tuple[torch.Tensor, ...]]:
        """Per scale (d of the corrupted features, F_orig, F_aug, mapped cells) for the instability loss.

        ``seen`` is the batch the forward ran on: the clean one, the corrupted one, or (with drift kept out of the
        panoptic input) the photometrically corrupted one without the drift.
        """
        shapes = [tuple(f.shape[-2:]) for f in out.camera_features]
        module = self._module()
        with torch.no_grad():  # the camera branch is frozen
            if seen is corrupted:  # the forward's d is already on the corrupted features: F_orig from a clean pass
                original = module.warp_camera(clean, shapes)
                return [(d, f_orig, f_aug, mask) for d, (f_orig, _), f_aug, mask in
                        zip(out.instability, original, out.camera_features, out.camera_masks, strict=True)]
            augmented = module.warp_camera(corrupted, shapes)
            originals = out.camera_features if seen is clean else [f for f, _ in module.warp_camera(clean, shapes)]
        # d predicted on F_aug; F_L detached: the instability loss trains the head, not the LiDAR encoder it reads as a cue
        return [(fusion.instability(f_aug, f_l.detach()), f_orig, f_aug, mask) for fusion, f_orig, f_l, (f_aug, mask) in
                zip(module.fusion, originals, out.lidar_features, augmented, strict=True)]

    def frozen_tracking_loss(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        """``model.freeze_pretrained``: the frozen network's features (clean images, no gradient) -> triplet loss of the head."""
        cfg = self.config.train
        with torch.no_grad():
            out = self._module()(batch.inputs)
        triplet, anchors = window_triplet_loss(
            self._module().tracking_head, out.point_features, batch.semantic, batch.instance, batch.inputs.point_valid,
            self.frame_windows(), self.model_config.thing_class_ids, cfg.triplet_margin, cfg.triplet_min_points,
            batch.inputs,
        )
        return {"loss": cfg.triplet_weight * triplet, "loss_triplet": triplet, "triplet_anchors": torch.tensor(float(anchors))}

    def camera_loss(self, batch: TrainBatch) -> dict[str, torch.Tensor]:
        logits = self.ddp(batch.inputs.images.flatten(0, 1))
        loss = camera_semantic_loss(logits, batch.camera_semantic.flatten(0, 1))
        return {"loss": loss, "loss_ce": loss}

    def train_step(self, step: int) -> dict[str, float]:
        ocfg, tcfg = self.config.optim, self.config.train
        lr = learning_rate(step, ocfg.lr, ocfg.warmup_steps, tcfg.steps, ocfg.poly_power)
        for group in self.optimizer.param_groups:
            group["lr"] = group_lr(group, lr)
        self.model.train()
        if isinstance(self.model, UPFuse) and self.config.model.freeze_camera_encoder:
            self.model.camera_encoder.eval()  # frozen: BatchNorm statistics stay those of pre-training
        frozen = isinstance(self.model, UPFuse) and self.config.model.freeze_pretrained
        if frozen:  # only the new head trains; the network keeps its statistics
            self.model.eval()
            self.model.tracking_head.train()
        batch = self.make_batch(step)
        generator = torch.Generator().manual_seed(int(np.random.default_rng([tcfg.seed, step, self.rank, 2]).integers(2**62)))
        if tcfg.task == "camera_pretrain":
            losses = self.camera_loss(batch)
        else:
            losses = self.frozen_tracking_loss(batch) if frozen else self.panoptic_loss(batch, generator)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], ocfg.grad_clip)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()} | {"lr": lr}

    # -- loop --------------------------------------------------------------------------------------------------
    def _write_log(self, rows: list[dict[str, Any]], mode: str = "a") -> None:
        path = self.out / "log.csv"
        new = mode == "w" or not path.exists()
        with path.open(mode if not new else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.log_fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def save(self, seconds: float) -> Path | None:
        if not self.is_main:
            return None
        extra = {"seconds": seconds, "epoch": self.step * self.config.train.batch_size * self.world_size / len(self.dataset),
                 "world_size": self.world_size}
        return save_checkpoint(self.out / "checkpoints", self.model, self.optimizer, self.step, extra)

    def rank_weight_difference(self) -> float:
        """Give every rank rank 0's buffers, then the largest |w - w_rank0| over all weights of all ranks (0 = in sync)."""
        if not self.distributed:
            return 0.0
        for buffer in self.model.buffers():  # BatchNorm statistics are per rank between DDP's broadcasts: take rank 0's
            dist.broadcast(buffer.data, 0)
        worst = torch.zeros(())
        for tensor in self.model.state_dict().values():
            reference = tensor.detach().clone()
            dist.broadcast(reference, 0)
            if tensor.numel():
                worst = torch.maximum(worst, (tensor.detach().double() - reference.double()).abs().max().float())
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return float(worst)

    def run(self, until: int | None = None) -> RunSummary:
        """Train to ``train.steps`` (or stop after step ``until``, checkpointing there, as an interruption would)."""
        cfg = self.config.train
        stop = cfg.steps if until is None else min(until, cfg.steps)
        start = time.perf_counter()
        window: dict[str, list[float]] = defaultdict(list)
        recent: list[float] = []
        bar = tqdm(total=cfg.steps, initial=self.step, desc=f"train {self.out.name}", unit="step", disable=not self.progress)
        while self.step < stop:
            values = self.train_step(self.step)
            self.step += 1
            for k, v in values.items():
                window[k].append(v)
            recent = (recent + [values["loss"]])[-50:]
            seconds = self.seconds_before + time.perf_counter() - start
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                row = {k: float(np.mean(v)) for k, v in window.items()}
                row |= {"step": self.step, "epoch": self.step * cfg.batch_size * self.world_size / len(self.dataset),
                        "seconds": round(seconds, 2), "lr": values["lr"]}
                if self.is_main:
                    self._write_log([row])
                window.clear()
                bar.set_postfix(loss=f"{row['loss']:.3f}")
            if self.step % cfg.checkpoint_every == 0 or self.step == stop:
                self.save(seconds)
            bar.update()
        bar.close()
        seconds = self.seconds_before + time.perf_counter() - start
        if self.is_main and cfg.task == "camera_pretrain" and self.step == cfg.steps:
            save_file(self.model.encoder_state(), str(self.out / CAMERA_ENCODER_FILE))
        summary = RunSummary(cfg.task, self.step, round(seconds, 1), self.world_size, len(self.dataset),
                             float(np.mean(recent)) if recent else float("nan"), str(self.out))
        difference = self.rank_weight_difference()
        if self.is_main:
            doc = dataclasses.asdict(summary) | {"rank_weight_max_abs_difference": difference}
            (self.out / "run.json").write_text(json.dumps(doc, indent=2) + "\n")
        self._barrier()
        return summary
