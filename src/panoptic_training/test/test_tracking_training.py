"""Training the MOPT tracking head: mini-sequence windows, ground-truth pooling, fine-tuning, a few-step run."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from panoptic_perception.models import UPFuse, load_model, save_model
from panoptic_training.config import load_config
from panoptic_training.data import ensure_cache, sequence_windows
from panoptic_training.errors import TrainingConfigError, TrainingDataError
from panoptic_training.export import export_run
from panoptic_training.finetune import attach_head, load_init_weights
from panoptic_training.tracking_loss import gt_instance_masks
from panoptic_training.trainer import Trainer, build_model_config

TRACKING_CONFIG = Path(__file__).resolve().parents[1] / "config" / "tiny_tracking_smoke.yaml"


@pytest.fixture(scope="module")
def tracking_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("tracking_cache")
    ensure_cache(load_config(TRACKING_CONFIG, [f"data.cache_dir={cache}"]).data, progress=False)
    return cache


def tracking_config(cache: Path, out: Path, *overrides: str):
    return load_config(TRACKING_CONFIG, [f"data.cache_dir={cache}", f"train.out_dir={out}", *overrides])


def test_windows_are_consecutive_frames_of_one_sequence():
    config = load_config(TRACKING_CONFIG, ["data.num_sequences=2", "data.frames_per_sequence=4"]).data
    assert sequence_windows(config, 3) == [[0, 1, 2], [1, 2, 3], [4, 5, 6], [5, 6, 7]]
    with pytest.raises(TrainingDataError, match="window of 5 frames"):
        sequence_windows(config, 5)
    with pytest.raises(TrainingConfigError, match="tracking_window"):
        load_config(TRACKING_CONFIG, ["train.tracking_window=1"])


def test_ground_truth_masks_are_the_thing_instances_with_enough_points():
    semantic = torch.tensor([1, 1, 1, 2, 2, 9, 9, 1, 1, 1])
    instance = torch.tensor([5, 5, 5, 5, 5, 0, 0, 6, 6, 0])
    valid = torch.ones(10, dtype=torch.bool)
    valid[8] = False
    masks, keys, classes = gt_instance_masks(semantic, instance, valid, (1, 2, 3), min_points=2)
    # car 5 (3 points), bicycle 5 (2 points) kept; car 6 has 1 valid point; road and instance 0 are not instances
    assert keys.tolist() == [(1 << 16) | 5, (2 << 16) | 5] and classes.tolist() == [1, 2]
    assert masks.tolist() == [[True] * 3 + [False] * 7, [False] * 3 + [True] * 2 + [False] * 5]


def test_a_few_steps_on_one_mini_sequence_lower_the_triplet_loss(tracking_cache, tmp_path):
    config = tracking_config(tracking_cache, tmp_path / "run", "train.steps=8", "train.triplet_weight=10.0",
                             "data.rotate_z_deg=0.0", "data.flip_y_prob=0.0", "train.camera_augmentation=false")
    summary = Trainer(config, progress=False).run()
    assert summary.steps == 8
    with (tmp_path / "run" / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    triplet = [float(r["loss_triplet"]) for r in rows]
    assert all(float(r["triplet_anchors"]) > 0 for r in rows)
    assert triplet[0] > 0.05 and min(triplet[-3:]) < 0.7 * triplet[0], triplet


def test_fine_tuning_starts_from_a_model_without_a_head_and_scales_the_pretrained_lr(tracking_cache, tmp_path):
    base = tracking_config(tracking_cache, tmp_path / "base", "model.architecture.tracking_head=false",
                           "train.tracking_window=0")
    torch.manual_seed(0)
    old = UPFuse(build_model_config(base.model))
    save_model(old, tmp_path / "old_model")
    config = tracking_config(tracking_cache, tmp_path / "ft", f"model.init_weights={tmp_path / 'old_model'}",
                             "optim.pretrained_lr_scale=0.1", "train.steps=1")
    trainer = Trainer(config, progress=False)
    for name, value in old.state_dict().items():
        assert torch.equal(trainer.model.state_dict()[name], value), name
    assert trainer.pretrained == set(old.state_dict()) and trainer.model.tracking_head is not None
    trainer.run()
    lrs = {group["lr_scale"]: group["lr"] for group in trainer.optimizer.param_groups}
    assert lrs[0.1] == pytest.approx(0.1 * lrs[1.0]) and lrs[1.0] > 0
    head = {id(p) for p in trainer.model.tracking_head.parameters()}
    assert {id(p) for p in trainer.optimizer.param_groups[0]["params"]} == head  # the new group is the head

    exported = export_run(tmp_path / "ft", "ft_model", tmp_path / "models")
    loaded = load_model(exported)
    assert loaded.config.tracking_head and "tracking" in (exported / "MODEL_CARD.md").read_text()

    other = UPFuse(build_model_config(base.model).__class__.from_dict(
        {**build_model_config(base.model).to_dict(), "mask_dim": 8, "mask_head_hidden": 8}))
    with pytest.raises(TrainingConfigError, match="does not fit"):
        load_init_weights(other, tmp_path / "old_model")


def test_a_frozen_network_trains_only_the_head_and_keeps_every_loaded_weight_and_statistic(tracking_cache, tmp_path):
    base = tracking_config(tracking_cache, tmp_path / "base", "model.architecture.tracking_head=false",
                           "train.tracking_window=0")
    torch.manual_seed(0)
    save_model(UPFuse(build_model_config(base.model)), tmp_path / "old_model")
    with pytest.raises(TrainingConfigError, match="freeze_pretrained needs model.init_weights"):
        tracking_config(tracking_cache, tmp_path / "x", "model.freeze_pretrained=true")
    config = tracking_config(tracking_cache, tmp_path / "frozen", f"model.init_weights={tmp_path / 'old_model'}",
                             "model.freeze_pretrained=true", "train.steps=3")
    trainer = Trainer(config, progress=False)
    head_before = {k: v.clone() for k, v in trainer.model.tracking_head.state_dict().items()}
    trainer.run()
    old = load_model(tmp_path / "old_model").state_dict()
    new = trainer.model.state_dict()
    for name, value in old.items():  # parameters and BatchNorm running statistics alike
        assert torch.equal(new[name], value), name
    assert any(not torch.equal(head_before[k], v) for k, v in trainer.model.tracking_head.state_dict().items())
    with (tmp_path / "frozen" / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["loss_ce"] == "" and float(rows[0]["loss_triplet"]) > 0

    shipped = tmp_path / "shipped"
    shutil.copytree(tmp_path / "old_model", shipped)
    attach_head(tmp_path / "frozen", shipped, onnx=False)
    attached = load_model(shipped)
    assert attached.tracking_head is not None
    for name, value in old.items():
        assert torch.equal(attached.state_dict()[name], value), name
    assert json.loads((shipped / "model.json").read_text())["metadata"]["tracking_head_steps"] == "3"
    torch.manual_seed(1)  # another network: its weights are not the run's
    save_model(UPFuse(build_model_config(base.model)), tmp_path / "other")
    with pytest.raises(TrainingConfigError, match="weights differ"):
        attach_head(tmp_path / "frozen", tmp_path / "other", onnx=False)
