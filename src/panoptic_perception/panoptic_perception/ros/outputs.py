"""Pipeline results -> output messages: tracks, track markers and the class-coloured cloud."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point, Quaternion, Vector3
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from panoptic_msgs.msg import MapInstance, MapInstanceArray, Track, TrackArray

from ..core import ClassTable, PanopticCloud
from ..tracking import TrackOutput
from .pointcloud import array_to_cloud
from .stamps import make_header, ns_to_stamp

MARKER_LIFETIME_S = 0.3  # markers of a track vanish unless refreshed by the next sweeps
RGB_POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<f4")])


def _point(v: np.ndarray) -> Point:
    return Point(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _vector(v: np.ndarray) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _yaw_quaternion(yaw: float) -> Quaternion:
    return Quaternion(z=float(np.sin(yaw / 2)), w=float(np.cos(yaw / 2)))


def track_array_msg(tracks: Sequence[TrackOutput], table: ClassTable, stamp_ns: int, frame_id: str) -> TrackArray:
    """Every track of the sweep (removed ones excluded), in the sensor frame."""
    out = TrackArray(header=make_header(frame_id=frame_id, stamp_ns=stamp_ns))
    for t in tracks:
        if t.state == Track.STATE_REMOVED:
            continue
        out.tracks.append(Track(
            track_id=int(t.track_id), class_id=int(t.class_id), class_name=table.classes[t.class_id].name,
            score=float(t.score), age=int(t.age), hits=int(t.hits), state=int(t.state),
            centroid=_point(t.centroid), box_center=_point(t.box_center), box_size=_vector(t.box_size),
            box_yaw=float(t.box_yaw), velocity=_vector(t.velocity), num_points=int(t.num_points),
        ))
    return out


def track_markers_msg(tracks: Sequence[TrackOutput], table: ClassTable, stamp_ns: int, frame_id: str) -> MarkerArray:
    """A box and an id label per confirmed or lost track, coloured by class."""
    header = make_header(frame_id=frame_id, stamp_ns=stamp_ns)
    colors = table.colors() / 255.0
    markers = MarkerArray()
    for t in tracks:
        if t.state not in (Track.STATE_CONFIRMED, Track.STATE_LOST):
            continue
        r, g, b = (float(c) for c in colors[t.class_id])
        alpha = 0.6 if t.state == Track.STATE_CONFIRMED else 0.25
        box = Marker(header=header, ns="tracks", id=int(t.track_id) % 2**31, type=Marker.CUBE, action=Marker.ADD,
                     scale=_vector(np.maximum(t.box_size, 0.05)), color=ColorRGBA(r=r, g=g, b=b, a=alpha))
        box.pose.position, box.pose.orientation = _point(t.box_center), _yaw_quaternion(t.box_yaw)
        box.lifetime.sec, box.lifetime.nanosec = 0, int(MARKER_LIFETIME_S * 1e9)
        text = Marker(header=header, ns="track_ids", id=int(t.track_id) % 2**31, type=Marker.TEXT_VIEW_FACING,
                      action=Marker.ADD, text=f"{t.track_id} {table.classes[t.class_id].name}",
                      scale=Vector3(z=0.8), color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0))
        text.pose.position = _point(t.box_center + np.array([0.0, 0.0, t.box_size[2] / 2 + 0.5]))
        text.lifetime = box.lifetime
        markers.markers.extend([box, text])
    return markers


def packed_rgb(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours as the float32 ``rgb`` field RViz's RGB8 transformer reads."""
    rgb = np.asarray(rgb).astype(np.uint32)
    return ((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).view(np.float32)


def rgb_cloud_msg(cloud: PanopticCloud, table: ClassTable, frame_id: str) -> PointCloud2:
    """x, y, z and a packed ``rgb`` float coloured by class."""
    points = np.empty(len(cloud.points), RGB_POINT_DTYPE)
    points["x"], points["y"], points["z"] = cloud.points[:, 0], cloud.points[:, 1], cloud.points[:, 2]
    points["rgb"] = packed_rgb(table.colors()[cloud.class_id])
    return array_to_cloud(points, frame_id=frame_id, stamp_ns=cloud.stamp_ns)


MAP_POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("class_id", "<u2"), ("instance_id", "<u4"),
                            ("label", "<u4"), ("rgb", "<f4")])


def map_cloud_msg(records: np.ndarray, stamp_ns: int, frame_id: str) -> PointCloud2:
    """Map voxel records (``mapping.make_records``: x, y, z, class_id, instance_id, label, r, g, b) for RViz."""
    points = np.empty(len(records), MAP_POINT_DTYPE)
    for name in ("x", "y", "z", "class_id", "instance_id", "label"):
        points[name] = records[name]
    points["rgb"] = packed_rgb(np.column_stack([records["r"], records["g"], records["b"]]))
    return array_to_cloud(points, frame_id=frame_id, stamp_ns=stamp_ns)


def map_instances_msg(instances: Sequence[dict], stamp_ns: int, frame_id: str) -> MapInstanceArray:
    """``PanopticMap.instances()`` summaries as a ``MapInstanceArray``."""
    out = MapInstanceArray(header=make_header(frame_id=frame_id, stamp_ns=stamp_ns))
    for i in instances:
        out.instances.append(MapInstance(
            instance_id=int(i["instance_id"]), class_id=int(i["class_id"]), class_name=str(i["class_name"]),
            confidence=float(i["confidence"]), num_observations=int(i["num_observations"]), num_voxels=int(i["num_voxels"]),
            centroid=_point(np.asarray(i["centroid"])), box_center=_point(np.asarray(i["box_center"])),
            box_size=_vector(np.asarray(i["box_size"])), box_yaw=float(i["box_yaw"]),
            first_seen=ns_to_stamp(i["first_seen_ns"]), last_seen=ns_to_stamp(i["last_seen_ns"]),
        ))
    return out
