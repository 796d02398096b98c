"""The odometry node on real DDS: panoptic sweeps, tracks, camera and extrinsics in; odometry, TF and path out."""

from __future__ import annotations

import numpy as np
import pytest
from nav_msgs.msg import Odometry, Path
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from panoptic_datasets.ros import messages as m
from panoptic_datasets.world import Rig, SceneConfig, make_rig, simulate
from panoptic_msgs.msg import PipelineStatus, Track, TrackArray
from panoptic_perception.core import CameraModel, PanopticCloud, unpack_label
from panoptic_perception.ros.conversions import make_header, panoptic_cloud_to_msg, stamp_to_ns
from panoptic_perception.ros.qos import LATCHED_QOS

pytestmark = pytest.mark.ros
FRAMES = 4


@pytest.fixture(scope="module")
def drive():
    base = make_rig("hdl32-front")
    K = np.array([[359.4, 0.0, 303.6], [0.0, 359.4, 92.6], [0.0, 0.0, 1.0]])
    camera = CameraModel("front", 620, 188, K, make_rig("hdl64-front").cameras["front"].T_cam_lidar)
    rig = Rig(base.lidar, {"front": camera}, base.T_base_lidar)
    return list(simulate(SceneConfig(seed=2002, dynamic_share=0.5), rig, FRAMES)), rig


def _tracks(frame) -> TrackArray:
    """The truth's objects as tracks (instance id = track id), with their velocities."""
    out = TrackArray(header=make_header(frame_id="lidar", stamp_ns=frame.sensor.stamp_ns))
    for o in frame.objects:
        track = Track(track_id=int(o.instance_id), class_id=int(o.class_id))
        track.velocity.x, track.velocity.y = float(o.velocity[0]), float(o.velocity[1])
        out.tracks.append(track)
    return out


def test_odometry_node_publishes_stamped_odometry_tf_and_path_that_follow_the_drive(ros_context, spin_until, drive):
    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.odometry_node import OdometryNode

    frames, rig = drive
    node = OdometryNode(context=ros_context, parameter_overrides=[
        Parameter("odometry.downsample", value=4), Parameter("odometry.window", value=4),
        Parameter("sync.timeout_ms", value=2000.0)])
    source = Node("source", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(source)
    odometry, paths, tfs, statuses = [], [], [], []
    source.create_subscription(Odometry, "perception/odometry", odometry.append, 10)
    source.create_subscription(Path, "perception/path", paths.append, 10)
    source.create_subscription(TFMessage, "/tf", tfs.append, 100)
    source.create_subscription(PipelineStatus, "perception/odometry_status", statuses.append, 10)
    tf_static = source.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    clouds = source.create_publisher(PointCloud2, "perception/panoptic_points", 10)
    tracks = source.create_publisher(TrackArray, "perception/tracks", 10)
    images = source.create_publisher(Image, "cameras/front/image", 10)
    infos = source.create_publisher(CameraInfo, "cameras/front/camera_info", 10)
    assert spin_until(executor, lambda: all(p.get_subscription_count() for p in (clouds, tracks, images, infos)), 10.0)
    tf_static.publish(TFMessage(transforms=m.static_transforms(rig.cameras, rig.T_base_lidar, "lidar")))
    spin_until(executor, lambda: False, timeout=0.3)
    for k, frame in enumerate(frames):
        for topic, _, msg in m.frame_messages(frame, ground_truth=False):
            if topic == m.image_topic("front"):
                images.publish(msg)
            elif topic == m.info_topic("front"):
                infos.publish(msg)
        semantic, instance = unpack_label(frame.point_label)
        n = len(semantic)
        cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points, semantic, instance.astype(np.uint32),
                              np.ones(n, np.float32), np.zeros(n, np.float32), instance.astype(np.uint32), "lidar")
        clouds.publish(panoptic_cloud_to_msg(cloud))
        tracks.publish(_tracks(frame))
        assert spin_until(executor, lambda k=k: node.processed == k + 1, timeout=60.0), f"sweep {k} not processed"
    assert spin_until(executor, lambda: len(odometry) == FRAMES == len(statuses) and len(tfs) >= FRAMES and paths, 10.0)

    stamps = [f.sensor.stamp_ns for f in frames]
    assert [stamp_to_ns(o.header.stamp) for o in odometry] == stamps
    assert all(o.header.frame_id == "odom" and o.child_frame_id == "base_link" for o in odometry)
    ours = [t.transforms[0] for t in tfs if t.transforms[0].child_frame_id == "base_link"]
    assert [stamp_to_ns(t.header.stamp) for t in ours] == stamps and ours[0].header.frame_id == "odom"
    assert len(paths[-1].poses) == FRAMES and paths[-1].header.frame_id == "odom"
    # One status per sweep: the start (and a sweep before camera_info came) is LiDAR-only with its reason,
    # the visual sweeps (camera + LiDAR) count as fusion.
    assert [stamp_to_ns(s.header.stamp) for s in statuses] == stamps
    assert statuses[0].mode == PipelineStatus.MODE_LIDAR_ONLY and statuses[0].reason
    assert statuses[-1].mode == PipelineStatus.MODE_FUSION and statuses[-1].cameras_used == ["front"]
    for s in statuses:
        fusion = s.mode == PipelineStatus.MODE_FUSION
        assert (s.cameras_used, s.cameras_missing, bool(s.reason)) == (["front"] * fusion, ["front"] * (not fusion), not fusion)
    assert all(s.stage_latencies[0].stage == "odometry" and s.stage_latencies[0].latency_ms > 0 for s in statuses)
    assert statuses[-1].frames_processed == FRAMES and statuses[-1].frames_dropped == 0
    # Positions of base_link against the truth (odom = base_link at the first sweep).
    T0 = frames[0].T_world_lidar @ np.linalg.inv(rig.T_base_lidar)
    for o, frame in zip(odometry, frames, strict=True):
        truth = np.linalg.inv(T0) @ frame.T_world_lidar @ np.linalg.inv(rig.T_base_lidar)
        p = o.pose.pose.position
        assert np.linalg.norm([p.x - truth[0, 3], p.y - truth[1, 3], p.z - truth[2, 3]]) < 0.6
    travelled = odometry[-1].pose.pose.position.x - odometry[0].pose.pose.position.x
    assert travelled == pytest.approx(0.8 * (FRAMES - 1), rel=0.2)
    cov = np.array(odometry[-1].pose.covariance).reshape(6, 6)
    assert np.allclose(cov, cov.T) and np.all(np.diag(cov) > 0)
    assert odometry[-1].twist.twist.linear.x == pytest.approx(8.0, rel=0.25)
    executor.shutdown()


def test_odometry_parameters_are_declared_with_descriptions_and_ranges(ros_context):
    from panoptic_perception.nodes.odometry_node import OdometryNode

    node = OdometryNode(context=ros_context)
    window = node.describe_parameters(["odometry.window"])[0]
    assert window.description and window.integer_range[0].from_value == 2
    eta = node.describe_parameters(["odometry.eta"])[0]
    assert eta.floating_point_range[0].to_value == 100.0
    assert node.get_parameter("odometry.panoptic").value is True
    node.destroy_node()


def test_odometry_node_logs_a_sweep_its_icp_cannot_register_and_goes_on(ros_context, spin_until, drive):
    """A sweep with no point near the local map (here: 200 points 500 m away) makes the LiDAR path's ICP raise
    DegenerateGeometryError; the node skips that sweep and localises the next one."""
    from tf2_msgs.msg import TFMessage

    from panoptic_perception.nodes.odometry_node import OdometryNode

    frames, rig = drive
    node = OdometryNode(context=ros_context, parameter_overrides=[Parameter("camera", value="")])
    source = Node("source", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(source)
    odometry = []
    source.create_subscription(Odometry, "perception/odometry", odometry.append, 10)
    tf_static = source.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
    clouds = source.create_publisher(PointCloud2, "perception/panoptic_points", 10)
    tracks = source.create_publisher(TrackArray, "perception/tracks", 10)
    assert spin_until(executor, lambda: clouds.get_subscription_count() and tracks.get_subscription_count(), 10.0)
    tf_static.publish(TFMessage(transforms=m.static_transforms(rig.cameras, rig.T_base_lidar, "lidar")))
    spin_until(executor, lambda: False, timeout=0.3)
    far = np.zeros((200, 4), np.float32)
    far[:, 0], far[:, 1] = 500.0, np.linspace(-20.0, 20.0, 200)
    zeros = np.zeros(200, np.uint32)
    sweeps = [frames[0].sensor.points, far, frames[2].sensor.points]
    for k, (frame, points) in enumerate(zip(frames, sweeps, strict=False)):
        n = len(points)
        semantic, instance = (unpack_label(frame.point_label) if points is not far else (zeros.astype(np.uint16), zeros))
        cloud = PanopticCloud(frame.sensor.stamp_ns, points, semantic, instance.astype(np.uint32), np.ones(n, np.float32),
                              np.zeros(n, np.float32), instance.astype(np.uint32), "lidar")
        clouds.publish(panoptic_cloud_to_msg(cloud))
        tracks.publish(_tracks(frame))
        # Released by the synchroniser and taken from the pending list: processed, or skipped.
        assert spin_until(executor, lambda k=k: node.sync.counters.processed == k + 1 and not node.pending, timeout=20.0)
    assert spin_until(executor, lambda: len(odometry) == 2, timeout=20.0)
    assert [stamp_to_ns(o.header.stamp) for o in odometry] == [frames[0].sensor.stamp_ns, frames[2].sensor.stamp_ns]
    assert node.processed == 2
    executor.shutdown()
