"""Scoring a recorded output bag against the dataset bag it was played from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nav_msgs.msg import Odometry

from panoptic_datasets.evaluation import ODOMETRY_TOPIC, PANOPTIC_TOPIC, evaluate_bags
from panoptic_datasets.formats.bag import BagRecorder, BagWriter
from panoptic_perception.core import PanopticCloud, unpack_label
from panoptic_perception.metrics.cli import main as eval_main
from panoptic_perception.ros.conversions import make_header, matrix_to_pose, panoptic_cloud_to_msg


@pytest.fixture
def dataset_bag(tmp_path, tiny_frames):
    frames = tiny_frames(num_frames=4, cameras=("front",))
    with BagWriter(tmp_path / "dataset") as writer:
        for frame in frames:
            writer.write(frame)
    return tmp_path / "dataset", frames


def _record(path, frames, relabel=lambda i, track: track, pose_offset=(0.0, 0.0, 0.0), skip=(), drop_points=0):
    with BagRecorder(path) as recorder:
        for i, frame in enumerate(frames):
            if i in skip:
                continue
            semantic, instance = unpack_label(frame.point_label)
            n = len(semantic) - drop_points
            track = relabel(i, instance.astype(np.uint32))[:n]
            cloud = PanopticCloud(frame.sensor.stamp_ns, frame.sensor.points[:n], semantic[:n], track, np.ones(n, np.float32),
                                  np.zeros(n, np.float32), track_id=track)
            recorder.write(PANOPTIC_TOPIC, panoptic_cloud_to_msg(cloud), frame.sensor.stamp_ns)
            T = frame.T_world_lidar.copy()  # T_base_lidar is identity in these bags
            T[:3, 3] += pose_offset
            odom = Odometry(header=make_header(frame_id="odom", stamp_ns=frame.sensor.stamp_ns), child_frame_id="base_link")
            odom.pose.pose = matrix_to_pose(T)
            recorder.write(ODOMETRY_TOPIC, odom, frame.sensor.stamp_ns)
    return path


def test_perfect_predictions_score_full_pq_and_zero_trajectory_error(tmp_path, dataset_bag):
    gt, frames = dataset_bag
    result = evaluate_bags(gt, _record(tmp_path / "pred", frames), min_points=1)

    assert result["frames"] == 4
    assert result["panoptic"]["pq"] == pytest.approx(1.0)
    assert result["ptq"] == pytest.approx(1.0)
    assert result["id_switches"] == 0
    assert result["odometry"]["ate_se3"]["rmse"] == pytest.approx(0.0, abs=1e-6)


def test_a_track_id_change_is_an_id_switch_and_a_pose_offset_is_measured(tmp_path, dataset_bag):
    gt, frames = dataset_bag
    switched = _record(tmp_path / "pred", frames, relabel=lambda i, t: np.where(t > 0, t + 1000 * (i >= 2), 0).astype(np.uint32),
                       pose_offset=np.array([0.0, 0.5, 0.0]))
    result = evaluate_bags(gt, switched, min_points=1)

    assert result["panoptic"]["pq"] == pytest.approx(1.0)
    assert result["id_switches"] > 0 and result["ptq"] < 1.0
    # A constant offset is removed by the SE(3) alignment; frame-to-frame motion is unaffected.
    assert result["odometry"]["ate_se3"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert result["odometry"]["rpe_frame"]["translation_rmse_m"] == pytest.approx(0.0, abs=1e-6)


def test_cli_writes_json_and_rejects_incomplete_predictions(tmp_path, dataset_bag, capsys):
    gt, frames = dataset_bag
    assert eval_main(["bag", "--gt", str(gt), "--pred", str(_record(tmp_path / "ok", frames)), "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["frames"] == 4

    missing = _record(tmp_path / "missing", frames, skip=(2,))
    assert eval_main(["bag", "--gt", str(gt), "--pred", str(missing), "--out", str(tmp_path / "m")]) == 2
    assert f"no {PANOPTIC_TOPIC} for the sweep at {frames[2].sensor.stamp_ns}" in capsys.readouterr().err

    short = _record(tmp_path / "short", frames, drop_points=3)
    assert eval_main(["bag", "--gt", str(gt), "--pred", str(short), "--out", str(tmp_path / "s")]) == 2
    assert "points, the sweep has" in capsys.readouterr().err

    assert eval_main(["bag", "--gt", str(tmp_path / "nope"), "--pred", str(short), "--out", str(tmp_path / "n")]) == 2
    assert "metadata.yaml: file not found" in capsys.readouterr().err
