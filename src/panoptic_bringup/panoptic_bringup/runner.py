"""The in-process runner: the launch files' nodes with the same YAML, in one process.

Where ``ros2 launch`` is not installed (the PyPI ROS environment), this is how the stack runs;
on a vehicle it is also the lowest-latency composition (no DDS hop between the stages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WILDCARD = "/**"


class ParameterFileError(ValueError):
    """A parameter YAML is missing, malformed or not in ``ros__parameters`` form."""


def config_dir() -> Path:
    """``share/panoptic_bringup/config`` of the installed package, else the source tree's."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory("panoptic_bringup")) / "config"
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return Path(__file__).resolve().parents[1] / "config"


def load_parameters(path: str | Path, node_name: str | None = None) -> dict[str, Any]:
    """The ``ros__parameters`` of ``/**`` (and of ``node_name``, which win) as dotted names -> values."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ParameterFileError(f"{path}: {err}") from err
    if not isinstance(doc, dict):
        raise ParameterFileError(f"{path}: expected a mapping of node names to ros__parameters")
    values: dict[str, Any] = {}
    for key in (WILDCARD, node_name):
        section = doc.get(key) if key else None
        if section is None:
            continue
        if not isinstance(section, dict) or "ros__parameters" not in section:
            raise ParameterFileError(f"{path}: section {key!r} has no ros__parameters")
        values.update(_flatten(section["ros__parameters"] or {}, ""))
    return values


def _flatten(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def parameter_overrides(values: dict[str, Any]) -> list[Any]:
    """rclpy ``Parameter`` objects for a node's ``parameter_overrides``."""
    from rclpy.parameter import Parameter

    return [Parameter(name, value=value) for name, value in values.items()]


def stack_nodes(context: Any, overrides: dict[str, dict[str, Any]] | None = None, odometry: bool = False) -> list[Any]:
    """The vehicle launch's nodes, built in this process from the same YAML (plus per-node overrides).

    Perception and mapping; with ``odometry`` also the odometry node (then the player's truth must not
    publish odom -> base_link: its ``ground_truth_tf``).
    """
    from panoptic_perception.nodes.mapping_node import MappingNode
    from panoptic_perception.nodes.odometry_node import OdometryNode
    from panoptic_perception.nodes.perception_node import PerceptionNode

    overrides = overrides or {}
    nodes = []
    specs = [(PerceptionNode, "perception.yaml", "perception"), (MappingNode, "mapping.yaml", "mapping")]
    if odometry:
        specs.append((OdometryNode, "odometry.yaml", "odometry"))
    for cls, yaml_name, key in specs:
        values = {**load_parameters(config_dir() / yaml_name), **overrides.get(key, {})}
        nodes.append(cls(context=context, parameter_overrides=parameter_overrides(values)))
    return nodes
