"""The perception stack on a vehicle: remap the real sensor topics onto the stack's inputs.

The odometry node (PVO) publishes ``odom -> base_link`` on /tf; the mapping node places sweeps with it.

    ros2 launch panoptic_bringup vehicle.launch.py lidar_topic:=/velodyne_points \
        camera_topic:=/camera/front/image_raw camera_info_topic:=/camera/front/camera_info
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare("panoptic_bringup"), "config"])
    return LaunchDescription([
        DeclareLaunchArgument("lidar_topic", default_value="lidar/points", description="sensor_msgs/PointCloud2 sweeps"),
        DeclareLaunchArgument("camera_topic", default_value="cameras/front/image", description="front camera image"),
        DeclareLaunchArgument("camera_info_topic", default_value="cameras/front/camera_info", description="its CameraInfo"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock (bag replay)"),
        Node(
            package="panoptic_perception",
            executable="perception_node",
            name="panoptic_perception",
            output="screen",
            parameters=[PathJoinSubstitution([config, "perception.yaml"]), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
            remappings=[
                ("lidar/points", LaunchConfiguration("lidar_topic")),
                ("cameras/front/image", LaunchConfiguration("camera_topic")),
                ("cameras/front/camera_info", LaunchConfiguration("camera_info_topic")),
            ],
        ),
        Node(
            package="panoptic_perception",
            executable="odometry_node",
            name="panoptic_odometry",
            output="screen",
            parameters=[PathJoinSubstitution([config, "odometry.yaml"]), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
            remappings=[
                ("cameras/front/image", LaunchConfiguration("camera_topic")),
                ("cameras/front/camera_info", LaunchConfiguration("camera_info_topic")),
            ],
        ),
        Node(
            package="panoptic_perception",
            executable="mapping_node",
            name="panoptic_mapping",
            output="screen",
            # the map is not latency-critical: under load the scheduler serves the perception node first
            # (panoptic-bench replay starts it the same way)
            prefix="nice -n 10",
            parameters=[PathJoinSubstitution([config, "mapping.yaml"]), {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        ),
    ])
