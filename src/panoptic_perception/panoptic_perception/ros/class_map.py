"""The ``panoptic_msgs/ClassMap`` that lets subscribers decode label fields, from the one class table."""

from __future__ import annotations

from std_msgs.msg import ColorRGBA

from panoptic_msgs.msg import ClassInfo as ClassInfoMsg
from panoptic_msgs.msg import ClassMap

from ..core.labels import ClassTable
from .stamps import make_header

__all__ = ["class_map_msg"]


def class_map_msg(table: ClassTable, stamp_ns: int = 0, frame_id: str = "") -> ClassMap:
    """Every class of ``table`` in id order; colours scaled from 0-255 to [0, 1], opaque."""
    classes = [
        ClassInfoMsg(
            id=c.id,
            name=c.name,
            is_thing=c.thing,
            color=ColorRGBA(r=c.color[0] / 255.0, g=c.color[1] / 255.0, b=c.color[2] / 255.0, a=1.0),
        )
        for c in table.classes
    ]
    return ClassMap(header=make_header(frame_id=frame_id, stamp_ns=stamp_ns), dataset=table.dataset, classes=classes)
