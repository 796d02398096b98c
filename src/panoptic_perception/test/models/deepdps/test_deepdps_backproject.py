import numpy as np
import pytest
import torch

from panoptic_perception.core import CameraModel
from panoptic_perception.models import ModelInputError
from panoptic_perception.models.deepdps import DeepDPS, backproject_pixels, camera_panoptic_cloud, prediction_to_cloud

# LiDAR (x forward, y left, z up) -> camera (x right, y down, z forward), camera 0.3 m ahead and 0.1 m below the LiDAR.
R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def camera(width: int = 40, height: int = 24) -> CameraModel:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ np.array([0.3, 0.0, -0.1])
    K = np.array([[30.0, 0.0, 19.5], [0.0, 32.0, 11.5], [0.0, 0.0, 1.0]])
    return CameraModel("front", width, height, K, T)


def test_a_pixel_with_known_depth_lands_at_the_known_lidar_point():
    cam = camera()
    # Principal point at 10 m: straight ahead of the camera, i.e. (0.3 + 10, 0, -0.1) in the LiDAR frame.
    # Pixel (u, v) = (19.5 + 30, 11.5 - 32) at 2 m: 2 m ahead, 2 m to the right, 2 m up of the camera.
    points = backproject_pixels(np.array([19.5, 49.5]), np.array([11.5, -20.5]), np.array([10.0, 2.0]), cam)
    assert np.allclose(points, [[10.3, 0.0, -0.1], [2.3, -2.0, 1.9]], atol=1e-12)


def test_back_projected_pixels_project_back_within_1e_4_px():
    cam = camera()
    depth = np.random.default_rng(0).uniform(1.0, 60.0, (cam.height, cam.width))
    zeros = np.zeros((cam.height, cam.width))
    cloud = camera_panoptic_cloud(cam, zeros, zeros, zeros, depth, zeros, stride=1)
    assert cloud.points.shape == (cam.height * cam.width, 4)
    uv, d, _ = cam.project(cloud.points[:, :3].astype(np.float64))
    v, u = np.mgrid[0 : cam.height, 0 : cam.width]
    # float32 storage of the points limits the round trip; 1e-4 px holds with margin at these ranges
    assert np.abs(uv - np.stack([u.ravel(), v.ravel()], 1)).max() < 1e-4
    assert np.allclose(d, depth.ravel(), rtol=1e-5)


def test_the_cloud_is_subsampled_by_the_stride_and_drops_pixels_without_depth():
    cam = camera()
    depth = np.full((cam.height, cam.width), 5.0)
    depth[0, 0] = 0.0
    depth[0, 4] = np.nan
    class_id = np.full((cam.height, cam.width), 9)
    class_id[4, 8] = 1
    instance = np.zeros((cam.height, cam.width), dtype=np.int64)
    instance[4, 8] = 7
    score = np.full((cam.height, cam.width), 0.75)
    uncertainty = np.full((cam.height, cam.width), 0.2)
    cloud = camera_panoptic_cloud(cam, class_id, instance, score, depth, uncertainty, stride=4, stamp_ns=123)
    assert cloud.points.shape == (6 * 10 - 2, 4) and cloud.stamp_ns == 123 and cloud.frame_id == "lidar"
    assert cloud.class_id.dtype == np.uint16 and cloud.instance_id.dtype == np.uint32
    assert sorted(set(cloud.class_id.tolist())) == [1, 9] and cloud.instance_id.max() == 7
    assert np.all(cloud.score == np.float32(0.75)) and np.all(cloud.uncertainty == np.float32(0.2))
    assert np.all(cloud.points[:, 3] == 0)


def test_back_projection_refuses_maps_of_another_size():
    cam = camera()
    ok = np.zeros((cam.height, cam.width))
    with pytest.raises(ModelInputError, match=r"depth must have the camera's image shape \(24, 40\)"):
        camera_panoptic_cloud(cam, ok, ok, ok, np.zeros((24, 39)), ok)
    with pytest.raises(ModelInputError, match="stride must be >= 1"):
        camera_panoptic_cloud(cam, ok, ok, ok, ok, ok, stride=0)


def test_a_prediction_of_the_simulated_camera_becomes_a_lidar_frame_cloud(tiny, sim_sample):
    torch.manual_seed(0)
    model = DeepDPS.from_config(tiny).eval()
    pred = model.predict(sim_sample.image)[0]
    cam = sim_sample.camera
    cloud = prediction_to_cloud(pred, cam, stride=4, stamp_ns=5)
    assert cloud.points.shape[0] == (cam.height // 4) * (cam.width // 4)
    uv, depth, _ = cam.project(cloud.points[:, :3].astype(np.float64))
    v, u = np.mgrid[0 : cam.height : 4, 0 : cam.width : 4]
    assert np.abs(uv - np.stack([u.ravel(), v.ravel()], 1)).max() < 1e-3
    assert np.allclose(depth, pred.depth[::4, ::4].numpy().ravel(), rtol=1e-5)
    assert np.array_equal(cloud.class_id, pred.class_id[::4, ::4].numpy().ravel().astype(np.uint16))
    assert (cloud.uncertainty >= 0).all() and (cloud.uncertainty <= 1).all()
