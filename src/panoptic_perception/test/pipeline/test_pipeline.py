"""The ROS-free pipeline: fusion -> detections -> tracking on synthetic sweeps.

The network here is a tiny untrained UP-Fuse saved to disk: these tests check the plumbing
(loading, camera slots, modes, track-id assignment), not segmentation quality.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.core import SensorFrame
from panoptic_perception.pipeline import (
    MODE_FUSION,
    MODE_LIDAR_ONLY,
    PerceptionPipeline,
    PipelineConfig,
    PipelineConfigError,
    thing_detections,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def frames():
    return list(simulate(SceneConfig(seed=3), make_rig("tiny"), 3))


def _pipeline(tiny_upfuse_dir, **fusion):
    fusion = {"model_dir": str(tiny_upfuse_dir), "threads": 1, "min_instance_points": 1, "image_size": [64, 160], **fusion}
    return PerceptionPipeline.from_config(PipelineConfig.from_dict({"fusion": fusion}))


def test_a_sweep_with_its_camera_runs_fused_and_labels_every_point(tiny_upfuse_dir, frames):
    pipeline = _pipeline(tiny_upfuse_dir, cameras=list(frames[0].sensor.cameras))
    result = pipeline.process(frames[0].sensor)

    n = len(frames[0].sensor.points)
    assert result.mode == MODE_FUSION and result.reason == "" and result.cameras_missing == ()
    for name in ("class_id", "instance_id", "score", "uncertainty", "track_id"):
        assert len(getattr(result.cloud, name)) == n
    assert set(result.latency_ms) == {"fusion", "tracking"}
    assert result.cloud.stamp_ns == frames[0].sensor.stamp_ns


def test_track_ids_land_exactly_on_the_points_of_tracked_detections(tiny_upfuse_dir, frames):
    pipeline = _pipeline(tiny_upfuse_dir, cameras=list(frames[0].sensor.cameras))
    for frame in frames:
        result = pipeline.process(frame.sensor)
        detections = thing_detections(result.cloud, pipeline._is_thing, 1)
        observed = {t.track_id: t.detection_index for t in result.tracks if t.detection_index >= 0}
        expected = np.zeros(len(result.cloud.points), np.uint32)
        for track_id, index in observed.items():
            expected[detections[index].point_indices] = track_id
        np.testing.assert_array_equal(result.cloud.track_id, expected)


def test_inferring_the_next_sweep_before_completing_this_one_gives_the_same_results(tiny_upfuse_dir, frames):
    # the node's two-stage worker runs infer(n + 1) while complete(n) runs: the results must not change
    cameras = list(frames[0].sensor.cameras)
    sequential = _pipeline(tiny_upfuse_dir, cameras=cameras)
    expected = [sequential.process(f.sensor) for f in frames]
    staged = _pipeline(tiny_upfuse_dir, cameras=cameras)
    inferred = [staged.infer(f.sensor) for f in frames]
    results = [staged.complete(i) for i in inferred]
    for want, got in zip(expected, results, strict=True):
        for name in ("class_id", "instance_id", "score", "uncertainty", "track_id"):
            np.testing.assert_array_equal(getattr(got.cloud, name), getattr(want.cloud, name))
        assert [t.track_id for t in got.tracks] == [t.track_id for t in want.tracks]
        assert got.mode == want.mode and set(got.latency_ms) == {"fusion", "tracking"}
    # the network's time is counted in the "fusion" stage
    assert all(r.latency_ms["fusion"] > i.network_ms > 0 for r, i in zip(results, inferred, strict=True))


def test_a_missing_camera_runs_lidar_only_and_ignores_whatever_image_slot_it_had(tiny_upfuse_dir, frames):
    name = next(iter(frames[0].sensor.cameras))
    sensor = frames[0].sensor
    without = SensorFrame(sensor.stamp_ns, sensor.points, {}, sensor.point_time)
    pipeline = _pipeline(tiny_upfuse_dir, cameras=[name])
    fused = pipeline.process(sensor)
    alone = pipeline.process(dataclasses.replace(without, stamp_ns=sensor.stamp_ns + 1))

    assert alone.mode == MODE_LIDAR_ONLY and alone.cameras_missing == (name,)
    assert f"no image from camera(s) {name}" in alone.reason
    # With the slot marked invalid the camera branch contributes nothing: a fresh pipeline that never saw
    # the camera gives the same labels.
    fresh = _pipeline(tiny_upfuse_dir, cameras=[name]).process(without)
    np.testing.assert_array_equal(alone.cloud.class_id, fresh.cloud.class_id)
    assert fused.cloud.uncertainty.shape == alone.cloud.uncertainty.shape


def test_a_camera_of_another_size_than_configured_is_refused_by_name(tiny_upfuse_dir, frames):
    pipeline = _pipeline(tiny_upfuse_dir, cameras=list(frames[0].sensor.cameras), image_size=[376, 1241])
    with pytest.raises(PipelineConfigError, match="image is 160x64, fusion.image_size expects 1241x376"):
        pipeline.process(frames[0].sensor)


def test_configuration_errors_name_the_bad_key(tmp_path):
    with pytest.raises(PipelineConfigError, match="unknown pipeline section"):
        PipelineConfig.from_dict({"fuson": {}})
    with pytest.raises(PipelineConfigError, match="unknown fusion key"):
        PipelineConfig.from_dict({"fusion": {"model": "x"}})
    with pytest.raises(PipelineConfigError, match="no model.json"):
        PerceptionPipeline.from_config(PipelineConfig.from_dict({"fusion": {"model_dir": str(tmp_path)}}))
