"""Latency of the untrained ``cpu_default()`` DeepDPS in eager PyTorch (2 threads) on a KITTI-sized image.

The image (376 x 1241) is resized x0.5 inside the model (``image_scale``); outputs come back at the
input size. Figures are recorded in docs/benchmarks.md (section "DeepDPS model"), with the command.
"""

import numpy as np
import pytest
import torch

from panoptic_perception.core import CameraModel
from panoptic_perception.models.deepdps import DeepDPS, DeepDPSConfig, prediction_to_cloud

KITTI_K = np.array([[718.856, 0.0, 607.1928], [0.0, 718.856, 185.2157], [0.0, 0.0, 1.0]])
R_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def kitti_image() -> torch.Tensor:
    return torch.rand(1, 3, 376, 1241, generator=torch.Generator().manual_seed(0))


@pytest.mark.benchmark(group="deepdps")
def test_cpu_default_forward_pass_latency(benchmark, two_threads, kitti_image):
    torch.manual_seed(0)
    config = DeepDPSConfig.cpu_default()
    model = DeepDPS.from_config(config).eval()

    def run():
        with torch.inference_mode():
            return model(kitti_image)

    out = benchmark(run)
    assert out.depth.shape == (1, 47, 155)  # stride 4 of the x0.5 input (188 x 620)


@pytest.mark.benchmark(group="deepdps")
def test_cpu_default_image_to_panoptic_depth_latency(benchmark, two_threads, kitti_image):
    """Forward pass + per-pixel panoptic inference, backup fill and depth at 376 x 1241."""
    torch.manual_seed(0)
    model = DeepDPS.from_config(DeepDPSConfig.cpu_default()).eval()
    pred = benchmark(lambda: model.predict(kitti_image))[0]
    assert pred.depth.shape == (376, 1241) and pred.class_id.shape == (376, 1241)


@pytest.mark.benchmark(group="deepdps")
def test_camera_only_fallback_back_projection_latency(benchmark, kitti_image):
    """Prediction -> PanopticCloud in the LiDAR frame at stride 4 (94 x 311 pixels)."""
    torch.manual_seed(0)
    pred = DeepDPS.from_config(DeepDPSConfig.cpu_default()).eval().predict(kitti_image)[0]
    camera = CameraModel("cam2", 1241, 376, KITTI_K, R_CAM_LIDAR)
    cloud = benchmark(lambda: prediction_to_cloud(pred, camera, stride=4))
    assert cloud.points.shape == (94 * 311, 4)
