"""LabeledFrame <-> ROS messages: the topic layout shared by the bag writer and the player node.

Topic names are relative (the bag prefixes ``/``; a node's namespace and remappings apply).
Ground truth lives under ``ground_truth/``:

    ground_truth/lidar/labels              PointCloud2, one u32 ``label`` field aligned with lidar/points
    ground_truth/cameras/<name>/semantic   Image 16UC1 class id
    ground_truth/cameras/<name>/instance   Image 32SC1 instance id (ids must stay below 2^31)
    ground_truth/cameras/<name>/depth      Image 32FC1 depth along the optical axis [m], 0 = none
    ground_truth/cameras/<name>/flow       Image 32FC2 forward flow [px], NaN = undefined
    (in bags both are rounded to 1/256 m and 1/64 px, see DEPTH_STEP / FLOW_STEP)
    ground_truth/objects                   panoptic_msgs/TrackArray in the odom (world) frame;
                                           track_id = instance id, state CONFIRMED = moving, LOST = static
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from panoptic_msgs.msg import Track, TrackArray
from panoptic_perception.core import CameraModel
from panoptic_perception.core.labels import load_class_table
from panoptic_perception.ros.conversions import (
    array_to_cloud,
    array_to_image,
    camera_model_to_info,
    make_header,
    matrix_to_transform,
)

from ..formats._io import invert
from ..frame import LabeledFrame, ObjectState

POINTS = "lidar/points"
GT_LABELS = "ground_truth/lidar/labels"
GT_OBJECTS = "ground_truth/objects"
GT_CAMERA_KINDS = {"semantic": "16UC1", "instance": "32SC1", "depth": "32FC1", "flow": "32FC2"}
MOVING_STATE, STATIC_STATE = Track.STATE_CONFIRMED, Track.STATE_LOST

Message = PointCloud2 | Image | CameraInfo | TrackArray


def image_topic(camera: str) -> str:
    return f"cameras/{camera}/image"


def info_topic(camera: str) -> str:
    return f"cameras/{camera}/camera_info"


def gt_camera_topic(camera: str, kind: str) -> str:
    return f"ground_truth/cameras/{camera}/{kind}"


@dataclass(frozen=True)
class FrameNames:
    """TF frame names; the LiDAR frame comes from the frames themselves."""

    odom: str = "odom"
    base: str = "base_link"

    @staticmethod
    def camera(name: str) -> str:
        return f"camera_{name}_optical_frame"


DEFAULT_NAMES = FrameNames()


def sweep_dtype(with_time: bool) -> np.dtype:
    names = ["x", "y", "z", "intensity"] + (["t"] if with_time else [])
    return np.dtype({"names": names, "formats": ["<f4"] * len(names)})


def sweep_message(frame: LabeledFrame) -> PointCloud2:
    sensor = frame.sensor
    cloud = np.empty(len(sensor.points), dtype=sweep_dtype(sensor.point_time is not None))
    for axis, name in enumerate(("x", "y", "z", "intensity")):
        cloud[name] = sensor.points[:, axis]
    if sensor.point_time is not None:
        cloud["t"] = sensor.point_time  # seconds from the sweep stamp
    return array_to_cloud(cloud, frame_id=sensor.lidar_frame, stamp_ns=sensor.stamp_ns)


def label_message(frame: LabeledFrame) -> PointCloud2:
    labels = np.empty(len(frame.point_label), dtype=np.dtype({"names": ["label"], "formats": ["<u4"]}))
    labels["label"] = frame.point_label
    return array_to_cloud(labels, frame_id=frame.sensor.lidar_frame, stamp_ns=frame.sensor.stamp_ns)


def objects_message(objects: list[ObjectState], stamp_ns: int, frame_id: str) -> TrackArray:
    names = load_class_table().names
    tracks = []
    for o in objects:
        c, s, v = (np.asarray(a, dtype=np.float64) for a in (o.center, o.size, o.velocity))
        tracks.append(
            Track(
                track_id=int(o.instance_id),
                class_id=int(o.class_id),
                class_name=names[o.class_id] if 0 <= o.class_id < len(names) else "",
                score=1.0,
                state=MOVING_STATE if o.moving else STATIC_STATE,
                centroid=Point(x=c[0], y=c[1], z=c[2]),
                box_center=Point(x=c[0], y=c[1], z=c[2]),
                box_size=Vector3(x=s[0], y=s[1], z=s[2]),
                box_yaw=float(o.yaw),
                velocity=Vector3(x=v[0], y=v[1], z=v[2]),
            )
        )
    return TrackArray(header=make_header(frame_id=frame_id, stamp_ns=stamp_ns), tracks=tracks)


def objects_from_message(msg: TrackArray) -> list[ObjectState]:
    """Duck-typed: works on rclpy and rosbags messages."""
    return [
        ObjectState(
            int(t.track_id),
            int(t.class_id),
            np.array([t.box_center.x, t.box_center.y, t.box_center.z]),
            np.array([t.box_size.x, t.box_size.y, t.box_size.z]),
            float(t.box_yaw),
            np.array([t.velocity.x, t.velocity.y, t.velocity.z]),
            int(t.state) == MOVING_STATE,
        )
        for t in msg.tracks
    ]


# Storage quantisation of the float ground-truth rasters (the KITTI depth and flow PNG steps): the
# low mantissa bits of float32 noise do not compress, the quantised values shrink ~5x under zstd.
DEPTH_STEP, FLOW_STEP = 1.0 / 256.0, 1.0 / 64.0


def frame_messages(
    frame: LabeledFrame, names: FrameNames = DEFAULT_NAMES, ground_truth: bool = True, quantize: bool = False
) -> list[tuple[str, int, Message]]:
    """(relative topic, stamp [ns], message) for one frame, sweep first; TF is separate (see transforms).

    ``quantize`` rounds depth to DEPTH_STEP [m] and flow to FLOW_STEP [px] (bags on disk).
    """
    sensor = frame.sensor
    out: list[tuple[str, int, Message]] = [(POINTS, sensor.stamp_ns, sweep_message(frame))]
    for name, image in sensor.cameras.items():
        optical = names.camera(name)
        out.append(
            (image_topic(name), image.stamp_ns, array_to_image(image.rgb, "rgb8", frame_id=optical, stamp_ns=image.stamp_ns))
        )
        out.append(
            (info_topic(name), image.stamp_ns, camera_model_to_info(image.camera, frame_id=optical, stamp_ns=image.stamp_ns))
        )
    if not ground_truth:
        return out
    out.append((GT_LABELS, sensor.stamp_ns, label_message(frame)))
    for name, truth in frame.cameras.items():
        stamp = sensor.cameras[name].stamp_ns if name in sensor.cameras else sensor.stamp_ns
        optical = names.camera(name)
        if truth.instance.size and int(truth.instance.max()) > np.iinfo(np.int32).max:
            raise ValueError(f"camera {name!r}: instance ids above 2^31 - 1 do not fit the 32SC1 ground-truth image")
        depth, flow = truth.depth.astype(np.float32), truth.flow
        if quantize:
            depth = (np.round(depth / DEPTH_STEP) * DEPTH_STEP).astype(np.float32)
            flow = None if flow is None else (np.round(flow / FLOW_STEP) * FLOW_STEP).astype(np.float32)
        arrays = {
            "semantic": truth.semantic.astype(np.uint16),
            "instance": truth.instance.astype(np.int32),
            "depth": depth,
            "flow": flow,
        }
        for kind, encoding in GT_CAMERA_KINDS.items():
            if arrays[kind] is not None:
                out.append(
                    (
                        gt_camera_topic(name, kind),
                        stamp,
                        array_to_image(
                            np.asarray(arrays[kind]).astype(np.float32 if kind == "flow" else arrays[kind].dtype),
                            encoding,
                            frame_id=optical,
                            stamp_ns=stamp,
                        ),
                    )
                )
    out.append((GT_OBJECTS, sensor.stamp_ns, objects_message(frame.objects, sensor.stamp_ns, names.odom)))
    return out


def static_transforms(
    cameras: dict[str, CameraModel],
    T_base_lidar: np.ndarray,
    lidar_frame: str,
    names: FrameNames = DEFAULT_NAMES,
    stamp_ns: int = 0,
) -> list[TransformStamped]:
    """base_link -> lidar and lidar -> each camera's optical frame."""
    out = [matrix_to_transform(T_base_lidar, names.base, lidar_frame, stamp_ns)]
    out += [
        matrix_to_transform(invert(cam.T_cam_lidar), lidar_frame, names.camera(name), stamp_ns) for name, cam in cameras.items()
    ]
    return out


def odom_transform(frame: LabeledFrame, T_base_lidar: np.ndarray, names: FrameNames = DEFAULT_NAMES) -> TransformStamped:
    """odom -> base_link at the sweep stamp (odom is the dataset's world frame)."""
    return matrix_to_transform(frame.T_world_lidar @ invert(T_base_lidar), names.odom, names.base, frame.sensor.stamp_ns)
