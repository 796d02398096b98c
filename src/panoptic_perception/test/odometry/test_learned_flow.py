"""LearnedFlow on the shipped update operator: the FlowEstimator interface, sizes, quality floors, the registry."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.core import CameraModel
from panoptic_perception.odometry import (
    FLOW_ESTIMATORS,
    DISFlow,
    FlowEstimator,
    LearnedFlow,
    OdometryInputError,
    make_flow_estimator,
)

SHIPPED = Path(__file__).resolve().parents[4] / "models" / "update_operator_cpu"


@pytest.fixture(scope="module")
def learned() -> LearnedFlow:
    return LearnedFlow(SHIPPED)


@pytest.fixture(scope="module")
def world_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A held-out (test-split seed) front-camera pair at the shipped model's 310x94 with ground-truth flow."""
    rig = make_rig("hdl32-front")
    cam = rig.cameras["front"]
    K = cam.K.copy()
    K[0] *= 310 / cam.width
    K[1] *= 94 / cam.height
    rig.cameras = {"front": CameraModel("front", 310, 94, K, cam.T_cam_lidar)}
    frames = list(simulate(SceneConfig(seed=2050, light="day", dynamic_share=0.5), rig, 2))
    return frames[0].sensor.cameras["front"].rgb, frames[1].sensor.cameras["front"].rgb, frames[0].cameras["front"].flow


def test_learned_flow_is_a_flow_estimator_with_the_input_size(learned):
    assert isinstance(learned, FlowEstimator) and learned.width == 310
    rng = np.random.default_rng(0)
    img0 = rng.integers(0, 255, (120, 400, 3), dtype=np.uint8)
    for pair in ((img0, np.roll(img0, 2, axis=1)), (img0[..., 0], np.roll(img0[..., 0], 2, axis=1))):
        flow, conf = learned(*pair)
        assert flow.shape == (120, 400, 2) and conf.shape == (120, 400)
        assert flow.dtype == conf.dtype == np.float32 and np.isfinite(flow).all()
        assert 0.0 <= conf.min() and conf.max() <= 1.0
    flow, conf, dynamic = LearnedFlow(SHIPPED, width=0, iterations=2).estimate(img0, img0)
    assert flow.shape == (120, 400, 2) and dynamic.shape == (120, 400) and 0.0 <= dynamic.min() <= dynamic.max() <= 1.0


def test_learned_flow_beats_zero_flow_on_a_held_out_world_pair(learned, world_pair):
    img0, img1, flow_gt = world_pair
    valid = np.isfinite(flow_gt).all(axis=-1)
    flow, conf = learned(img0, img1)
    epe = np.linalg.norm(flow - np.nan_to_num(flow_gt), axis=-1)[valid]
    zero = np.linalg.norm(flow_gt[valid], axis=-1)
    assert epe.mean() < 0.35 * zero.mean()  # observed 1.11 vs 5.28 px (DIS medium: 1.66)
    # the confidence ranks: pixels it trusts are more accurate than the ones it does not
    trusted = conf[valid] >= np.median(conf[valid])
    assert epe[trusted].mean() < epe[~trusted].mean()


def test_registry_builds_front_ends_by_name_and_refuses_unknown_ones(tmp_path):
    assert set(FLOW_ESTIMATORS) == {"dis", "learned"}
    assert isinstance(make_flow_estimator("dis", preset="fast"), DISFlow)
    assert isinstance(make_flow_estimator("learned", model_dir=SHIPPED), LearnedFlow)
    with pytest.raises(OdometryInputError, match="expected one of"):
        make_flow_estimator("raft")
    with pytest.raises(OdometryInputError, match="cannot load"):
        LearnedFlow(tmp_path / "missing")
    with pytest.raises(OdometryInputError, match="width"):
        LearnedFlow(SHIPPED, width=4)
    with pytest.raises(OdometryInputError, match="init"):
        LearnedFlow(SHIPPED).estimate(np.zeros((32, 48), np.uint8), np.zeros((32, 48), np.uint8), np.zeros((32, 40, 2)))
    # the odometry stage guides front ends whose __call__ takes ``init``; starting from it did not help this network
    assert "init" not in inspect.signature(LearnedFlow(SHIPPED)).parameters
    with pytest.raises(OdometryInputError, match="img1"):
        LearnedFlow(SHIPPED)(np.zeros((32, 48), np.uint8), np.zeros((32, 40), np.uint8))


@pytest.mark.benchmark
def test_benchmark_learned_flow_on_a_94x310_image(benchmark, learned):
    rng = np.random.default_rng(0)
    img0 = rng.integers(0, 255, (94, 310), dtype=np.uint8)
    flow, conf = benchmark(learned, img0, np.roll(img0, 2, axis=1))
    assert flow.shape == (94, 310, 2) and np.isfinite(flow).all()
