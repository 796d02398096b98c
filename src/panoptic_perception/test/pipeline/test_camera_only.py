"""The camera-only fallback of the ROS-free pipeline: a frame without LiDAR points -> DeepDPS -> a 3D panoptic cloud.

The network is a tiny untrained DeepDPS (plumbing and geometry, not quality): the cloud must be the
prediction's pixels back-projected into the LiDAR frame, and the result must say it is camera-only and why.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.camera_only import (
    CameraOnlyConfig,
    CameraOnlyConfigError,
    CameraOnlyStage,
    dense_depth,
    depth_init_from,
    load_deepdps,
)
from panoptic_perception.core import SensorFrame
from panoptic_perception.pipeline import MODE_CAMERA_ONLY, MODE_FUSION, PerceptionPipeline, PipelineConfig, PipelineConfigError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def frame():
    return next(iter(simulate(SceneConfig(seed=3), make_rig("tiny"), 1))).sensor


def _pipeline(tiny_upfuse_dir, tiny_deepdps_dir, **camera_only):
    fusion = {"model_dir": str(tiny_upfuse_dir), "threads": 1, "min_instance_points": 1, "image_size": [64, 160]}
    camera_only = {"model_dir": str(tiny_deepdps_dir), "threads": 1, "stride": 2, **camera_only}
    return PerceptionPipeline.from_config(PipelineConfig.from_dict({"fusion": fusion, "camera_only": camera_only}))


def _without_lidar(frame: SensorFrame) -> SensorFrame:
    return dataclasses.replace(frame, points=np.zeros((0, 4), np.float32), point_time=None)


def test_a_frame_without_lidar_points_is_published_camera_only_from_the_back_projected_prediction(
        tiny_upfuse_dir, tiny_deepdps_dir, frame):
    pipeline = _pipeline(tiny_upfuse_dir, tiny_deepdps_dir)
    result = pipeline.process(_without_lidar(frame))

    assert result.mode == MODE_CAMERA_ONLY and result.reason == "no LiDAR points in the frame"
    assert result.cameras_used == ("front",) and list(result.latency_ms) == ["camera_only"] and result.tracks == []
    cloud = result.cloud
    assert cloud.stamp_ns == frame.stamp_ns and cloud.frame_id == frame.lidar_frame
    image = frame.cameras["front"]
    camera = image.camera
    with torch.inference_mode():
        prediction = load_deepdps(tiny_deepdps_dir).predict(
            torch.from_numpy(image.rgb).permute(2, 0, 1)[None].float().div(255.0))[0]
    rows, cols = np.mgrid[0:camera.height:2, 0:camera.width:2]
    depth = prediction.depth.numpy()[::2, ::2]
    keep = (depth > 0) & (depth <= 80.0)
    assert len(cloud.points) == keep.sum() > 0
    # Each point projects back onto its own pixel at its predicted depth (the stride-2 grid, row-major).
    uv, z, _ = camera.project(cloud.points[:, :3])
    np.testing.assert_allclose(uv, np.column_stack([cols[keep], rows[keep]]), atol=1e-3)
    np.testing.assert_allclose(z, depth[keep], rtol=1e-5)
    np.testing.assert_array_equal(cloud.class_id, prediction.class_id.numpy()[::2, ::2][keep])
    np.testing.assert_allclose(cloud.uncertainty, prediction.uncertainty.numpy()[::2, ::2][keep], atol=1e-4)
    assert np.all(cloud.points[:, 3] == 0) and np.array_equal(cloud.track_id, np.zeros(len(cloud.points)))


def test_a_lidar_declared_failed_takes_the_camera_path_with_its_reason_and_a_sweep_still_fuses(
        tiny_upfuse_dir, tiny_deepdps_dir, frame):
    pipeline = _pipeline(tiny_upfuse_dir, tiny_deepdps_dir)
    failed = pipeline.process(frame, lidar_missing="no LiDAR sweep for 250 ms")
    assert failed.mode == MODE_CAMERA_ONLY and failed.reason == "no LiDAR sweep for 250 ms"
    assert len(failed.cloud.points) != len(frame.points)  # camera pixels, not the sweep
    fused = pipeline.process(frame)  # the same stamp again: the camera-only frame left the tracker untouched
    assert fused.mode == MODE_FUSION and len(fused.cloud.points) == len(frame.points)


def test_depth_and_uncertainty_limits_drop_points(tiny_upfuse_dir, tiny_deepdps_dir, frame):
    everything = _pipeline(tiny_upfuse_dir, tiny_deepdps_dir).process(_without_lidar(frame)).cloud
    near = _pipeline(tiny_upfuse_dir, tiny_deepdps_dir, max_depth=float(np.median(
        np.linalg.norm(everything.points[:, :3], axis=1)))).process(_without_lidar(frame)).cloud
    confident = _pipeline(tiny_upfuse_dir, tiny_deepdps_dir, max_uncertainty=float(np.median(everything.uncertainty)))
    sure = confident.process(_without_lidar(frame)).cloud
    assert 0 < len(near.points) < len(everything.points)
    assert 0 < len(sure.points) < len(everything.points) and sure.uncertainty.max() <= np.median(everything.uncertainty)


def test_dense_depth_is_the_prediction_at_the_image_size(tiny_deepdps_dir, frame):
    rgb = frame.cameras["front"].rgb
    depth, uncertainty = dense_depth(load_deepdps(tiny_deepdps_dir), rgb)
    assert depth.shape == uncertainty.shape == rgb.shape[:2] and depth.dtype == np.float32
    assert np.all((depth > 0) & (depth < 80.0)) and np.all((uncertainty >= 0) & (uncertainty < 1))


def test_the_odometry_depth_initialisation_is_the_dense_depth(tiny_deepdps_dir, frame):
    rgb = frame.cameras["front"].rgb
    expected, _ = dense_depth(load_deepdps(tiny_deepdps_dir), rgb)
    np.testing.assert_array_equal(depth_init_from(tiny_deepdps_dir)(rgb), expected)


def test_missing_model_and_bad_settings_are_clear_errors(tiny_upfuse_dir, tmp_path, frame):
    with pytest.raises(CameraOnlyConfigError, match="no model.json"):
        CameraOnlyStage.from_config(CameraOnlyConfig(model_dir=str(tmp_path)))
    with pytest.raises(CameraOnlyConfigError, match="stride"):
        CameraOnlyConfig(stride=0)
    with pytest.raises(PipelineConfigError, match="unknown camera_only key"):
        PipelineConfig.from_dict({"camera_only": {"modeldir": "x"}})
    without = PerceptionPipeline.from_config(PipelineConfig.from_dict(
        {"fusion": {"model_dir": str(tiny_upfuse_dir), "threads": 1, "image_size": [64, 160]}}))
    with pytest.raises(PipelineConfigError, match="no camera-only model is configured"):
        without.process(frame, lidar_missing="LiDAR lost")
