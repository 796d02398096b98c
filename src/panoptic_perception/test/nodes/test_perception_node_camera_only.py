"""The perception node on real DDS with a silent LiDAR: camera images alone give the camera-only panoptic cloud.

Only images, camera_info and /tf_static are published (no sweep). The first image starts the clock (no
output); an image stamped more than ``lidar_timeout_ms`` later must run DeepDPS (a tiny untrained one) and
publish perception/panoptic_points stamped with that image, in the LiDAR frame, and a PipelineStatus
saying MODE_CAMERA_ONLY, lidar_used false and why. A sweep with too few points (degraded LiDAR) is answered
camera-only from its synchronised image, with the sweep's stamp.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from panoptic_datasets.ros import messages as m
from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_msgs.msg import PipelineStatus
from panoptic_perception.camera_only import load_deepdps
from panoptic_perception.ros.conversions import msg_to_panoptic_array, ns_to_stamp, stamp_to_ns
from panoptic_perception.ros.qos import LATCHED_QOS

pytestmark = pytest.mark.ros
torch.set_num_threads(1)


def test_images_without_lidar_give_a_camera_only_cloud_and_status(ros_context, spin_until, tiny_upfuse_dir,
                                                                   tiny_deepdps_dir):
    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.perception_node import PerceptionNode

    frame = next(iter(simulate(SceneConfig(seed=5), make_rig("tiny"), 1)))
    image = frame.sensor.cameras["front"]
    got: dict[str, list] = {"points": [], "status": []}
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "perception/panoptic_points", got["points"].append, 10)
    listener.create_subscription(PipelineStatus, "perception/status", got["status"].append, 10)
    image_pub = listener.create_publisher(Image, "cameras/front/image", 10)
    info_pub = listener.create_publisher(CameraInfo, "cameras/front/camera_info", 10)
    tf_pub = listener.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    perception = PerceptionNode(context=ros_context, parameter_overrides=[
        Parameter("model_dir", value=str(tiny_upfuse_dir)), Parameter("threads", value=1),
        Parameter("qos.input", value="reliable"), Parameter("image_size", value=[64, 160]),
        Parameter("camera_only.model_dir", value=str(tiny_deepdps_dir)), Parameter("camera_only.stride", value=2),
        Parameter("lidar_timeout_ms", value=300.0)])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(perception)
    try:
        assert spin_until(executor, lambda: min(image_pub.get_subscription_count(), info_pub.get_subscription_count(),
                                                perception.status_pub.get_subscription_count()) >= 1, timeout=10.0)
        cameras = {"front": image.camera}
        tf_pub.publish(TFMessage(transforms=m.static_transforms(cameras, np.eye(4), frame.sensor.lidar_frame)))
        messages = {topic: msg for topic, _, msg in m.frame_messages(frame, ground_truth=False)}
        info_pub.publish(messages["cameras/front/camera_info"])
        assert spin_until(executor, lambda: perception._calibrated("front"), timeout=10.0)
        first = messages["cameras/front/image"]
        image_pub.publish(first)
        assert not spin_until(executor, lambda: got["status"] or got["points"], timeout=1.0)  # within the timeout
        later = copy.deepcopy(first)
        later.header.stamp = ns_to_stamp(image.stamp_ns + 400 * 1_000_000)  # 400 ms after the first, no sweep
        image_pub.publish(later)
        assert spin_until(executor, lambda: got["status"] and got["points"], timeout=30.0)
    finally:
        executor.shutdown()
        perception.destroy_node()

    assert perception.camera_only_frames == 1 and perception.processed == 0  # no sweep was processed
    status, cloud_msg = got["status"][0], got["points"][0]
    assert status.mode == PipelineStatus.MODE_CAMERA_ONLY and status.lidar_used is False
    assert list(status.cameras_used) == ["front"] and status.reason == "no LiDAR sweep for 400 ms"
    assert stamp_to_ns(status.header.stamp) == stamp_to_ns(cloud_msg.header.stamp) == image.stamp_ns + 400 * 1_000_000
    assert cloud_msg.header.frame_id == frame.sensor.lidar_frame
    with torch.inference_mode():
        prediction = load_deepdps(tiny_deepdps_dir).predict(
            torch.from_numpy(image.rgb).permute(2, 0, 1)[None].float().div(255.0))[0]
    depth = prediction.depth.numpy()[::2, ::2]
    keep = (depth > 0) & (depth <= 80.0)
    fields = msg_to_panoptic_array(cloud_msg)
    assert cloud_msg.width == keep.sum() > 0
    np.testing.assert_array_equal(fields["class_id"], prediction.class_id.numpy()[::2, ::2][keep])
    xyz = np.column_stack([fields["x"], fields["y"], fields["z"]])
    _, z, _ = image.camera.project(xyz)
    np.testing.assert_allclose(z, depth[keep], rtol=1e-4)
    assert 0.0 <= status.camera_reliability[0] <= 1.0


def test_a_sweep_with_too_few_points_is_answered_camera_only_with_its_stamp(ros_context, spin_until, tiny_upfuse_dir,
                                                                            tiny_deepdps_dir):
    from tf2_msgs.msg import TFMessage

    from panoptic_datasets.frame import LabeledFrame
    from panoptic_perception.nodes.perception_node import PerceptionNode

    full = next(iter(simulate(SceneConfig(seed=5), make_rig("tiny"), 1)))
    keep = slice(0, 10)
    sensor = dataclasses.replace(full.sensor, points=full.sensor.points[keep], point_time=full.sensor.point_time[keep])
    frame = LabeledFrame(sensor, full.point_label[keep], full.T_world_lidar, full.cameras, full.objects)
    got: dict[str, list] = {"points": [], "status": []}
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "perception/panoptic_points", got["points"].append, 10)
    listener.create_subscription(PipelineStatus, "perception/status", got["status"].append, 10)
    pubs = {topic: listener.create_publisher(kind, topic, 10) for topic, kind in (
        ("lidar/points", PointCloud2), ("cameras/front/image", Image), ("cameras/front/camera_info", CameraInfo))}
    tf_pub = listener.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    perception = PerceptionNode(context=ros_context, parameter_overrides=[
        Parameter("model_dir", value=str(tiny_upfuse_dir)), Parameter("threads", value=1),
        Parameter("qos.input", value="reliable"), Parameter("image_size", value=[64, 160]),
        Parameter("camera_only.model_dir", value=str(tiny_deepdps_dir)), Parameter("camera_only.min_lidar_points", value=100),
        Parameter("sync.offset_ms", value=50.0), Parameter("sync.timeout_ms", value=300.0)])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(perception)
    try:
        assert spin_until(executor, lambda: min(p.get_subscription_count() for p in pubs.values()) >= 1, timeout=10.0)
        tf_pub.publish(TFMessage(transforms=m.static_transforms({"front": sensor.cameras["front"].camera}, np.eye(4),
                                                                sensor.lidar_frame)))
        messages = {topic: msg for topic, _, msg in m.frame_messages(frame, ground_truth=False)}
        pubs["cameras/front/camera_info"].publish(messages["cameras/front/camera_info"])
        assert spin_until(executor, lambda: perception._calibrated("front"), timeout=10.0)
        pubs["lidar/points"].publish(messages["lidar/points"])
        pubs["cameras/front/image"].publish(messages["cameras/front/image"])
        assert spin_until(executor, lambda: got["status"] and got["points"], timeout=30.0)
    finally:
        executor.shutdown()
        perception.destroy_node()

    status, cloud_msg = got["status"][0], got["points"][0]
    assert status.mode == PipelineStatus.MODE_CAMERA_ONLY and status.lidar_used is False
    assert status.reason == "LiDAR degraded: 10 points < 100"
    assert stamp_to_ns(cloud_msg.header.stamp) == sensor.stamp_ns and cloud_msg.width > 10  # camera pixels, not the sweep
    assert perception.processed == 1 and perception.camera_only_frames == 1


def test_a_busy_node_with_sweeps_still_arriving_does_not_fall_back(ros_context, tiny_upfuse_dir, tiny_deepdps_dir):
    """Under overload images are taken while sweeps wait in their queue: their stamps run ahead of the newest
    sweep's, but the LiDAR is not silent in wall time, so no camera-only frame; once it is silent in both, one."""
    import time

    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.perception_node import PerceptionNode

    frame = next(iter(simulate(SceneConfig(seed=5), make_rig("tiny"), 1)))
    image = frame.sensor.cameras["front"]
    perception = PerceptionNode(context=ros_context, parameter_overrides=[
        Parameter("model_dir", value=str(tiny_upfuse_dir)), Parameter("threads", value=1),
        Parameter("image_size", value=[64, 160]), Parameter("camera_only.model_dir", value=str(tiny_deepdps_dir)),
        Parameter("lidar_timeout_ms", value=300.0)])
    messages = {topic: msg for topic, _, msg in m.frame_messages(frame, ground_truth=False)}
    perception._on_tf_static(TFMessage(transforms=m.static_transforms({"front": image.camera}, np.eye(4),
                                                                      frame.sensor.lidar_frame)))
    perception._on_info("front", messages["cameras/front/camera_info"])
    assert perception._calibrated("front")
    late = copy.deepcopy(messages["cameras/front/image"])
    late.header.stamp = ns_to_stamp(image.stamp_ns + 1_000_000_000)  # 1 s after the newest sweep's stamp

    perception.last_lidar_stamp_ns = image.stamp_ns
    perception.last_lidar_wall_ns = time.monotonic_ns()  # a sweep callback just ran
    perception._on_image("front", late)
    assert perception.worker.wait_idle(60.0) and perception.camera_only_frames == 0  # frames run on the worker's threads

    perception.last_lidar_wall_ns = time.monotonic_ns() - 1_000_000_000  # and none for a second since
    perception._on_image("front", late)
    assert perception.worker.wait_idle(60.0) and perception.camera_only_frames == 1
    perception.destroy_node()
