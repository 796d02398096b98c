"""The perception node's input queue: its depth is a parameter, and sweeps lost before the callback count as dropped."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2

pytestmark = pytest.mark.ros


def _node(ros_context, tiny_upfuse_dir, **params):
    from panoptic_perception.nodes.perception_node import PerceptionNode

    overrides = {"model_dir": str(tiny_upfuse_dir), "threads": 1, "image_size": [64, 160], **params}
    return PerceptionNode(context=ros_context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def _depths(node):
    return {s.topic_name: s.qos_profile.depth for s in node.subscriptions if s.topic_name.startswith(("/lidar", "/cameras"))}


def test_input_depth_is_a_parameter_and_sweeps_missing_from_the_publication_sequence_count_as_dropped(
        ros_context, tiny_upfuse_dir):
    default = _node(ros_context, tiny_upfuse_dir)
    shallow = _node(ros_context, tiny_upfuse_dir, **{"qos.input_depth": 1})
    assert set(_depths(default).values()) == {5}  # sensor_data's own depth
    assert set(_depths(shallow).values()) == {1}
    assert set(_depths(shallow)) == {"/lidar/points", "/cameras/front/image", "/cameras/front/camera_info"}

    for sequence in (10, 11, 15, 16, 18):  # 3 + 1 sweeps never reached the callback
        default._on_cloud(PointCloud2(), {"publication_sequence_number": sequence, "reception_sequence_number": None,
                                          "source_timestamp": 0, "received_timestamp": 0})
    assert default.sync.counters.dropped == 4 and default.lidar_gaps.missed == 4
    for node in (default, shallow):
        node.destroy_node()
