"""The mapping node on real DDS: ground-truth panoptic sweeps and poses in, map and services out."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import PointCloud2

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_msgs.msg import MapInstanceArray, Track, TrackArray
from panoptic_msgs.srv import ResetMap, SaveMap
from panoptic_perception.core import PanopticCloud, PoseBuffer, unpack_label
from panoptic_perception.ros.conversions import cloud_to_array, matrix_to_transform, panoptic_cloud_to_msg
from panoptic_perception.ros.qos import LATCHED_QOS

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def frames():
    return list(simulate(SceneConfig(seed=11, dynamic_share=0.0), make_rig("tiny"), 4))


def _feed(ros_context, spin_until, frames, map_dir, resume=""):
    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.mapping_node import MappingNode

    mapper = MappingNode(context=ros_context, parameter_overrides=[
        Parameter("map_dir", value=str(map_dir)), Parameter("publish_period_s", value=0.1),
        Parameter("resume_from", value=resume)])
    source = Node("source", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(mapper)
    executor.add_node(source)
    tf_static = source.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    tf = source.create_publisher(TFMessage, "/tf", 100)
    clouds = source.create_publisher(PointCloud2, "perception/panoptic_points", 10)
    assert spin_until(executor, lambda: clouds.get_subscription_count() and tf.get_subscription_count(), timeout=10.0)
    tf_static.publish(TFMessage(transforms=[matrix_to_transform(np.eye(4), "base_link", "lidar")]))
    for frame in frames:
        stamp = frame.sensor.stamp_ns
        semantic, instance = unpack_label(frame.point_label)
        n = len(semantic)
        cloud = PanopticCloud(stamp, frame.sensor.points, semantic, instance.astype(np.uint32), np.ones(n, np.float32),
                              np.zeros(n, np.float32), instance.astype(np.uint32), "lidar")
        clouds.publish(panoptic_cloud_to_msg(cloud))  # before its pose: the node must hold it
        tf.publish(TFMessage(transforms=[matrix_to_transform(frame.T_world_lidar, "odom", "base_link", stamp)]))
    assert spin_until(executor, lambda: mapper.integrated == len(frames), timeout=15.0)
    return mapper, source, executor


def _call(executor, spin_until, client, request):
    assert spin_until(executor, client.service_is_ready, timeout=10.0)
    future = client.call_async(request)
    assert spin_until(executor, future.done, timeout=10.0)
    return future.result()


def test_sweeps_become_a_latched_map_with_instances(ros_context, spin_until, frames, tmp_path):
    mapper, source, executor = _feed(ros_context, spin_until, frames, tmp_path)
    maps, instances = [], []
    source.create_subscription(PointCloud2, "perception/map", maps.append, LATCHED_QOS)
    source.create_subscription(MapInstanceArray, "perception/map_instances", instances.append, LATCHED_QOS)
    assert spin_until(executor, lambda: maps and instances, timeout=10.0)

    voxels = cloud_to_array(maps[-1])
    assert maps[-1].header.frame_id == "odom" and maps[-1].header.stamp.sec == frames[-1].sensor.stamp_ns // 10**9
    assert len(voxels) > 100 and set(np.unique(voxels["class_id"])) <= set(range(20))
    things = {i.instance_id for i in instances[-1].instances}
    assert things == set(np.unique(voxels["instance_id"][voxels["instance_id"] > 0]))
    executor.shutdown()


def test_save_map_writes_under_map_dir_refuses_escapes_and_a_restart_resumes(ros_context, spin_until, frames, tmp_path):
    mapper, source, executor = _feed(ros_context, spin_until, frames, tmp_path)
    save = source.create_client(SaveMap, "save_map")
    ok = _call(executor, spin_until, save, SaveMap.Request(path="run1"))
    assert ok.success, ok.message
    assert {"map.json", "map.ply", "map.pcd", "instances.json"} <= {p.name for p in (tmp_path / "run1").iterdir()}
    escape = _call(executor, spin_until, save, SaveMap.Request(path="../outside"))
    assert not escape.success and "outside the map root" in escape.message
    assert not (tmp_path.parent / "outside").exists()
    saved = len(mapper.map.instances())
    cleared = _call(executor, spin_until, source.create_client(ResetMap, "reset_map"), ResetMap.Request())
    assert cleared.success and mapper.map.instances() == []
    executor.shutdown()
    mapper.destroy_node()

    from panoptic_perception.nodes.mapping_node import MappingNode

    restarted = MappingNode(context=ros_context, parameter_overrides=[
        Parameter("map_dir", value=str(tmp_path)), Parameter("resume_from", value="run1")])
    assert len(restarted.map.instances()) == saved > 0


def test_pose_buffer_returns_the_nearest_pose_within_tolerance_only():
    buffer = PoseBuffer(capacity=3, tolerance_ns=10)
    for stamp in (100, 200, 300, 400):
        T = np.eye(4)
        T[0, 3] = stamp
        buffer.add(stamp, T)
    assert buffer.at(100) is None  # evicted beyond capacity
    assert buffer.at(205)[0, 3] == 200 and buffer.at(395)[0, 3] == 400
    assert buffer.at(250) is None and buffer.newest_ns == 400


def test_parked_cars_tracked_in_the_moving_sensor_frame_stay_in_the_static_map(ros_context, spin_until, frames):
    """The perception node tracks in the LiDAR frame, where a parked car moves at the vehicle's speed: the mapping
    node waits for each sweep's tracks and judges them in the odom frame."""
    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.mapping_node import MappingNode
    from panoptic_perception.ros.conversions import ns_to_stamp

    mapper = MappingNode(context=ros_context, parameter_overrides=[Parameter("publish_period_s", value=0.1)])
    source = Node("tracks_source", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (mapper, source):
        executor.add_node(node)
    tf_static = source.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    tf = source.create_publisher(TFMessage, "/tf", 100)
    clouds = source.create_publisher(PointCloud2, "perception/panoptic_points", 10)
    tracks = source.create_publisher(TrackArray, "perception/tracks", 10)
    assert spin_until(executor, lambda: clouds.get_subscription_count() and tracks.get_subscription_count(), timeout=10.0)
    tf_static.publish(TFMessage(transforms=[matrix_to_transform(np.eye(4), "base_link", "lidar")]))
    previous, apparent, hits = {}, [], {}
    for frame in frames:  # a static scene (dynamic_share 0) passed by a driving vehicle
        stamp = frame.sensor.stamp_ns
        semantic, instance = unpack_label(frame.point_label)
        n = len(semantic)
        cloud = PanopticCloud(stamp, frame.sensor.points, semantic, instance.astype(np.uint32), np.ones(n, np.float32),
                              np.zeros(n, np.float32), instance.astype(np.uint32), "lidar")
        msg = TrackArray()
        msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp), "lidar"
        T_lidar_world = np.linalg.inv(frame.T_world_lidar)
        centres = {o.instance_id: T_lidar_world[:3, :3] @ o.center + T_lidar_world[:3, 3] for o in frame.objects}
        for track_id in (int(i) for i in np.unique(instance) if i > 0):
            centroid = centres[track_id]  # the true centre in the sensor frame: a tracker without noise
            if track_id in previous:  # the sensor-frame velocity such a tracker sees
                velocity = (centroid - previous[track_id][0]) / ((stamp - previous[track_id][1]) / 1e9)
                apparent.append(np.hypot(*velocity[:2]))
            else:
                velocity = np.zeros(3)
            previous[track_id] = (centroid, stamp)
            hits[track_id] = hits.get(track_id, 0) + 1
            track = Track(track_id=track_id, class_id=int(np.bincount(semantic[instance == track_id]).argmax()),
                          hits=hits[track_id])
            track.centroid.x, track.centroid.y, track.centroid.z = (float(v) for v in centroid)
            track.velocity.x, track.velocity.y, track.velocity.z = (float(v) for v in velocity)
            msg.tracks.append(track)
        clouds.publish(panoptic_cloud_to_msg(cloud))
        tf.publish(TFMessage(transforms=[matrix_to_transform(frame.T_world_lidar, "odom", "base_link", stamp)]))
        assert spin_until(executor, lambda: mapper.pending, timeout=5.0)  # held: its tracks have not come yet
        tracks.publish(msg)
        assert spin_until(executor, lambda f=frame: mapper.integrated == frames.index(f) + 1, timeout=10.0)
    assert max(apparent) > 0.5  # in the sensor frame they would all have counted as moving
    assert not mapper.map.dynamic.objects  # nothing was held out as moving
    for node in (mapper, source):
        node.destroy_node()
