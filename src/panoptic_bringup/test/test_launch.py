"""The launch files: every node they declare names an installed executable and only parameters it declares.

``launch``/``launch_ros`` are not on PyPI, so the files are read with ``ast`` here; where the launch
API is installed, they are also loaded with it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
from pathlib import Path

import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter

from panoptic_bringup.runner import ParameterFileError, config_dir, load_parameters

LAUNCH_DIR = Path(__file__).resolve().parents[1] / "launch"
pytestmark = pytest.mark.ros


def declared_nodes(launch_file: Path) -> list[dict]:
    """package, executable and the YAML files of every ``Node(...)`` in a launch file."""
    nodes = []
    for call in ast.walk(ast.parse(launch_file.read_text())):
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            constants = [c.value for c in ast.walk(kw["parameters"]) if isinstance(c, ast.Constant)]
            yamls = [c for c in constants if str(c).endswith(".yaml")]
            nodes.append({"package": kw["package"].value, "executable": kw["executable"].value, "yamls": yamls})
    return nodes


def node_class(executable: str) -> type[Node]:
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == executable]
    module = importlib.import_module(entry.value.split(":")[0])
    (cls,) = [c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, Node) and c is not Node]
    return cls


# What each node needs to start here without its real inputs (a tiny model, a one-frame synthetic world).
STARTUP = {"perception_node": lambda model: {"model_dir": str(model), "threads": 1},
           "player_node": lambda model: {"source": "synthetic", "rig": "tiny", "frames": 1},
           "mapping_node": lambda model: {},
           "odometry_node": lambda model: {}}


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_DIR.glob("*.launch.py")), ids=lambda p: p.name)
def test_every_launched_node_is_installed_and_accepts_its_yaml(launch_file, tiny_upfuse_dir, ros_context):
    from ament_index_python.packages import get_package_prefix

    nodes = declared_nodes(launch_file)
    assert nodes, f"{launch_file.name} declares no Node"
    for node in nodes:
        exe = Path(get_package_prefix(node["package"])) / "lib" / node["package"] / node["executable"]
        assert exe.is_file(), f"{launch_file.name}: {node['package']}/{node['executable']} is not installed"
        values = {}
        for name in node["yamls"]:
            values.update(load_parameters(config_dir() / name))
        values.update(STARTUP[node["executable"]](tiny_upfuse_dir))
        instance = node_class(node["executable"])(
            context=ros_context, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        declared = set(instance.list_parameters([], 10).names)
        assert set(values) <= declared, f"{node['executable']}: undeclared parameters {sorted(set(values) - declared)}"
        for name, value in values.items():
            assert instance.get_parameter(name).value == value, name
        instance.destroy_node()


def test_the_launch_api_loads_each_file_where_it_is_installed():
    # Not ``import launch``: this package's own launch/ folder is importable as a namespace package.
    sources = pytest.importorskip("launch.launch_description_sources",
                                  reason="ros2 launch is not on PyPI; the ast checks above cover the PyPI environment")
    from launch import LaunchContext

    for launch_file in LAUNCH_DIR.glob("*.launch.py"):
        source = sources.PythonLaunchDescriptionSource(str(launch_file))
        assert source.get_launch_description(LaunchContext()).entities


def test_parameter_yaml_is_flattened_to_dotted_names_and_checked(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("/**:\n  ros__parameters:\n    a: 1\n    sync:\n      slop_ms: 20.0\nnode:\n  ros__parameters:\n    a: 2\n")
    assert load_parameters(good) == {"a": 1, "sync.slop_ms": 20.0}
    assert load_parameters(good, "node") == {"a": 2, "sync.slop_ms": 20.0}
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**:\n  parameters:\n    a: 1\n")
    with pytest.raises(ParameterFileError, match="has no ros__parameters"):
        load_parameters(bad)
