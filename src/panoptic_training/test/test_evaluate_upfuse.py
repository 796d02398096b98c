"""The UP-Fuse evaluation: the camera-view subset, the camera-only classes at the points, the goals and their bootstrap."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from panoptic_perception.models import UPFuse
from panoptic_training.config import load_config
from panoptic_training.data import SyntheticPanopticDataset, collate_samples
from panoptic_training.evaluate_upfuse import (
    COUNT_KEYS,
    IGNORED,
    bootstrap_goals,
    camera_classes_at_points,
    depends_on_lc,
    evaluate,
    goals,
    goals_table,
    in_camera_view,
    make_evaluator,
    observations,
    pq_terms,
    without_camera,
    write_report,
)
from panoptic_training.trainer import build_model_config


# Camera-frame probe points at 10 m depth: the image centre, just inside two corners, just outside two edges, and
# the centre behind the camera.
def _probe(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}"])
    sample = SyntheticPanopticDataset(config.data)[0]
    batch = collate_samples([sample], build_model_config(config.model).range_spec).inputs
    K, T = batch.K[0, 0].double(), batch.T_cam_lidar[0, 0].double()
    height, width = batch.images.shape[-2:]
    pixels = [(width / 2, height / 2), (0.5, 0.5), (width - 0.5, height - 0.5), (-0.5, height / 2),
              (width / 2, height + 0.5), (width / 2, height / 2)]
    depths = [10.0, 10.0, 10.0, 10.0, 10.0, -10.0]
    cam = torch.stack([torch.linalg.solve(K, torch.tensor([u, v, 1.0], dtype=torch.float64)) * d
                       for (u, v), d in zip(pixels, depths, strict=True)])
    lidar = (cam - T[:3, 3]) @ T[:3, :3]  # inverse of p_cam = R p + t, row-wise
    return dataclasses.replace(batch, point_xyz=lidar[None].float()), len(pixels)


def test_camera_view_keeps_exactly_the_points_whose_pixel_lies_inside_the_image(tiny_cache, tiny_config_path):
    probe, n = _probe(tiny_cache, tiny_config_path)

    assert in_camera_view(probe, n).tolist() == [True, True, True, False, False, False]


def test_camera_classes_are_read_at_each_points_pixel_and_zero_outside_the_view(tiny_cache, tiny_config_path):
    probe, n = _probe(tiny_cache, tiny_config_path)

    def head(images: torch.Tensor) -> torch.Tensor:  # class 3 on the left half of a 4x8 grid, 5 on the right
        logits = torch.zeros(len(images), 6, 4, 8)
        logits[:, 3, :, :4] = 1.0
        logits[:, 5, :, 4:] = 1.0
        return logits

    assert camera_classes_at_points(head, probe, n).tolist() == [5, 3, 5, 0, 0, 0]


def test_camera_view_of_a_simulated_sweep_is_a_proper_subset(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}"])
    sample = SyntheticPanopticDataset(config.data)[0]
    seen = in_camera_view(collate_samples([sample], build_model_config(config.model).range_spec).inputs, len(sample["semantic"]))

    assert seen.shape == (len(sample["semantic"]),)
    assert 0 < np.count_nonzero(seen) < len(seen)  # a front camera sees part of a 360-degree sweep


def _rows(**pq: float) -> dict[str, dict]:
    names = {"LC": 30.0, "L": 27.0, "L*": 26.0, "concat": 25.0, "concat, camera removed": 24.0, "LC night": 25.0,
             "L night": 25.0, "LC drift 5°": 29.5, "concat drift 5°": 23.0} | pq
    return {name: {"name": name, "frames": 3, "pq": value / 100} for name, value in names.items()}


def test_goals_are_judged_from_the_rows_at_their_thresholds():
    met = {goal: ok for goal, ok, _ in goals(_rows(), 5.0)}
    assert met == {"LC >= L + 3 PQ": True, "L* at most 1.5 PQ below L": True, "concat without camera falls below L": True,
                   "UP-Fuse loses at most half of what concat loses at 5°": True, "night: LC >= L": True}

    missed = {goal: ok for goal, ok, _ in goals(_rows(LC=29.9, **{"L*": 25.4, "LC night": 24.9, "LC drift 5°": 28.8}), 5.0)}
    assert missed["LC >= L + 3 PQ"] is False
    assert missed["L* at most 1.5 PQ below L"] is False
    assert missed["night: LC >= L"] is False
    assert missed["UP-Fuse loses at most half of what concat loses at 5°"] is False  # 1.1 > half of 2.0

    above = {goal: ok for goal, ok, _ in goals(_rows(**{"L*": 29.9}), 5.0)}
    assert above["L* at most 1.5 PQ below L"] is True  # the issue bounds the loss only: L* above L passes


def test_the_concat_remark_appears_only_when_concat_is_below_l():
    assert any("concat with its camera" in line for line in observations(_rows(), 5.0))
    assert not any("concat with its camera" in line for line in observations(_rows(concat=28.0), 5.0))


def test_the_report_names_the_rig_its_cameras_their_coverage_and_the_lc_model(tmp_path):
    rows = _rows(**{"LC drift 1°": 29.9, "concat drift 1°": 24.5})
    rows |= {f"{name} camera view": {"name": f"{name} camera view", "frames": 3, "pq": 0.3, "point_share": 0.934}
             for name in ("LC", "L", "L*")}
    for row in rows.values():
        row |= {k: row["pq"] for k in ("pq_th", "pq_st", "sq", "rq", "miou")}
    data = {"rig": "hdl32-surround", "cameras": 6, "split": "test", "seeds": "2000-2001", "sequences": 2,
            "frames_per_sequence": 3, "frames": 6, "train_frames": 300, "lights": "day 6 frames"}
    training = {k: {"dir": f"runs/{k}/export", "run": f"runs/{k}", "steps": 10, "wall_seconds": 1.0}
                for k in ("LC", "L", "concat")}
    report = tmp_path / "results.md"

    write_report(report, rows, [0.0, 1.0, 5.0], data, training, "cmd", 1.0, tmp_path / "drift.png")

    text = report.read_text()
    assert "93 % of the test points with this rig (6 cameras)" in text
    assert "rig `hdl32-surround`: ray-cast LiDAR and 6 rendered cameras" in text
    assert "(`runs/LC/export`)" in text
    assert "| LC drift 5° | 3 | 29.5 |" in text


def test_reused_baseline_rows_equal_recomputed_ones_and_only_the_lc_rows_run_again(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}"])
    dataset = SyntheticPanopticDataset(config.data)
    torch.manual_seed(0)
    models = {k: UPFuse(build_model_config(config.model)).eval() for k in ("lc", "l", "concat")}
    full = evaluate(models, dataset, [0.0, 5.0], seed=1, progress=False)
    calls = {k: 0 for k in models}
    for key, model in models.items():
        model.predict = lambda inputs, key=key, predict=model.predict: calls.__setitem__(key, calls[key] + 1) or predict(inputs)

    reused = evaluate(models, dataset, [0.0, 5.0], seed=1, progress=False,
                      reuse={name: row for name, row in full.items() if not depends_on_lc(name)})

    assert reused == full
    assert calls == {"lc": 3 * len(dataset), "l": 0, "concat": 0}  # LC, L*, LC drift 5°
    assert sorted(name for name in full if depends_on_lc(name)) == ["L*", "L* camera view", "LC", "LC camera view",
                                                                    "LC drift 5°", "LC night"]


def _counted(pq_per_sequence: list[float]) -> dict:
    """Per-sequence counts of a row whose every non-ignored class has one match of IoU pq/100 in each sequence."""
    per_class = np.ones(20)
    per_class[list(IGNORED)] = 0
    tp = [per_class.tolist() for _ in pq_per_sequence]
    return {"tp": tp, "fp": [[0.0] * 20 for _ in tp], "fn": [[0.0] * 20 for _ in tp],
            "iou_sum": [(per_class * pq / 100).tolist() for pq in pq_per_sequence]}


def test_bootstrap_of_rows_without_spread_agrees_with_the_goals_in_every_resample():
    rows = _rows(**{"LC drift 5°": 28.0})  # drift: UP-Fuse loses 2.0, concat 2.0: not met
    for row in rows.values():
        row["per_sequence"] = _counted([100 * row["pq"]] * 8)

    sure = bootstrap_goals(rows, 5.0, resamples=200)

    assert [share for share, _, _ in sure] == [1.0 if ok else 0.0 for _, ok, _ in goals(rows, 5.0)]
    assert [share for share, _, _ in sure] == [1.0, 1.0, 1.0, 0.0, 1.0]  # LC = L + 3 exactly: a tie is met
    assert all(low == pytest.approx(high) for _, low, high in sure)
    assert sure[3][1] == pytest.approx(0.5 * 2.0 - 2.0)
    table = goals_table(rows, 5.0)
    assert table[0] == "| goal | met | numbers (PQ) | holds in resamples | margin, 90 % interval |"
    assert table[5].startswith("| UP-Fuse loses at most half") and table[5].endswith("| 0 % | -1.0 to -1.0 |")


def test_bootstrap_of_a_goal_on_the_edge_holds_in_some_resamples_only():
    rows = _rows()
    for row in rows.values():
        row["per_sequence"] = _counted([100 * row["pq"]] * 20)
    rows["LC"]["per_sequence"] = _counted([40.0, 20.0] * 10)  # pooled PQ 30: LC = L + 3 on average

    share, low, high = bootstrap_goals(rows, 5.0, resamples=500)[0]

    assert 0.2 < share < 0.8 and low < 0 < high


def test_bootstrap_needs_the_counts_of_every_goal_row():
    rows = _rows()
    for name, row in rows.items():
        if name != "L night":
            row["per_sequence"] = _counted([100 * row["pq"]] * 4)
    assert bootstrap_goals(rows, 5.0) is None


def test_per_sequence_counts_are_each_sequences_own_and_pool_to_the_rows_pq(tiny_cache, tiny_config_path):
    config = load_config(tiny_config_path, [f"data.cache_dir={tiny_cache}", "data.num_sequences=2",
                                            "data.frames_per_sequence=1"])
    dataset = SyntheticPanopticDataset(config.data)
    torch.manual_seed(0)
    models = {k: UPFuse(build_model_config(config.model)).eval() for k in ("lc", "l", "concat")}

    rows = evaluate(models, dataset, [0.0, 5.0], seed=1, progress=False)

    assert np.asarray(rows["L"]["per_sequence"]["fn"]).sum(axis=1).min() > 0  # every sequence has counts
    for name in ("LC", "L", "L*", "concat", "LC drift 5°"):
        counts = [np.asarray(rows[name]["per_sequence"][k]).sum(axis=0) for k in COUNT_KEYS]
        pq = pq_terms(counts[0], counts[3], counts[1], counts[2])[0]
        assert pq[1:].mean() == pytest.approx(rows[name]["pq"])
    spec = build_model_config(config.model).range_spec
    for index in range(len(dataset)):  # L, recomputed frame by frame: sequence i holds frame i's counts
        sample = dataset[index]
        pred = models["l"].predict(without_camera(collate_samples([sample], spec).inputs))[0]
        matches = make_evaluator().add_frame(pred.class_id.numpy(), pred.instance_id.numpy(),
                                             sample["semantic"].astype(np.int64), sample["instance"].astype(np.int64))
        assert rows["L"]["per_sequence"]["tp"][index] == matches.tp.tolist()
        assert rows["L"]["per_sequence"]["iou_sum"][index] == pytest.approx(matches.iou_sum.tolist())
