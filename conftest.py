"""Workspace-wide pytest set-up: every test session talks DDS on its own, localhost only.

A domain id derived from the process id keeps parallel runs (two CI jobs, two developers)
from hearing each other; localhost-only discovery keeps traffic off the network.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")
# Exported ONNX graphs and engines of test models go to a throwaway cache, not the user's.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="panoptic-test-cache-")


@pytest.fixture
def ros_context() -> Iterator[object]:
    """A fresh rclpy context for one test, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        context.try_shutdown()


@pytest.fixture
def spin_until() -> Callable[..., bool]:
    """spin_until(executor, predicate, timeout=5.0): spin until predicate() holds; returns whether it did."""

    def _spin(executor: object, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    return _spin


@pytest.fixture(scope="session")
def tiny_upfuse_dir(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A tiny untrained UP-Fuse saved as a model directory, for plumbing tests (loading, nodes, demo).

    Its post-processing thresholds are 0 so that even untrained it produces instances to track.
    """
    import torch

    from panoptic_perception.models import UPFuse, UPFuseConfig
    from panoptic_perception.models.io import save_model

    config = UPFuseConfig(range_height=16, range_width=256, lidar_stem=8, lidar_widths=(8, 16, 16, 16), camera_stem=8,
                          camera_widths=(8, 8, 16, 16), camera_scale=0.5, fusion_hidden=8, hidden_dim=16, mask_dim=16,
                          pixel_decoder_layers=1, heads=2, ffn_dim=32, num_queries=8, decoder_layers=2, mask_head_hidden=16,
                          object_mask_threshold=0.0, overlap_threshold=0.0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_upfuse")
    save_model(UPFuse.from_config(config), path)
    return path


@pytest.fixture(scope="session")
def tiny_deepdps_dir(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A tiny untrained DeepDPS saved as a model directory, for camera-only plumbing tests (pipeline, node)."""
    import torch

    from panoptic_perception.models.deepdps import DeepDPS, DeepDPSConfig
    from panoptic_perception.models.io import save_model

    config = DeepDPSConfig(stem=8, widths=(8, 16, 16, 16), image_scale=1.0, hidden_dim=16, mask_dim=16, depth_dim=8,
                           heads=2, ffn_dim=32, num_queries=8, decoder_layers=2, latent_tokens=4,
                           object_mask_threshold=0.0, overlap_threshold=0.0)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_deepdps")
    save_model(DeepDPS.from_config(config), path)
    return path
