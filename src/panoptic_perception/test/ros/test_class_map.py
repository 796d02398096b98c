"""ClassMap message from the class table: ids, names, thing flags, colours in [0, 1], header."""

from __future__ import annotations

import pytest

from panoptic_perception.core import load_class_table
from panoptic_perception.ros.class_map import class_map_msg
from panoptic_perception.ros.stamps import stamp_to_ns


def test_class_map_lists_every_class_of_the_table_in_id_order():
    table = load_class_table()
    msg = class_map_msg(table)

    assert msg.dataset == "semantickitti"
    assert [c.id for c in msg.classes] == list(range(20))
    assert [c.name for c in msg.classes] == list(table.names)
    assert [c.id for c in msg.classes if c.is_thing] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (msg.classes[0].name, msg.classes[1].name, msg.classes[19].name) == ("unlabeled", "car", "traffic-sign")


def test_class_map_colours_are_scaled_to_unit_range_and_opaque():
    msg = class_map_msg(load_class_table())
    car = msg.classes[1].color  # [100, 150, 245] in classes.yaml
    assert (car.r, car.g, car.b, car.a) == pytest.approx((100 / 255, 150 / 255, 245 / 255, 1.0))
    road = msg.classes[9].color  # [255, 0, 255]
    assert (road.r, road.g, road.b) == (1.0, 0.0, 1.0)
    assert all(0.0 <= v <= 1.0 for c in msg.classes for v in (c.color.r, c.color.g, c.color.b))


def test_class_map_header_carries_the_given_stamp_and_frame():
    msg = class_map_msg(load_class_table(), stamp_ns=12_000_000_345, frame_id="lidar")
    assert stamp_to_ns(msg.header.stamp) == 12_000_000_345
    assert msg.header.frame_id == "lidar"
    assert stamp_to_ns(class_map_msg(load_class_table()).header.stamp) == 0


def test_class_map_follows_a_custom_table(tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text(
        "dataset: tiny\n"
        "classes:\n"
        "  - {id: 0, name: unlabeled, thing: false, color: [0, 0, 0], raw_ids: [0]}\n"
        "  - {id: 1, name: robot, thing: true, color: [51, 102, 204], raw_ids: [7]}\n"
    )
    msg = class_map_msg(load_class_table(path))
    assert msg.dataset == "tiny"
    assert [(c.id, c.name, c.is_thing) for c in msg.classes] == [(0, "unlabeled", False), (1, "robot", True)]
    assert (msg.classes[1].color.r, msg.classes[1].color.g, msg.classes[1].color.b) == pytest.approx((0.2, 0.4, 0.8))
