"""DeepDPS training on the tiny rig: camera data (sparse LiDAR depth, mirroring, label grid), the trainer,
export to the runtime format, and the evaluation's metrics on a perfect prediction."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from panoptic_perception.core import CameraModel
from panoptic_perception.models import load_model
from panoptic_training.config import load_config
from panoptic_training.deepdps_data import (
    CameraDepthDataset,
    collate_camera,
    lidar_depth_image,
    mirror_camera_sample,
)
from panoptic_training.deepdps_export import export_deepdps_run
from panoptic_training.deepdps_train import DeepDPSTrainer, deepdps_from_run
from panoptic_training.errors import TrainingConfigError
from panoptic_training.evaluate_deepdps import ModelScores

SMOKE = Path(__file__).resolve().parents[1] / "config" / "deepdps_tiny_smoke.yaml"


@pytest.fixture(scope="module")
def camera_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("deepdps_cache")
    CameraDepthDataset(load_config(SMOKE, [f"data.cache_dir={cache}"]).data, progress=False)
    return cache


def smoke_config(cache: Path, out: Path, *overrides: str):
    return load_config(SMOKE, [f"data.cache_dir={cache}", f"train.out_dir={out}", *overrides])


def test_lidar_depth_keeps_the_nearest_return_per_pixel_and_drops_points_outside():
    K = np.array([[10.0, 0.0, 2.0], [0.0, 10.0, 1.0], [0.0, 0.0, 1.0]])
    camera = CameraModel("c", 5, 3, K, np.eye(4))  # camera frame = LiDAR frame
    points = np.array([[0.0, 0.0, 10.0, 0], [0.0, 0.0, 5.0, 0], [0.4, 0.2, 4.0, 0], [50.0, 0.0, 1.0, 0], [0, 0, -3.0, 0]])
    depth = lidar_depth_image(points, camera)
    expected = np.zeros((3, 5), np.float32)
    expected[1, 2] = 5.0  # two returns on the principal point: the nearer
    expected[1 + 1, 2 + 1] = 4.0  # (0.4, 0.2) / 4 * 10 + (2, 1) = (3, 1.5) -> rounds to (3, 2)
    np.testing.assert_array_equal(depth, expected)


def test_mirroring_flips_every_map_and_the_principal_point(camera_cache):
    sample = CameraDepthDataset(load_config(SMOKE, [f"data.cache_dir={camera_cache}"]).data, generate=False)[0]
    mirrored = mirror_camera_sample(sample)
    width = sample["images"].shape[1]
    for key in ("images", "semantic", "instance", "depth", "lidar_depth"):
        np.testing.assert_array_equal(mirrored[key][:, 0], sample[key][:, width - 1])
    assert mirrored["K"][0, 2] == pytest.approx(width - 1 - sample["K"][0, 2])
    back = mirror_camera_sample(mirrored)
    assert all(np.array_equal(back[k], sample[k]) for k in sample)


def test_collating_on_a_label_grid_samples_ids_at_cell_centres_and_averages_valid_depths():
    depth = np.zeros((4, 4), np.float16)
    depth[0, 0], depth[0, 1], depth[1, 1] = 2.0, 4.0, 6.0  # cell (0, 0): mean of 3 valid values; cell (0, 1): none
    semantic = np.arange(16, dtype=np.uint8).reshape(4, 4)
    sample = {"images": np.zeros((4, 4, 3), np.uint8), "semantic": semantic, "instance": semantic.astype(np.uint32),
              "depth": depth, "lidar_depth": depth}
    batch = collate_camera([sample], label_stride=2)
    assert batch.images.shape == (1, 3, 4, 4)
    np.testing.assert_array_equal(batch.semantic[0].numpy(), semantic[1::2, 1::2])
    assert batch.depth[0, 0, 0].item() == pytest.approx(4.0) and batch.depth[0, 0, 1].item() == 0.0


def read_log(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def test_training_lowers_the_loss_and_exports_what_the_runtime_loads(camera_cache, tmp_path):
    config = smoke_config(camera_cache, tmp_path / "run", "train.steps=16", "train.checkpoint_every=8")
    summary = DeepDPSTrainer(config, progress=False).run()
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 17)) and summary.steps == 16
    first, last = np.mean([r["loss"] for r in rows[:3]]), np.mean([r["loss"] for r in rows[-3:]])
    assert last < 0.85 * first
    assert all(r["loss_depth_lidar"] > 0 and r["loss_s2d"] >= 0 for r in rows)  # depth_supervision: both
    model, _, step = deepdps_from_run(tmp_path / "run")
    directory = export_deepdps_run(tmp_path / "run", "tiny_deepdps", tmp_path / "models")
    loaded = load_model(directory, architecture="deepdps")
    image = torch.rand(1, 3, 64, 160)
    a, b = model.predict(image)[0], loaded.predict(image)[0]
    assert step == 16 and torch.equal(a.class_id, b.class_id) and torch.allclose(a.depth, b.depth)
    card = (directory / "MODEL_CARD.md").read_text()
    assert "16 steps x batch 1" in card and "rig `tiny`" in card


def test_the_no_backup_ablation_trains_without_semantic_head_or_backup_depth_terms(camera_cache, tmp_path):
    config = smoke_config(camera_cache, tmp_path / "run", "train.steps=2", "model.architecture.backup_query=false",
                          "train.loss_weights.s2d=0", "train.loss_weights.d2s=0")
    trainer = DeepDPSTrainer(config, progress=False)
    trainer.run()
    rows = read_log(tmp_path / "run" / "log.csv")
    assert all(r["loss_semantic"] == 0 and r["loss_depth_backup"] == 0 for r in rows)
    assert trainer.criterion.weights.s2d == 0 and trainer.criterion.weights.d2s == 0
    assert not trainer.model.config.backup_query


def test_bad_deepdps_settings_are_clear_errors(camera_cache, tmp_path):
    with pytest.raises(TrainingConfigError, match="depth_supervision"):
        smoke_config(camera_cache, tmp_path, "train.depth_supervision=stereo")
    with pytest.raises(TrainingConfigError, match="unknown"):
        DeepDPSTrainer(smoke_config(camera_cache, tmp_path, "train.loss_weights.gravity=1"), progress=False)
    with pytest.raises(TrainingConfigError, match="task: deepdps"):
        DeepDPSTrainer(smoke_config(camera_cache, tmp_path, "train.task=panoptic"), progress=False)


def test_a_perfect_prediction_scores_full_dpq_pq_and_zero_depth_error():
    rng = np.random.default_rng(0)
    semantic = rng.integers(9, 12, size=(8, 10)).astype(np.uint8)  # stuff classes
    semantic[2:5, 2:6] = 1  # a car
    instance = np.where(semantic == 1, 7, 0).astype(np.uint32)
    depth = rng.uniform(2, 60, size=(8, 10)).astype(np.float16)
    sample = {"semantic": semantic, "instance": instance, "depth": depth, "lidar_depth": depth}
    prediction = SimpleNamespace(class_id=torch.from_numpy(semantic.astype(np.int64)),
                                 instance_id=torch.from_numpy(instance.astype(np.int64)),
                                 depth=torch.from_numpy(depth.astype(np.float32)))
    scores = ModelScores()
    scores.add(prediction, sample, 0.01)
    row = scores.row("perfect", {})
    assert row["dpq"] == row["dpq_0.1"] == row["pq"] == pytest.approx(1.0)
    assert row["abs_rel"] == pytest.approx(0.0, abs=1e-6) and row["delta1"] == 1.0
    prediction.depth = prediction.depth * 1.2  # every pixel 20 % too far: void at lambda 0.1, kept at 0.25 and 0.5
    scores = ModelScores()
    scores.add(prediction, sample, 0.01)
    row = scores.row("far", {})
    assert row["dpq_0.1"] == 0.0 and row["dpq_0.25"] == row["dpq_0.5"] == pytest.approx(1.0)
    assert row["dpq"] == pytest.approx(2 / 3) and row["abs_rel"] == pytest.approx(0.2, rel=1e-3)
