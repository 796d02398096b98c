"""Name -> class registries for the swappable parts (backbones, fusion modules) and whole architectures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ModelConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of classes; ``@REG.register("name")`` adds one, ``REG.get("name")`` finds it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._table: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def add(cls: type[T]) -> type[T]:
            if name in self._table and self._table[name] is not cls:
                raise ModelConfigError(f"{self.kind} {name!r} is already registered to {self._table[name].__name__}")
            self._table[name] = cls
            return cls

        return add

    def get(self, name: str) -> type[T]:
        try:
            return self._table[name]
        except KeyError:
            raise ModelConfigError(f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(self._table))}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._table))

    def __contains__(self, name: object) -> bool:
        return name in self._table


BACKBONES: Registry = Registry("backbone")
FUSION_MODULES: Registry = Registry("fusion module")
# Whole networks by the ``architecture`` name that ``model.json`` stores; each class has ``config_class``
# (a dataclass with ``to_dict``/``from_dict``), ``config`` and ``from_config``.
ARCHITECTURES: Registry = Registry("architecture")
