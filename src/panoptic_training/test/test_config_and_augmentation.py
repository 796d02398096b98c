"""Config errors name the field; spatial augmentations keep LiDAR and camera consistent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panoptic_training.augmentation import flip_y, random_extrinsic_drift, rotate_z
from panoptic_training.config import apply_overrides, config_from_dict, load_config
from panoptic_training.errors import TrainingConfigError


def test_config_overrides_use_the_same_dotted_names_as_yaml(tiny_config_path):
    config = load_config(tiny_config_path, ["train.steps=7", "optim.lr=0.01", "model.architecture.num_queries=4"])
    assert config.train.steps == 7 and config.optim.lr == 0.01 and config.model.architecture["num_queries"] == 4
    assert config.to_dict()["train"]["steps"] == 7


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.stepz=3"], "unknown config field 'train.stepz'"),
        (["train.steps=many"], "train.steps: expected int"),
        (["train.steps"], "expected section.field=value"),
        (["trian.steps=3"], "section in data, model, optim, train"),
        (["train.task=detect"], "train.task must be one of panoptic, camera_pretrain"),
        (["data.light_weights=[1, 2]"], "data.light_weights needs 3"),
        (["model.use_camera=maybe"], "model.use_camera: expected true or false"),
        (["train.extrinsic_drift_deg=-1"], "train.extrinsic_drift_deg must be in"),
        (["train.extrinsic_drift_deg=5", "train.camera_augmentation=false"], "needs train.camera_augmentation"),
    ],
)
def test_bad_overrides_are_rejected_naming_the_field(tiny_config_path, overrides, message):
    with pytest.raises(TrainingConfigError, match=message):
        load_config(tiny_config_path, overrides)


def test_unknown_yaml_section_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(TrainingConfigError, match="unknown section 'trainer'"):
        config_from_dict({"trainer": {}}, source="x.yaml")
    with pytest.raises(TrainingConfigError, match="nope.yaml: cannot read config"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(TrainingConfigError, match="train.steps must be >= 1|train.steps, batch_size"):
        apply_overrides(config_from_dict({}), ["train.steps=0"])


def _sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
    K = np.array([[[100.0, 0.0, 40.3], [0.0, 100.0, 20.0], [0.0, 0.0, 1.0]]])
    T = np.eye(4)[None].copy()
    T[0, :3, :3] = [[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]
    T[0, :3, 3] = [0.1, -0.2, 0.3]
    points = np.concatenate([rng.uniform([4, -3, -1], [20, 3, 1], (200, 3)), rng.uniform(0, 1, (200, 1))], 1)
    return {"points": points.astype(np.float32), "K": K, "T_cam_lidar": T,
            "images": rng.integers(0, 255, (1, 40, 80, 3), dtype=np.uint8),
            "camera_semantic": rng.integers(0, 19, (1, 40, 80), dtype=np.uint8)}


def _project(sample: dict[str, np.ndarray]) -> np.ndarray:
    cam = sample["points"][:, :3].astype(np.float64) @ sample["T_cam_lidar"][0, :3, :3].T + sample["T_cam_lidar"][0, :3, 3]
    uv = cam[:, :2] / cam[:, 2:]
    return uv * np.diag(sample["K"][0])[:2] + sample["K"][0, :2, 2]


def test_rotation_about_z_moves_the_cloud_but_no_point_changes_its_pixel():
    sample = _sample(np.random.default_rng(0))
    rotated = rotate_z(sample, 0.7)
    assert not np.allclose(rotated["points"][:, :3], sample["points"][:, :3])
    np.testing.assert_allclose(_project(rotated), _project(sample), atol=1e-4)
    np.testing.assert_array_equal(rotated["images"], sample["images"])


def test_mirroring_y_mirrors_every_point_pixel_together_with_the_image():
    sample = _sample(np.random.default_rng(1))
    flipped = flip_y(sample)
    uv, uv_f = _project(sample), _project(flipped)
    width = sample["images"].shape[2]
    np.testing.assert_allclose(uv_f[:, 0], width - 1 - uv[:, 0], atol=1e-4)
    np.testing.assert_allclose(uv_f[:, 1], uv[:, 1], atol=1e-4)
    np.testing.assert_array_equal(flipped["images"][0, :, 0], sample["images"][0, :, -1])
    np.testing.assert_array_equal(flipped["camera_semantic"][0, :, 0], sample["camera_semantic"][0, :, -1])
    np.testing.assert_allclose(flipped["points"][:, 1], -sample["points"][:, 1])


def test_extrinsic_drift_rotates_about_half_the_cameras_in_place_by_at_most_the_angle():
    T = torch.eye(4).repeat(200, 6, 1, 1)
    T[..., :3, :3] = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # a forward camera's axes
    T[..., :3, 3] = torch.tensor([0.1, 1.2, -0.5])
    drifted = random_extrinsic_drift(T, 5.0, torch.Generator().manual_seed(0))
    R = drifted[..., :3, :3] @ T[..., :3, :3].transpose(-1, -2)
    angle = torch.rad2deg(torch.arccos(((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)))
    moved = angle > 1e-3
    assert 0.4 < moved.float().mean() < 0.6
    assert angle.max() <= 5.0 + 1e-3 and angle[moved].mean() > 2.0
    def centre(M: torch.Tensor) -> torch.Tensor:  # the camera's position in the LiDAR frame
        return -(M[..., :3, :3].transpose(-1, -2) @ M[..., :3, 3:])[..., 0]

    assert torch.allclose(centre(drifted), centre(T), atol=1e-5)  # the camera turns on its mount, it does not move
    assert torch.equal(drifted, random_extrinsic_drift(T, 5.0, torch.Generator().manual_seed(0)))
