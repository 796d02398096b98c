"""DIS flow with forward-backward confidence on synthetic textured images with known motion."""

import cv2
import numpy as np
import pytest

from panoptic_perception.odometry import DISFlow, FlowEstimator, OdometryInputError

H, W = 120, 160
SHIFT = np.array([[1.0, 0.0, 2.3], [0.0, 1.0, -1.6], [0.0, 0.0, 1.0]])
HOMOGRAPHY = np.array([[1.02, 0.01, -1.5], [-0.015, 0.99, 2.0], [2e-5, -1e-5, 1.0]])


def _texture(ht: int, wd: int, seed: int) -> np.ndarray:
    """Multi-scale smooth noise, uint8."""
    rng = np.random.default_rng(seed)
    t = np.zeros((ht, wd), np.float32)
    for step in (2, 6, 16):
        noise = rng.standard_normal((ht // step + 3, wd // step + 3)).astype(np.float32)
        t += cv2.resize(noise, (wd + 3 * step, ht + 3 * step), interpolation=cv2.INTER_CUBIC)[:ht, :wd]
    return ((t - t.min()) / (t.max() - t.min()) * 255).astype(np.uint8)


def _true_flow(Hm: np.ndarray) -> np.ndarray:
    """img1 = warp(img0, Hm): pixel x of img0 lands at Hm x in img1."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    p = np.stack([u, v, np.ones_like(u)], -1) @ Hm.T
    return p[..., :2] / p[..., 2:] - np.stack([u, v], -1)


def test_dis_flow_is_a_flow_estimator():
    assert isinstance(DISFlow(), FlowEstimator)


@pytest.mark.parametrize("Hm", [SHIFT, HOMOGRAPHY], ids=["subpixel_translation", "homography"])
def test_dis_flow_recovers_a_known_warp_to_a_third_of_a_pixel_in_the_interior(Hm):
    img0 = _texture(H, W, seed=0)
    img1 = cv2.warpPerspective(img0, Hm, (W, H), flags=cv2.INTER_CUBIC)
    flow, conf = DISFlow()(np.repeat(img0[..., None], 3, axis=2), np.repeat(img1[..., None], 3, axis=2))
    assert flow.shape == (H, W, 2) and conf.shape == (H, W)
    err = np.linalg.norm(flow - _true_flow(Hm), axis=-1)[10:-10, 10:-10]
    assert np.median(err) < 0.3
    assert conf[10:-10, 10:-10].mean() > 0.95


def test_pixels_that_leave_the_view_get_zero_confidence():
    img0 = _texture(H, W, seed=1)
    Hm = np.array([[1.0, 0.0, 12.4], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    flow, conf = DISFlow()(img0, cv2.warpPerspective(img0, Hm, (W, H), flags=cv2.INTER_CUBIC))
    assert conf[:, -12:].max() == 0.0  # x + 12.4 > W - 1
    assert conf[10:-10, 10:-25].mean() > 0.95


def test_background_covered_by_a_moving_object_gets_low_confidence():
    background, obj = _texture(H, W, seed=2), _texture(40, 40, seed=3)
    img0 = background.copy()
    img0[40:80, 50:90] = obj
    img1 = cv2.warpPerspective(background, np.array([[1, 0, 1.3], [0, 1, -0.6], [0, 0, 1.0]]), (W, H), flags=cv2.INTER_CUBIC)
    img1[40:80, 60:100] = obj  # the object moved 10 px right, covering img0's background at x ~ 90..98.7
    flow, conf = DISFlow()(img0, img1)
    assert conf[44:76, 91:99].mean() < 0.2
    assert conf[44:76, 55:85].mean() > 0.9 and abs(np.median(flow[44:76, 55:85, 0]) - 10.0) < 0.3
    assert conf[5:35, 10:150].mean() > 0.95


def test_dis_flow_raises_on_images_of_different_size_or_dtype():
    with pytest.raises(OdometryInputError, match="img1"):
        DISFlow()(np.zeros((H, W), np.uint8), np.zeros((H, W + 1), np.uint8))
    with pytest.raises(OdometryInputError, match="img0: expected a uint8"):
        DISFlow()(np.zeros((H, W), np.float32), np.zeros((H, W), np.uint8))
