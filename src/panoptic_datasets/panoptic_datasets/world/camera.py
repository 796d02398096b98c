"""Pinhole cameras by ray casting: RGB with Lambert shading, sun shadows, night lighting; per-pixel truth.

One ray per pixel through the pixel centre, all cast in one batch. Shadows: one occlusion ray
towards the sun per ``SHADOW_STRIDE`` x ``SHADOW_STRIDE`` block of pixels, upsampled bilinearly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from panoptic_perception.core import CameraModel

from ..frame import CameraTruth
from .meshes import BUILDING
from .scene import Snapshot, World
from .texture import albedo, lit_windows, windows

SHADOW_STRIDE = 3


@dataclass(frozen=True)
class Light:
    sun_dir: np.ndarray | None  # (3,) unit vector towards the sun (map frame); None at night
    sun_rgb: np.ndarray
    ambient_rgb: np.ndarray
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    exposure: float
    noise_std: float  # of the exposed linear image
    headlights: bool


def make_light(kind: str, rng: np.random.Generator) -> Light:
    az = float(rng.uniform(-np.pi, np.pi))
    if kind == "day":
        el = np.radians(rng.uniform(35, 60))
        return Light(_dir(az, el), np.array([1.0, 0.96, 0.88]), np.array([0.42, 0.46, 0.55]), np.array([0.35, 0.55, 0.9]),
                     np.array([0.75, 0.83, 0.92]), 1.0, 0.004, False)
    if kind == "dusk":
        el = np.radians(rng.uniform(4, 10))
        return Light(_dir(az, el), np.array([1.0, 0.55, 0.3]), np.array([0.25, 0.22, 0.32]), np.array([0.2, 0.22, 0.45]),
                     np.array([0.95, 0.55, 0.3]), 1.4, 0.006, True)
    return Light(None, np.zeros(3), np.array([0.0025, 0.003, 0.005]), np.array([0.0, 0.0005, 0.002]),
                 np.array([0.002, 0.002, 0.004]), 3.0, 0.006, True)


def _dir(az: float, el: float) -> np.ndarray:
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


@lru_cache(maxsize=16)
def _pixel_rays(width: int, height: int, K_bytes: bytes) -> np.ndarray:
    """(H*W, 3) unit ray directions in the optical frame through pixel centres."""
    K = np.frombuffer(K_bytes, dtype=np.float64).reshape(3, 3)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1).reshape(-1, 3)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d.setflags(write=False)
    return d


def pixel_rays(cam: CameraModel) -> np.ndarray:
    return _pixel_rays(cam.width, cam.height, cam.K.tobytes())


@dataclass
class Render:
    rgb: np.ndarray  # (H, W, 3) uint8
    truth: CameraTruth
    points: np.ndarray  # (H*W, 3) map-frame hit points (NaN where sky)
    triangle: np.ndarray  # (H*W,) int64, -1 where sky


def render(world: World, snap: Snapshot, cam: CameraModel, T_map_cam: np.ndarray, light: Light,
           T_map_base: np.ndarray, rng: np.random.Generator, exposure_gain: float = 1.0) -> Render:
    H, W = cam.height, cam.width
    d_cam = pixel_rays(cam)
    R, o = T_map_cam[:3, :3], T_map_cam[:3, 3]
    dirs = np.einsum("ij,kj->ik", d_cam, R)  # not BLAS: its threads stall on a busy 2-core machine
    dist, tri, normal = snap.rays.cast(o, dirs)
    hi = np.flatnonzero(tri >= 0)
    t = tri[hi]
    p = o + dist[hi, None] * dirs[hi]
    n = normal[hi].astype(np.float32)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    n *= -np.sign(np.einsum("ij,ij->i", n, dirs[hi].astype(np.float32)))[:, None]  # face the camera
    sem = world.tri_semantic[t]
    base = albedo(world.layout, world.tri_color[t], sem, p, n)
    # Irradiance: ambient (sky) + sun with shadows + headlights at dusk/night.
    irr = light.ambient_rgb.astype(np.float32) * (0.75 + 0.25 * n[:, 2:3])
    if light.sun_dir is not None:
        lambert = np.clip(np.einsum("ij,j->i", n, light.sun_dir.astype(np.float32)), 0.0, None)
        lit = _sun_visibility(snap, p, n, hi, light.sun_dir, H, W)
        irr += light.sun_rgb.astype(np.float32) * (lambert * lit)[:, None]
    if light.headlights:
        irr += _headlights(p, n, T_map_base)
    linear = base * irr
    if light.sun_dir is None:  # lit windows glow at night
        bld = np.flatnonzero(sem == BUILDING)
        glow = windows(p[bld], n[bld]) & lit_windows(p[bld])
        linear[bld[glow]] = np.array([0.5, 0.38, 0.2], np.float32)
    img = np.empty((H * W, 3), np.float32)
    img[hi] = linear
    sky = np.flatnonzero(tri < 0)
    up = np.clip(dirs[sky, 2] * 3.0, 0.0, 1.0).astype(np.float32)[:, None]
    img[sky] = light.sky_horizon * (1 - up) + light.sky_top * up
    img *= np.float32(light.exposure * exposure_gain)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(light.noise_std)
    rgb = _GAMMA_LUT[(np.clip(img, 0.0, 1.0) * (len(_GAMMA_LUT) - 1)).astype(np.int32)].reshape(H, W, 3)
    semantic = np.zeros(H * W, np.uint16)
    instance = np.zeros(H * W, np.uint32)
    depth = np.zeros(H * W, np.float32)
    semantic[hi] = sem
    instance[hi] = world.tri_instance[t]
    depth[hi] = dist[hi] * d_cam[hi, 2]
    points = np.full((H * W, 3), np.nan)
    points[hi] = p
    truth = CameraTruth(semantic.reshape(H, W), instance.reshape(H, W), depth.reshape(H, W))
    return Render(rgb, truth, points, tri)


_GAMMA_LUT = (np.linspace(0.0, 1.0, 4096) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)  # linear -> sRGB-ish


def _sun_visibility(snap: Snapshot, p: np.ndarray, n: np.ndarray, hi: np.ndarray, sun: np.ndarray, H: int,
                    W: int) -> np.ndarray:
    """Fraction of sunlight reaching each hit (0 = shadow), from a strided grid of shadow rays."""
    s = SHADOW_STRIDE
    rows, cols = np.arange(s // 2, H, s), np.arange(s // 2, W, s)
    grid = (rows[:, None] * W + cols[None, :]).ravel()
    full = np.full(H * W, -1, dtype=np.int64)
    full[hi] = np.arange(len(hi))
    k = full[grid]
    ok = k >= 0
    vis = np.ones(len(grid), np.float32)
    ks = k[ok]
    vis[ok] = ~snap.rays.occluded(p[ks] + n[ks] * 0.03, sun, 500.0)
    vis = vis.reshape(len(rows), len(cols))
    # Bilinear upsampling of the coarse visibility to every pixel.
    fr = np.clip((np.arange(H) - s // 2) / s, 0, len(rows) - 1)
    fc = np.clip((np.arange(W) - s // 2) / s, 0, len(cols) - 1)
    r0, c0 = np.floor(fr).astype(int), np.floor(fc).astype(int)
    r1, c1 = np.minimum(r0 + 1, len(rows) - 1), np.minimum(c0 + 1, len(cols) - 1)
    wr, wc = (fr - r0).astype(np.float32)[:, None], (fc - c0).astype(np.float32)[None, :]
    up = (vis[r0][:, c0] * (1 - wr) * (1 - wc) + vis[r1][:, c0] * wr * (1 - wc) + vis[r0][:, c1] * (1 - wr) * wc
          + vis[r1][:, c1] * wr * wc)
    return up.ravel()[hi]


def _headlights(p: np.ndarray, n: np.ndarray, T_map_base: np.ndarray) -> np.ndarray:
    """Two forward cones from the ego's front, falling off with the square of distance."""
    fwd = T_map_base[:3, 0]
    src = T_map_base[:3, 3] + 2.0 * fwd + np.array([0.0, 0.0, 0.7])
    v = p - src
    d = np.linalg.norm(v, axis=1)
    u = v / np.maximum(d, 1e-6)[:, None]
    cone = np.clip((np.einsum("ij,j->i", u, fwd) - 0.8) / 0.2, 0.0, 1.0) ** 2
    lambert = np.clip(-np.einsum("ij,ij->i", n, u), 0.0, None)
    gain = (cone * lambert / (1.0 + (d / 12.0) ** 2)).astype(np.float32)
    return np.array([1.2, 1.14, 1.02], np.float32) * gain[:, None]
