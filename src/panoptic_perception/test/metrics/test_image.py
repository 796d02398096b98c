import numpy as np
import pytest

from panoptic_perception.metrics import DepthAwarePanopticEval, DepthEval, ImagePanopticEval, MetricsInputError, VideoPanopticEval

CAR, ROAD = 1, 9


def _random_image(rng, void_in_pred):
    gs = rng.integers(0, 20, (24, 32))
    gs[:8] = rng.integers(1, 4)
    gi = np.where((gs >= 1) & (gs <= 8), rng.integers(1, 3, gs.shape), 0)
    ps = np.where(rng.random(gs.shape) < 0.8, gs, rng.integers(0 if void_in_pred else 1, 20, gs.shape))
    pi = np.where((ps >= 1) & (ps <= 8), gi, rng.integers(0, 3, gs.shape))  # stuff predicted with instance ids
    return ps, pi, gs, gi


def _torchmetrics_pq(frames):
    torch = pytest.importorskip("torch")
    detection = pytest.importorskip("torchmetrics.detection")
    metric = detection.PanopticQuality(things=set(range(1, 9)), stuffs=set(range(9, 20)),
                                       allow_unknown_preds_category=True)
    for ps, pi, gs, gi in frames:
        metric.update(torch.from_numpy(np.stack([ps, pi], -1)[None]), torch.from_numpy(np.stack([gs, gi], -1)[None]))
    return float(metric.compute())


@pytest.mark.parametrize("convention", ["panopticapi", "torchmetrics"])
def test_image_pq_agrees_with_torchmetrics_when_nothing_is_predicted_void(rng, convention):
    frames = [_random_image(rng, void_in_pred=False) for _ in range(3)]
    ev = ImagePanopticEval(convention=convention)
    for frame in frames:
        ev.add_frame(*frame)
    assert ev.compute().pq == pytest.approx(_torchmetrics_pq(frames), abs=1e-6)  # torchmetrics returns float32


def test_predicted_void_separates_panopticapi_from_torchmetrics(rng):
    frames = [_random_image(rng, void_in_pred=True) for _ in range(3)]
    ours, tm_like = ImagePanopticEval(), ImagePanopticEval(convention="torchmetrics")
    for frame in frames:
        ours.add_frame(*frame)
        tm_like.add_frame(*frame)
    assert tm_like.compute().pq == pytest.approx(_torchmetrics_pq(frames), abs=1e-6)
    assert ours.compute().pq < tm_like.compute().pq - 1e-3  # panopticapi counts predicted-void gt pixels


def test_void_rule_ignores_predictions_mostly_on_void_gt():
    gs = np.zeros((10, 10), np.uint16)
    gs[:, :4] = ROAD
    ps = np.full((10, 10), ROAD, np.uint16)
    ps[:, 7:] = CAR  # car prediction entirely on void: not a FP
    pi = np.where(ps == CAR, 3, 0)
    ev = ImagePanopticEval()
    ev.add_frame(ps, pi, gs, np.zeros_like(gs))
    r = ev.compute()
    # road: 40 gt, 70 predicted of which 30 on void -> IoU 40 / (70 + 40 - 40 - 30) = 1
    assert r.pq == 1.0 and "car" not in r.per_class


def test_vpq_window_matches_tubes_across_frames():
    gs = np.full((4, 4), CAR, np.uint16)
    gi = np.ones((4, 4), np.uint32)
    ev = VideoPanopticEval(windows=(0, 1))
    ev.add_frame(gs, gi * 5, gs, gi)
    ev.add_frame(gs, gi * 6, gs, gi)  # id switch: each frame perfect, the 2-frame tube splits in halves
    r = ev.compute()
    assert r.per_window["0"].pq == 1.0
    assert r.per_window["1"].pq == 0.0  # two half tubes of IoU 0.5: no match, 2 FP + 1 FN
    assert r.vpq == pytest.approx(0.5)


def test_dpq_voids_pixels_with_large_depth_error():
    gs = np.full((10, 10), CAR, np.uint16)
    gi = np.ones_like(gs, dtype=np.uint32)
    gt_depth = np.full((10, 10), 10.0)
    pred_depth = gt_depth.copy()
    pred_depth[:3] = 13.0  # abs-rel 0.3 on 30 % of the pixels
    ev = DepthAwarePanopticEval(thresholds=(0.5, 0.25, 0.1))
    ev.add_frame(gs, gi, pred_depth, gs, gi, gt_depth)
    r = ev.compute()
    assert r.per_threshold["0.5"].pq == 1.0
    assert r.per_threshold["0.25"].pq == pytest.approx(0.7)  # IoU 70/100, still matched
    assert r.dpq == pytest.approx((1.0 + 0.7 + 0.7) / 3)


def test_depth_metrics_ignore_pixels_without_gt():
    gt = np.array([[0.0, 2.0], [4.0, 8.0]])
    pred = np.array([[5.0, 2.0], [5.0, 4.0]])
    ev = DepthEval()
    ev.add_frame(pred, gt)
    r = ev.compute()
    assert r.abs_rel == pytest.approx((0 + 0.25 + 0.5) / 3)
    assert r.sq_rel == pytest.approx((0 + 1 / 4 + 16 / 8) / 3)
    assert r.rmse == pytest.approx(np.sqrt((0 + 1 + 16) / 3))
    assert r.rmse_log == pytest.approx(np.sqrt((np.log(5 / 4) ** 2 + np.log(0.5) ** 2) / 3))
    assert (r.delta1, r.delta2, r.delta3) == pytest.approx((1 / 3, 2 / 3, 2 / 3))  # ratios 1, 1.25, 2
    with pytest.raises(MetricsInputError, match="differs from gt_depth"):
        ev.add_frame(pred, gt[:1])
