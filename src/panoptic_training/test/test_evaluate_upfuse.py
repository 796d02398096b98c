"""The UP-Fuse evaluation's camera-view subset."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from panoptic_training.config import load_config
from panoptic_training.data import SyntheticPanopticDataset, collate_samples
from panoptic_training.evaluate_upfuse import in_camera_view
from panoptic_training.trainer import build_model_config


def test_camera_view_keeps_exactly_the_points_whose_pixel_lies_inside_the_image(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}"])
    sample = SyntheticPanopticDataset(config.data)[0]
    batch = collate_samples([sample], build_model_config(config.model).range_spec).inputs
    K, T = batch.K[0, 0].double(), batch.T_cam_lidar[0, 0].double()
    height, width = batch.images.shape[-2:]
    # Camera-frame points at 10 m depth: the image centre, just inside each corner, just outside, behind the camera.
    pixels = [(width / 2, height / 2), (0.5, 0.5), (width - 0.5, height - 0.5), (-0.5, height / 2),
              (width / 2, height + 0.5), (width / 2, height / 2)]
    depths = [10.0, 10.0, 10.0, 10.0, 10.0, -10.0]
    cam = torch.stack([torch.linalg.solve(K, torch.tensor([u, v, 1.0], dtype=torch.float64)) * d
                       for (u, v), d in zip(pixels, depths)])
    lidar = (cam - T[:3, 3]) @ T[:3, :3]  # inverse of p_cam = R p + t, row-wise
    probe = dataclasses.replace(batch, point_xyz=lidar[None].float())

    assert in_camera_view(probe, len(pixels)).tolist() == [True, True, True, False, False, False]


def test_camera_view_of_a_simulated_sweep_is_a_proper_subset(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}"])
    sample = SyntheticPanopticDataset(config.data)[0]
    seen = in_camera_view(collate_samples([sample], build_model_config(config.model).range_spec).inputs, len(sample["semantic"]))

    assert seen.shape == (len(sample["semantic"]),)
    assert 0 < np.count_nonzero(seen) < len(seen)  # a front camera sees part of a 360-degree sweep
