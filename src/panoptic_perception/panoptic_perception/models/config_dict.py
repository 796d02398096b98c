"""Architecture dataclasses <-> the JSON object that ``model.json`` stores (shared by every model config)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from .errors import ModelConfigError

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Fields of a config dataclass as JSON values (tuples become lists)."""
    return {f.name: list(v) if isinstance(v := getattr(config, f.name), tuple) else v for f in dataclasses.fields(config)}


def config_from_dict(cls: type[C], data: Any, source: str = "config") -> C:
    """Build ``cls`` from a JSON object, casting each value to the type of the field's default.

    Unknown fields and uncastable values raise ``ModelConfigError`` naming ``source`` and the field.
    """
    name = cls.__name__
    if not isinstance(data, dict):
        raise ModelConfigError(f"{source}: expected an object of {name} fields, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelConfigError(f"{source}: unknown {name} field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        default = fields[key].default
        try:
            if isinstance(default, tuple):
                values[key] = tuple(type(default[0])(v) for v in value)
            else:
                values[key] = type(default)(value)
        except (TypeError, ValueError) as err:
            raise ModelConfigError(f"{source}: field {key!r}: {err}") from err
    return cls(**values)
