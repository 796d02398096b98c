"""Shared tiny inputs for the model tests (a ray-cast toy scene, a small rig, a tiny config).

Tests run single-threaded: the CI machine's 2 cores are shared. Helpers are handed out as
fixtures because the suite runs with ``--import-mode=importlib`` (no sibling imports).
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch

from panoptic_perception.models import RangeViewSpec, UPFuseConfig, collate

torch.set_num_threads(1)

# LiDAR (x forward, y left, z up) -> camera optical frame (x right, y down, z forward), camera at the LiDAR.
R_CAM_LIDAR = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
CAR, ROAD, BUILDING = 1, 9, 13


def tiny_config(**overrides: object) -> UPFuseConfig:
    base = UPFuseConfig(
        range_height=16,
        range_width=128,
        lidar_stem=8,
        lidar_widths=(8, 16, 16, 16),
        camera_stem=8,
        camera_widths=(8, 8, 16, 16),
        camera_scale=1.0,
        fusion_hidden=8,
        hidden_dim=16,
        mask_dim=16,
        pixel_decoder_layers=1,
        heads=2,
        ffn_dim=32,
        num_queries=8,
        decoder_layers=2,
        mask_head_hidden=16,
    )
    return dataclasses.replace(base, **overrides)


def camera_matrices(width: int = 96, height: int = 32, focal: float = 40.0) -> tuple[torch.Tensor, torch.Tensor]:
    K = torch.tensor([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    T = torch.eye(4)
    T[:3, :3] = R_CAM_LIDAR
    return K, T


def ray_cast_scene(
    spec: RangeViewSpec,
    cars: tuple[tuple[float, float], ...] = ((6.0, 1.0), (7.0, -3.0)),
    beams: int | None = None,
    columns: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One ray per range-view pixel centre (or a beams x columns sensor with the spec's FOV) against a
    ground plane (road, z = -1.5 m), a cylindrical wall (building, r = 12 m) and axis-aligned car
    boxes (2 x 1.6 x 1.5 m). Returns points (N, 4),
    semantic (N,) and instance (N,) ids; rays that hit nothing within 30 m are dropped."""
    beams, columns = beams or spec.height, columns or spec.width
    rows, cols = torch.meshgrid(torch.arange(beams), torch.arange(columns), indexing="ij")
    fov = math.radians(spec.fov_up_deg - spec.fov_down_deg)
    elevation = (1 - (rows.flatten() + 0.5) / beams) * fov - abs(math.radians(spec.fov_down_deg))
    azimuth = -((cols.flatten() + 0.5) / columns * 2 - 1) * math.pi
    d = torch.stack([elevation.cos() * azimuth.cos(), elevation.cos() * azimuth.sin(), elevation.sin()], 1).double()
    t_best = torch.full((d.shape[0],), 30.0, dtype=torch.float64)
    semantic = torch.zeros(d.shape[0], dtype=torch.long)
    instance = torch.zeros_like(semantic)
    t_ground = torch.where(d[:, 2] < -1e-6, -1.5 / d[:, 2], torch.full_like(t_best, math.inf))
    t_wall = 12.0 / d[:, :2].norm(dim=1)
    for t, cls in ((t_ground, ROAD), (t_wall, BUILDING)):
        hit = t < t_best
        t_best, semantic = torch.where(hit, t, t_best), torch.where(hit, cls, semantic)
    for k, (cx, cy) in enumerate(cars, start=1):
        lo = torch.tensor([cx - 1.0, cy - 0.8, -1.5], dtype=torch.float64)
        hi = torch.tensor([cx + 1.0, cy + 0.8, 0.0], dtype=torch.float64)
        with torch.no_grad():
            inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
            t0, t1 = lo * inv, hi * inv
            t_near = torch.minimum(t0, t1).max(dim=1).values
            t_far = torch.maximum(t0, t1).min(dim=1).values
        hit = (t_near <= t_far) & (t_near > 0) & (t_near < t_best)
        t_best = torch.where(hit, t_near, t_best)
        semantic = torch.where(hit, CAR, semantic)
        instance = torch.where(hit, k, instance)
    keep = t_best < 30.0
    xyz = (d * t_best[:, None])[keep].float()
    intensity = (semantic[keep].float() / 20.0)[:, None]
    return torch.cat([xyz, intensity], 1), semantic[keep], instance[keep]


def tiny_batch(config: UPFuseConfig, camera_valid: bool = True, seed: int = 0):
    spec = config.range_spec
    points, semantic, instance = ray_cast_scene(spec)
    K, T = camera_matrices()
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 1, 3, 32, 96, generator=g)
    batch = collate([points], spec, image, K[None, None], T[None, None], camera_valid=torch.tensor([[camera_valid]]))
    return batch, semantic, instance


@pytest.fixture
def tiny() -> UPFuseConfig:
    return tiny_config()


@pytest.fixture
def scene() -> SimpleNamespace:
    """The helpers above: tiny_config, camera_matrices, ray_cast_scene, tiny_batch and class ids."""
    return SimpleNamespace(
        tiny_config=tiny_config,
        camera_matrices=camera_matrices,
        ray_cast_scene=ray_cast_scene,
        tiny_batch=tiny_batch,
        CAR=CAR,
        ROAD=ROAD,
        BUILDING=BUILDING,
    )
