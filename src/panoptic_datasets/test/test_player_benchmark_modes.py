"""The player's benchmark modes: ``restamp`` (stamps = wall clock at publish) and closed-loop ``pace_topic``."""

from __future__ import annotations

import threading
import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

from panoptic_datasets.formats.bag import BagWriter
from panoptic_datasets.ros.player_node import PlayerNode
from panoptic_msgs.msg import PipelineStatus
from panoptic_perception.ros.conversions import ns_to_stamp, stamp_to_ns

pytestmark = pytest.mark.ros


def _bag(tmp_path, frames):
    with BagWriter(tmp_path / "bag") as writer:
        for frame in frames:
            writer.write(frame)
    return str(tmp_path / "bag")


def _spin(context, nodes):
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def test_restamped_frames_carry_the_wall_clock_at_publish_with_the_camera_offset_kept(tmp_path, tiny_frames, ros_context):
    frames = tiny_frames()
    arrivals: list[tuple[int, int]] = []  # (stamp, receive wall clock)
    images: list[Image] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", lambda m: arrivals.append((stamp_to_ns(m.header.stamp),
                                                                                         time.time_ns())), 10)
    listener.create_subscription(Image, "cameras/front/image", images.append, 10)
    before = time.time_ns()
    player = PlayerNode(context=ros_context, parameter_overrides=[
        Parameter("source", value=_bag(tmp_path, frames)), Parameter("rate", value=5.0),
        Parameter("wait_for_subscribers", value=1), Parameter("restamp", value=True)])
    executor, thread = _spin(ros_context, [listener, player])
    try:
        assert _wait(lambda: len(arrivals) == 3 and len(images) == 3)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
    for stamp, received in arrivals:
        assert before < stamp <= received < stamp + 1_000_000_000  # stamped at publish, received after
    stamps = [s for s, _ in arrivals]
    assert stamps == sorted(stamps) and stamps[0] > frames[-1].sensor.stamp_ns  # not the bag's stamps
    # 5x sensor rate: the 100 ms sweep period plays in about 20 ms
    assert all(5_000_000 < b - a < 200_000_000 for a, b in zip(stamps, stamps[1:], strict=False))
    for image, stamp, frame in zip(images, stamps, frames, strict=True):
        assert stamp_to_ns(image.header.stamp) - stamp == frame.sensor.cameras["front"].stamp_ns - frame.sensor.stamp_ns


def test_closed_loop_publishes_the_next_sweep_only_when_the_last_one_is_answered(tmp_path, tiny_frames, ros_context):
    frames = tiny_frames()
    stamps: list[int] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", lambda m: stamps.append(stamp_to_ns(m.header.stamp)), 10)
    status_pub = listener.create_publisher(PipelineStatus, "perception/status", 10)
    player = PlayerNode(context=ros_context, parameter_overrides=[
        Parameter("source", value=_bag(tmp_path, frames)), Parameter("rate", value=0.0),
        Parameter("wait_for_subscribers", value=1), Parameter("pace_topic", value="perception/status"),
        Parameter("pace_timeout_s", value=30.0)])
    executor, thread = _spin(ros_context, [listener, player])
    try:
        assert _wait(lambda: len(stamps) == 1 and status_pub.get_subscription_count() == 1)
        time.sleep(0.3)
        assert len(stamps) == 1  # waits for the answer
        status_pub.publish(PipelineStatus(header=Header(stamp=ns_to_stamp(stamps[0] - 1))))
        time.sleep(0.3)
        assert len(stamps) == 1  # an answer to an older sweep does not count
        for k in (1, 2):
            status_pub.publish(PipelineStatus(header=Header(stamp=ns_to_stamp(stamps[-1]))))
            assert _wait(lambda k=k: len(stamps) == k + 1)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
    assert stamps == [f.sensor.stamp_ns for f in frames] and player.pace_timeouts == 0


def test_closed_loop_gives_up_on_a_sweep_after_the_pace_timeout(tmp_path, tiny_frames, ros_context):
    frames = tiny_frames()
    stamps: list[int] = []
    listener = Node("listener", context=ros_context)
    listener.create_subscription(PointCloud2, "lidar/points", lambda m: stamps.append(stamp_to_ns(m.header.stamp)), 10)
    player = PlayerNode(context=ros_context, parameter_overrides=[
        Parameter("source", value=_bag(tmp_path, frames)), Parameter("rate", value=0.0),
        Parameter("wait_for_subscribers", value=1), Parameter("pace_topic", value="perception/status"),
        Parameter("pace_timeout_s", value=0.2)])
    executor, thread = _spin(ros_context, [listener, player])
    try:
        assert _wait(lambda: len(stamps) == 3)
    finally:
        executor.shutdown()
        thread.join(timeout=5.0)
    assert player.pace_timeouts == 2  # the first two sweeps were never answered; the last is not waited for


def test_pacing_needs_the_as_fast_as_possible_rate(tmp_path, tiny_frames, ros_context):
    with pytest.raises(ValueError, match="needs rate 0"):
        PlayerNode(context=ros_context, parameter_overrides=[
            Parameter("source", value=_bag(tmp_path, tiny_frames())), Parameter("rate", value=1.0),
            Parameter("pace_topic", value="perception/status")])
