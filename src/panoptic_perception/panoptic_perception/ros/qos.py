"""QoS profiles by name, as node parameters spell them, and the output profiles of the stack.

Inputs default to ``sensor_data``; outputs keep the last message reliably; the class map and the
map are ``transient_local`` so that late joiners (RViz, a recorder) still receive them.
"""

from __future__ import annotations

import copy

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
    qos_profile_system_default,
)

__all__ = ["LATCHED_QOS", "OUTPUT_QOS", "QOS_NAMES", "RELIABLE_DEPTH", "qos_from_name"]

RELIABLE_DEPTH = 10

OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)

_PROFILES: dict[str, QoSProfile] = {
    "sensor_data": qos_profile_sensor_data,  # best effort, volatile, keep last 5
    "reliable": QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=RELIABLE_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    ),
    "transient_local": LATCHED_QOS,
    "system_default": qos_profile_system_default,
}
QOS_NAMES: tuple[str, ...] = tuple(_PROFILES)


def qos_from_name(name: str, depth: int | None = None) -> QoSProfile:
    """A fresh copy of the named profile; ``depth`` overrides the history depth (and makes it keep-last)."""
    profile = _PROFILES.get(name.strip().lower()) if isinstance(name, str) else None
    if profile is None:
        raise ValueError(f"unknown QoS profile {name!r}; valid names: {', '.join(QOS_NAMES)}")
    profile = copy.copy(profile)
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"QoS depth must be an int >= 1, got {depth!r}")
        profile.history = HistoryPolicy.KEEP_LAST
        profile.depth = depth
    return profile
