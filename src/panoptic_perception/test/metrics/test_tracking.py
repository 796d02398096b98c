import warnings

import numpy as np
import pytest

from panoptic_perception.metrics import MetricsInputError, TrackingEval

CAR, ROAD = 1, 9


def _car_frame(pred_id, gt_id=1, n=40):
    """n car points of gt ``gt_id`` predicted as ``pred_id`` (0 -> predicted road), plus 40 road points."""
    ps = np.r_[np.full(n, CAR if pred_id else ROAD), np.full(40, ROAD)].astype(np.uint16)
    pi = np.r_[np.full(n, pred_id), np.zeros(40)].astype(np.uint32)
    gs = np.r_[np.full(n, CAR), np.full(40, ROAD)].astype(np.uint16)
    gi = np.r_[np.full(n, gt_id), np.zeros(40)].astype(np.uint32)
    return ps, pi, gs, gi


def test_id_switch_rules_differ_after_a_missed_frame():
    # gt car tracked as 5, missed one frame, then re-found as 7: MOPT/MOTS compares with the last match
    # (5 -> 7: a switch); the nuScenes rule only compares consecutive frames (no switch).
    ev = TrackingEval(min_points=0)
    for pred_id in (5, 0, 7, 7, 5):
        ev.add_frame(*_car_frame(pred_id))
    r = ev.compute()
    assert r.id_switches == 2  # 5->(miss)->7 and 7->5
    assert r.id_switches_nuscenes == 1  # only 7->5 is consecutive
    tp, fn = 4, 1
    car_ptq = (tp * 1.0 - 2) / (tp + 0.5 * fn)
    assert r.per_class["car"]["ptq"] == pytest.approx(car_ptq)
    road_pq = 4 / (4 + 0.5 + 0.5)  # missed frame: road has 40 gt, 80 predicted points, IoU 0.5 -> FP + FN
    assert r.ptq == pytest.approx((car_ptq + road_pq) / 19)  # mean over all non-ignored classes
    assert r.ptq_nuscenes == pytest.approx(((tp - 1) / (tp + 0.5 * fn) + road_pq) / 2)  # classes with gt only
    assert r.motsa == pytest.approx((tp - 0 - 2) / (tp + fn))
    assert r.motsa_nuscenes == pytest.approx((tp - 1) / (tp + fn))


def test_soft_ptq_subtracts_the_iou_of_switched_matches():
    ev = TrackingEval(min_points=0)
    ev.add_frame(*_car_frame(5))
    ps, pi, gs, gi = _car_frame(8)
    gs[:10] = ROAD  # 30/40 car points remain gt car: IoU 30/40 for the switched match
    gi[:10] = 0
    ev.add_frame(ps, pi, gs, gi)
    r = ev.compute()
    iou_sum = 1.0 + 0.75
    assert r.id_switches == 1
    assert r.per_class["car"]["sptq"] == pytest.approx((iou_sum - 0.75) / 2)
    assert r.per_class["car"]["ptq"] == pytest.approx((iou_sum - 1.0) / 2)


def test_lstq_of_a_split_track_matches_the_aygun_definition():
    # One gt tube of 80 points over two frames; predicted as id 1 then id 2 (40 points each).
    ev = TrackingEval(min_points=0)
    ev.add_frame(*_car_frame(1))
    ev.add_frame(*_car_frame(2))
    r = ev.compute()
    s_assoc = (40 * 40 / 80 + 40 * 40 / 80) / 80  # sum_s TPA * IoU / |t|, IoU = 40/80
    assert r.s_assoc == pytest.approx(s_assoc)
    assert r.s_cls == pytest.approx(2 / 19)  # car and road IoU 1, 17 absent classes 0
    assert r.lstq == pytest.approx(np.sqrt(s_assoc * 2 / 19))


def test_sequences_are_evaluated_separately_and_must_be_contiguous():
    ev = TrackingEval(min_points=0)
    ev.add_frame(*_car_frame(5), sequence="00")
    ev.add_frame(*_car_frame(7), sequence="01")  # a new sequence: no switch
    assert ev.compute().id_switches == 0
    with pytest.raises(MetricsInputError, match="contiguously"):
        ev.add_frame(*_car_frame(7), sequence="00")


def _run_peer(peer, sequences):
    for name, frames in sequences.items():
        lists = [[None], [None], [None], [None]]
        for frame in frames:  # the devkit's evaluate.py keeps the last two frames in lists it mutates
            for col, arr in zip(lists, frame, strict=True):
                col.append(arr.astype(np.int64))
                del col[:-2]
            peer.add_batch(name, *lists)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return peer.get_ptq(), peer.get_lstq(), peer.get_motsa()


@pytest.mark.parametrize("min_points", [0, 3, 10])
def test_nuscenes_variants_agree_with_the_devkit_tracking_evaluator(rng, frame_maker, nuscenes_tracking_eval,
                                                                    min_points):
    sequences = {}
    for s in range(2):
        frames = []
        perm = rng.permutation(12) + 1
        for f in range(5):
            if f % 2 == 0:  # predicted ids reassigned every other frame
                perm = rng.permutation(12) + 1
            frames.append(frame_maker(rng, int(rng.integers(400, 1500)), num_instances=3, track_perm=perm))
        sequences[str(s)] = frames
    ours = TrackingEval(min_points=min_points)
    for name, frames in sequences.items():
        for frame in frames:
            ours.add_frame(*frame, sequence=name)
    r = ours.compute()
    peer = nuscenes_tracking_eval(20, min_stuff_cls_id=9, ignore=[0], min_points=min_points)
    (ptq, _, sptq, _), (lstq, s_assoc), (motsa, smotsa, motsp) = _run_peer(peer, sequences)
    # The devkit computes IoU in float32: agreement is to ~1e-8, well inside 1e-6.
    assert r.ptq_nuscenes == pytest.approx(ptq, abs=1e-6)
    assert r.sptq_nuscenes == pytest.approx(sptq, abs=1e-6)
    assert r.s_assoc_nuscenes == pytest.approx(s_assoc, abs=1e-6)
    assert r.lstq_nuscenes == pytest.approx(lstq, abs=1e-6)
    assert (r.motsa_nuscenes, r.smotsa_nuscenes, r.motsp) == pytest.approx((motsa, smotsa, motsp), abs=1e-6)
    assert r.id_switches_nuscenes == int(peer.pan_ids.sum())
    assert r.panoptic.pq == pytest.approx(peer.getPQ()[0], abs=1e-6)


def test_paper_lstq_equals_the_devkit_when_its_quirks_do_not_apply(nuscenes_tracking_eval):
    # No min_points gating, every predicted point on a thing instance, ids unique across classes:
    # the devkit's per-class pred sizes and +1 instance offset then change nothing.
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(4):
        gi = rng.integers(1, 4, 300)
        pi = np.where(rng.random(300) < 0.7, gi, rng.integers(1, 5, 300))
        sem = np.full(300, CAR, np.uint16)
        frames.append((sem, pi.astype(np.uint32), sem.copy(), gi.astype(np.uint32)))
    ours = TrackingEval(min_points=0)
    for frame in frames:
        ours.add_frame(*frame)
    r = ours.compute()
    _, (lstq, s_assoc), _ = _run_peer(nuscenes_tracking_eval(20, 9, ignore=[0], min_points=-1), {"0": frames})
    assert r.s_assoc == pytest.approx(s_assoc, abs=1e-9)
    assert r.s_assoc == pytest.approx(r.s_assoc_nuscenes, abs=1e-12)


def test_without_gt_tubes_association_is_zero_where_the_devkit_gives_nan(nuscenes_tracking_eval):
    frame = _car_frame(0, n=0)
    ours = TrackingEval(min_points=0)
    ours.add_frame(*frame)
    r = ours.compute()
    _, (lstq, s_assoc), _ = _run_peer(nuscenes_tracking_eval(20, 9, ignore=[0], min_points=0), {"0": [frame]})
    assert np.isnan(s_assoc) and np.isnan(lstq)
    assert r.s_assoc_nuscenes == 0.0 and r.lstq_nuscenes == 0.0


@pytest.mark.benchmark(group="metrics")
def test_benchmark_tracking_frame_of_120k_points(benchmark, frame_maker):
    frame = frame_maker(np.random.default_rng(0), 120_000, num_instances=40, keep=0.9)
    ev = TrackingEval()
    benchmark(ev.add_frame, *frame)
    assert ev.compute().panoptic.pq > 0.5
