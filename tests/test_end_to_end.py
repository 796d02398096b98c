"""End to end with the shipped model: a short held-out drive through the ROS graph, scored against ground truth.

World -> MCAP bag -> player process -> perception, odometry and mapping nodes -> recorded outputs ->
panoptic-eval. The scores are deterministic (same seed, same model); the floors sit a little below what the
shipped model reaches (PQ 0.342, PQ stuff 0.534, mIoU 0.350 on this drive) so that a regression anywhere on
the path fails. Thing quality gets no floor: on five sweeps of one drive PQ_th (0.079) rests on a handful of
objects (models/upfuse_cpu/MODEL_CARD.md has the test-split figures). Tracking is checked for what it must
never do on this drive: switch an object's identity, or renumber or restart a track (an id keeps its class,
and its age counts the sweeps since its birth, also across a sweep it was missed in). The odometry node (PVO
with LiDAR fusion, odometry.yaml) runs too, 1-3 s a sweep here, so the player plays closed loop on its status:
it must publish a pose for every sweep, the map is built on those poses, and the published
``perception/odometry`` must follow the truth. Measured on this drive with the shipped model: ATE
0.0040 m (max 0.0067), unaligned error in odom max 0.0116 m, RPE 0.0032 m and 0.0108 deg per sweep over its
3.2 m (the earlier 450-step model: 0.0038, 0.0064, 0.0111, 0.0031, 0.0094); bounds = about 2x that plus a
margin (0.02 m, 0.05 deg). Poses one sweep late (the camera paired with the
previous sweep's image, as odometry.yaml once did) give ATE 0.33 m, translations 5 % too long 0.053 m, a LiDAR
mounting yawed by 2 degrees an unaligned error of 0.113 m. Five sweeps stay inside one keyframe window, so
this checks the wiring (frames, extrinsics, stamps, pairing) and gross accuracy, not drift: that is the
odometry evaluation's job (docs/odometry.md). Map PQ on the odometry poses measured 0.327: floor 0.29.
"""

import json
from collections import defaultdict

import pytest

from panoptic_bringup import demo
from panoptic_datasets.formats.bag import read_messages

pytestmark = pytest.mark.ros


def test_a_held_out_drive_through_the_stack_scores_above_the_floors(tmp_path):
    assert demo.main(["--out", str(tmp_path), "--frames", "5", "--seed", "2000", "--rig", "hdl32-front"]) == 0

    result = json.loads((tmp_path / "metrics.json").read_text())
    run, metrics = result["run"], result["metrics"]
    assert run["sweeps"] == run["processed"] == run["localised"] == run["mapped"] == 5
    assert run["dropped"] == 0 and metrics["missing"] == 0
    assert metrics["panoptic"]["pq"] >= 0.30
    assert metrics["panoptic"]["pq_stuff"] >= 0.48
    assert metrics["panoptic"]["miou"] >= 0.30
    assert run["map_saved"]
    assert metrics["id_switches"] == 0

    odometry = metrics["odometry"]
    assert run["recorded"]["/perception/odometry"] == 5
    assert odometry["ate_se3"]["rmse"] < 0.03 and odometry["ate_se3"]["max"] < 0.035
    assert odometry["odom_frame"]["max"] < 0.045  # unaligned: a mounting yaw error shows here, not in the aligned ATE
    assert odometry["rpe_frame"]["translation_rmse_m"] < 0.03
    assert odometry["rpe_frame"]["rotation_rmse_deg"] < 0.07
    assert metrics["map"]["poses"] == "odometry" and metrics["map"]["sweeps"] == 5
    assert metrics["map"]["pq"] >= 0.29

    ages: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # track id -> (sweep, class, age) where listed
    for sweep, (_, _, msg) in enumerate(read_messages(tmp_path / "recording", ["/perception/tracks"])):
        for track in msg.tracks:
            ages[track.track_id].append((sweep, track.class_id, track.age))
    longest = max(ages.values(), key=len)
    assert len(longest) >= 3  # one object followed over three sweeps under one id
    for history in ages.values():
        assert len({cls for _, cls, _ in history}) == 1  # an id never changes class
        assert len({sweep - age for sweep, _, age in history}) == 1  # one birth: age counts the sweeps since it
