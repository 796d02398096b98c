"""``panoptic-bench replay`` on a tiny drive: every played sweep accounted for, latencies consistent."""

import json
import os

import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import PointCloud2

from panoptic_bringup import bench_replay, demo
from panoptic_perception.ros.conversions import ns_to_stamp


def test_the_stamp_is_read_from_serialised_bytes():
    msg = PointCloud2()
    msg.header.stamp = ns_to_stamp(1_795_000_000_123_456_789)
    msg.header.frame_id = "lidar"
    assert bench_replay.cdr_stamp_ns(serialize_message(msg)) == 1_795_000_000_123_456_789
    with pytest.raises(ValueError, match="too short"):
        bench_replay.cdr_stamp_ns(b"\x00\x01\x00\x00")


def test_summary_accounts_for_every_played_sweep_and_leaves_out_the_warmup():
    ms = 1_000_000
    frames = {}
    for k, (fusion, points_after) in enumerate([(90.0, 130), (40.0, 60), (50.0, 80), (60.0, 90)]):
        stamp = 1_000 * ms + k * 100 * ms
        frames[stamp] = bench_replay.FrameRecord(input_ns=stamp + 5 * ms, points_ns=stamp + points_after * ms,
                                                 stages_ms={"fusion": fusion, "tracking": 1.0}, node_total_ms=points_after - 2.0,
                                                 mode=3 if k == 3 else 0)
    frames[2_000 * ms] = bench_replay.FrameRecord(input_ns=2_000 * ms + 4 * ms)  # played, never answered
    # answered, but stamped like no played sweep (a camera-only cloud carries its image's stamp): not a processed sweep
    frames[1_050 * ms] = bench_replay.FrameRecord(points_ns=1_900 * ms, stages_ms={"camera_only": 300.0}, node_total_ms=850.0,
                                                  mode=2)
    summary = bench_replay.summarise(frames, played=6, dropped_by_node=1, warmup=1)

    assert summary["frames"] == {"played": 6, "processed": 4, "dropped_by_node": 1, "lost_before_node": 1,
                                 "warmup_excluded": 1, "modes": {"fusion": 3, "degraded": 1}, "other_outputs": 1}
    assert "camera_only" not in summary["latency_ms"]
    latency = summary["latency_ms"]
    assert latency["fusion"]["n"] == 3 and latency["fusion"]["p50"] == pytest.approx(50.0)  # the 90 ms warm-up is out
    assert latency[bench_replay.END_TO_END_STAGE]["p99"] == pytest.approx(89.8)
    assert latency[bench_replay.INPUT_STAGE]["p50"] == pytest.approx(5.0)


def test_overrides_name_a_node_and_parse_values_as_yaml():
    assert bench_replay.parse_overrides(["perception.threads=1", "perception.qos.input=reliable", "mapping.voxel_size=0.5"]) == {
        "perception": {"threads": 1, "qos.input": "reliable"}, "mapping": {"voxel_size": 0.5}}
    for bad in ("threads=1", "odometry.x=1", "perception.threads"):
        with pytest.raises(ValueError, match="expected perception"):
            bench_replay.parse_overrides([bad])


def test_the_command_line_refuses_a_bad_rate_and_a_folder_that_is_not_a_bag(tmp_path):
    with pytest.raises(SystemExit):
        bench_replay.main(["replay", str(tmp_path), "--rate", "fast"])
    with pytest.raises(SystemExit):
        bench_replay.main(["replay", str(tmp_path), "--rate", "0"])
    with pytest.raises(SystemExit):
        bench_replay.main(["replay", str(tmp_path)])


@pytest.mark.ros
@pytest.mark.parametrize(("rate", "layout"), [("max", "processes"), ("2", "processes"), ("max", "composed")])
def test_a_tiny_drive_replayed_through_the_stack_is_fully_accounted_for(tmp_path, tiny_upfuse_dir, rate, layout, capsys):
    bag = tmp_path / "drive"
    demo.write_drive(bag, seed=3, rig="tiny", frames=4)
    out = tmp_path / "bench"
    # camera_only off: the fallback's model is not needed (or shipped) for a drive whose LiDAR never fails
    # a long pace timeout: on a loaded machine a node process's first sweeps can take seconds, and closed loop
    # would otherwise give up on them
    assert bench_replay.main(["replay", str(bag), "--rate", rate, "--out", str(out), "--warmup", "1", "--layout", layout,
                              "--pace-timeout", "60",
                              "--param", f"perception.model_dir={tiny_upfuse_dir}",
                              "--param", "perception.camera_only.model_dir=''",
                              # reliable input: a best-effort sweep lost in transport on a loaded machine is the last
                              # of the drive here, which no later sequence number reveals (seen once in CI at load 3)
                              "--param", "perception.qos.input=reliable"]) == 0

    report = json.loads((out / f"replay_{rate if rate == 'max' else '2.0'}.json").read_text())
    frames, run, latency = report["frames"], report["run"], report["latency_ms"]
    assert frames["in_bag"] == frames["played"] == 4
    assert frames["processed"] + frames["dropped_by_node"] + frames["lost_before_node"] == frames["played"]
    assert frames["lost_before_node"] >= 0 and frames["processed"] >= 1
    assert sum(frames["modes"].values()) == frames["processed"]
    if rate == "max":  # closed loop: nothing queues, so nothing may be lost
        assert frames["processed"] == 4 and frames["dropped_by_node"] == frames["lost_before_node"] == 0
    for stage in ("fusion", "tracking", bench_replay.INPUT_STAGE, bench_replay.NODE_TOTAL_STAGE, bench_replay.END_TO_END_STAGE):
        v = latency[stage]
        assert v["n"] == frames["processed"] - 1
        assert 0 < v["p50"] <= v["p95"] <= v["p99"]
    # every sweep's end-to-end time contains its fusion time, so each percentile does too
    for p in ("p50", "p95", "p99"):
        assert latency[bench_replay.END_TO_END_STAGE][p] > latency["fusion"][p]
    assert run["throughput_fps"] > 0 and run["stack_peak_rss_mb"] > 0 and run["stack_cpu_cores"] > 0
    assert run["player_exit_code"] == 0 and run["layout"] == layout
    stack = ["perception", "mapping"] if layout == "processes" else [bench_replay.STACK_IN_BENCH]
    assert sorted(run["cpu_cores_by_process"]) == sorted([*stack, "player"])
    assert run["cpu_cores_by_process"]["player"] > 0
    assert run["stack_cpu_cores"] == pytest.approx(sum(run["cpu_cores_by_process"][name] for name in stack))
    if layout == "processes":  # each node ran in its own process and left its log
        assert (out / "logs" / "perception.log").is_file() and (out / "logs" / "mapping.log").is_file()
    text = capsys.readouterr().out
    assert "| sweeps played (seen on lidar/points) | 4 |" in text and "end to end" in text
    assert (out / f"replay_{rate if rate == 'max' else '2.0'}.md").read_text().startswith("# Replay benchmark")


def test_the_cpu_window_starts_at_the_clock_sample_before_the_first_sweep_was_published():
    readings = iter([{"stack": 1.0}, {"stack": 2.0}, {"stack": 3.0}])
    samples = bench_replay.ClockSamples(lambda: next(readings))
    assert samples.before(0) is None
    for _ in range(3):
        samples.sample()
    (t0, m0, _), (t1, m1, _), (t2, m2, _) = samples.samples

    assert samples.before(t1) == (m1, {"stack": 2.0})
    assert samples.before(t2 + 10**9) == (m2, {"stack": 3.0})
    assert samples.before(t0 - 1) == (m0, {"stack": 1.0})  # published before the first sample: the first one


def test_process_cpu_and_peak_memory_are_read_from_proc():
    pid = os.getpid()
    before = bench_replay.process_cpu_seconds(pid)
    sum(i * i for i in range(2_000_000))  # burn some CPU
    assert bench_replay.process_cpu_seconds(pid) > before > 0
    assert bench_replay.process_peak_rss_mb(pid) > 10
    assert bench_replay.process_cpu_seconds(2**22 + 12345) == 0.0  # no such process
    assert bench_replay.process_peak_rss_mb(2**22 + 12345) == 0.0


def test_node_commands_carry_the_yaml_and_overrides_as_ros_parameters():
    command = bench_replay.node_command("perception", {"image_size": [376, 1241], "camera_only.model_dir": ""})
    assert command[1:3] == ["-m", "panoptic_perception.nodes.perception_node"]
    assert bench_replay.node_command("mapping", {})[:3] == ["nice", "-n", "10"]  # as vehicle.launch.py
    assert command[command.index("--params-file") + 1].endswith("perception.yaml")
    assert ["-p", "image_size:=[376, 1241]"] == command[-4:-2] and ["-p", 'camera_only.model_dir:=""'] == command[-2:]
