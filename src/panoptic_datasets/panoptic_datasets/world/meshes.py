"""Low-poly triangle soups with per-triangle labels, colours and LiDAR reflectivity.

Every part is a trimesh primitive (box, prism, icosphere) scaled, rotated and placed with
numpy; a soup keeps, per triangle, the semantic class, the instance id, an RGB albedo in
[0, 1] and a LiDAR reflectivity in [0, 1]. Agent meshes are built in the agent frame:
x forward, y left, z up, origin on the ground under the box centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import trimesh

CAR, BICYCLE, MOTORCYCLE, TRUCK, OTHER_VEHICLE, PERSON, BICYCLIST, MOTORCYCLIST = range(1, 9)
ROAD, PARKING, SIDEWALK, OTHER_GROUND, BUILDING, FENCE, VEGETATION, TRUNK, TERRAIN, POLE, SIGN = range(9, 20)

TIRE = (0.06, 0.06, 0.07)
GLASS = (0.12, 0.16, 0.2)
SKIN = (0.85, 0.65, 0.5)


@dataclass
class Soup:
    """A triangle soup with per-triangle attributes (arrays aligned with ``faces``)."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    semantic: np.ndarray  # (F,) uint16
    instance: np.ndarray  # (F,) uint32
    color: np.ndarray  # (F, 3) float32 albedo
    reflectivity: np.ndarray  # (F,) float32

    @staticmethod
    def concatenate(soups: list[Soup]) -> Soup:
        offsets = np.cumsum([0] + [len(s.vertices) for s in soups[:-1]])
        return Soup(
            np.concatenate([s.vertices for s in soups]) if soups else np.zeros((0, 3)),
            np.concatenate([s.faces + o for s, o in zip(soups, offsets, strict=True)]) if soups else np.zeros((0, 3), np.int64),
            np.concatenate([s.semantic for s in soups]) if soups else np.zeros(0, np.uint16),
            np.concatenate([s.instance for s in soups]) if soups else np.zeros(0, np.uint32),
            np.concatenate([s.color for s in soups]) if soups else np.zeros((0, 3), np.float32),
            np.concatenate([s.reflectivity for s in soups]) if soups else np.zeros(0, np.float32),
        )


@cache
def _template(kind: str, sections: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Unit primitives: box and prism span [-0.5, 0.5]^3 (prism axis z), sphere has radius 1."""
    if kind == "box":
        mesh = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    elif kind == "prism":
        mesh = trimesh.creation.cylinder(radius=0.5, height=1.0, sections=sections)
    elif kind == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=1, radius=1.0)
    else:
        raise ValueError(f"unknown primitive {kind!r}")
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_ROT_X90 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # prism axis z -> y (wheels)


class SoupBuilder:
    """Accumulates placed primitives; ``build()`` returns one Soup."""

    def __init__(self) -> None:
        self._parts: list[Soup] = []

    def add(self, kind: str, size: tuple[float, float, float] | np.ndarray, center: tuple[float, float, float] | np.ndarray,
            semantic: int, color: tuple[float, float, float] | np.ndarray, reflectivity: float, *, yaw: float = 0.0,
            axis_y: bool = False, sections: int = 8) -> None:
        """Place a primitive scaled to ``size`` (x, y, z extents before rotation) at ``center``."""
        v, f = _template(kind, sections)
        v = v * np.asarray(size, dtype=np.float64) * (0.5 if kind == "sphere" else 1.0)
        if axis_y:
            v = v @ _ROT_X90.T
        if yaw:
            v = v @ rot_z(yaw).T
        v = v + np.asarray(center, dtype=np.float64)
        n = len(f)
        self._parts.append(Soup(v, f.copy(), np.full(n, semantic, np.uint16), np.zeros(n, np.uint32),
                                np.tile(np.asarray(color, np.float32), (n, 1)), np.full(n, reflectivity, np.float32)))

    def build(self, instance: int = 0) -> Soup:
        soup = Soup.concatenate(self._parts)
        soup.instance[:] = instance
        return soup


def _wheels(b: SoupBuilder, length: float, width: float, radius: float, semantic: int, axles: int = 2) -> None:
    xs = np.linspace(-0.33 * length, 0.33 * length, axles)
    for x in xs:
        for side in (-1.0, 1.0):
            b.add("prism", (2 * radius, 2 * radius, 0.22), (x, side * (width / 2 - 0.12), radius), semantic, TIRE, 0.08,
                  axis_y=True)


def vehicle_mesh(semantic: int, size: np.ndarray, color: np.ndarray) -> Soup:
    """Car / truck / other-vehicle (bus, van): body, cabin or cargo box, windows, wheels."""
    length, width, height = (float(s) for s in size)
    b = SoupBuilder()
    r = 0.32 if semantic == CAR else 0.5
    if semantic == CAR:
        body_h = 0.5 * height
        b.add("box", (length, width, body_h - r * 0.6), (0.0, 0.0, r * 0.6 + (body_h - r * 0.6) / 2), semantic, color, 0.55)
        cab_l = 0.5 * length
        b.add("box", (cab_l, width * 0.86, height - body_h), (-0.05 * length, 0.0, body_h + (height - body_h) / 2),
              semantic, GLASS, 0.25)
        b.add("box", (cab_l * 0.9, width * 0.88, 0.06), (-0.05 * length, 0.0, height), semantic, color, 0.55)
        _wheels(b, length, width, r, semantic)
    elif semantic == TRUCK:
        cab_l = min(2.4, 0.3 * length)
        b.add("box", (cab_l, width, height * 0.75), (length / 2 - cab_l / 2, 0.0, r + height * 0.75 / 2 - r * 0.3), semantic,
              color, 0.55)
        b.add("box", (cab_l * 0.3, width * 0.9, height * 0.3), (length / 2 - cab_l * 0.25, 0.0, height * 0.65), semantic,
              GLASS, 0.25)
        box_l = length - cab_l - 0.3
        b.add("box", (box_l, width, height - r), (-length / 2 + box_l / 2, 0.0, r + (height - r) / 2), semantic,
              (0.85, 0.85, 0.82), 0.6)
        _wheels(b, length, width, r, semantic, axles=3)
    else:  # bus / van / tram-like box with a window band
        b.add("box", (length, width, height - r), (0.0, 0.0, r + (height - r) / 2), semantic, color, 0.55)
        b.add("box", (length * 0.92, width + 0.04, 0.3 * height), (0.0, 0.0, 0.68 * height), semantic, GLASS, 0.25)
        _wheels(b, length, width, r, semantic)
    return b.build()


def _rider(b: SoupBuilder, semantic: int, seat_x: float, seat_z: float, shirt: np.ndarray) -> None:
    b.add("box", (0.5, 0.36, 0.6), (seat_x + 0.15, 0.0, seat_z + 0.3), semantic, shirt, 0.4, yaw=0.0)
    b.add("sphere", (0.22, 0.2, 0.24), (seat_x + 0.3, 0.0, seat_z + 0.75), semantic, SKIN, 0.35)
    for side in (-1.0, 1.0):
        b.add("box", (0.14, 0.13, 0.75), (seat_x + 0.2, side * 0.14, seat_z - 0.2), semantic, (0.15, 0.15, 0.25), 0.35)


def two_wheeler_mesh(semantic: int, size: np.ndarray, color: np.ndarray, shirt: np.ndarray | None) -> Soup:
    """Bicycle / motorcycle, with a rider (labelled as the rider class as a whole) when ``shirt`` is given."""
    length = float(size[0])
    motor = semantic in (MOTORCYCLE, MOTORCYCLIST)
    r = 0.32 if motor else 0.34
    b = SoupBuilder()
    for x in (-length / 2 + r, length / 2 - r):
        b.add("prism", (2 * r, 2 * r, 0.1 if motor else 0.05), (x, 0.0, r), semantic, TIRE, 0.1, axis_y=True, sections=10)
    frame_h = 0.45 if motor else 0.12
    b.add("box", (length - 2 * r, 0.3 if motor else 0.06, frame_h), (0.0, 0.0, r + 0.15 + frame_h / 2), semantic, color, 0.5)
    b.add("box", (0.06, 0.6, 0.06), (length / 2 - r - 0.1, 0.0, r + 0.65), semantic, (0.3, 0.3, 0.3), 0.5)
    seat_z = r + (0.6 if motor else 0.75)
    if shirt is not None:
        _rider(b, semantic, -0.1, seat_z, shirt)
    return b.build()


def person_mesh(size: np.ndarray, shirt: np.ndarray, trousers: np.ndarray) -> Soup:
    """Legs, torso, arms, head; height from ``size[2]``."""
    h = float(size[2])
    b = SoupBuilder()
    leg_h = 0.47 * h
    for side in (-1.0, 1.0):
        b.add("box", (0.16, 0.15, leg_h), (0.0, side * 0.1, leg_h / 2), PERSON, trousers, 0.35)
        b.add("box", (0.11, 0.1, 0.33 * h), (0.0, side * 0.26, leg_h + 0.2 * h), PERSON, shirt, 0.4)
    b.add("box", (0.26, 0.42, 0.33 * h), (0.0, 0.0, leg_h + 0.33 * h / 2), PERSON, shirt, 0.4)
    head = 0.12 * h
    b.add("sphere", (0.2, 0.18, head), (0.0, 0.0, h - head / 2), PERSON, SKIN, 0.35)
    return b.build()
