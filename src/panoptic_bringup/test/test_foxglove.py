"""The Foxglove Studio layout parses, is complete, shows only topics of the stack, and is installed."""

import ast
import json
import re
import runpy
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
LAYOUT = PACKAGE / "foxglove" / "panoptic.json"
NODES = PACKAGE.parents[0] / "panoptic_perception" / "panoptic_perception" / "nodes"
# DESIGN.md, "Conventions": the stack's outputs and the sensor inputs it reads (remapped in launch).
DESIGN_TOPICS = {
    "/perception/panoptic_points", "/perception/panoptic_points_rgb", "/perception/tracks", "/perception/track_markers",
    "/perception/odometry", "/perception/path", "/perception/map", "/perception/map_instances", "/perception/class_map",
    "/perception/status", "/diagnostics", "/tf", "/lidar/points", "/cameras/front/image", "/cameras/front/camera_info",
    # Beyond DESIGN.md's list: the odometry node's own PipelineStatus (issue #10: per-stage latency in PipelineStatus;
    # on perception/status it would be mistaken for the fusion's, and `make demo` paces the player on it).
    "/perception/odometry_status",
}


def _layout() -> dict:
    return json.loads(LAYOUT.read_text())


def _panels(tree) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    return _panels(tree["first"]) + _panels(tree["second"])


def _topics(config: dict) -> set[str]:
    """Every topic a panel config names: 3D topics, image/calibration topics, message paths, diagnostics."""
    topics: set[str] = set()
    for panel_id, panel in config.items():
        topics |= set(panel.get("topics", {}))
        image = panel.get("imageMode", {})
        topics |= {image[k] for k in ("imageTopic", "calibrationTopic") if k in image}
        topics |= {re.match(r"(/[\w/]+)", p["value"]).group(1) for p in panel.get("paths", [])}
        topics |= {panel[k] for k in ("topicToRender", "topicPath") if k in panel}
        assert all(t.startswith("/") for t in topics), f"{panel_id}: topics must be absolute"
    return topics


def _published_by_nodes() -> set[str]:
    """Topics of ``create_publisher(Type, "literal", ...)`` in the stack's nodes, made absolute."""
    found = set()
    for path in NODES.glob("*.py"):
        for call in ast.walk(ast.parse(path.read_text())):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "create_publisher"
                    and len(call.args) > 1 and isinstance(call.args[1], ast.Constant)):
                found.add("/" + call.args[1].value.lstrip("/"))
    return found


def test_every_panel_of_the_layout_tree_is_configured_and_every_configured_panel_is_shown():
    layout = _layout()
    shown = _panels(layout["layout"])
    assert sorted(shown) == sorted(layout["configById"]) and len(set(shown)) == len(shown)
    kinds = {panel.split("!")[0] for panel in shown}
    assert {"3D", "Image", "Plot", "DiagnosticSummary"} <= kinds


def test_the_layout_shows_only_stack_topics_and_the_stack_publishes_its_core_outputs():
    config = _layout()["configById"]
    topics = _topics(config)
    assert topics <= DESIGN_TOPICS, f"not topics of the stack: {sorted(topics - DESIGN_TOPICS)}"
    published = _published_by_nodes()
    assert published <= DESIGN_TOPICS, f"a node publishes outside DESIGN.md's names: {sorted(published - DESIGN_TOPICS)}"
    core = {"/perception/panoptic_points", "/perception/track_markers", "/perception/map", "/perception/status", "/diagnostics"}
    assert core <= topics & published


def test_the_3d_panel_colours_the_panoptic_cloud_by_class_and_the_map_by_its_packed_rgb():
    config = _layout()["configById"]
    scene = config["3D!panoptic"]["topics"]
    cloud = scene["/perception/panoptic_points"]
    assert (cloud["colorMode"], cloud["colorField"], cloud["minValue"], cloud["maxValue"]) == ("colormap", "class_id", 0, 19)
    assert (scene["/perception/map"]["colorMode"], scene["/perception/map"]["colorField"]) == ("rgb", "rgb")
    assert {"/perception/track_markers", "/perception/path"} <= set(scene)
    plotted = [p["value"] for p in config["Plot!latency"]["paths"]]
    assert "/perception/status.total_latency_ms" in plotted


def test_the_field_used_for_colour_is_a_field_of_the_published_cloud():
    from panoptic_perception.ros.pointcloud import PANOPTIC_POINT_DTYPE

    cloud = _layout()["configById"]["3D!panoptic"]["topics"]["/perception/panoptic_points"]
    assert cloud["colorField"] in PANOPTIC_POINT_DTYPE.names


@pytest.fixture
def setup_kwargs(monkeypatch):
    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(PACKAGE)
    runpy.run_path(str(PACKAGE / "setup.py"))
    return captured


def test_setup_installs_the_layout_and_the_bench_console_script(setup_kwargs):
    data_files = dict(setup_kwargs["data_files"])
    assert data_files["share/panoptic_bringup/foxglove"] == ["foxglove/panoptic.json"]
    assert "panoptic-bench = panoptic_bringup.bench_replay:main" in setup_kwargs["entry_points"]["console_scripts"]
