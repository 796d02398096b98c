"""The RViz layout parses and shows only topics of the stack (DESIGN.md's outputs and inputs)."""

from pathlib import Path

import yaml

RVIZ = Path(__file__).resolve().parents[1] / "rviz" / "panoptic.rviz"
STACK_TOPICS = {"/perception/panoptic_points", "/perception/panoptic_points_rgb", "/perception/track_markers",
                "/perception/path", "/perception/map", "/cameras/front/image"}


def test_rviz_layout_parses_and_shows_only_stack_topics_in_the_odom_frame():
    layout = yaml.safe_load(RVIZ.read_text())["Visualization Manager"]
    topics = {d["Topic"]["Value"] for d in layout["Displays"] if "Topic" in d}
    assert topics <= STACK_TOPICS and "/perception/panoptic_points_rgb" in topics and "/perception/map" in topics
    assert layout["Global Options"]["Fixed Frame"] == "odom"
    map_display = next(d for d in layout["Displays"] if d.get("Topic", {}).get("Value") == "/perception/map")
    assert map_display["Topic"]["Durability Policy"] == "Transient Local"  # the map is latched


def test_the_clouds_shown_in_rgb8_carry_a_packed_rgb_field():
    import numpy as np

    from panoptic_perception.core import PanopticCloud, load_class_table
    from panoptic_perception.mapping import make_records
    from panoptic_perception.ros.conversions import cloud_to_array
    from panoptic_perception.ros.outputs import map_cloud_msg, rgb_cloud_msg

    table = load_class_table()
    cloud = PanopticCloud(0, np.zeros((2, 4), np.float32), np.array([1, 9], np.uint16), np.zeros(2, np.uint32),
                          np.ones(2, np.float32), np.zeros(2, np.float32))
    records = make_records(np.zeros((2, 3)), np.array([1, 9]), np.array([3, 0]), table.colors())
    for msg in (rgb_cloud_msg(cloud, table, "lidar"), map_cloud_msg(records, 0, "odom")):
        assert "rgb" in [f.name for f in msg.fields]
    car = table.colors()[1].astype(np.uint32)
    expected = np.array([(car[0] << 16) | (car[1] << 8) | car[2]], np.uint32).view(np.float32)[0]
    assert cloud_to_array(rgb_cloud_msg(cloud, table, "lidar"))["rgb"][0].tobytes() == expected.tobytes()
