"""The perception node on real DDS: a synthetic drive from the player node in, panoptic outputs out.

The network is a tiny untrained UP-Fuse (plumbing, not quality): outputs must carry the sweep's
stamp and frame, cover every point, and the node must survive malformed input and a lost camera.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2

from panoptic_msgs.msg import ClassMap, PipelineStatus, TrackArray
from panoptic_perception.ros.conversions import msg_to_panoptic_array, stamp_to_ns
from panoptic_perception.ros.qos import LATCHED_QOS

pytestmark = pytest.mark.ros
torch.set_num_threads(1)


def _run(ros_context, tiny_upfuse_dir, frames, until, extra=lambda listener: None, timeout=30.0, params=()):
    from panoptic_datasets.ros.player_node import PlayerNode
    from panoptic_perception.nodes.perception_node import PerceptionNode

    got = {"points": [], "tracks": [], "status": [], "class_map": []}
    listener = Node("listener", context=ros_context)
    # Outputs are keep-last 1; this listener keeps a deeper queue so that it sees every sweep.
    listener.create_subscription(PointCloud2, "perception/panoptic_points", got["points"].append, 10)
    listener.create_subscription(TrackArray, "perception/tracks", got["tracks"].append, 10)
    listener.create_subscription(PipelineStatus, "perception/status", got["status"].append, 10)
    listener.create_subscription(ClassMap, "perception/class_map", got["class_map"].append, LATCHED_QOS)
    perception = PerceptionNode(context=ros_context, parameter_overrides=[
        Parameter("model_dir", value=str(tiny_upfuse_dir)), Parameter("threads", value=1),
        Parameter("qos.input", value="reliable"),
        Parameter("image_size", value=[64, 160]),
        Parameter("sync.offset_ms", value=50.0), Parameter("sync.timeout_ms", value=300.0), *params])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(perception)
    extra(listener)
    # Start the drive only once the listener is matched to every output it checks.
    outputs = (perception.points_pub, perception.tracks_pub, perception.status_pub)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and min(p.get_subscription_count() for p in outputs) < 1:
        executor.spin_once(timeout_sec=0.05)
    player = PlayerNode(context=ros_context, parameter_overrides=[
        Parameter("source", value="synthetic"), Parameter("rig", value="tiny"), Parameter("frames", value=frames),
        Parameter("scene_seed", value=5), Parameter("rate", value=1.0), Parameter("wait_for_subscribers", value=1),
        Parameter("wait_for_topics", value=["lidar/points", "cameras/front/image", "cameras/front/camera_info"])])
    executor.add_node(player)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(got):
            time.sleep(0.05)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
        perception.destroy_node()  # its worker threads would keep it (and its latched class map) alive
    return got, player


def test_every_sweep_comes_out_labelled_with_its_own_stamp_and_frame(ros_context, tiny_upfuse_dir):
    got, player = _run(ros_context, tiny_upfuse_dir, 3, lambda g: len(g["status"]) >= 3)

    stamps = [f.sensor.stamp_ns for f in player.source]
    assert [stamp_to_ns(m.header.stamp) for m in got["points"]] == stamps
    assert [stamp_to_ns(m.header.stamp) for m in got["tracks"]] == stamps
    assert all(m.header.frame_id == "lidar" for m in got["points"])
    assert [m.width for m in got["points"]] == [len(f.sensor.points) for f in player.source]
    fields = msg_to_panoptic_array(got["points"][0])
    assert np.all(fields["label"] == (fields["class_id"].astype(np.uint32) | (fields["instance_id"] << 16)))
    assert [(s.mode, list(s.cameras_used), s.reason) for s in got["status"]] == [(PipelineStatus.MODE_FUSION, ["front"], "")] * 3
    assert {lat.stage for lat in got["status"][0].stage_latencies} == {"fusion", "tracking"}
    assert [c.name for c in got["class_map"][0].classes][:3] == ["unlabeled", "car", "bicycle"]


def test_a_malformed_cloud_is_dropped_without_stopping_the_node(ros_context, tiny_upfuse_dir):
    def send_garbage(listener):
        bad = PointCloud2(height=1, width=10, point_step=16, row_step=160)  # no fields, no data
        listener.create_publisher(PointCloud2, "lidar/points", 10).publish(bad)

    got, player = _run(ros_context, tiny_upfuse_dir, 2, lambda g: len(g["status"]) >= 2, extra=send_garbage)
    assert [stamp_to_ns(m.header.stamp) for m in got["points"]] == [f.sensor.stamp_ns for f in player.source]


def test_a_sweep_whose_camera_never_comes_is_released_at_the_timeout(ros_context, tiny_upfuse_dir):
    # "rear" publishes nothing: every sweep waits sync.timeout_ms for it; the last one has no later message to
    # poll the synchroniser, so only the re-armed release timer lets it out.
    got, player = _run(ros_context, tiny_upfuse_dir, 2, lambda g: len(g["status"]) >= 2,
                       params=[Parameter("cameras", value=["front", "rear"])])
    assert [stamp_to_ns(m.header.stamp) for m in got["status"]] == [f.sensor.stamp_ns for f in player.source]
    assert all(list(s.cameras_used) == ["front"] and "rear" in s.reason for s in got["status"])
