"""Odometry node (PVO): panoptic sweeps, moving tracks and the front camera in, the ego pose out.

Subscribes ``perception/panoptic_points``, ``perception/tracks`` (tracks faster than ``moving_speed_mps``
make the dynamic mask, as in the tracker), ``cameras/<camera>/image`` and ``camera_info``, and ``/tf_static`` (base_link <- LiDAR
and camera extrinsics). Sweeps and images are paired by stamp (``core.sync``); a sweep's tracks carry
its stamp. Publishes ``perception/odometry`` (``nav_msgs/Odometry`` with covariance), ``/tf``
``odom -> base_link``, ``perception/path`` and ``perception/odometry_status`` (``PipelineStatus``: mode,
latency, counters; an offline player paces on it), all stamped with the sweep's stamp.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry, Path
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from panoptic_msgs.msg import PipelineStatus, TrackArray

from ..camera_only import depth_init_from
from ..core import CameraImage, LidarCameraSynchronizer, PanopticCloud, SyncConfig, TransformLookupError, TransformTree
from ..odometry import (
    MODE_VISUAL,
    DegenerateGeometryError,
    OdometryConfig,
    OdometryInputError,
    OdometryResult,
    PanopticOdometry,
    make_flow_estimator,
)
from ..odometry.config import FIELDS
from ..odometry.motion import adjoint
from ..ros.conversions import (
    camera_info_to_model,
    image_to_rgb,
    make_header,
    matrix_to_pose,
    matrix_to_transform,
    msg_to_panoptic_array,
    stamp_to_ns,
    transform_to_matrix,
)
from ..ros.diagnostics import pipeline_status_msg
from ..ros.errors import ConversionError
from ..ros.parameters import declare
from ..ros.qos import LATCHED_QOS, OUTPUT_QOS, qos_from_name
from ..ros.validation import ThrottledLogger, validate_cloud_msg, validate_image_msg

_MS = 1_000_000
PENDING_SWEEPS = 10  # released sweeps held while their tracks have not arrived


def declare_odometry_config(node: Node) -> OdometryConfig:
    """Every ``OdometryConfig`` field as ``odometry.<field>``, with its description and range."""
    defaults = OdometryConfig()
    values = {name: declare(node, f"odometry.{name}", getattr(defaults, name), text, value_range)
              for name, (text, value_range) in FIELDS.items()}
    return OdometryConfig.from_dict(values)


class OdometryNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("panoptic_odometry", **kwargs)
        self.odom_frame = declare(self, "odom_frame", "odom", "fixed frame of the odometry")
        self.base_frame = declare(self, "base_frame", "base_link", "vehicle frame the odometry moves")
        self.camera = declare(self, "camera", "front", "camera of the visual path ('' = LiDAR path only)")
        self.publish_tf = declare(self, "publish_tf", True, "broadcast odom -> base_link on /tf")
        self.moving_speed = declare(self, "moving_speed_mps", 0.5, "tracks faster than this are dynamic", (0.0, 50.0))
        self.path_length = declare(self, "path_length", 10_000, "poses kept in perception/path", (1, 10_000_000))
        flow_name = declare(self, "flow.name", "dis", "flow front end: dis (OpenCV DIS) | learned (update operator)")
        flow_model = declare(self, "flow.model_dir", "models/update_operator_cpu", "model of the learned flow front end")
        depth_model = declare(self, "depth_init.model_dir", "", "DeepDPS model whose depth initialises the pixels no "
                              "LiDAR point reaches ('' = nearest LiDAR pixel; about 1 s per image on a 2-core CPU)")
        self.depth_init = depth_init_from(depth_model) if depth_model else None
        self.config = declare_odometry_config(self)
        self.flow = make_flow_estimator(flow_name, **({"model_dir": flow_model} if flow_name == "learned" else {}))
        cameras = [self.camera] if self.camera else []
        self.sync = LidarCameraSynchronizer(SyncConfig.uniform(
            cameras,
            offset_ns=int(declare(self, "sync.offset_ms", 0.0, "camera stamp minus sweep stamp", (-500.0, 500.0)) * _MS),
            slop_ns=int(declare(self, "sync.slop_ms", 50.0, "largest stamp mismatch of a pair", (0.0, 500.0)) * _MS),
            timeout_ns=int(declare(self, "sync.timeout_ms", 100.0, "wait for the image after a sweep", (0.0, 2000.0)) * _MS),
        ))
        qos = qos_from_name(declare(self, "qos.input", "reliable", "QoS of the perception inputs"))
        sensor_qos = qos_from_name(declare(self, "qos.camera", "sensor_data", "QoS of the camera inputs"))
        self.stage: PanopticOdometry | None = None  # built once base_link <- LiDAR is known
        self.tf = TransformTree()
        self.info: CameraInfo | None = None
        self.moving: dict[int, set[int]] = {}  # sweep stamp -> moving track ids
        self.pending: list[Any] = []  # released SyncedSets waiting for their tracks
        self.log = ThrottledLogger(self.get_logger())
        from tf2_msgs.msg import TFMessage

        self._tf_type = TFMessage
        self.create_subscription(PointCloud2, "perception/panoptic_points", self._on_cloud, qos)
        self.create_subscription(TrackArray, "perception/tracks", self._on_tracks, qos)
        if self.camera:
            self.create_subscription(Image, f"cameras/{self.camera}/image", self._on_image, sensor_qos)
            self.create_subscription(CameraInfo, f"cameras/{self.camera}/camera_info", self._on_info, sensor_qos)
        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, LATCHED_QOS)
        self.odom_pub = self.create_publisher(Odometry, "perception/odometry", OUTPUT_QOS)
        self.path_pub = self.create_publisher(Path, "perception/path", OUTPUT_QOS)
        self.status_pub = self.create_publisher(PipelineStatus, "perception/odometry_status", OUTPUT_QOS)
        self.tf_pub = self.create_publisher(TFMessage, "/tf", 100)
        self.path = Path(header=make_header(frame_id=self.odom_frame))
        self.create_timer(0.02, self._release)
        self.processed = 0

    # Inputs
    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            validate_cloud_msg(msg)
        except ConversionError as err:
            self.log.warning("cloud", f"dropping panoptic cloud: {err}")
            return
        self.sync.add_lidar(stamp_to_ns(msg.header.stamp), msg, time.monotonic_ns())
        self._release()

    def _on_tracks(self, msg: TrackArray) -> None:
        self.moving[stamp_to_ns(msg.header.stamp)] = {
            int(t.track_id) for t in msg.tracks if float(np.hypot(t.velocity.x, t.velocity.y)) > self.moving_speed}
        for stamp in sorted(self.moving)[:-PENDING_SWEEPS]:
            del self.moving[stamp]
        self._release()

    def _on_image(self, msg: Image) -> None:
        try:
            validate_image_msg(msg)
        except ConversionError as err:
            self.log.warning("image", f"dropping image: {err}")
            return
        self.sync.add_image(self.camera, stamp_to_ns(msg.header.stamp), msg, time.monotonic_ns())
        self._release()

    def _on_info(self, msg: CameraInfo) -> None:
        self.info = msg

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            try:
                self.tf.add(t.header.frame_id, t.child_frame_id, transform_to_matrix(t.transform))
            except (ValueError, ConversionError) as err:
                self.log.warning("tf_static", f"ignoring /tf_static {t.header.frame_id} -> {t.child_frame_id}: {err}")

    # Processing
    def _release(self) -> None:
        self.pending = (self.pending + list(self.sync.poll(time.monotonic_ns())))[-PENDING_SWEEPS:]
        newest_tracks = max(self.moving, default=-1)
        waiting = []
        for synced in self.pending:
            stamp = synced.lidar_stamp_ns
            if stamp in self.moving or newest_tracks > stamp:
                self._process(synced, self.moving.get(stamp))
            else:
                waiting.append(synced)
        self.pending = waiting

    def _image(self, synced: Any, lidar_frame: str) -> CameraImage | None:
        if self.camera not in synced.images:
            return None
        stamp_ns, msg = synced.images[self.camera]
        try:
            if self.info is None:
                raise ConversionError("no camera_info received yet")
            model = camera_info_to_model(self.info, self.camera, self.tf.lookup(self.info.header.frame_id, lidar_frame))
            return CameraImage(model, stamp_ns, image_to_rgb(msg))
        except (ConversionError, TransformLookupError, ValueError) as err:
            self.log.warning("camera", f"camera {self.camera} unusable, LiDAR path: {err}")
            return None

    def _process(self, synced: Any, moving: set[int] | None) -> None:
        msg = synced.lidar
        lidar_frame = msg.header.frame_id
        if moving is None:
            self.log.warning("tracks", f"no tracks for the sweep at {synced.lidar_stamp_ns} ns: no moving objects masked")
        try:
            if self.stage is None:
                T_base_lidar = self.tf.lookup(self.base_frame, lidar_frame)
                self.stage = PanopticOdometry(self.config, self.flow, T_base_lidar, self.depth_init)
            fields = msg_to_panoptic_array(msg)
            points = np.column_stack([fields["x"], fields["y"], fields["z"], fields["intensity"]]).astype(np.float32)
            cloud = PanopticCloud(synced.lidar_stamp_ns, points, fields["class_id"], fields["instance_id"], fields["score"],
                                  fields["uncertainty"], fields["track_id"], lidar_frame)
            result = self.stage.process(cloud, moving or set(), self._image(synced, lidar_frame))
        except TransformLookupError as err:
            self.log.warning("extrinsics", f"sweep at {synced.lidar_stamp_ns} ns skipped, waiting for /tf_static: {err}")
            return
        except (ConversionError, OdometryInputError, ValueError, DegenerateGeometryError) as err:
            # DegenerateGeometryError: the LiDAR path's ICP found too few correspondences (e.g. a foreign or empty
            # sweep); the node must live on to the next sweep.
            self.log.error("process", f"sweep at {synced.lidar_stamp_ns} ns not processed: {err}")
            return
        if result.mode != "visual" and result.reason:
            self.log.warning("mode", f"{result.mode} odometry: {result.reason}")
        self._publish(result)

    def _publish(self, result: OdometryResult) -> None:
        stamp = result.stamp_ns
        header = make_header(frame_id=self.odom_frame, stamp_ns=stamp)
        odom = Odometry(header=header, child_frame_id=self.base_frame)
        odom.pose.pose = matrix_to_pose(result.T_odom_base)
        odom.pose.covariance = [float(v) for v in result.covariance.ravel()]
        assert self.stage is not None
        twist = adjoint(self.stage.T_base_lidar) @ result.velocity  # LiDAR body twist -> base_link body twist
        odom.twist.twist.linear.x, odom.twist.twist.linear.y, odom.twist.twist.linear.z = (float(v) for v in twist[:3])
        odom.twist.twist.angular.x, odom.twist.twist.angular.y, odom.twist.twist.angular.z = (float(v) for v in twist[3:])
        self.odom_pub.publish(odom)
        if self.publish_tf:
            self.tf_pub.publish(self._tf_type(transforms=[
                matrix_to_transform(result.T_odom_base, self.odom_frame, self.base_frame, stamp)]))
        self.path.header = header
        self.path.poses = (self.path.poses + [PoseStamped(header=header, pose=odom.pose.pose)])[-self.path_length:]
        self.path_pub.publish(self.path)
        self.processed += 1
        self._publish_status(result)

    def _publish_status(self, result: OdometryResult) -> None:
        """Visual sweeps count as fusion (camera + LiDAR), the others (start, LiDAR path) as LiDAR-only."""
        visual = result.mode == MODE_VISUAL
        cameras = [self.camera] if self.camera else []
        total_ms = (self.get_clock().now().nanoseconds - result.stamp_ns) / _MS
        reason = "" if visual else (result.reason or f"{result.mode} sweep")
        self.status_pub.publish(pipeline_status_msg(
            result.stamp_ns, self.odom_frame, {"odometry": result.latency_ms.get("total", 0.0)}, total_ms,
            "fusion" if visual else "lidar_only", True, cameras if visual else [], [] if visual else cameras,
            [min(max(result.static_share, 0.0), 1.0)] if visual and cameras else [], self.sync.counters, reason))


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            rclpy.spin(OdometryNode())
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
