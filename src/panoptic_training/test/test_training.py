"""Training runs end to end on the tiny config: loss goes down, resume is exact, export loads in the runtime."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from panoptic_perception.models import load_model
from panoptic_training.augmentation import random_extrinsic_drift
from panoptic_training.checkpoint import latest_checkpoint
from panoptic_training.data import collate_samples
from panoptic_training.errors import CheckpointError
from panoptic_training.export import export_run, model_from_run
from panoptic_training.trainer import Trainer, corrupt_images


def read_log(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def test_tiny_training_lowers_the_loss_and_logs_every_step(make_tiny_config):
    config = make_tiny_config("train.steps=12")
    summary = Trainer(config, progress=False).run()
    rows = read_log(Path(config.train.out_dir) / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    first, last = np.mean([r["loss"] for r in rows[:3]]), np.mean([r["loss"] for r in rows[-3:]])
    assert last < 0.9 * first
    assert all(r["loss_instability"] > 0 for r in rows)  # trained jointly with the set loss
    assert summary.steps == 12 and (Path(config.train.out_dir) / "config.yaml").exists()


@pytest.mark.parametrize("corrupt_panoptic_input", [True, False])
def test_the_instability_heads_learn_from_the_corrupted_image_whichever_image_the_panoptic_loss_sees(
        make_tiny_config, corrupt_panoptic_input):
    trainer = Trainer(make_tiny_config(f"train.corrupt_panoptic_input={str(corrupt_panoptic_input).lower()}"), progress=False)
    batch = trainer.make_batch(0)
    seen = []
    forward = trainer.ddp.forward
    trainer.ddp.forward = lambda inputs: seen.append(inputs.images) or forward(inputs)
    # augment_camera leaves half of the images clean: a seed that corrupts the tiny batch's image
    seed = next(s for s in range(100) if not torch.equal(corrupt_images(batch.inputs.images, torch.Generator().manual_seed(s)),
                                                        batch.inputs.images))
    losses = trainer.panoptic_loss(batch, torch.Generator().manual_seed(seed))
    losses["loss"].backward()

    assert len(seen) == 1 and torch.equal(seen[0], batch.inputs.images) is not corrupt_panoptic_input
    assert losses["loss_instability"] > 0
    heads = [p for fusion in trainer.model.fusion for p in fusion.instability.parameters()]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in heads)


@pytest.mark.parametrize("mode", ["train.corrupt_panoptic_input=false", "train.drift_panoptic_input=false"])
def test_extrinsic_drift_reaches_only_the_instability_pass_and_the_cue_head_learns_from_it(make_tiny_config, mode):
    trainer = Trainer(make_tiny_config(mode, "train.extrinsic_drift_deg=5", "model.architecture.instability_lidar_cue=true"),
                      progress=False)
    batch = trainer.make_batch(0)
    true_T = batch.inputs.T_cam_lidar

    def drift_drawn(seed: int) -> bool:  # the trainer's draws: image corruption first, then the drift
        g = torch.Generator().manual_seed(seed)
        corrupt_images(batch.inputs.images, g)
        return not torch.equal(random_extrinsic_drift(true_T, 5.0, g), true_T)

    warped = []
    warp = trainer.model.warp_camera
    trainer.model.warp_camera = lambda inputs, shapes: warped.append(inputs.T_cam_lidar) or warp(inputs, shapes)
    losses = trainer.panoptic_loss(batch, torch.Generator().manual_seed(next(s for s in range(100) if drift_drawn(s))))
    losses["loss"].backward()

    # the panoptic pass first (true calibration), then the instability pass (drifted), then with the corrupted
    # panoptic input the clean pass for F_orig (true calibration)
    assert len(warped) == (2 if "corrupt_panoptic" in mode else 3) and torch.equal(warped[0], true_T)
    assert not torch.equal(warped[1], true_T)
    assert all(torch.equal(T, true_T) for T in warped[2:])
    assert losses["loss_instability"] > 0
    for fusion in trainer.model.fusion:
        first = fusion.instability.mlp[0]
        lidar_columns = first.weight.grad[:, first.in_channels - fusion.instability.lidar_channels:]
        assert fusion.instability.lidar_channels > 0 and lidar_columns.abs().sum() > 0


def test_resumed_run_continues_from_the_checkpoint_step_with_identical_weights(make_tiny_config):
    straight = make_tiny_config("train.steps=4", out="straight")
    Trainer(straight, progress=False).run()
    interrupted = make_tiny_config("train.steps=4", "train.checkpoint_every=100", out="resumed")
    Trainer(interrupted, progress=False).run(until=2)
    resumed = Trainer(interrupted, resume=True, progress=False)
    assert resumed.step == 2
    resumed.run()
    a = load_file(str(latest_checkpoint(Path(straight.train.out_dir) / "checkpoints") / "model.safetensors"))
    b = load_file(str(latest_checkpoint(Path(interrupted.train.out_dir) / "checkpoints") / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [int(r["step"]) for r in read_log(Path(interrupted.train.out_dir) / "log.csv")] == [1, 2, 3, 4]


def test_resume_without_a_checkpoint_is_a_clear_error(make_tiny_config):
    with pytest.raises(CheckpointError, match="no checkpoint under"):
        Trainer(make_tiny_config(out="empty"), resume=True, progress=False)


def test_exported_model_loads_with_the_runtime_loader_and_predicts_identically(make_tiny_config, tmp_path):
    config = make_tiny_config("train.steps=2")
    trainer = Trainer(config, progress=False)
    trainer.run()
    directory = export_run(config.train.out_dir, "tiny", tmp_path / "models")
    assert sorted(p.name for p in directory.iterdir()) == ["MODEL_CARD.md", "model.json", "weights.safetensors"]
    loaded = load_model(directory)
    trained, _, _ = model_from_run(config.train.out_dir)
    batch = collate_samples([trainer.dataset[0]], loaded.config.range_spec).inputs
    with torch.no_grad():
        a, b = loaded(batch), trained(batch)
    assert torch.equal(a.class_logits, b.class_logits) and torch.equal(a.point_logits, b.point_logits)
    assert json.loads((directory / "model.json").read_text())["metadata"]["steps"] == "2"
    assert "2 steps x batch 1" in (directory / "MODEL_CARD.md").read_text()


def test_two_process_torchrun_keeps_both_ranks_weights_identical(tiny_cache, tiny_config_path, tmp_path):
    out = tmp_path / "ddp"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "panoptic_training.cli", "train", str(tiny_config_path), f"data.cache_dir={tiny_cache}",
               f"train.out_dir={out}", "train.steps=3", "--no-progress"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2 and run["steps"] == 3
    assert run["rank_weight_max_abs_difference"] == 0.0
    assert latest_checkpoint(out / "checkpoints").name == "step_000003"
    state = json.loads((out / "checkpoints" / "step_000003" / "state.json").read_text())
    assert state["world_size"] == 2 and state["epoch"] == 3.0  # 3 steps x 2 ranks x 1 sample over 2 frames
