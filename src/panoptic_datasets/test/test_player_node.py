from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, PointCloud2

from panoptic_datasets.formats.bag import BagWriter
from panoptic_datasets.ros.player_node import TICK_S, PlayerNode
from panoptic_perception.ros.conversions import cloud_to_sensor_points, stamp_to_ns

pytestmark = pytest.mark.ros


def test_player_node_publishes_a_bag_with_sensor_stamps(tmp_path, tiny_frames, ros_context):
    frames = tiny_frames()
    with BagWriter(tmp_path / "bag") as writer:
        for frame in frames:
            writer.write(frame)
    clouds: list[PointCloud2] = []
    labels: list[PointCloud2] = []
    images: list[Image] = []
    clocks: list[int] = []
    timer_periods_ms: list[float] = []  # the player's wake-up period right after it published each sweep

    def on_cloud(msg: PointCloud2) -> None:
        clouds.append(msg)
        timer_periods_ms.append(player._timer.timer_period_ns / 1e6)

    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", on_cloud, 10)
    listener.create_subscription(PointCloud2, "ground_truth/lidar/labels", labels.append, 10)
    listener.create_subscription(Image, "cameras/front/image", images.append, 10)
    listener.create_subscription(Clock, "/clock", lambda msg: clocks.append(stamp_to_ns(msg.clock)), 10)
    player = PlayerNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("source", value=str(tmp_path / "bag")),
            Parameter("rate", value=1.0),
            Parameter("wait_for_subscribers", value=1),
        ],
    )
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(player)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and (len(clouds) < 3 or len(labels) < 3 or len(images) < 3):
            time.sleep(0.02)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
        player.destroy_node()
        listener.destroy_node()
    assert [stamp_to_ns(c.header.stamp) for c in clouds] == [f.sensor.stamp_ns for f in frames]
    assert [c.width for c in clouds] == [200, 207, 214]
    assert all(c.header.frame_id == "lidar" for c in clouds)
    np.testing.assert_array_equal(cloud_to_sensor_points(clouds[2])[0], frames[2].sensor.points)
    assert [stamp_to_ns(i.header.stamp) for i in images] == [f.sensor.cameras["front"].stamp_ns for f in frames]
    assert [lab.width for lab in labels] == [200, 207, 214]
    assert clocks == [f.sensor.stamp_ns for f in frames]
    # Between sweeps the player sleeps until the next one is due instead of polling every TICK_S.
    spacing_ms = (frames[1].sensor.stamp_ns - frames[0].sensor.stamp_ns) / 1e6  # rate 1
    assert spacing_ms > 2 * TICK_S * 1e3
    assert all(period <= spacing_ms for period in timer_periods_ms[:2]), timer_periods_ms
    assert max(timer_periods_ms[:2]) > 2 * TICK_S * 1e3, timer_periods_ms  # not the polling tick


def test_player_node_publishes_a_synthetic_world_with_its_own_stamps(ros_context):
    from panoptic_datasets.sources import SyntheticSource

    expected = list(SyntheticSource.from_names(7, "tiny", 2))
    clouds: list[PointCloud2] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", clouds.append, 10)
    player = PlayerNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("source", value="synthetic"),
            Parameter("scene_seed", value=7),
            Parameter("rig", value="tiny"),
            Parameter("frames", value=2),
            Parameter("rate", value=0.0),
            Parameter("wait_for_subscribers", value=1),
        ],
    )
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(player)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and len(clouds) < 2:
            time.sleep(0.02)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
        player.destroy_node()
        listener.destroy_node()
    assert [stamp_to_ns(c.header.stamp) for c in clouds] == [f.sensor.stamp_ns for f in expected]
    assert [c.width for c in clouds] == [len(f.sensor.points) for f in expected]


def _play_two_synthetic_frames(ros_context, listener, done, **params):
    """A 2-frame tiny synthetic drive played as fast as possible into ``listener`` until ``done()`` (10 s at most)."""
    player = PlayerNode(context=ros_context, parameter_overrides=[
        Parameter("source", value="synthetic"), Parameter("rig", value="tiny"), Parameter("frames", value=2),
        Parameter("rate", value=0.0), Parameter("wait_for_subscribers", value=1),
        *(Parameter(k, value=v) for k, v in params.items())])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    executor.add_node(player)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and not done():
        executor.spin_once(timeout_sec=0.02)
    for _ in range(10):  # anything published late still arrives
        executor.spin_once(timeout_sec=0.02)
    executor.shutdown()
    player.destroy_node()


@pytest.mark.parametrize(("mode", "child"), [("odom", "base_link"), ("separate", "base_link_ground_truth"), ("off", None)])
def test_player_ground_truth_tf_can_step_aside_for_an_odometry_node(ros_context, mode, child):
    from tf2_msgs.msg import TFMessage

    tfs: list = []
    clouds: list[PointCloud2] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(TFMessage, "/tf", tfs.append, 100)
    listener.create_subscription(PointCloud2, "lidar/points", clouds.append, 10)
    _play_two_synthetic_frames(ros_context, listener, lambda: len(clouds) >= 2, ground_truth_tf=mode)
    assert len(clouds) == 2
    children = [t.child_frame_id for msg in tfs for t in msg.transforms]
    assert children == ([] if child is None else [child, child])
    assert all(t.header.frame_id == "odom" for msg in tfs for t in msg.transforms)


@pytest.mark.parametrize(("ground_truth", "preload"), [(True, False), (False, True)])
def test_player_publishes_the_truth_topics_only_when_asked(ros_context, ground_truth, preload):
    clouds: list[PointCloud2] = []
    labels: list[PointCloud2] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", clouds.append, 10)
    listener.create_subscription(PointCloud2, "ground_truth/lidar/labels", labels.append, 10)
    _play_two_synthetic_frames(ros_context, listener, lambda: len(clouds) >= 2 and (not ground_truth or len(labels) >= 2),
                               ground_truth=ground_truth, preload=preload)
    assert len(clouds) == 2 and len(labels) == (2 if ground_truth else 0)


def test_player_refuses_to_preload_a_looping_source(ros_context):
    with pytest.raises(ValueError, match="preload"):
        PlayerNode(context=ros_context, parameter_overrides=[
            Parameter("source", value="synthetic"), Parameter("rig", value="tiny"), Parameter("frames", value=1),
            Parameter("loop", value=True), Parameter("preload", value=True)])


def test_player_rejects_an_unknown_ground_truth_tf_mode(ros_context):
    with pytest.raises(ValueError, match="ground_truth_tf"):
        PlayerNode(context=ros_context, parameter_overrides=[
            Parameter("source", value="synthetic"), Parameter("rig", value="tiny"), Parameter("frames", value=1),
            Parameter("ground_truth_tf", value="base")])
