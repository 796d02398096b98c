"""Typed ROS parameter declarations with descriptions and ranges, read back as plain values."""

from __future__ import annotations

import dataclasses
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def declare(node: Any, name: str, default: Any, description: str, value_range: tuple[float, float] | None = None) -> Any:
    """Declare one parameter and return its value (the YAML or launch override, else ``default``)."""
    descriptor = ParameterDescriptor(name=name, description=description)
    if value_range is not None:
        lo, hi = value_range
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise TypeError(f"parameter {name}: a range needs a numeric default, got {default!r}")
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return node.declare_parameter(name, default, descriptor).value


def declare_dataclass(node: Any, prefix: str, config: Any, description: str) -> dict[str, Any]:
    """Declare every field of a config dataclass as ``prefix.field`` and return {field: value}."""
    values = {}
    for f in dataclasses.fields(config):
        default = getattr(config, f.name)
        if isinstance(default, tuple):
            default = list(default)
        values[f.name] = declare(node, f"{prefix}.{f.name}", default, f"{description}: {f.name}")
    return values
