import json

import numpy as np
import pytest

from panoptic_perception.metrics.cli import main
from panoptic_perception.metrics.errors import EvalDataError
from panoptic_perception.metrics.eval_io import read_kitti_poses, read_label_file, write_kitti_poses, write_label_file


def _write_sequence(root, kind, frames):
    folder = root / "sequences" / "08" / kind
    folder.mkdir(parents=True)
    for i, (sem, inst) in enumerate(frames):
        write_label_file(folder / f"{i:06d}.label", sem, inst)


def test_label_files_round_trip_through_raw_ids(tmp_path):
    sem = np.array([0, 1, 9, 19], np.uint16)
    inst = np.array([0, 7, 0, 0], np.uint32)
    write_label_file(tmp_path / "a.label", sem, inst)
    raw = np.fromfile(tmp_path / "a.label", "<u4")
    assert list(raw & 0xFFFF) == [0, 10, 40, 81]
    back = read_label_file(tmp_path / "a.label")
    assert list(back[0]) == list(sem) and list(back[1]) == list(inst)


def test_lidar_command_writes_json_and_table(tmp_path, capsys):
    sem = np.r_[np.full(60, 1), np.full(60, 9)].astype(np.uint16)
    gt_inst = np.r_[np.full(60, 3), np.zeros(60)].astype(np.uint32)
    _write_sequence(tmp_path / "gt", "labels", [(sem, gt_inst)] * 2)
    _write_sequence(tmp_path / "pred", "predictions", [(sem, gt_inst * 2), (sem, gt_inst * 4)])
    out = tmp_path / "out"
    assert main(["lidar", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--sequences", "08",
                 "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["frames"] == 2 and result["id_switches"] == 1
    assert result["panoptic"]["pq"] == pytest.approx(2 / 19)
    assert "| ptq |" in (out / "metrics.md").read_text() and "| ptq |" in capsys.readouterr().out


def test_lidar_command_reports_missing_predictions(tmp_path, capsys):
    sem, inst = np.ones(5, np.uint16), np.ones(5, np.uint32)
    _write_sequence(tmp_path / "gt", "labels", [(sem, inst)] * 3)
    _write_sequence(tmp_path / "pred", "predictions", [(sem, inst)] * 2)
    assert main(["lidar", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--sequences", "08",
                 "--out", str(tmp_path / "o")]) == 2
    assert "2 predictions for 3 labels; missing ['000002.label']" in capsys.readouterr().err


def test_mismatched_point_counts_name_the_files(tmp_path, capsys):
    _write_sequence(tmp_path / "gt", "labels", [(np.ones(5, np.uint16), np.ones(5, np.uint32))])
    _write_sequence(tmp_path / "pred", "predictions", [(np.ones(4, np.uint16), np.ones(4, np.uint32))])
    assert main(["lidar", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--sequences", "08",
                 "--out", str(tmp_path / "o")]) == 2
    assert "000000.label: 4 points, but" in capsys.readouterr().err


def test_odometry_command_scores_kitti_pose_files(tmp_path):
    n = 30
    gt = np.tile(np.eye(4), (n, 1, 1))
    gt[:, 0, 3] = np.arange(n) * 5.0
    est = gt.copy()
    est[:, 1, 3] = 0.5
    write_kitti_poses(tmp_path / "gt.txt", gt)
    write_kitti_poses(tmp_path / "est.txt", est)
    assert main(["odometry", "--gt", str(tmp_path / "gt.txt"), "--est", str(tmp_path / "est.txt"),
                 "--out", str(tmp_path / "o")]) == 0
    result = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert result["ate_se3"]["rmse"] == pytest.approx(0.0, abs=1e-6)  # a constant offset aligns away
    assert result["rpe_kitti"]["translation_pct"] == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(read_kitti_poses(tmp_path / "est.txt"), est)


def test_pose_file_errors_name_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_text("1 0 0 0 0 1 0 0 0 0 1 0\n1 2 3\n")
    with pytest.raises(EvalDataError, match=r"bad.txt:2: expected 12 values, got 3"):
        read_kitti_poses(tmp_path / "bad.txt")
    with pytest.raises(EvalDataError, match="missing pose file"):
        read_kitti_poses(tmp_path / "none.txt")
