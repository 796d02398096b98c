"""rosbag2 bags in MCAP storage: LabeledFrames in, LabeledFrames out.

Topics (see ``panoptic_datasets.ros.messages`` for the ground-truth encodings): ``/lidar/points``
(x, y, z, intensity, t), ``/cameras/<name>/image`` rgb8, ``/cameras/<name>/camera_info``, ``/tf``
(odom -> base_link per sweep), ``/tf_static`` (base_link -> lidar, lidar -> camera optical
frames; transient local) and ``/ground_truth/...``. Every message's log time is its header stamp.

Messages are serialised by rclpy from real rclpy messages, except ``tf2_msgs/TFMessage``, which
has no Python package outside a full ROS install and is serialised by rosbags (same CDR bytes).
Message definitions and RIHS01 hashes come from rosbags' Jazzy typestore, with panoptic_msgs
registered from their installed ``.msg`` files, so rosbags, the mcap library and ``ros2 bag``
can all read the bag. Output is deterministic: no wall-clock time is written anywhere.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from rosbags.interfaces import Connection, Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.rosbag2.errors import ReaderError as RosbagsReaderError
from rosbags.rosbag2.errors import WriterError as RosbagsWriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame
from panoptic_perception.ros.conversions import (
    camera_info_to_model,
    cloud_to_array,
    cloud_to_sensor_points,
    image_to_array,
    image_to_rgb,
    stamp_to_ns,
    transform_to_matrix,
)

from ..frame import CameraTruth, LabeledFrame
from ..ros import messages as m
from ._io import invert
from .errors import ReaderError, WriterError

TF, TF_STATIC = "/tf", "/tf_static"
SEQUENCE_KEY = "panoptic.sequence"
_TIME_ZERO = QosTime(0, 0)
TF_STATIC_QOS = Qos(
    QosHistory.KEEP_LAST,
    1,
    QosReliability.RELIABLE,
    QosDurability.TRANSIENT_LOCAL,
    _TIME_ZERO,
    _TIME_ZERO,
    QosLiveliness.AUTOMATIC,
    _TIME_ZERO,
    False,
)
_PANOPTIC_TYPES = ("Track", "TrackArray", "MapInstance", "MapInstanceArray", "ClassInfo", "ClassMap", "StageLatency",
                   "PipelineStatus")


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """Jazzy's standard types plus panoptic_msgs, read from the installed (or source) .msg files."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for name in _PANOPTIC_TYPES:
        types.update(get_types_from_msg(_msg_file(name).read_text(), f"panoptic_msgs/msg/{name}"))
    store.register(types)
    return store


def _msg_file(name: str) -> Path:
    try:
        from ament_index_python import get_package_share_directory

        path = Path(get_package_share_directory("panoptic_msgs")) / "msg" / f"{name}.msg"
    except (ImportError, LookupError):
        path = Path(__file__).resolve().parents[4] / "panoptic_msgs" / "msg" / f"{name}.msg"
    if not path.is_file():
        raise WriterError(f"{path}: panoptic_msgs definition not found (is the workspace built and sourced?)")
    return path


def _ros_type(msg: Any) -> str:
    module = type(msg).__module__.split(".")[0]
    return f"{module}/msg/{type(msg).__name__}"


class BagRecorder:
    """Any ROS 2 messages into a new rosbag2/MCAP bag folder, deterministically; a context manager.

    ``write`` takes rclpy messages; ``write_cdr`` takes CDR bytes already serialised. Log times
    are the stamps given (the sensor stamps), never the wall clock.
    """

    def __init__(self, path: str | Path, *, compress: bool = True, custom: dict[str, str] | None = None) -> None:
        from rclpy.serialization import serialize_message

        self._serialize = serialize_message
        self.path = Path(path)
        self._store = typestore()
        try:
            self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
            if compress:  # zstd chunks: images and ground-truth rasters shrink several-fold
                self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
            for key, value in (custom or {}).items():
                self._writer.set_custom_data(key, value)
            self._writer.open()
        except RosbagsWriterError as err:
            raise WriterError(f"{self.path}: {err}") from err
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def store(self) -> Typestore:
        return self._store

    def write(self, topic: str, msg: Any, stamp_ns: int, qos: tuple[Qos, ...] = ()) -> None:
        msgtype = _ros_type(msg)
        self.write_cdr(topic, msgtype, self._canonical(self._serialize(msg), msgtype), stamp_ns, qos)

    def write_cdr(self, topic: str, msgtype: str, data: bytes, stamp_ns: int, qos: tuple[Qos, ...] = ()) -> None:
        if topic not in self._connections:
            try:
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, typestore=self._store, offered_qos_profiles=qos
                )
            except RosbagsWriterError as err:
                raise WriterError(f"{self.path}: topic {topic}: {err}") from err
        self._writer.write(self._connections[topic], stamp_ns, data)

    def _canonical(self, raw: bytes, msgtype: str) -> bytes:
        # rclpy (Fast CDR) leaves alignment padding uninitialised; a rosbags round trip zeroes it,
        # which makes identical messages give byte-identical bags.
        return bytes(self._store.serialize_cdr(self._store.deserialize_cdr(raw, msgtype), msgtype))

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


class BagWriter:
    """Write LabeledFrames to a new rosbag2/MCAP bag folder; a context manager."""

    def __init__(
        self,
        path: str | Path,
        *,
        T_base_lidar: np.ndarray | None = None,
        ground_truth: bool = True,
        names: m.FrameNames = m.DEFAULT_NAMES,
        compress: bool = True,
        sequence: int | None = None,
        quantize: bool = True,
    ) -> None:
        self.path = Path(path)
        self.T_base_lidar = np.eye(4) if T_base_lidar is None else np.asarray(T_base_lidar, dtype=np.float64)
        self.ground_truth = ground_truth
        self.names = names
        self.quantize = quantize  # depth to 1/256 m, flow to 1/64 px: keeps a 200-frame HDL-64 bag under 1 GB
        custom = {SEQUENCE_KEY: str(int(sequence))} if sequence is not None else None
        self._recorder = BagRecorder(self.path, compress=compress, custom=custom)
        self._count = 0

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._recorder.abort()

    def _write_tf(self, topic: str, transforms: list[Any], stamp_ns: int) -> None:
        store = self._recorder.store
        T = store.types
        msgs = []
        for t in transforms:
            header = T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=t.header.stamp.sec, nanosec=t.header.stamp.nanosec),
                frame_id=t.header.frame_id,
            )
            tr, rot = t.transform.translation, t.transform.rotation
            transform = T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=tr.x, y=tr.y, z=tr.z),
                rotation=T["geometry_msgs/msg/Quaternion"](x=rot.x, y=rot.y, z=rot.z, w=rot.w),
            )
            msgs.append(
                T["geometry_msgs/msg/TransformStamped"](header=header, child_frame_id=t.child_frame_id, transform=transform)
            )
        data = store.serialize_cdr(T["tf2_msgs/msg/TFMessage"](transforms=msgs), "tf2_msgs/msg/TFMessage")
        qos = (TF_STATIC_QOS,) if topic == TF_STATIC else ()
        self._recorder.write_cdr(topic, "tf2_msgs/msg/TFMessage", bytes(data), stamp_ns, qos)

    def write(self, frame: LabeledFrame) -> None:
        stamp = frame.sensor.stamp_ns
        if self._count == 0:
            cameras = {name: image.camera for name, image in frame.sensor.cameras.items()}
            self._write_tf(
                TF_STATIC, m.static_transforms(cameras, self.T_base_lidar, frame.sensor.lidar_frame, self.names, stamp), stamp
            )
        self._write_tf(TF, [m.odom_transform(frame, self.T_base_lidar, self.names)], stamp)
        try:
            messages = m.frame_messages(frame, self.names, self.ground_truth, self.quantize)
        except ValueError as err:
            raise WriterError(f"{self.path}: frame {self._count}: {err}") from err
        for topic, msg_stamp, msg in messages:
            self._recorder.write("/" + topic, msg, msg_stamp)
        self._count += 1

    def close(self) -> None:
        self._recorder.close()


def read_messages(path: str | Path, topics: list[str]) -> Iterator[tuple[str, int, Any]]:
    """(topic, log time ns, message) of the given topics of any rosbag2 bag, in log-time order.

    Messages are decoded by rosbags into its own message classes (same field names as rclpy's).
    """
    path = Path(path)
    if not (path / "metadata.yaml").is_file():
        raise ReaderError(f"{path / 'metadata.yaml'}: file not found (not a rosbag2 folder)")
    store = typestore()
    try:
        with Reader(path) as reader:
            missing = sorted(set(topics) - set(reader.topics))
            if missing:
                raise ReaderError(f"{path}: no topic {', '.join(missing)}; topics: {', '.join(sorted(reader.topics))}")
            connections = [c for c in reader.connections if c.topic in topics]
            for connection, stamp, raw in reader.messages(connections=connections):
                yield connection.topic, stamp, store.deserialize_cdr(raw, connection.msgtype)
    except RosbagsReaderError as err:
        raise ReaderError(f"{path}: {err}") from err


class BagReader:
    """Read a bag written by :class:`BagWriter` (or any bag with the same topics) as LabeledFrames.

    Messages are grouped into frames by log time: each belongs to the sweep whose stamp is
    nearest. Frames stream; only one sweep's messages are held at a time. ``T_world_lidar`` is
    odom -> base_link (from /tf) composed with base_link -> lidar, and all NaN when a sweep has
    no /tf; ``point_label`` is 0 without ground truth.
    """

    def __init__(self, path: str | Path, names: m.FrameNames = m.DEFAULT_NAMES) -> None:
        self.path = Path(path)
        self.names = names
        if not (self.path / "metadata.yaml").is_file():
            raise ReaderError(f"{self.path / 'metadata.yaml'}: file not found (not a rosbag2 folder)")
        self._store = typestore()
        try:
            with Reader(self.path) as reader:
                self.topics = {name: (info.msgtype, info.msgcount) for name, info in reader.topics.items()}
                custom = reader.storage.metadata.custom or {}
                self.sequence = int(custom.get(SEQUENCE_KEY, 0))
                static = [c for c in reader.connections if c.topic == TF_STATIC]
                infos = [
                    c for c in reader.connections if c.topic.endswith("/camera_info") and not c.topic.startswith("/ground_truth")
                ]
                points = [c for c in reader.connections if c.topic == "/" + m.POINTS]
                if not points:
                    raise ReaderError(f"{self.path}: no /{m.POINTS} topic")
                self._stamps = [t for _, t, _ in reader.messages(connections=points)]
                transforms = [self._decode(c, raw) for c, _, raw in reader.messages(connections=static)]
                first_info = {}
                for c, _, raw in reader.messages(connections=infos):
                    first_info.setdefault(c.topic.split("/")[2], self._decode(c, raw))
        except RosbagsReaderError as err:
            raise ReaderError(f"{self.path}: {err}") from err
        self._static = {
            (t.header.frame_id, t.child_frame_id): transform_to_matrix(t.transform) for msg in transforms for t in msg.transforms
        }
        self._lidar_frame = next((child for (parent, child) in self._static if parent == self.names.base), "lidar")
        self._T_base_lidar = self._static.get((self.names.base, self._lidar_frame), np.eye(4))
        self._cameras: dict[str, CameraModel] = {}
        for name, info in first_info.items():
            T_lidar_cam = self._static.get((self._lidar_frame, info.header.frame_id))
            if T_lidar_cam is None:
                raise ReaderError(
                    f"{self.path}: /tf_static has no {self._lidar_frame} -> {info.header.frame_id} for camera {name!r}"
                )
            self._cameras[name] = camera_info_to_model(info, name, invert(T_lidar_cam))

    def _decode(self, connection: Connection, raw: bytes) -> Any:
        return self._store.deserialize_cdr(raw, connection.msgtype)

    @property
    def cameras(self) -> dict[str, CameraModel]:
        return dict(self._cameras)

    @property
    def T_base_lidar(self) -> np.ndarray:
        return self._T_base_lidar

    @property
    def lidar_frame(self) -> str:
        return self._lidar_frame

    def __len__(self) -> int:
        return len(self._stamps)

    def _nearest(self, t: int) -> int:
        k = bisect.bisect_left(self._stamps, t)
        if k == len(self._stamps) or (k > 0 and t - self._stamps[k - 1] <= self._stamps[k] - t):
            k -= 1
        return k

    def __iter__(self) -> Iterator[LabeledFrame]:
        pending: dict[int, dict[str, Any]] = {}
        emitted = 0
        try:
            with Reader(self.path) as reader:
                wanted = [c for c in reader.connections if c.topic != TF_STATIC]
                for connection, t, raw in reader.messages(connections=wanted):
                    k = self._nearest(t)
                    while emitted < k and t > (self._stamps[emitted] + self._stamps[emitted + 1]) / 2:
                        yield self._frame(emitted, pending.pop(emitted, {}))
                        emitted += 1
                    pending.setdefault(k, {})[connection.topic] = self._decode(connection, raw)
        except RosbagsReaderError as err:
            raise ReaderError(f"{self.path}: {err}") from err
        while emitted < len(self._stamps):
            yield self._frame(emitted, pending.pop(emitted, {}))
            emitted += 1

    def _frame(self, index: int, msgs: dict[str, Any]) -> LabeledFrame:
        cloud = msgs.get("/" + m.POINTS)
        if cloud is None:
            raise ReaderError(f"{self.path}: sweep {index} lost its /{m.POINTS} message")
        points, point_time = cloud_to_sensor_points(cloud)
        stamp = stamp_to_ns(cloud.header.stamp)
        images, truths = {}, {}
        for name, camera in self._cameras.items():
            image = msgs.get("/" + m.image_topic(name))
            if image is not None:
                images[name] = CameraImage(camera, stamp_to_ns(image.header.stamp), image_to_rgb(image))
            gt = {kind: msgs.get("/" + m.gt_camera_topic(name, kind)) for kind in m.GT_CAMERA_KINDS}
            if all(gt[kind] is not None for kind in ("semantic", "instance", "depth")):
                flow = image_to_array(gt["flow"]) if gt["flow"] is not None else None
                truths[name] = CameraTruth(
                    image_to_array(gt["semantic"]).astype(np.uint16),
                    image_to_array(gt["instance"]).astype(np.uint32),
                    image_to_array(gt["depth"]).astype(np.float32),
                    flow,
                )
        labels_msg = msgs.get("/" + m.GT_LABELS)
        if labels_msg is not None:
            labels = cloud_to_array(labels_msg)["label"].astype(np.uint32)
            if len(labels) != len(points):
                raise ReaderError(f"{self.path}: sweep {index}: {len(labels)} ground-truth labels for {len(points)} points")
        else:
            labels = np.zeros(len(points), dtype=np.uint32)
        tf = msgs.get(TF)
        if tf is not None:
            odom_base = next(
                (transform_to_matrix(x.transform) for x in tf.transforms if x.child_frame_id == self.names.base), None
            )
        else:
            odom_base = None
        pose = odom_base @ self._T_base_lidar if odom_base is not None else np.full((4, 4), np.nan)
        objects = m.objects_from_message(msgs["/" + m.GT_OBJECTS]) if "/" + m.GT_OBJECTS in msgs else []
        sensor = SensorFrame(stamp, points, images, point_time, cloud.header.frame_id or self._lidar_frame, self.sequence, index)
        return LabeledFrame(sensor, labels, pose, truths, objects)
