"""Benchmarks of the odometry core (run for real with `make bench`; once, as plain tests, in CI)."""

import numpy as np
import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import BAProblem, DISFlow, FrameGraph, VoxelMap, ba_step, projective_transform, register_scan


@pytest.mark.benchmark
def test_benchmark_dense_ba_step_on_eight_keyframes_at_one_eighth_resolution(benchmark):
    # 8 keyframes of 48x64 (a 384x512 image at 1/8), radius-2 edges, float32 as at runtime.
    num, ht, wd = 8, 48, 64
    gen = torch.Generator().manual_seed(0)
    xi = torch.zeros(num, 6)
    xi[:, 0] = 0.2 * torch.arange(num)
    poses = pp.se3(xi + 0.01 * torch.randn(num, 6, generator=gen)).Exp().Inv()
    disps = 0.2 + 0.05 * torch.rand(num, ht, wd, generator=gen)
    K = torch.tensor([56.0, 56.0, 31.5, 23.5])
    graph = FrameGraph(window=num, radius=2)
    for k in range(num):
        graph.add(k)
    ii, jj = graph.edges()
    target, _, _ = projective_transform(poses, disps, K, ii, jj, jacobian=False)
    problem = BAProblem(K, ii, jj, target + 0.1, torch.ones(*target.shape), t0=1)
    new_poses, new_disps = benchmark(ba_step, poses, disps, problem)
    assert torch.isfinite(new_poses.tensor()).all() and torch.isfinite(new_disps).all()


@pytest.mark.benchmark
def test_benchmark_dis_flow_with_forward_backward_confidence_on_a_192x640_image(benchmark):
    rng = np.random.default_rng(0)
    img0 = rng.integers(0, 255, (192, 640), dtype=np.uint8)
    img1 = np.roll(img0, 2, axis=1)
    flow, conf = benchmark(DISFlow(), img0, img1)
    assert np.median(flow[20:-20, 20:-20, 0]) == pytest.approx(2.0, abs=0.3)


@pytest.mark.benchmark
def test_benchmark_point_to_plane_icp_of_a_30k_point_scan(benchmark):
    rng = np.random.default_rng(0)
    n = 7500
    u = rng.uniform(-1.0, 1.0, size=(n, 2))
    ground = np.column_stack([20 * u[:, 0], 20 * u[:, 1], np.zeros(n)])
    walls = [np.column_stack([np.full(n, x0), 20 * u[:, 0], 2 + 2 * u[:, 1]]) for x0 in (-15.0, 15.0)]
    back = np.column_stack([15 * u[:, 0], np.full(n, 18.0), 2 + 2 * u[:, 1]])
    scene = np.vstack([ground, *walls, back])
    vmap = VoxelMap(scene, voxel_size=0.5)
    scan = scene + np.array([0.3, -0.2, 0.05]) + rng.normal(0, 0.01, scene.shape)
    result = benchmark(register_scan, scan, vmap)
    np.testing.assert_allclose(result.T[:3, 3], [-0.3, 0.2, -0.05], atol=0.01)
