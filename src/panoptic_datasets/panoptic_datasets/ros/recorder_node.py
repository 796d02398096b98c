"""Record topics to a rosbag2/MCAP bag, as received (raw CDR, no re-serialisation).

Parameters: ``path`` (a new bag folder), ``topics`` (names; the type of each is taken from the
graph once a publisher appears). Log times are the node clock (simulated time under
``use_sim_time``), as ``ros2 bag record`` does.
"""

from __future__ import annotations

import importlib
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from ..formats.bag import BagRecorder

DISCOVERY_PERIOD_S = 0.2


def message_class(type_name: str) -> type:
    """The Python class of a ROS type name such as ``sensor_msgs/msg/PointCloud2``."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class RecorderNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("recorder", **kwargs)
        self.path = self.declare_parameter("path", "recording").value
        self.topics = [self.resolve_topic_name(t) for t in self.declare_parameter("topics", ["perception/panoptic_points"]).value]
        self.recorder = BagRecorder(self.path)
        self.counts: dict[str, int] = {}
        self._subscribed: set[str] = set()
        self._discovery = self.create_timer(DISCOVERY_PERIOD_S, self._discover)
        self._discover()

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if topic in self.topics and topic not in self._subscribed:
                msg_type = message_class(types[0])
                self.create_subscription(msg_type, topic, lambda data, t=topic, n=types[0]: self._write(t, n, data), 100,
                                         raw=True)
                self._subscribed.add(topic)
                self.counts[topic] = 0
        if self._subscribed == set(self.topics):
            self._discovery.cancel()

    def _write(self, topic: str, msgtype: str, data: bytes) -> None:
        self.recorder.write_cdr(topic, msgtype, data, self.get_clock().now().nanoseconds)
        self.counts[topic] += 1

    def close(self) -> None:
        self.recorder.close()


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            node = RecorderNode()
            try:
                rclpy.spin(node)
            finally:
                node.close()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
