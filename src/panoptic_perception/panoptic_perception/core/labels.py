"""The class table and the packed point label (``label = semantic | instance << 16``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

INSTANCE_SHIFT = 16
SEMANTIC_MASK = 0xFFFF
UNLABELED = 0


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    thing: bool
    color: tuple[int, int, int]
    raw_ids: tuple[int, ...]


@dataclass(frozen=True)
class ClassTable:
    dataset: str
    classes: tuple[ClassInfo, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes including unlabeled."""
        return len(self.classes)

    @property
    def thing_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.classes if c.thing)

    @property
    def stuff_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.classes if not c.thing and c.id != UNLABELED)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def id_of(self, name: str) -> int:
        for c in self.classes:
            if c.name == name:
                return c.id
        raise KeyError(f"unknown class name {name!r}; known: {', '.join(self.names)}")

    def is_thing_lut(self) -> np.ndarray:
        """Boolean lookup table indexed by class id."""
        return np.array([c.thing for c in self.classes], dtype=bool)

    def colors(self) -> np.ndarray:
        """(num_classes, 3) uint8 RGB lookup table indexed by class id."""
        return np.array([c.color for c in self.classes], dtype=np.uint8)

    def raw_to_train_lut(self) -> np.ndarray:
        """uint16 lookup from SemanticKITTI raw label ids (0..65535) to training ids."""
        lut = np.zeros(1 << 16, dtype=np.uint16)
        for c in self.classes:
            lut[list(c.raw_ids)] = c.id
        return lut

    def train_to_raw_lut(self) -> np.ndarray:
        """uint16 lookup from training ids to the canonical raw id of each class."""
        return np.array([c.raw_ids[0] for c in self.classes], dtype=np.uint16)


def load_class_table(path: str | Path | None = None) -> ClassTable:
    """Load a class table YAML; with no path, the bundled SemanticKITTI table."""
    if path is None:
        return _default_table()
    return _parse(Path(path).read_text(), str(path))


@lru_cache(maxsize=1)
def _default_table() -> ClassTable:
    text = resources.files(__package__).joinpath("classes.yaml").read_text()
    return _parse(text, "classes.yaml")


def _parse(text: str, source: str) -> ClassTable:
    try:
        doc = yaml.safe_load(text)
        classes = tuple(
            ClassInfo(int(c["id"]), str(c["name"]), bool(c["thing"]), tuple(int(v) for v in c["color"]),
                      tuple(int(r) for r in c["raw_ids"]))
            for c in doc["classes"]
        )
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{source}: malformed class table: {err}") from err
    if [c.id for c in classes] != list(range(len(classes))):
        raise ValueError(f"{source}: class ids must be 0..N-1 in order")
    return ClassTable(str(doc.get("dataset", "")), classes)


def pack_label(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """Pack per-point semantic (< 2^16) and instance (< 2^16) ids into uint32 labels."""
    semantic = np.asarray(semantic, dtype=np.uint32)
    instance = np.asarray(instance, dtype=np.uint32)
    if np.any(semantic > SEMANTIC_MASK) or np.any(instance > SEMANTIC_MASK):
        raise ValueError("semantic and instance ids must fit in 16 bits")
    return semantic | (instance << INSTANCE_SHIFT)


def unpack_label(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split packed uint32 labels into (semantic uint16, instance uint16)."""
    label = np.asarray(label, dtype=np.uint32)
    return (label & SEMANTIC_MASK).astype(np.uint16), (label >> INSTANCE_SHIFT).astype(np.uint16)
