"""docker/compose.yaml and the Dockerfiles: parsed and checked for what the vehicle deployment relies on."""

from __future__ import annotations

from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[4] / "docker"


def test_compose_runs_perception_on_a_reserved_gpu_against_the_bag_player_on_one_ros_domain():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"perception", "player"}
    perception, player = services["perception"], services["player"]
    assert perception["build"]["dockerfile"] == "docker/Dockerfile.gpu"
    assert perception["command"][:4] == ["ros2", "launch", "panoptic_bringup", "vehicle.launch.py"]
    assert player["command"] == ["ros2", "run", "panoptic_datasets", "player_node", "--ros-args", "-p", "source:=/data/bag"]
    (gpu,) = perception["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    for service in (perception, player):
        assert service["network_mode"] == "host"
        assert service["environment"]["ROS_DOMAIN_ID"] == "${ROS_DOMAIN_ID:-42}"
        assert "data:/data:ro" in service["volumes"]
    assert set(compose["volumes"]) == {"data", "engines"}


def test_the_gpu_image_builds_the_workspace_with_colcon_on_apt_ros_and_launches_the_vehicle():
    text = (DOCKER / "Dockerfile.gpu").read_text()
    assert text.count("FROM ros:jazzy-ros-base") == 1
    assert "rosdep install --from-paths src" in text and "colcon build" in text
    assert "python3-libnvinfer=${TENSORRT_VERSION}" in text and "grep -v -E '^(ros-|colcon" in text
    assert 'CMD ["ros2", "launch", "panoptic_bringup", "vehicle.launch.py"]' in text
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert "source /opt/ros/jazzy/setup.bash" in entrypoint and 'exec "$@"' in entrypoint
    assert "RUN tools/setup_workspace.sh" in (DOCKER / "Dockerfile.cpu").read_text()
