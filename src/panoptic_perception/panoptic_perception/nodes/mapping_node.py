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
from ..mapping.track_motion import moving_tracks, odom_velocities
from ..ros.conversions import msg_to_panoptic_array, stamp_to_ns, transform_to_matrix
from ..ros.errors import ConversionError
from ..ros.outputs import map_cloud_msg, map_instances_msg
from ..ros.parameters import declare
from ..ros.qos import LATCHED_QOS, qos_from_name
from ..ros.validation import ThrottledLogger, validate_cloud_msg

PENDING_SWEEPS = 10  # sweeps held while their pose or their tracks have not arrived yet
MAX_EGO_DT_NS = 500_000_000  # the vehicle's motion between two mapped sweeps is known if they are this close


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
        # stamp -> (track ids, velocities, centroids) and whether they are in the odom frame already
        self.tracks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = {}
        self.previous: tuple[int, np.ndarray] | None = None  # stamp and odom <- lidar pose of the newest mapped sweep
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
        measured = [t for t in msg.tracks if t.hits >= 2]  # a track seen once has no velocity estimate yet
        ids = np.array([t.track_id for t in measured], np.int64)
        velocity = np.array([[t.velocity.x, t.velocity.y, t.velocity.z] for t in measured], np.float64).reshape(-1, 3)
        centroid = np.array([[t.centroid.x, t.centroid.y, t.centroid.z] for t in measured], np.float64).reshape(-1, 3)
        self.tracks[stamp_to_ns(msg.header.stamp)] = (ids, velocity, centroid, msg.header.frame_id == self.odom_frame)
        for stamp in sorted(self.tracks)[:-PENDING_SWEEPS]:
            del self.tracks[stamp]
        self._integrate_pending()

    def _tracks_settled(self, stamp: int) -> bool:
        """Whether a sweep's tracks came, or will not: no tracker publishes, or a later sweep's tracks came first."""
        return stamp in self.tracks or not self.tracks or max(self.tracks) > stamp

    def _moving(self, stamp: int, T_odom_lidar: np.ndarray) -> dict[int, bool] | None:
        """Track id -> moving, judged by the track's speed in the odom frame (velocities of a tracker that ran in
        the sensor frame are corrected for the vehicle's own motion since the previous mapped sweep)."""
        if stamp not in self.tracks:
            return None
        ids, velocity, centroid, in_odom = self.tracks[stamp]
        if not in_odom and self.previous is not None and 0 < stamp - self.previous[0] <= MAX_EGO_DT_NS:
            velocity = odom_velocities(velocity, centroid, T_odom_lidar, self.previous[1], (stamp - self.previous[0]) / 1e9)
        return moving_tracks(ids, velocity, self.moving_speed)

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
            if not self._tracks_settled(stamp):
                waiting.append((stamp, cloud))  # its moving tracks must stay out of the static map
                continue
            T_odom_lidar = T_odom_base @ T_base_lidar
            try:
                self.map.integrate(cloud, T_odom_lidar, self._moving(stamp, T_odom_lidar))
            except MappingError as err:
                self.log.error("integrate", f"sweep at {stamp} ns not mapped: {err}")
                continue
            if self.previous is None or stamp > self.previous[0]:
                self.previous = (stamp, T_odom_lidar)
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
