"""The static city: a main road along +x crossed by side streets, and everything beside it.

Map frame: ground at z = 0, the main road's centreline is the x axis. Cross-section of the
main road from the centre outwards: driving lanes, a parking strip, the curb (sidewalk top
at ``CURB_HEIGHT``), the sidewalk, a setback (garden, gravel or nothing) and the buildings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .meshes import (
    BUILDING,
    FENCE,
    OTHER_GROUND,
    PARKING,
    POLE,
    ROAD,
    SIDEWALK,
    SIGN,
    TERRAIN,
    TRUNK,
    VEGETATION,
    Soup,
    SoupBuilder,
)
from .scene_config import SceneConfig

CURB_HEIGHT = 0.15
PARKING_WIDTH = 2.3
START_MARGIN = 80.0  # [m] of city behind the start

_BUILDING_COLORS = np.array([[0.78, 0.72, 0.62], [0.62, 0.6, 0.58], [0.62, 0.35, 0.28], [0.86, 0.84, 0.8],
                             [0.7, 0.62, 0.5], [0.55, 0.58, 0.62]])


@dataclass
class Layout:
    """The static mesh and the street geometry agents and textures need (map frame)."""

    soup: Soup
    lane_width: float
    lanes: int
    road_half: float  # |y| of the outer edge of the driving lanes
    curb: float  # |y| of the curb line of the main road
    sidewalk_width: float
    intersections: np.ndarray  # (K,) x of cross-street centrelines
    cross_half: float  # half width of a cross street, curb to curb
    x_range: tuple[float, float]
    cross_extent: float  # |y| up to which cross streets run

    def in_intersection(self, x: np.ndarray, margin: float = 0.0) -> np.ndarray:
        if len(self.intersections) == 0:
            return np.zeros(np.shape(x), dtype=bool)
        d = np.abs(np.asarray(x)[..., None] - self.intersections)
        return np.any(d < self.cross_half + margin, axis=-1)


def build_layout(config: SceneConfig, rng: np.random.Generator) -> Layout:
    lanes, lw, sw = config.lanes_per_direction, config.lane_width, config.sidewalk_width
    road_half = lanes * lw
    curb = road_half + PARKING_WIDTH
    cross_half = lw + 0.5
    x0, x1 = -START_MARGIN, config.road_length + START_MARGIN
    first = float(rng.uniform(0.45, 0.75)) * config.block_length
    xs = np.arange(first, x1 - 20.0, config.block_length) + rng.uniform(-6.0, 6.0, size=1)
    back = np.arange(first - config.block_length, x0 + 20.0, -config.block_length)
    inter = np.sort(np.concatenate([back, xs]))
    extent = curb + sw + 70.0
    lay = Layout(SoupBuilder().build(), lw, lanes, road_half, curb, sw, inter, cross_half, (x0, x1), extent)
    b = SoupBuilder()
    _ground(b, lay, rng)
    edges = np.concatenate([[x0], inter, [x1]])
    for xa, xb in zip(edges[:-1], edges[1:], strict=True):
        a = xa + (cross_half if xa > x0 else 0.0)
        e = xb - (cross_half if xb < x1 else 0.0)
        for side in (-1.0, 1.0):
            _block_face(b, lay, rng, a, e, side)
    for xi in inter:
        _cross_street(b, lay, rng, float(xi))
    lay.soup = b.build()
    return lay


def _slab(b: SoupBuilder, xa: float, xb: float, ya: float, yb: float, top: float, semantic: int, color: tuple,
          refl: float, thickness: float = 0.4) -> None:
    b.add("box", (xb - xa, abs(yb - ya), thickness), ((xa + xb) / 2, (ya + yb) / 2, top - thickness / 2), semantic, color,
          refl)


def _ground(b: SoupBuilder, lay: Layout, rng: np.random.Generator) -> None:
    x0, x1 = lay.x_range
    _slab(b, x0 - 60, x1 + 60, -lay.cross_extent - 60, lay.cross_extent + 60, -0.03, TERRAIN, (0.42, 0.5, 0.25), 0.3, 0.2)
    _slab(b, x0, x1, -lay.curb, lay.curb, 0.0, ROAD, (0.3, 0.3, 0.31), 0.12)
    for xi in lay.intersections:
        _slab(b, xi - lay.cross_half, xi + lay.cross_half, -lay.cross_extent, lay.cross_extent, 0.0, ROAD,
              (0.3, 0.3, 0.31), 0.12)


def _block_face(b: SoupBuilder, lay: Layout, rng: np.random.Generator, a: float, e: float, side: float) -> None:
    """Parking strip, sidewalk, street furniture, setback and buildings along one side of one block."""
    curb, sw = lay.curb, lay.sidewalk_width
    _slab(b, a + 4.0, e - 4.0, side * lay.road_half, side * curb, 0.004, PARKING, (0.36, 0.35, 0.34), 0.14)
    _slab(b, a, e, side * curb, side * (curb + sw), CURB_HEIGHT, SIDEWALK, (0.62, 0.6, 0.58), 0.2)
    if side < 0 and lay.lanes >= 2 and rng.random() < 0.4 and e - a > 40:
        _slab(b, a + 12, e - 12, -0.6, 0.6, CURB_HEIGHT, OTHER_GROUND, (0.5, 0.47, 0.4), 0.18)
        for x in np.arange(a + 18, e - 16, 9.0):
            _tree(b, rng, float(x), 0.0, CURB_HEIGHT, scale=0.7)
    # Street furniture near the curb: trees, lamps, the odd sign.
    x = a + rng.uniform(3, 8)
    while x < e - 3:
        y = side * (curb + 0.7)
        u = rng.random()
        if u < 0.55:
            _tree(b, rng, x, y, CURB_HEIGHT)
        elif u < 0.8:
            _lamp(b, x, y, side)
        elif u < 0.9:
            _sign(b, rng, x, y, side)
        x += rng.uniform(7, 15)
    # Setback and buildings.
    setback = 0.0 if rng.random() < 0.45 else float(rng.uniform(2.5, 7.0))
    y_front = side * (curb + sw)
    y_fac = side * (curb + sw + setback)
    if setback > 0:
        gravel = rng.random() < 0.3
        _slab(b, a, e, y_front, y_fac, 0.05, OTHER_GROUND if gravel else TERRAIN,
              (0.55, 0.52, 0.45) if gravel else (0.4, 0.55, 0.22), 0.3, 0.2)
        border = rng.random()
        if border < 0.45:
            color = (0.55, 0.4, 0.25) if rng.random() < 0.5 else (0.35, 0.36, 0.38)
            h = float(rng.uniform(0.9, 1.8))
            b.add("box", (e - a - 1.0, 0.06, h), ((a + e) / 2, y_front + side * 0.15, CURB_HEIGHT + h / 2), FENCE, color, 0.35)
        elif border < 0.75:
            h = float(rng.uniform(0.8, 1.6))
            b.add("box", (e - a - 1.0, 0.8, h), ((a + e) / 2, y_front + side * 0.5, h / 2), VEGETATION, (0.2, 0.4, 0.15), 0.25)
        for _ in range(int(rng.integers(0, 3))):
            _tree(b, rng, float(rng.uniform(a + 2, e - 2)), y_front + side * setback * 0.5, 0.05)
    x = a + 0.5
    while x < e - 4:
        w = min(float(rng.uniform(8, 24)), e - 0.5 - x)
        depth, height = float(rng.uniform(10, 18)), float(rng.choice([rng.uniform(5, 9), rng.uniform(9, 16),
                                                                            rng.uniform(16, 28)]))
        color = _BUILDING_COLORS[rng.integers(len(_BUILDING_COLORS))] * rng.uniform(0.85, 1.1)
        b.add("box", (w, depth, height), (x + w / 2, y_fac + side * depth / 2, height / 2), BUILDING, np.clip(color, 0, 1), 0.45)
        if rng.random() < 0.4:  # a roof storey set back from the facade
            b.add("box", (w * 0.7, depth * 0.6, 3.0), (x + w / 2, y_fac + side * depth * 0.55, height + 1.5), BUILDING,
                  np.clip(color * 0.9, 0, 1), 0.45)
        x += w + (0.0 if rng.random() < 0.7 else float(rng.uniform(2, 6)))


def _cross_street(b: SoupBuilder, lay: Layout, rng: np.random.Generator, xi: float) -> None:
    """Sidewalks, corner signs and buildings along a side street, beyond the main-road blocks."""
    ch, sw, curb = lay.cross_half, lay.sidewalk_width, lay.curb
    for side_y in (-1.0, 1.0):
        for side_x in (-1.0, 1.0):
            xa, xb = sorted((xi + side_x * ch, xi + side_x * (ch + sw)))
            _slab(b, xa, xb, side_y * curb, side_y * lay.cross_extent, CURB_HEIGHT, SIDEWALK, (0.62, 0.6, 0.58), 0.2)
            _sign(b, rng, xi + side_x * (ch + 0.6), side_y * (curb + 0.6), side_y)
            y = curb + sw + 24.0
            while y < lay.cross_extent - 6:
                w = float(rng.uniform(10, 20))
                depth, height = float(rng.uniform(10, 16)), float(rng.uniform(6, 22))
                color = np.clip(_BUILDING_COLORS[rng.integers(len(_BUILDING_COLORS))] * rng.uniform(0.85, 1.1), 0, 1)
                xf = xi + side_x * (ch + sw + 1.0 + depth / 2)
                b.add("box", (depth, w, height), (xf, side_y * (y + w / 2), height / 2), BUILDING, color, 0.45)
                y += w + float(rng.uniform(0, 4))


def _tree(b: SoupBuilder, rng: np.random.Generator, x: float, y: float, z: float, scale: float = 1.0) -> None:
    trunk_h = float(rng.uniform(1.8, 3.2)) * scale
    r = float(rng.uniform(1.4, 2.6)) * scale
    b.add("prism", (0.4 * scale, 0.4 * scale, trunk_h + 0.5), (x, y, z + (trunk_h + 0.5) / 2), TRUNK, (0.35, 0.25, 0.15), 0.3,
          sections=6)
    green = np.array([0.2, 0.42, 0.14]) * rng.uniform(0.8, 1.2)
    b.add("sphere", (2 * r, 2 * r, 1.7 * r), (x, y, z + trunk_h + 0.75 * r), VEGETATION, np.clip(green, 0, 1), 0.25,
          yaw=float(rng.uniform(0, np.pi)))


def _lamp(b: SoupBuilder, x: float, y: float, side: float) -> None:
    h = 7.0
    b.add("prism", (0.18, 0.18, h), (x, y, CURB_HEIGHT + h / 2), POLE, (0.4, 0.42, 0.45), 0.5, sections=6)
    b.add("box", (0.12, 1.6, 0.12), (x, y - side * 0.8, CURB_HEIGHT + h - 0.1), POLE, (0.4, 0.42, 0.45), 0.5)
    b.add("box", (0.35, 0.6, 0.18), (x, y - side * 1.5, CURB_HEIGHT + h - 0.25), POLE, (0.8, 0.8, 0.7), 0.5)


def _sign(b: SoupBuilder, rng: np.random.Generator, x: float, y: float, side: float) -> None:
    h = float(rng.uniform(2.2, 2.8))
    b.add("prism", (0.1, 0.1, h), (x, y, CURB_HEIGHT + h / 2), POLE, (0.55, 0.56, 0.58), 0.5, sections=6)
    color = [(0.8, 0.1, 0.1), (0.1, 0.25, 0.75), (0.9, 0.9, 0.9), (0.95, 0.75, 0.1)][int(rng.integers(4))]
    if rng.random() < 0.5:
        # a round plate: prism axis turned from z to y, then yawed to face along x
        b.add("prism", (0.7, 0.7, 0.05), (x, y, CURB_HEIGHT + h + 0.3), SIGN, color, 0.95, axis_y=True, yaw=np.pi / 2)
    else:
        b.add("box", (0.05, 0.65, 0.65), (x, y, CURB_HEIGHT + h + 0.3), SIGN, color, 0.95)

