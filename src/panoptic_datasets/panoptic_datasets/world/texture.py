"""Procedural surface detail for the camera: asphalt, lane markings, crosswalks, paving, windows.

Textures are functions of the map-frame hit position (and the surface normal), so they stay
glued to the world as the camera moves, which keeps the optical-flow ground truth honest.
"""

from __future__ import annotations

import numpy as np

from .layout import Layout
from .meshes import BUILDING, PARKING, ROAD, SIDEWALK, TERRAIN, VEGETATION

_MARK = np.array([0.88, 0.88, 0.85], np.float32)
_GLASS = np.array([0.13, 0.16, 0.2], np.float32)


def hash_noise(cells: np.ndarray) -> np.ndarray:
    """Deterministic value in [0, 1) per integer cell (N, 3): a multiplicative integer hash."""
    c = cells.astype(np.int64)
    h = (c[:, 0] * 73856093) ^ (c[:, 1] * 19349663) ^ (c[:, 2] * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / np.float32(65536.0)


def _noise(p: np.ndarray, scale: float) -> np.ndarray:
    return hash_noise(np.floor(p * scale))


def albedo(layout: Layout, base: np.ndarray, semantic: np.ndarray, p: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """(N, 3) albedo in [0, 1] from per-triangle ``base`` colours and map-frame hit points ``p``."""
    fine = _noise(p, 3.0)
    out = base * (0.9 + 0.2 * fine)[:, None]
    road = np.flatnonzero((semantic == ROAD) | (semantic == PARKING))
    if len(road):
        out[road] = base[road] * (0.8 + 0.1 * fine[road] + 0.2 * _noise(p[road], 7.0))[:, None]
        paint = road[_road_paint(layout, p[road], semantic[road] == PARKING)]
        out[paint] = _MARK
    sw = np.flatnonzero(semantic == SIDEWALK)
    if len(sw):
        joint = (np.modf(np.abs(p[sw, 0]) / 1.2)[0] < 0.05) | (np.modf(np.abs(p[sw, 1]) / 1.2)[0] < 0.05)
        out[sw[joint]] *= np.float32(0.7)
    green = np.flatnonzero((semantic == VEGETATION) | (semantic == TERRAIN))
    if len(green):
        out[green] = base[green] * (0.7 + 0.3 * fine[green] + 0.3 * _noise(p[green], 1.3))[:, None]
    bld = np.flatnonzero(semantic == BUILDING)
    if len(bld):
        win = bld[windows(p[bld], normal[bld])]
        out[win] = _GLASS * (0.8 + 0.5 * _noise(p[win], 0.33))[:, None]
    return np.clip(out, 0.0, 1.0, out=out)


def windows(p: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Window mask on facades: a 3 m x 3.2 m grid of 1.6 m x 1.6 m panes above the ground floor door height."""
    n = normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    along = np.where(np.abs(n[:, 0]) < np.abs(n[:, 1]), p[:, 0], p[:, 1])
    fu = np.modf(np.abs(along) / 3.0)[0]
    fv = np.modf(p[:, 2] / 3.2)[0]
    return (np.abs(n[:, 2]) < 0.5) & (p[:, 2] > 1.0) & (fu > 0.22) & (fu < 0.75) & (fv > 0.3) & (fv < 0.8)


def lit_windows(p: np.ndarray) -> np.ndarray:
    """Which window cells have their lights on at night (a fixed random third)."""
    return hash_noise(np.floor(p / np.array([3.0, 3.0, 3.2]))) < 0.35


def _road_paint(layout: Layout, p: np.ndarray, parking: np.ndarray) -> np.ndarray:
    """Lane lines (dashed between same-direction lanes, solid at the centre and edges) and crosswalks."""
    x, y = p[:, 0], p[:, 1]
    lw, lanes = layout.lane_width, layout.lanes
    in_cross = layout.in_intersection(x)
    on_main = np.abs(y) < layout.curb + 0.1
    paint = np.zeros(len(p), dtype=bool)
    for k in range(-lanes, lanes + 1):
        near = np.abs(y - k * lw) < 0.075
        if k == 0:
            near = np.abs(np.abs(y) - 0.12) < 0.06  # double centre line
        dashed = 0 < abs(k) < lanes
        paint |= near & ((not dashed) | (np.modf(np.abs(x) / 9.0)[0] < 0.35))
    paint &= on_main & ~in_cross & ~parking
    if len(layout.intersections):
        d = x[:, None] - layout.intersections[None, :]
        off = np.abs(d) - layout.cross_half
        zebra = np.any((off > 0.8) & (off < 4.0), axis=1) & (np.modf(np.abs(y) / 1.0)[0] < 0.5) & (np.abs(y) < layout.curb)
        paint |= zebra
    # Parking bays: short cross lines every 6 m.
    paint |= parking & (np.modf(np.abs(x) / 6.0)[0] < 0.02)
    return paint
