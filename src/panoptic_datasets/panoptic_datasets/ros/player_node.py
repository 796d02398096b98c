"""Publish a bag or dataset folder, or a freshly simulated world, at sensor rate.

Publishes ``/clock`` (with ``publish_clock``), ``lidar/points``, ``cameras/<name>/image`` and
``camera_info``, ``/tf`` and ``/tf_static`` (transient local) and the ``ground_truth/...`` topics
of :mod:`panoptic_datasets.ros.messages`. Header stamps are the sensor stamps.

For benchmarks (``panoptic-bench replay``): ``restamp`` moves every stamp of a frame to the wall
clock at publish time (offsets within the frame kept), so that an output's stamp tells its age;
``pace_topic`` (with rate 0) plays closed loop: the next frame goes out once a
``panoptic_msgs/PipelineStatus`` for the last one came back, or after ``pace_timeout_s``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from panoptic_msgs.msg import PipelineStatus
from panoptic_perception.ros.conversions import ns_to_stamp, stamp_to_ns

from ..formats.source import FrameSource
from ..frame import LabeledFrame
from ..player import Player, shift_stamps
from ..sources import SyntheticSource, open_dataset
from . import messages as m

GROUND_TRUTH_TF = ("odom", "separate", "off")
TICK_S = 0.005  # polling period while waiting for readers or (closed loop) for the last frame's status
ACK_TIMEOUT_S = 5.0  # exit_on_end: how long to wait for readers to acknowledge the last frame


def _tf_message_type() -> Any | None:
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:  # tf2_msgs ships with ROS, not on PyPI
        return None
    return TFMessage


class PlayerNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("player", **kwargs)
        p = self._declare_parameters()
        self.source, self._T_base, cameras = self._open_source(p)
        self._as_fast_as_possible = p["rate"] == 0
        self.names = m.FrameNames()
        if p["ground_truth_tf"] not in GROUND_TRUTH_TF:
            raise ValueError(f"ground_truth_tf: expected one of {', '.join(GROUND_TRUTH_TF)}, got {p['ground_truth_tf']!r}")
        # With an odometry node running, the true pose must not collide with its odom -> base_link.
        self._gt_tf = None if p["ground_truth_tf"] == "off" else m.FrameNames(
            self.names.odom, self.names.base if p["ground_truth_tf"] == "odom" else f"{self.names.base}_ground_truth")
        self._frames: Iterator[tuple[float, int, LabeledFrame]] = Player(self.source, rate=p["rate"], loop=p["loop"]).schedule()
        if p["preload"]:
            if p["loop"]:
                raise ValueError("preload plays the source once: it cannot be combined with loop")
            # Decoded up front, so that playback spends no CPU on decoding; without the truth's topics its images
            # are not kept (a few MB a frame).
            self._frames = iter([(due, t, f if p["ground_truth"] else dataclasses.replace(f, cameras={}, objects=[]))
                                 for due, t, f in self._frames])
        self._next = next(self._frames, None)
        self._wait_for = p["wait_for_subscribers"]
        self._exit_on_end = p["exit_on_end"]
        self._ground_truth = p["ground_truth"]
        self.finished = False
        self._start: float | None = None
        self._topic_publishers: dict[str, Any] = {}
        self._clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None
        self.points_pub = self._publisher(m.POINTS, m.PointCloud2)
        # Created up front so subscribers discover every topic before the first frame goes out.
        self._publisher(m.GT_LABELS, m.PointCloud2)
        self._publisher(m.GT_OBJECTS, m.TrackArray)
        for name in cameras:
            self._publisher(m.image_topic(name), m.Image)
            self._publisher(m.info_topic(name), m.CameraInfo)
            for kind in m.GT_CAMERA_KINDS:
                self._publisher(m.gt_camera_topic(name, kind), m.Image)
        unknown = [t for t in p["wait_for_topics"] if t not in self._topic_publishers]
        if unknown:
            raise ValueError(f"wait_for_topics: not published by the player: {unknown}; see {sorted(self._topic_publishers)}")
        # Matched readers of our own publishers: a reader the graph knows of may not be matched yet.
        self._wait_pubs = [self._topic_publishers[t] for t in p["wait_for_topics"]]
        self._tf_type = _tf_message_type()
        if self._tf_type is None:
            self.get_logger().warning("tf2_msgs is not installed: /tf and /tf_static are not published")
            self._tf_pub = self._tf_static_pub = None
        else:
            self._tf_pub = self.create_publisher(self._tf_type, "/tf", 100)
            latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
            self._tf_static_pub = self.create_publisher(self._tf_type, "/tf_static", latched)
        self.published = 0
        self._restamp = p["restamp"]
        self._pace_timeout_s = p["pace_timeout_s"]
        self._awaiting: tuple[int, float] | None = None  # closed loop: (stamp of the last frame, give-up time)
        self.pace_timeouts = 0
        if p["pace_topic"]:
            if not self._as_fast_as_possible:
                raise ValueError("pace_topic plays closed loop and needs rate 0 (as fast as possible)")
            self.create_subscription(PipelineStatus, p["pace_topic"], self._on_pace, 10)
        self._pace = bool(p["pace_topic"])
        self._timer = self.create_timer(TICK_S, self._tick)

    def _declare_parameters(self) -> dict[str, Any]:
        def declare(name: str, default: Any, description: str) -> Any:
            return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

        return {
            "source": declare("source", "synthetic", "bag or dataset folder, or 'synthetic' for a simulated world"),
            "scene_seed": declare("scene_seed", 0, "synthetic world: scene seed"),
            "rig": declare("rig", "hdl64-front", "synthetic world: rig preset"),
            "frames": declare("frames", 100, "synthetic world: number of sweeps"),
            "rate": declare("rate", 1.0, "playback speed factor; 0 = as fast as possible"),
            "loop": declare("loop", False, "replay forever, shifting stamps so time keeps increasing"),
            "publish_clock": declare("publish_clock", True, "publish /clock with the sensor time"),
            "ground_truth_tf": declare("ground_truth_tf", "odom", "true pose on /tf: odom (as odom -> base_link, when no "
                                       "odometry runs) | separate (odom -> base_link_ground_truth) | off"),
            "ground_truth": declare("ground_truth", True, "publish the ground_truth/... topics; false: only what a "
                                    "vehicle's sensors give (benchmarks: the truth's ~8 MB a frame costs the player a core)"),
            "preload": declare("preload", False, "decode every frame before playing (benchmarks: decoding during "
                               "playback takes CPU from the stack under test)"),
            "exit_on_end": declare("exit_on_end", False, "stop the node after the last frame (like ros2 bag play)"),
            "wait_for_subscribers": declare("wait_for_subscribers", 0, "start once each wait_for_topics has this many readers"),
            "wait_for_topics": declare("wait_for_topics", [m.POINTS], "topics whose subscribers wait_for_subscribers counts"),
            "restamp": declare("restamp", False, "benchmarks: stamps are the wall clock at publish time (offsets kept)"),
            "pace_topic": declare("pace_topic", "", "rate 0 only: publish the next frame once a PipelineStatus on this "
                                                    "topic carries the last frame's stamp (closed loop); '' = off"),
            "pace_timeout_s": declare("pace_timeout_s", 2.0, "closed loop: publish the next frame anyway after this long"),
        }

    def _open_source(self, p: dict[str, Any]) -> tuple[Iterable[LabeledFrame], np.ndarray, list[str]]:
        source: FrameSource
        if p["source"] == "synthetic":
            source = SyntheticSource.from_names(int(p["scene_seed"]), str(p["rig"]), int(p["frames"]))
        else:
            source = open_dataset(p["source"])
        # A looped synthetic drive is simulated once, not once per pass.
        frames = list(source) if p["loop"] and isinstance(source, SyntheticSource) else source
        return frames, source.T_base_lidar, list(source.cameras)

    def _publisher(self, topic: str, msg_type: Any) -> Any:
        if topic not in self._topic_publishers:
            self._topic_publishers[topic] = self.create_publisher(msg_type, topic, 10)
        return self._topic_publishers[topic]

    def _on_pace(self, msg: PipelineStatus) -> None:
        if self._awaiting is not None and stamp_to_ns(msg.header.stamp) >= self._awaiting[0]:
            self._awaiting = None
            self._tick()  # the next frame goes out now, not at the timer's next wake-up

    def _paused(self) -> bool:
        """Closed loop: still waiting for the last frame's status (and not yet given up on it)."""
        if self._awaiting is None:
            return False
        if time.monotonic() < self._awaiting[1]:
            return True
        self.pace_timeouts += 1
        self._awaiting = None
        return False

    def _tick(self) -> None:
        if self._next is None or self._paused():
            return
        if self._start is None:
            if min(pub.get_subscription_count() for pub in self._wait_pubs) < self._wait_for:
                return
            self._start = time.monotonic()
            self._publish_static(self._next[2])
        elapsed = time.monotonic() - self._start
        while self._next is not None and self._next[0] <= elapsed:
            _, time_ns, frame = self._next
            self._publish_frame(time_ns, frame)
            self._next = next(self._frames, None)
            if self._as_fast_as_possible:
                break  # one frame per tick keeps the executor responsive
        if self._next is not None and self._pace:
            self._sleep_until_due(self._pace_timeout_s)  # the status wakes it earlier (_on_pace)
        elif self._next is not None and not self._as_fast_as_possible:
            self._sleep_until_due(self._next[0] - (time.monotonic() - self._start))
        if self._next is None:
            self.get_logger().info(f"played {self.published} frames")
            if self._exit_on_end:
                # Reliable readers must have the last frame before the publishers go away.
                try:
                    for pub in self._topic_publishers.values():
                        pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
                except RuntimeError:  # rclpy RCLError: shut down while waiting, nothing left to deliver to
                    pass
                self.finished = True

    def _sleep_until_due(self, wait_s: float) -> None:
        """Wake the timer when the next frame is due rather than every tick: rclpy's executor costs about a
        millisecond of CPU per wake-up, which at 200 Hz was a quarter of a core (docs/benchmarks.md)."""
        self._timer.timer_period_ns = int(max(wait_s, TICK_S) * 1e9)
        self._timer.reset()  # the new period counts from now

    def _publish_static(self, frame: LabeledFrame) -> None:
        if self._tf_static_pub is None:
            return
        cameras = {name: image.camera for name, image in frame.sensor.cameras.items()}
        transforms = m.static_transforms(cameras, self._T_base, frame.sensor.lidar_frame, self.names, frame.sensor.stamp_ns)
        self._tf_static_pub.publish(self._tf_type(transforms=transforms))

    def _publish_frame(self, time_ns: int, frame: LabeledFrame) -> None:
        if self._restamp:
            offset = time.time_ns() - frame.sensor.stamp_ns
            frame, time_ns = shift_stamps(frame, offset), time_ns + offset
        if self._pace:
            self._awaiting = (frame.sensor.stamp_ns, time.monotonic() + self._pace_timeout_s)
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=ns_to_stamp(time_ns)))
        if self._tf_pub is not None and self._gt_tf is not None:
            self._tf_pub.publish(self._tf_type(transforms=[m.odom_transform(frame, self._T_base, self._gt_tf)]))
        for topic, _, msg in m.frame_messages(frame, self.names, ground_truth=self._ground_truth):
            self._publisher(topic, type(msg)).publish(msg)
        self.published += 1


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            node = PlayerNode()
            while rclpy.ok() and not node.finished:
                rclpy.spin_once(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
