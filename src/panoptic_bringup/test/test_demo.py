"""`make demo` end to end on a tiny drive: world -> bag -> player -> perception + odometry + mapping -> recording -> report.

The network is a tiny untrained UP-Fuse, so this checks that every sweep flows through the stack and
is scored, not the scores themselves (those are the shipped model's, in its model card).
"""

import json

import pytest

from panoptic_bringup import demo

pytestmark = pytest.mark.ros


def test_demo_runs_every_sweep_through_the_stack_and_scores_the_recording(tmp_path, tiny_upfuse_dir, capsys):
    assert demo.main(["--out", str(tmp_path), "--frames", "3", "--rig", "tiny", "--model-dir", str(tiny_upfuse_dir)]) == 0

    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["run"]["sweeps"] == result["run"]["processed"] == result["run"]["localised"] == result["run"]["mapped"] == 3
    assert result["metrics"]["frames"] == 3 and result["metrics"]["missing"] == 0
    assert result["run"]["recorded"]["/perception/panoptic_points"] == 3
    assert result["run"]["map_saved"] and (tmp_path / "map" / "map.ply").is_file()
    assert {"fusion", "tracking", "odometry"} <= set(result["latency_ms"])
    assert result["run"]["recorded"]["/perception/odometry"] == 3 and result["metrics"]["odometry"]["rpe_frame"]["pairs"] == 2
    assert result["metrics"]["map"]["poses"] == "odometry" and result["metrics"]["map"]["sweeps"] == 3
    report = (tmp_path / "report.md").read_text()
    assert "| sweeps processed | 3 |" in report and "| PQ |" in report and "| ATE [m]" in report and "| map PQ" in report
    for picture in ("prediction.png", "trajectory.png"):
        assert (tmp_path / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "report:" in capsys.readouterr().out


def test_demo_without_odometry_maps_on_the_true_poses(tmp_path, tiny_upfuse_dir):
    assert demo.main(["--out", str(tmp_path), "--frames", "2", "--rig", "tiny", "--model-dir", str(tiny_upfuse_dir),
                      "--no-odometry"]) == 0

    result = json.loads((tmp_path / "metrics.json").read_text())
    assert result["run"]["processed"] == result["run"]["mapped"] == 2 and result["run"]["localised"] is None
    assert "odometry" not in result["metrics"] and result["metrics"]["map"]["poses"] == "ground truth"
    assert "/perception/odometry" not in result["run"]["recorded"] and "odometry" not in result["latency_ms"]
    assert not (tmp_path / "trajectory.png").exists()


def test_demo_reuses_a_bag_made_with_the_same_settings(tmp_path):
    bag = tmp_path / "drive"
    demo.write_drive(bag, seed=1, rig="tiny", frames=2)
    made = (bag / "metadata.yaml").stat().st_mtime_ns
    demo.write_drive(bag, seed=1, rig="tiny", frames=2)
    assert (bag / "metadata.yaml").stat().st_mtime_ns == made
    demo.write_drive(bag, seed=2, rig="tiny", frames=2)
    assert (bag / "metadata.yaml").stat().st_mtime_ns != made


def test_demo_refuses_a_missing_model_and_an_empty_drive(tmp_path):
    with pytest.raises(SystemExit):
        demo.main(["--frames", "0"])
    with pytest.raises(SystemExit):
        demo.main(["--model-dir", str(tmp_path)])
