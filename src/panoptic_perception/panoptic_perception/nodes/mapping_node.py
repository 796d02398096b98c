"""Mapping node: panoptic sweeps and odometry in, the panoptic 3D map out.

Subscribes ``perception/panoptic_points``, ``perception/tracks`` (moving tracks stay out of the static
map), ``/tf`` (``odom -> base_link`` from whichever odometry runs) and ``/tf_static``; publishes
``perception/map`` (labelled voxel centres) and ``perception/map_instances``, both transient local;
serves ``save_map`` and ``reset_map``. Map paths are confined to ``map_dir``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2

from panoptic_msgs.msg import MapInstanceArray, TrackArray
from panoptic_msgs.srv import ResetMap, SaveMap

from ..core import PanopticCloud, PoseBuffer, TransformLookupError, TransformTree, load_class_table
from ..mapping import MapConfig, MappingError, PanopticMap, make_records
from ..ros.conversions import msg_to_panoptic_array, stamp_to_ns, transform_to_matrix
from ..ros.errors import ConversionError
from ..ros.outputs import map_cloud_msg, map_instances_msg
from ..ros.parameters import declare
from ..ros.qos import LATCHED_QOS, qos_from_name
from ..ros.validation import ThrottledLogger, validate_cloud_msg

PENDING_SWEEPS = 10  # sweeps held while their pose has not arrived yet


class MappingNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("panoptic_mapping", **kwargs)
        self.odom_frame = declare(self, "odom_frame", "odom", "fixed frame of the map")
        self.base_frame = declare(self, "base_frame", "base_link", "vehicle frame that odometry moves")
        self.moving_speed = declare(self, "moving_speed_mps", 0.5, "tracks faster than this stay out of the map", (0.0, 50.0))
        self.publish_period = declare(self, "publish_period_s", 1.0, "how often the map is republished", (0.05, 60.0))
        resume = declare(self, "resume_from", "", "saved map (under map_dir) to load at start; empty = new map")
        self.config = MapConfig(
            voxel_size=declare(self, "voxel_size", 0.2, "voxel edge [m]", (0.02, 5.0)),
            window_radius=declare(self, "window_radius", 80.0, "local window; farther blocks go to disk [m]", (5.0, 1000.0)),
            root_dir=declare(self, "map_dir", "maps", "save_map / resume_from paths are confined to this directory"),
        )
        self.map = PanopticMap.load(resume, self.config.root_dir) if resume else PanopticMap(self.config)
        if resume:
            self.get_logger().info(f"resumed the map saved in {resume} ({len(self.map.instances())} instances)")
        self.table = load_class_table()
        self.poses = PoseBuffer()
        self.static_tf = TransformTree()
        self.moving: dict[int, dict[int, bool]] = {}  # stamp -> {track_id: moving}
        self.pending: list[tuple[int, PanopticCloud]] = []
        self.log = ThrottledLogger(self.get_logger())
        self.dirty = False
        self.map_stamp_ns = 0  # stamp of the newest sweep in the map

        qos = qos_from_name(declare(self, "qos.input", "reliable", "QoS of the perception inputs"))
        from tf2_msgs.msg import TFMessage

        self.create_subscription(PointCloud2, "perception/panoptic_points", self._on_cloud, qos)
        self.create_subscription(TrackArray, "perception/tracks", self._on_tracks, qos)
        self.create_subscription(TFMessage, "/tf", self._on_tf, 100)
        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, LATCHED_QOS)
        self.map_pub = self.create_publisher(PointCloud2, "perception/map", LATCHED_QOS)
        self.instances_pub = self.create_publisher(MapInstanceArray, "perception/map_instances", LATCHED_QOS)
        self.create_service(SaveMap, "save_map", self._save)
        self.create_service(ResetMap, "reset_map", self._reset)
        self.create_timer(self.publish_period, self._publish)
        self.integrated = 0

    def _on_tf(self, msg: Any) -> None:
        for t in msg.transforms:
            if (t.header.frame_id, t.child_frame_id) == (self.odom_frame, self.base_frame):
                self.poses.add(stamp_to_ns(t.header.stamp), transform_to_matrix(t.transform))
        self._integrate_pending()

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            try:
                self.static_tf.add(t.header.frame_id, t.child_frame_id, transform_to_matrix(t.transform))
            except (ValueError, ConversionError) as err:
                self.log.warning("tf_static", f"ignoring /tf_static {t.header.frame_id} -> {t.child_frame_id}: {err}")
        self._integrate_pending()

    def _on_tracks(self, msg: TrackArray) -> None:
        self.moving[stamp_to_ns(msg.header.stamp)] = {
            t.track_id: float(np.hypot(t.velocity.x, t.velocity.y)) > self.moving_speed for t in msg.tracks}
        for stamp in sorted(self.moving)[:-PENDING_SWEEPS]:
            del self.moving[stamp]

    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            validate_cloud_msg(msg)
            fields = msg_to_panoptic_array(msg)
        except ConversionError as err:
            self.log.warning("cloud", f"dropping panoptic cloud: {err}")
            return
        points = np.column_stack([fields["x"], fields["y"], fields["z"], fields["intensity"]]).astype(np.float32)
        cloud = PanopticCloud(stamp_to_ns(msg.header.stamp), points, fields["class_id"], fields["instance_id"],
                              fields["score"], fields["uncertainty"], fields["track_id"], msg.header.frame_id)
        self.pending = (self.pending + [(cloud.stamp_ns, cloud)])[-PENDING_SWEEPS:]
        self._integrate_pending()

    def _integrate_pending(self) -> None:
        waiting = []
        for stamp, cloud in self.pending:
            T_odom_base = self.poses.at(stamp)
            if T_odom_base is None:
                newest = self.poses.newest_ns
                if newest is not None and newest > stamp + self.poses.tolerance_ns:
                    self.log.warning("pose", f"no {self.odom_frame} -> {self.base_frame} pose at {stamp} ns; sweep skipped")
                else:
                    waiting.append((stamp, cloud))
                continue
            try:
                T_base_lidar = self.static_tf.lookup(self.base_frame, cloud.frame_id)
            except TransformLookupError as err:
                waiting.append((stamp, cloud))
                self.log.warning("extrinsics", f"waiting for /tf_static: {err}")
                continue
            try:
                self.map.integrate(cloud, T_odom_base @ T_base_lidar, self.moving.get(stamp))
            except MappingError as err:
                self.log.error("integrate", f"sweep at {stamp} ns not mapped: {err}")
                continue
            self.integrated += 1
            self.map_stamp_ns = max(self.map_stamp_ns, stamp)
            self.dirty = True
        self.pending = waiting

    def _publish(self) -> None:
        if not self.dirty:
            return
        snap = self.map.snapshot()
        records = make_records(snap.centres, snap.class_id, snap.instance_id, self.table.colors())
        self.map_pub.publish(map_cloud_msg(records, self.map_stamp_ns, self.odom_frame))
        self.instances_pub.publish(map_instances_msg(self.map.instances(), self.map_stamp_ns, self.odom_frame))
        self.dirty = False

    def _save(self, request: SaveMap.Request, response: SaveMap.Response) -> SaveMap.Response:
        try:
            out = self.map.save(request.path)
        except (MappingError, OSError) as err:
            response.success, response.message = False, f"map not saved: {err}"
            return response
        response.success, response.message = True, f"saved {len(self.map.instances())} instances to {out}"
        return response

    def _reset(self, request: ResetMap.Request, response: ResetMap.Response) -> ResetMap.Response:
        self.map.reset()
        self.pending.clear()
        self.dirty = True
        response.success, response.message = True, "map cleared"
        return response


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            rclpy.spin(MappingNode())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
