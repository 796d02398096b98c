"""Fusion + tracking node: synchronised LiDAR sweeps and camera images in, panoptic outputs out.

Subscribes ``lidar/points``, ``cameras/<name>/image``, ``cameras/<name>/camera_info`` and
``/tf_static`` (camera extrinsics); publishes ``perception/panoptic_points``,
``perception/panoptic_points_rgb`` and ``perception/track_markers`` (only when subscribed),
``perception/tracks``, ``perception/status``, ``perception/class_map`` (transient local) and
``/diagnostics``. Every output carries the sweep's stamp and the LiDAR frame.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from panoptic_msgs.msg import ClassMap, PipelineStatus, TrackArray

from ..camera_only import CameraOnlyConfig
from ..core import (
    CameraImage,
    LidarCameraSynchronizer,
    SensorFrame,
    SyncConfig,
    SyncedSet,
    SyncHealthWindow,
    TransformLookupError,
    TransformTree,
    load_class_table,
)
from ..core.camera_health import CameraHealth
from ..core.two_stage import SecondStage, TwoStageWorker
from ..pipeline import FrameResult, FusionConfig, InferredFrame, PerceptionPipeline, PipelineConfig
from ..ros.class_map import class_map_msg
from ..ros.conversions import (
    camera_info_to_model,
    cloud_to_sensor_points,
    image_to_rgb,
    panoptic_cloud_to_msg,
    stamp_to_ns,
    transform_to_matrix,
)
from ..ros.diagnostics import DiagnosticsConfig, LatencyLimits, diagnostic_array, pipeline_status_msg
from ..ros.errors import ConversionError
from ..ros.outputs import rgb_cloud_msg, track_array_msg, track_markers_msg
from ..ros.parameters import declare, declare_dataclass
from ..ros.qos import LATCHED_QOS, OUTPUT_QOS, qos_from_name
from ..ros.sequence import SequenceGapCounter
from ..ros.validation import ThrottledLogger, validate_cloud_msg, validate_image_msg
from ..tracking import TrackerConfig

_MS = 1_000_000
IDLE_RELEASE_S = 1.0  # release timer period while no sweep waits (each arriving message polls the synchroniser too)
MIN_RELEASE_WAIT_NS = _MS


class PerceptionNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("panoptic_perception", **kwargs)
        fusion = FusionConfig(
            model_dir=declare(self, "model_dir", "models/upfuse_cpu", "directory with model.json and weights.safetensors"),
            cameras=declare(self, "cameras", ["front"], "camera names, in the network's camera-slot order"),
            backend=declare(self, "backend", "onnxruntime", "inference backend: onnxruntime|torch|torch_compile|tensorrt"),
            image_size=declare(self, "image_size", [376, 1241], "camera image height, width (fixed in exported graphs)"),
            threads=declare(self, "threads", 2, "intra-op threads of the backend", (1, 64)),
            min_instance_points=declare(self, "min_instance_points", 5, "smallest thing instance handed to the tracker",
                                        (1, 100_000)),
        )
        tracking = declare_dataclass(self, "tracking", TrackerConfig(association="centroid_kalman"), "tracker")
        camera_only = CameraOnlyConfig(
            model_dir=declare(self, "camera_only.model_dir", "models/deepdps_cpu", "DeepDPS model of the camera-only "
                              "fallback when the LiDAR is missing or degraded (empty = no fallback)"),
            stride=declare(self, "camera_only.stride", 4, "back-project every stride-th pixel row and column", (1, 64)),
            max_depth=declare(self, "camera_only.max_depth", 80.0, "drop pixels predicted farther [m]", (0.1, 1000.0)),
            max_uncertainty=declare(self, "camera_only.max_uncertainty", 1.0, "drop pixels with a larger depth "
                                    "uncertainty (1 keeps all)", (0.0, 1.0)),
            threads=fusion.threads,
        )
        self.lidar_timeout_ns = int(declare(self, "lidar_timeout_ms", 300.0, "an image runs camera-only when the LiDAR "
                                            "was silent this long, in sensor stamps and wall time", (1.0, 60_000.0)) * _MS)
        self.min_lidar_points = declare(self, "camera_only.min_lidar_points", 100, "a sweep with fewer points is "
                                        "degraded: its images run camera-only", (0, 10_000_000))
        self.lidar_frame = declare(self, "lidar_frame", "lidar", "LiDAR frame of camera-only clouds until a sweep names it")
        self.pipeline = PerceptionPipeline.from_config(PipelineConfig(fusion, TrackerConfig.from_dict(tracking), camera_only))
        self.cameras = list(fusion.cameras)
        self.sync = LidarCameraSynchronizer(SyncConfig.uniform(
            self.cameras,
            offset_ns=int(declare(self, "sync.offset_ms", 0.0, "camera stamp minus sweep stamp", (-500.0, 500.0)) * _MS),
            slop_ns=int(declare(self, "sync.slop_ms", 50.0, "largest stamp mismatch of a pair", (0.0, 500.0)) * _MS),
            timeout_ns=int(declare(self, "sync.timeout_ms", 100.0, "wait for images after a sweep", (0.0, 2000.0)) * _MS),
        ))
        self.diagnostics = DiagnosticsConfig(latency=LatencyLimits(
            warn_ms=declare(self, "diagnostics.warn_ms", 100.0, "stage latency that warns", (0.0, 10_000.0)),
            error_ms=declare(self, "diagnostics.error_ms", 200.0, "stage latency that errors", (0.0, 10_000.0)),
        ))
        qos_name = declare(self, "qos.input", "sensor_data", "QoS of sensor inputs: sensor_data|reliable|...")
        depth = declare(self, "qos.input_depth", 0, "input queue depth (keep last); 0 = the profile's own", (0, 1000))
        qos = qos_from_name(qos_name, depth or None)
        # Fusion of the next sweep runs on one thread while this sweep is tracked and published on another.
        self.worker = TwoStageWorker(
            declare(self, "queue_depth", 3, "synchronised sets waiting for fusion; beyond it the oldest is dropped "
                    "(counted)", (1, 1000)),
            self.sync.drop_released, lambda err: self.log.error("worker", f"sweep not processed: {err!r}"),
            threaded=declare(self, "pipelined", True, "fusion and tracking/publishing on two threads (False: both in "
                             "the executor's callback)"))
        # The worker's threads hold the node; they end with its context, so a node nobody destroyed is not kept alive.
        self.context.on_shutdown(self.worker.close)
        self.table = load_class_table()
        self.health = CameraHealth()
        self.window = SyncHealthWindow()
        self.log = ThrottledLogger(self.get_logger())
        self.tf = TransformTree()
        self.infos: dict[str, CameraInfo] = {}
        self._uncalibrated: dict[str, Image] = {}  # a camera's newest image until its camera_info and extrinsics arrive

        self.lidar_gaps = SequenceGapCounter()  # sweeps lost before the callback count as dropped
        self.create_subscription(PointCloud2, "lidar/points", self._on_cloud, qos)
        for name in self.cameras:
            self.create_subscription(Image, f"cameras/{name}/image", lambda m, n=name: self._on_image(n, m), qos)
            self.create_subscription(CameraInfo, f"cameras/{name}/camera_info", lambda m, n=name: self._on_info(n, m), qos)
        from tf2_msgs.msg import TFMessage

        self.create_subscription(TFMessage, "/tf_static", self._on_tf_static, LATCHED_QOS)
        self.points_pub = self.create_publisher(PointCloud2, "perception/panoptic_points", OUTPUT_QOS)
        self.rgb_pub = self.create_publisher(PointCloud2, "perception/panoptic_points_rgb", OUTPUT_QOS)
        self.tracks_pub = self.create_publisher(TrackArray, "perception/tracks", OUTPUT_QOS)
        self.markers_pub = self.create_publisher(MarkerArray, "perception/track_markers", OUTPUT_QOS)
        self.status_pub = self.create_publisher(PipelineStatus, "perception/status", OUTPUT_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self.create_publisher(ClassMap, "perception/class_map", LATCHED_QOS).publish(class_map_msg(self.table))
        # Sweeps whose cameras timed out: the timer is re-armed for the next timeout (steady clock, as the
        # synchroniser's), not polled: each wake-up of rclpy's executor costs about a millisecond of CPU.
        self._release_timer = self.create_timer(IDLE_RELEASE_S, self._release, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.processed = 0  # sweeps
        self.camera_only_frames = 0  # outputs of the camera-only fallback
        # LiDAR silence must hold in sensor stamps (image stamp minus the newest sweep's, or the first image's while no
        # sweep came) and in wall time since the last sweep callback: under overload images are taken while sweeps
        # still wait in their queue, so their stamps alone would run a spurious (and slow) camera-only frame.
        self.last_lidar_stamp_ns: int | None = None
        self.first_image_stamp_ns: int | None = None
        self.last_lidar_wall_ns: int | None = None  # monotonic time of the last sweep callback or the first image

    def destroy_node(self) -> None:
        self.worker.close()
        super().destroy_node()

    # Inputs
    def _on_cloud(self, msg: PointCloud2, info: Any) -> None:  # two parameters: rclpy passes the MessageInfo
        self.sync.count_missed_lidar(self.lidar_gaps.update(info))
        try:
            validate_cloud_msg(msg)
        except ConversionError as err:
            self.log.warning("cloud", f"dropping LiDAR message: {err}")
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self.last_lidar_stamp_ns = max(stamp, self.last_lidar_stamp_ns or stamp)
        self.last_lidar_wall_ns = time.monotonic_ns()
        self.lidar_frame = msg.header.frame_id or self.lidar_frame
        self.sync.add_lidar(stamp, msg, time.monotonic_ns())
        self._release()

    def _on_image(self, name: str, msg: Image) -> None:
        try:
            validate_image_msg(msg)
        except ConversionError as err:
            self.log.warning(f"image/{name}", f"dropping image of camera {name}: {err}")
            return
        if not self._calibrated(name):
            self._uncalibrated[name] = msg
            return
        stamp = stamp_to_ns(msg.header.stamp)
        self.sync.add_image(name, stamp, msg, time.monotonic_ns())
        self._release()
        now_ns = time.monotonic_ns()
        if self.first_image_stamp_ns is None:
            self.first_image_stamp_ns = stamp
        if self.last_lidar_wall_ns is None:
            self.last_lidar_wall_ns = now_ns
        silent_ns = stamp - (self.last_lidar_stamp_ns if self.last_lidar_stamp_ns is not None else self.first_image_stamp_ns)
        silent_ns = min(silent_ns, now_ns - self.last_lidar_wall_ns)
        if self.pipeline.camera_only is not None and silent_ns > self.lidar_timeout_ns:
            self._process_camera_only(name, msg, f"no LiDAR sweep for {silent_ns / _MS:.0f} ms")

    def _on_info(self, name: str, msg: CameraInfo) -> None:
        self.infos[name] = msg
        self._flush_uncalibrated()

    def _calibrated(self, name: str) -> bool:
        info = self.infos.get(name)
        return info is not None and info.header.frame_id in self.tf

    def _flush_uncalibrated(self) -> None:
        for name in [n for n in self._uncalibrated if self._calibrated(n)]:
            self._on_image(name, self._uncalibrated.pop(name))

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            try:
                self.tf.add(t.header.frame_id, t.child_frame_id, transform_to_matrix(t.transform))
            except (ValueError, ConversionError) as err:
                self.log.warning("tf_static", f"ignoring /tf_static {t.header.frame_id} -> {t.child_frame_id}: {err}")
        self._flush_uncalibrated()

    # Processing
    def _release(self) -> None:
        for synced in self.sync.poll(time.monotonic_ns()):
            self._process(synced)
        now = time.monotonic_ns()
        deadline = self.sync.next_deadline_ns(now)
        wait_ns = int(IDLE_RELEASE_S * 1e9) if deadline is None else max(deadline - now, MIN_RELEASE_WAIT_NS)
        self._release_timer.timer_period_ns = wait_ns
        self._release_timer.reset()

    def _frame(self, synced: SyncedSet) -> tuple[SensorFrame, list[str]]:
        points, point_time = cloud_to_sensor_points(synced.lidar)
        lidar_frame = synced.lidar.header.frame_id
        images, problems = self._images(synced.images, lidar_frame)
        problems = [f"camera {n}: no image within the sync window" for n in synced.missing] + problems
        return SensorFrame(synced.lidar_stamp_ns, points, images, point_time, lidar_frame), problems

    def _images(self, messages: dict[str, tuple[int, Image]], lidar_frame: str) -> tuple[dict[str, CameraImage], list[str]]:
        images, problems = {}, []
        for name, (stamp_ns, msg) in messages.items():
            info = self.infos.get(name)
            try:
                if info is None:
                    raise ConversionError("no camera_info received yet")
                T_cam_lidar = self.tf.lookup(info.header.frame_id, lidar_frame)
                rgb = image_to_rgb(msg)
                model = camera_info_to_model(info, name, T_cam_lidar)
                fault = self.health.check(name, rgb)
                if fault is not None:
                    problems.append(fault)
                    continue
                images[name] = CameraImage(model, stamp_ns, rgb)
            except (ConversionError, TransformLookupError, ValueError) as err:
                problems.append(f"camera {name}: {err}")
        return images, problems

    def _process(self, synced: SyncedSet) -> None:
        self.worker.submit(lambda: self._infer(synced))

    def _infer(self, synced: SyncedSet) -> SecondStage | None:
        """First stage (fusion thread): conversions and the network; returns the second stage."""
        try:
            frame, problems = self._frame(synced)
            degraded = self.pipeline.camera_only is not None and frame.cameras and len(frame.points) < self.min_lidar_points
            if degraded:
                result = self.pipeline.process(
                    frame, lidar_missing=f"LiDAR degraded: {len(frame.points)} points < {self.min_lidar_points}")
                return lambda: self._answer_degraded(result, problems)
            inferred = self.pipeline.infer(frame)
        except (ConversionError, ValueError) as err:
            self.log.error("process", f"sweep at {synced.lidar_stamp_ns} ns not processed: {err}")
            return None
        return lambda: self._complete(inferred, problems)

    def _answer_degraded(self, result: FrameResult, problems: list[str]) -> None:
        self._publish_camera_only(result, problems)
        self.processed += 1  # a sweep, answered camera-only

    def _complete(self, inferred: InferredFrame, problems: list[str]) -> None:
        """Second stage (publishing thread): post-processing, tracking, outputs."""
        frame = inferred.frame
        try:
            result = self.pipeline.complete(inferred)
        except (ConversionError, ValueError) as err:
            self.log.error("process", f"sweep at {frame.stamp_ns} ns not processed: {err}")
            return
        stamp, frame_id = frame.stamp_ns, frame.lidar_frame
        self.points_pub.publish(panoptic_cloud_to_msg(result.cloud, frame_id))
        if self.rgb_pub.get_subscription_count():
            self.rgb_pub.publish(rgb_cloud_msg(result.cloud, self.table, frame_id))
        self.tracks_pub.publish(track_array_msg(result.tracks, self.table, stamp, frame_id))
        if self.markers_pub.get_subscription_count():
            self.markers_pub.publish(track_markers_msg(result.tracks, self.table, stamp, frame_id))
        self.processed += 1
        self.window.update(self.sync.counters)
        total_ms = (self.get_clock().now().nanoseconds - stamp) / _MS
        reason = "; ".join(problems) or result.reason
        if problems:
            self.log.warning("degraded", f"sweep at {stamp} ns: {reason}")
        self.status_pub.publish(pipeline_status_msg(
            stamp, frame_id, result.latency_ms, total_ms, result.mode, True, result.cameras_used, result.cameras_missing,
            [self._reliability(frame, result.cloud.uncertainty, n) for n in result.cameras_used], self.sync.counters, reason))
        self.diag_pub.publish(diagnostic_array(stamp, result.latency_ms, self.window, self.sync.counters, self.diagnostics,
                                               result.cameras_missing))

    def _process_camera_only(self, name: str, msg: Image, reason: str) -> None:
        """One image while the LiDAR is silent: the camera-only cloud, stamped with the image, in the LiDAR frame."""
        stamp = stamp_to_ns(msg.header.stamp)

        def infer() -> SecondStage | None:
            try:
                images, problems = self._images({name: (stamp, msg)}, self.lidar_frame)
                if not images:
                    raise ConversionError("; ".join(problems))
                frame = SensorFrame(stamp, np.zeros((0, 4), np.float32), images, None, self.lidar_frame)
                result = self.pipeline.process(frame, lidar_missing=reason)
            except (ConversionError, ValueError) as err:
                self.log.error("camera_only", f"camera-only frame of {name} at {stamp} ns not processed: {err}")
                return None
            return lambda: self._publish_camera_only(result, problems)

        self.worker.submit(infer, lambda: self.log.warning("camera_only", f"camera-only frame of {name} at {stamp} ns "
                                                                         "dropped: the fusion queue is full"))

    def _publish_camera_only(self, result: FrameResult, problems: list[str]) -> None:
        stamp, frame_id = result.cloud.stamp_ns, result.cloud.frame_id
        self.points_pub.publish(panoptic_cloud_to_msg(result.cloud, frame_id))
        if self.rgb_pub.get_subscription_count():
            self.rgb_pub.publish(rgb_cloud_msg(result.cloud, self.table, frame_id))
        self.camera_only_frames += 1
        reason = "; ".join([result.reason, *problems])
        self.log.warning("camera_only", f"camera-only output at {stamp} ns: {reason}")
        reliability = float(1.0 - result.cloud.uncertainty.mean()) if len(result.cloud.points) else 0.0
        total_ms = (self.get_clock().now().nanoseconds - stamp) / _MS
        self.status_pub.publish(pipeline_status_msg(
            stamp, frame_id, result.latency_ms, total_ms, result.mode, False, result.cameras_used, result.cameras_missing,
            [reliability] * len(result.cameras_used), self.sync.counters, reason))
        self.diag_pub.publish(diagnostic_array(stamp, result.latency_ms, self.window, self.sync.counters, self.diagnostics,
                                               result.cameras_missing))

    @staticmethod
    def _reliability(frame: SensorFrame, uncertainty: np.ndarray, name: str) -> float:
        """1 - mean camera-feature uncertainty of the points the camera sees."""
        _, _, inside = frame.cameras[name].camera.project(frame.xyz)
        return float(1.0 - uncertainty[inside].mean()) if inside.any() else 0.0


def main(args: list[str] | None = None) -> None:
    try:
        with rclpy.init(args=args):
            node = PerceptionNode()
            try:
                rclpy.spin(node)
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
