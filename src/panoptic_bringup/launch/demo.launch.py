"""The stack on a synthetic drive (or a bag): the player feeds vehicle.launch.py on simulated time.

The player plays closed loop, like `make demo`: the next sweep once the odometry (1-3 s a sweep on a
small CPU) has published the last one, so that no sweep is lost.

    ros2 launch panoptic_bringup demo.launch.py [source:=/path/to/bag]
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("panoptic_bringup")
    return LaunchDescription([
        DeclareLaunchArgument("source", default_value="synthetic", description="bag folder, or 'synthetic'"),
        Node(
            package="panoptic_datasets",
            executable="player_node",
            name="player",
            output="screen",
            parameters=[PathJoinSubstitution([share, "config", "player.yaml"]), {
                "source": LaunchConfiguration("source"), "rate": 0.0, "pace_topic": "perception/odometry_status",
                "pace_timeout_s": 30.0}],
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "vehicle.launch.py"])),
            launch_arguments={"use_sim_time": "true"}.items(),
        ),
    ])
