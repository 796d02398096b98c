import numpy as np
import pytest

from panoptic_perception.metrics import MetricsInputError, PanopticEval

CAR, PERSON, ROAD, BUILDING = 1, 6, 9, 13


def _frame(pairs):
    """Points from (pred_sem, pred_inst, gt_sem, gt_inst, count) rows."""
    cols = [np.repeat([r[i] for r in pairs], [r[4] for r in pairs]) for i in range(4)]
    return cols[0].astype(np.uint16), cols[1].astype(np.uint32), cols[2].astype(np.uint16), cols[3].astype(np.uint32)


def _feed_peer(peer, frame):
    peer.addBatch(*[a.astype(np.int64) for a in frame])


def test_pq_of_a_hand_built_frame_matches_the_definition():
    # car gt 1 (10 pts) predicted 8/10 + 2 extra -> IoU 8/12; person gt 5 (10 pts) missed (predicted as road);
    # road gt (20 pts, 2 predicted car) + 12 extra predicted road points -> IoU 18/32; a 10-point car FP.
    frame = _frame([(CAR, 7, CAR, 1, 8), (ROAD, 0, CAR, 1, 2), (CAR, 7, ROAD, 0, 2), (ROAD, 0, ROAD, 0, 18),
                    (ROAD, 0, PERSON, 5, 10), (CAR, 9, 0, 0, 10), (CAR, 3, BUILDING, 0, 10)])
    ev = PanopticEval(min_points=0)
    ev.add_frame(*frame)
    r = ev.compute()
    car = r.per_class["car"]
    assert (car["tp"], car["fp"], car["fn"]) == (1, 1, 0)
    assert car["pq"] == pytest.approx((8 / 12) / 1.5)
    assert r.per_class["person"]["fn"] == 1 and r.per_class["person"]["pq"] == 0.0
    assert r.per_class["road"]["pq"] == pytest.approx(18 / 32)
    assert r.per_class["building"]["fn"] == 1
    # The car predicted on unlabeled gt is removed with the ignored points: not a FP.
    assert r.pq == pytest.approx(((8 / 12) / 1.5 + 18 / 32) / 19)


def test_min_points_gates_unmatched_segments_but_not_matches():
    frame = _frame([(CAR, 1, CAR, 1, 60), (CAR, 2, CAR, 2, 10), (PERSON, 4, ROAD, 0, 49), (ROAD, 0, ROAD, 0, 100)])
    small = PanopticEval(min_points=50)
    small.add_frame(*frame)
    r = small.compute()
    assert r.per_class["car"]["tp"] == 2  # the 10-point car is matched even below min_points
    assert r.per_class["person"]["fp"] == 0  # 49-point unmatched prediction is below min_points
    none = PanopticEval(min_points=0)
    none.add_frame(*frame)
    assert none.compute().per_class["person"]["fp"] == 1


def test_convention_names_select_min_points():
    assert PanopticEval(convention="semantickitti").min_points == 50
    assert PanopticEval(convention="nuscenes").min_points == 15
    with pytest.raises(MetricsInputError, match="unknown convention"):
        PanopticEval(convention="coco")


def test_pq_dagger_uses_iou_for_stuff_and_pq_for_things():
    frame = _frame([(CAR, 1, CAR, 1, 60), (ROAD, 0, ROAD, 0, 30), (BUILDING, 0, ROAD, 0, 70),
                    (BUILDING, 0, BUILDING, 0, 100)])
    ev = PanopticEval(min_points=0)
    ev.add_frame(*frame)
    r = ev.compute()
    road_iou, building_iou = 30 / 100, 100 / 170
    assert r.per_class["road"]["pq"] == 0.0 and r.per_class["road"]["iou"] == pytest.approx(road_iou)
    assert r.pq_dagger == pytest.approx((1.0 + road_iou + building_iou) / 19)
    assert r.pq_things == pytest.approx(1.0 / 8)
    assert r.pq_stuff == pytest.approx(r.per_class["building"]["pq"] / 11)


@pytest.mark.parametrize("min_points", [0, 5, 15, 50])
def test_random_frames_agree_with_nuscenes_devkit(rng, frame_maker, nuscenes_eval, min_points):
    ours = PanopticEval(min_points=min_points)
    peer = nuscenes_eval(20, ignore=[0], min_points=min_points)
    for _ in range(4):
        frame = frame_maker(rng, int(rng.integers(200, 3000)), num_instances=4)
        ours.add_frame(*frame)
        _feed_peer(peer, frame)
    r = ours.compute()
    pq, sq, rq, pq_c, _, _ = peer.getPQ()
    miou, iou_c = peer.getSemIoU()
    assert r.pq == pytest.approx(pq, abs=1e-6)
    assert r.sq == pytest.approx(sq, abs=1e-6)
    assert r.rq == pytest.approx(rq, abs=1e-6)
    assert r.miou == pytest.approx(miou, abs=1e-6)
    assert [v["pq"] for v in r.per_class.values()] == pytest.approx(list(pq_c[1:]), abs=1e-6)


def _adversarial_frames(rng):
    n = 300
    empty = tuple(np.zeros(0, d) for d in (np.uint16, np.uint32, np.uint16, np.uint32))
    void = (rng.integers(0, 20, n).astype(np.uint16), rng.integers(0, 5, n).astype(np.uint32),
            np.zeros(n, np.uint16), np.zeros(n, np.uint32))
    single = _frame([(CAR, k, CAR, k, 1) for k in range(1, 30)] + [(PERSON, 40, CAR, 3, 1)])
    absent = _frame([(CAR, 1, PERSON, 1, 40), (ROAD, 0, ROAD, 0, 40), (17, 0, 15, 0, 30)])
    return [empty, void, single, absent]


def test_adversarial_frames_agree_with_nuscenes_devkit(rng, nuscenes_eval):
    for frame in _adversarial_frames(rng):
        ours, peer = PanopticEval(min_points=0), nuscenes_eval(20, ignore=[0], min_points=0)
        ours.add_frame(*frame)
        _feed_peer(peer, frame)
        r = ours.compute()
        pq, sq, rq, *_ = peer.getPQ()
        assert (r.pq, r.sq, r.rq) == pytest.approx((pq, sq, rq), abs=1e-6)
        assert r.miou == pytest.approx(peer.getSemIoU()[0], abs=1e-6)


def test_stuff_with_instance_ids_is_one_segment_unlike_the_raw_devkit(nuscenes_eval):
    # Road predicted as two "instances": the devkit (eval_np) sees two segments of 50 -> no match at IoU 0.5;
    # we merge stuff into one segment per class -> a perfect match. Zeroing stuff ids makes the devkit agree.
    frame = _frame([(ROAD, 3, ROAD, 0, 50), (ROAD, 4, ROAD, 0, 50), (CAR, 1, CAR, 1, 40)])
    ours = PanopticEval(min_points=0)
    ours.add_frame(*frame)
    raw, merged = nuscenes_eval(20, ignore=[0], min_points=0), nuscenes_eval(20, ignore=[0], min_points=0)
    _feed_peer(raw, frame)
    ps, pi, gs, gi = frame
    _feed_peer(merged, (ps, np.where(ps >= ROAD, 0, pi), gs, gi))
    r = ours.compute()
    assert r.per_class["road"]["pq"] == 1.0
    assert raw.getPQ()[3][ROAD] == 0.0
    assert r.pq == pytest.approx(merged.getPQ()[0], abs=1e-12)
    assert r.pq - raw.getPQ()[0] == pytest.approx(1.0 / 19)


def test_rejects_mismatched_lengths_and_out_of_range_classes():
    ev = PanopticEval()
    with pytest.raises(MetricsInputError, match="expected 3 values"):
        ev.add_frame(np.zeros(4, np.uint16), np.zeros(4, np.uint32), np.zeros(3, np.uint16), np.zeros(3, np.uint32))
    with pytest.raises(MetricsInputError, match="class id 25"):
        ev.add_frame(np.full(3, 25, np.uint16), np.zeros(3, np.uint32), np.zeros(3, np.uint16),
                     np.zeros(3, np.uint32))
    with pytest.raises(MetricsInputError, match="integer array"):
        ev.add_frame(np.zeros(3), np.zeros(3, np.uint32), np.zeros(3, np.uint16), np.zeros(3, np.uint32))


def test_wide_instance_ids_are_handled_without_overflow():
    big = np.uint32(2**32 - 5)
    frame = _frame([(CAR, big, CAR, big - 1, 60), (CAR, 7, CAR, 8, 60)])
    ev = PanopticEval(min_points=0)
    ev.add_frame(*frame)
    assert ev.compute().per_class["car"]["tp"] == 2


@pytest.mark.benchmark(group="metrics")
def test_benchmark_pq_of_a_120k_point_frame(benchmark, frame_maker):
    frame = frame_maker(np.random.default_rng(0), 120_000, num_instances=40, keep=0.9)
    ev = PanopticEval()
    matches = benchmark(ev.add_frame, *frame)
    assert matches.tp.sum() > 0
