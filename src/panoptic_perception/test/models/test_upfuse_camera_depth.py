"""UP-Fuse's view transformation with given dense camera depth (``UPFuseBatch.camera_depth``, e.g. DeepDPS)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.models import ModelInputError, load_model
from panoptic_perception.models.upfuse import collate
from panoptic_perception.models.view_transform import dense_camera_depth, scale_intrinsics

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch():
    frame = next(iter(simulate(SceneConfig(seed=2), make_rig("tiny"), 1))).sensor
    image = frame.cameras["front"]
    images = torch.from_numpy(image.rgb).permute(2, 0, 1).float().div(255.0)[None, None]
    K, T = torch.tensor(image.camera.K).float()[None, None], torch.tensor(image.camera.T_cam_lidar).float()[None, None]
    return frame, images, K, T


def test_given_depth_equal_to_the_completed_depth_gives_the_same_warped_features(tiny_upfuse_dir, batch):
    frame, images, K, T = batch
    model = load_model(tiny_upfuse_dir).eval()
    inputs = collate([torch.from_numpy(frame.points)], model.config.range_spec, images, K, T)
    with torch.no_grad():
        features, K_image = model.encode_camera(inputs)
        grid_h, grid_w = features[0].shape[-2:]
        stride = model.camera_encoder.strides[0]
        grid = dense_camera_depth(inputs.point_xyz, inputs.point_valid, scale_intrinsics(K_image, 1 / stride, 1 / stride),
                                  T, grid_h, grid_w, model.config.max_depth)
        factor = images.shape[-1] // grid_w  # the grid is a whole-number downscale of the image here
        assert images.shape[-2] == grid_h * factor
        full = grid[:, 0].repeat_interleave(factor, 1).repeat_interleave(factor, 2)[None]  # nearest upsampling
        shapes = [(4, 32), (2, 16), (1, 8), (1, 4)]
        classical = model.warp_camera(inputs, shapes)
        given = model.warp_camera(dataclasses.replace(inputs, camera_depth=full), shapes)
        other = model.warp_camera(dataclasses.replace(inputs, camera_depth=full * 2), shapes)
    for (fc, mc), (fg, mg) in zip(classical, given, strict=True):
        assert torch.equal(mc, mg) and torch.allclose(fc, fg)
    assert any(not torch.allclose(fc, fo) for (fc, _), (fo, _) in zip(classical, other, strict=True))


def test_camera_depth_of_the_wrong_shape_is_refused(tiny_upfuse_dir, batch):
    frame, images, K, T = batch
    model = load_model(tiny_upfuse_dir)
    inputs = collate([torch.from_numpy(frame.points)], model.config.range_spec, images, K, T)
    with pytest.raises(ModelInputError, match="camera_depth"):
        dataclasses.replace(inputs, camera_depth=torch.ones(1, 1, 32, 80)).validate(model.config.range_spec)
