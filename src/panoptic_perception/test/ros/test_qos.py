"""QoS profiles by name, the output profiles, and transient-local delivery to a late joiner over real DDS."""

from __future__ import annotations

import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import deserialize_message, serialize_message

from panoptic_perception.core import load_class_table
from panoptic_perception.ros.class_map import class_map_msg
from panoptic_perception.ros.qos import LATCHED_QOS, OUTPUT_QOS, qos_from_name


def _policies(profile) -> tuple:
    return profile.reliability, profile.durability, profile.history, profile.depth


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sensor_data", (ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE, HistoryPolicy.KEEP_LAST, 5)),
        ("reliable", (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE, HistoryPolicy.KEEP_LAST, 10)),
        ("transient_local", (ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL, HistoryPolicy.KEEP_LAST, 1)),
        ("system_default", (ReliabilityPolicy.SYSTEM_DEFAULT, DurabilityPolicy.SYSTEM_DEFAULT, HistoryPolicy.SYSTEM_DEFAULT, 0)),
    ],
)
def test_each_named_profile_has_its_policies(name, expected):
    assert _policies(qos_from_name(name)) == expected


def test_sensor_data_is_rclpys_sensor_data_profile_but_a_copy():
    profile = qos_from_name("sensor_data")
    assert profile == qos_profile_sensor_data
    profile.depth = 99
    assert qos_profile_sensor_data.depth == 5


def test_depth_overrides_the_history_depth_and_makes_it_keep_last():
    assert _policies(qos_from_name("sensor_data", depth=2))[2:] == (HistoryPolicy.KEEP_LAST, 2)
    assert _policies(qos_from_name("system_default", depth=3))[2:] == (HistoryPolicy.KEEP_LAST, 3)
    assert qos_from_name(" Reliable ").reliability == ReliabilityPolicy.RELIABLE


def test_unknown_names_and_bad_depths_are_value_errors_listing_the_valid_names():
    with pytest.raises(
        ValueError, match="unknown QoS profile 'best_effort'; valid names: sensor_data, reliable, transient_local"
    ):
        qos_from_name("best_effort")
    with pytest.raises(ValueError, match="depth must be an int >= 1, got 0"):
        qos_from_name("reliable", depth=0)


def test_output_and_latched_profiles_keep_the_last_message_reliably():
    assert _policies(OUTPUT_QOS) == (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE, HistoryPolicy.KEEP_LAST, 1)
    assert _policies(LATCHED_QOS) == (ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL, HistoryPolicy.KEEP_LAST, 1)


@pytest.mark.ros
def test_a_late_joining_subscriber_receives_the_transient_local_class_map(ros_context, spin_until):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from panoptic_msgs.msg import ClassMap

    sent = class_map_msg(load_class_table(), stamp_ns=1_500_000_000, frame_id="lidar")
    # a topic of its own: a perception node of an earlier test in this process may still hold a latched class map
    topic = "qos_test/class_map"
    executor = SingleThreadedExecutor(context=ros_context)
    publisher_node = Node("class_map_publisher", context=ros_context)
    executor.add_node(publisher_node)
    publisher_node.create_publisher(ClassMap, topic, qos_from_name("transient_local")).publish(sent)
    executor.spin_once(timeout_sec=0.05)

    received: list[ClassMap] = []
    late_node = Node("late_joiner", context=ros_context)
    executor.add_node(late_node)
    late_node.create_subscription(ClassMap, topic, received.append, qos_from_name("transient_local"))

    assert spin_until(executor, lambda: len(received) == 1, timeout=10.0)
    assert received[0] == deserialize_message(serialize_message(sent), ClassMap)  # colours arrive as float32
    assert [c.name for c in received[0].classes] == list(load_class_table().names)
    executor.shutdown()
