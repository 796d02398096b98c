"""Odometry tests run single-threaded (the CI machine's 2 cores are shared) on tiny synthetic scenes."""

from __future__ import annotations

from dataclasses import dataclass

import pypose as pp
import pytest
import torch

torch.set_num_threads(1)


@dataclass
class Scene:
    """Keyframes looking at a bumpy textured surface: true poses (world -> camera), inverse depths, intrinsics."""

    poses: pp.LieTensor  # (N, 7)
    disps: torch.Tensor  # (N, H, W)
    intrinsics: torch.Tensor  # (4,)


def _surface_z(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random smooth height field z(x, y) around 5 m: a tilted plane plus a few random sinusoids."""
    z = 5.0 + 0.1 * x - 0.05 * y
    for _ in range(4):
        k = 0.8 + 1.5 * torch.rand(2, generator=gen, dtype=torch.float64)
        phase = 6.28 * torch.rand(2, generator=gen, dtype=torch.float64)
        z = z + 0.15 * torch.sin(k[0] * x + phase[0]) * torch.cos(k[1] * y + phase[1])
    return z


def make_scene(num: int = 4, ht: int = 24, wd: int = 32, seed: int = 0) -> Scene:
    gen = torch.Generator().manual_seed(seed)
    dt = torch.float64
    intrinsics = torch.tensor([28.0, 28.0, (wd - 1) / 2, (ht - 1) / 2], dtype=dt)
    xi = torch.zeros(num, 6, dtype=dt)
    xi[:, 0] = 0.25 * torch.arange(num, dtype=dt)  # sideways baseline [m]
    xi[:, 1] = 0.05 * torch.randn(num, generator=gen, dtype=dt)
    xi[:, 2] = 0.10 * torch.randn(num, generator=gen, dtype=dt)
    xi[:, 3:] = 0.03 * torch.randn(num, 3, generator=gen, dtype=dt)  # [rad]
    xi[0] = 0.0
    cam_to_world = pp.se3(xi).Exp()
    poses = cam_to_world.Inv()

    # Ray-cast each pixel onto the surface: point = c + s * ray, with ray's camera-frame z = 1 so s is depth.
    v, u = torch.meshgrid(torch.arange(ht, dtype=dt), torch.arange(wd, dtype=dt), indexing="ij")
    fx, fy, cx, cy = intrinsics
    rays_cam = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u)], dim=-1)
    state = gen.get_state()
    disps = []
    for i in range(num):
        R = cam_to_world[i].rotation().matrix()
        c = cam_to_world[i].translation()
        rays = rays_cam @ R.T
        s = torch.full((ht, wd), 5.0, dtype=dt)
        for _ in range(60):
            gen.set_state(state)  # same surface for every frame
            p = c + s[..., None] * rays
            s = (_surface_z(p[..., 0], p[..., 1], gen) - c[2]) / rays[..., 2]
        disps.append(1.0 / s)
    return Scene(poses=poses, disps=torch.stack(disps), intrinsics=intrinsics)


@pytest.fixture(scope="session")
def scene() -> Scene:
    """Four 24x32 keyframes with 0.25 m baselines looking at a surface about 5 m away."""
    return make_scene()
