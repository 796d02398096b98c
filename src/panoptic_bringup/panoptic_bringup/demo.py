"""`make demo`: a synthetic drive through the perception stack over ROS, scored against ground truth.

1. Simulate a short drive and write it as a rosbag2/MCAP bag (kept and reused for the same settings).
2. Play it with the player node in its own process; the stack (perception, odometry and mapping
   nodes, the vehicle launch's YAML) runs composed in this process and a recorder node writes every
   output to an MCAP bag. The odometry node owns ``odom -> base_link`` (the player's truth goes to
   ``base_link_ground_truth``) and the map is built on its poses. By default the player plays closed
   loop: the next sweep goes out once the last stage (the odometry) has published the last one, so
   no sweep is lost however slow that stage is (PVO takes over a second per sweep on a 2-core CPU).
3. Score the recording with ``panoptic-eval bag`` (PQ family, PTQ, ID switches, ATE/RPE of
   ``perception/odometry``), read the latency of every stage from the recorded status topics, save
   the map through its service and score it (map PQ), and write ``out/demo/report.md`` with pictures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path("out/demo")
DEFAULT_MODEL = Path("models/upfuse_cpu")
RECORDED = ["perception/panoptic_points", "perception/tracks", "perception/status", "perception/map_instances"]
RECORDED_ODOMETRY = ["perception/odometry", "perception/odometry_status", "perception/path"]
PACE_TIMEOUT_S = 30.0  # closed loop: a sweep whose status never comes is given up after this long (then counted missing)


def write_drive(bag: Path, seed: int, rig: str, frames: int) -> None:
    """Simulate the drive into ``bag`` unless a bag made with the same settings is already there."""
    from tqdm import tqdm

    from panoptic_datasets.formats.bag import BagWriter
    from panoptic_datasets.sources import SyntheticSource

    settings = {"seed": seed, "rig": rig, "frames": frames}
    stamp = bag.with_suffix(".json")
    if bag.exists() and stamp.exists() and json.loads(stamp.read_text()) == settings:
        return
    if bag.exists():
        import shutil

        shutil.rmtree(bag)
    bag.parent.mkdir(parents=True, exist_ok=True)
    source = SyntheticSource.from_names(seed, rig, frames)
    with BagWriter(bag, T_base_lidar=source.T_base_lidar) as writer:
        for frame in tqdm(source, total=frames, desc="simulating drive", unit="frame"):
            writer.write(frame)
    stamp.write_text(json.dumps(settings))


def run_stack(bag: Path, recording: Path, model_dir: Path, map_name: str, rate: float, timeout_s: float,
              image_size: list[int], odometry: bool = True, cameras: list[str] | None = None) -> dict[str, Any]:
    """Play ``bag`` through the stack; returns counters. Outputs land in ``recording``; the map in map_dir/map_name.

    ``rate`` 0 plays closed loop on the status of the last stage (odometry, else perception); without
    ``odometry`` the player's true pose is ``odom -> base_link`` and places the sweeps in the map. ``cameras``: the
    fusion's camera slots (default: perception.yaml's).
    """
    import shutil

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from tqdm import tqdm

    from panoptic_bringup.runner import config_dir, load_parameters, stack_nodes
    from panoptic_datasets.formats.bag import BagReader
    from panoptic_datasets.ros.recorder_node import RecorderNode
    from panoptic_msgs.srv import SaveMap

    sweeps = len(BagReader(bag))
    if recording.exists():
        shutil.rmtree(recording)
    with rclpy.init():
        # A replay must not lose sweeps in transport: reliable inputs instead of the live sensor-data QoS; and an
        # image delivered late by a busy machine is no camera fault: the synchroniser waits up to 1 s for it.
        nodes = stack_nodes(None, {
            "perception": {"model_dir": str(model_dir), "qos.input": "reliable", "image_size": image_size,
                           "sync.timeout_ms": 1000.0, **({"cameras": cameras} if cameras else {})},
            "odometry": {"qos.camera": "reliable"},
            "mapping": {"map_dir": str(recording.parent)}}, odometry=odometry)
        perception, mapping = nodes[:2]
        last = nodes[2] if odometry else perception  # the stage a sweep leaves the stack through
        topics = RECORDED + (RECORDED_ODOMETRY if odometry else [])
        recorder = RecorderNode(parameter_overrides=[_param("path", str(recording)), _param("topics", topics)])
        executor = MultiThreadedExecutor(num_threads=len(nodes) + 1)
        for node in (*nodes, recorder):
            executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        # Start the drive only once the recorder is matched to every output, so the first sweeps are kept.
        outputs = [perception.points_pub, perception.tracks_pub, perception.status_pub, mapping.instances_pub]
        if odometry:
            outputs += [last.odom_pub, last.status_pub, last.path_pub]
        ready = time.monotonic() + 15.0
        while time.monotonic() < ready and min(p.get_subscription_count() for p in outputs) < 1:
            time.sleep(0.05)
        player_yaml = config_dir() / "player.yaml"
        wait_for = load_parameters(player_yaml)["wait_for_topics"]
        pace = ["-p", f"pace_topic:={'perception/odometry_status' if odometry else 'perception/status'}",
                "-p", f"pace_timeout_s:={PACE_TIMEOUT_S}"] if rate == 0 else []
        player = subprocess.Popen([
            sys.executable, "-m", "panoptic_datasets.ros.player_node", "--ros-args", "--params-file", str(player_yaml),
            "-p", f"source:={bag}", "-p", f"rate:={float(rate)}", "-p", "exit_on_end:=true", *pace,
            # Without the odometry node the truth is odom -> base_link and places the sweeps in the map.
            "-p", f"ground_truth_tf:={'separate' if odometry else 'odom'}",
            "-p", f"wait_for_topics:={json.dumps(wait_for)}"])
        try:
            start = time.monotonic()
            with tqdm(total=sweeps, desc="sweeps through the stack", unit="sweep") as progress:
                while time.monotonic() < start + timeout_s and last.processed < sweeps and player.poll() is None:
                    time.sleep(0.1)
                    progress.update(last.processed - progress.n)
                settle = time.monotonic() + 5.0  # queued sweeps finish; their outputs reach the map and the recorder
                while time.monotonic() < settle and min(perception.processed, last.processed, mapping.integrated) < sweeps:
                    time.sleep(0.1)
                    progress.update(last.processed - progress.n)
            wall_s = time.monotonic() - start
        finally:
            try:  # the player exits by itself once its last frame is acknowledged
                player.wait(timeout=10)
            except subprocess.TimeoutExpired:
                player.terminate()
                player.wait(timeout=10)
        client = recorder.create_client(SaveMap, "save_map")
        saved = client.call(SaveMap.Request(path=map_name), timeout_sec=60.0) if client.wait_for_service(10.0) else None
        counters = {"sweeps": sweeps, "processed": perception.processed, "mapped": mapping.integrated,
                    "localised": last.processed if odometry else None,
                    "dropped": perception.sync.counters.dropped, "degraded": perception.sync.counters.degraded,
                    "recorded": dict(recorder.counts), "wall_s": wall_s,
                    "map_saved": bool(saved and saved.success), "map_message": saved.message if saved else "no reply"}
        executor.shutdown()
        spinner.join(timeout=10)
        recorder.close()
    return counters


def _param(name: str, value: Any) -> Any:
    from rclpy.parameter import Parameter

    return Parameter(name, value=value)


def latency_table(recording: Path, odometry: bool = True) -> dict[str, dict[str, float]]:
    """p50/p95/p99 of each stage's processing time, from the recorded status (perception's and odometry's).

    (End-to-end latency, sensor stamp to publish, needs stamps on the node's clock: that is the
    replay benchmark's job, not this replay of a bag with its original stamps.)
    """
    from panoptic_datasets.formats.bag import read_messages

    stages: dict[str, list[float]] = {}
    topics = ["/perception/status", "/perception/odometry_status"] if odometry else ["/perception/status"]
    for _, _, status in read_messages(recording, topics):
        for lat in status.stage_latencies:
            stages.setdefault(lat.stage, []).append(lat.latency_ms)
    return {k: dict(zip(("p50", "p95", "p99"), np.percentile(v, [50, 95, 99]).tolist(), strict=True)) for k, v in stages.items()}


def render_prediction(bag: Path, recording: Path, path: Path, camera: str = "front") -> None:
    """The last sweep with its predicted labels projected into the camera, and from above."""
    from panoptic_datasets.formats.bag import BagReader, read_messages
    from panoptic_datasets.frame import LabeledFrame
    from panoptic_datasets.world.preview import render_overview
    from panoptic_perception.ros.conversions import msg_to_panoptic_array, stamp_to_ns

    predicted = {}
    for _, _, msg in read_messages(recording, ["/perception/panoptic_points"]):
        predicted[stamp_to_ns(msg.header.stamp)] = msg
    frame = next(f for f in reversed(list(BagReader(bag))) if f.sensor.stamp_ns in predicted)
    labels = msg_to_panoptic_array(predicted[frame.sensor.stamp_ns])["label"]
    render_overview(LabeledFrame(frame.sensor, labels, frame.T_world_lidar), path, camera=camera)


def _row(name: str, value: Any) -> str:
    return f"| {name} | {value:.3f} |" if isinstance(value, float) else f"| {name} | {value} |"


def _odometry_rows(metrics: dict[str, Any], map_pq: dict[str, Any] | None) -> list[str]:
    rows = []
    odometry = metrics.get("odometry")
    if odometry is not None:
        ate, rpe = odometry["ate_se3"], odometry["rpe_frame"]
        rows += [_row("ATE [m] (SE(3)-aligned RMSE, base_link)", ate["rmse"]), _row("ATE max [m]", ate["max"]),
                 *([_row("position error in odom, unaligned, max [m]", odometry["odom_frame"]["max"])]
                   if "odom_frame" in odometry else []),
                 _row("RPE per sweep [m] (RMSE)", rpe["translation_rmse_m"]),
                 _row("RPE per sweep [deg] (RMSE)", rpe["rotation_rmse_deg"])]
    if map_pq is not None:
        rows += [_row(f"map PQ (sweeps placed with the {map_pq['poses']} poses)", map_pq["pq"]),
                 _row("map PQ things", map_pq["pq_things"]), _row("map PQ stuff", map_pq["pq_stuff"]),
                 _row("map mIoU", map_pq["miou"])]
    return rows


def write_report(out: Path, bag: Path, model_dir: Path, rate: float, counters: dict[str, Any], metrics: dict[str, Any],
                 latency: dict[str, dict[str, float]], map_dir: Path) -> Path:
    """``report.md``: what ran, how well (against ground truth), how fast, and pictures."""
    from panoptic_perception.mapping import PanopticMap
    from panoptic_perception.mapping.evaluate import plot_bev

    from .demo_scoring import map_panoptic_quality, odom_frame_error, plot_trajectory, recorded_poses, trajectories

    render_prediction(bag, out / "recording", out / "prediction.png")
    pictures = ["![predicted labels of the last sweep, in the camera and from above](prediction.png)"]
    odometry = counters["localised"] is not None
    poses = recorded_poses(out / "recording") if odometry else None
    if poses and "odometry" in metrics:
        estimate, truth = trajectories(bag, poses)
        metrics["odometry"]["odom_frame"] = odom_frame_error(estimate, truth)
        plot_trajectory(estimate, truth, metrics["odometry"]["ate_se3"]["rmse"], out / "trajectory.png",
                        f"{bag.name}: perception/odometry vs ground truth, bird's eye")
        pictures.append("![trajectory: the published odometry (SE(3)-aligned) and the ground truth](trajectory.png)")
    instances, map_pq = "-", None
    if counters["map_saved"]:
        panoptic_map = PanopticMap.load(map_dir.name, root_dir=map_dir.parent)
        instances = len(panoptic_map.instances())
        plot_bev(panoptic_map, out / "map_bev.png", f"panoptic map of {bag.name} ({instances} object instances)")
        pictures.append("![bird's-eye view of the panoptic map](map_bev.png)")
        panoptic_map.close()
        if not odometry or poses:
            map_pq = map_panoptic_quality(bag, map_dir, poses)
            metrics["map"] = map_pq
    pan = metrics["panoptic"]
    playback = "closed loop (each sweep once the last was through the stack)" if rate == 0 else f"{rate}x sensor rate"
    stages = "perception, odometry and mapping nodes" if odometry else "perception and mapping nodes (map on true poses)"
    lines = [
        "# Demo: a synthetic drive through the perception stack",
        "",
        f"Drive `{bag}` played {playback} through the {stages} (model `{model_dir}`);",
        f"outputs recorded to `{out / 'recording'}` and scored against the drive's ground truth.",
        "",
        "| run | value |", "| --- | --- |",
        _row("sweeps in the drive", counters["sweeps"]), _row("sweeps processed", counters["processed"]),
        *([_row("sweeps localised (odometry published)", counters["localised"])] if odometry else []),
        _row("sweeps mapped", counters["mapped"]),
        _row("sweeps without output (scored as misses)", metrics["missing"]),
        _row("dropped by the synchroniser", counters["dropped"]),
        _row("processed without a camera (degraded)", counters["degraded"]), _row("wall time [s]", counters["wall_s"]),
        _row("map instances", instances), _row("map saved", counters["map_message"]),
        "",
        "| metric (SemanticKITTI convention) | value |", "| --- | --- |",
        _row("PQ", pan["pq"]), _row("PQ things", pan["pq_things"]), _row("PQ stuff", pan["pq_stuff"]),
        _row("SQ", pan["sq"]), _row("RQ", pan["rq"]), _row("mIoU", pan["miou"]),
        _row("PTQ", metrics["ptq"]), _row("sPTQ", metrics["sptq"]), _row("LSTQ", metrics["lstq"]),
        _row("MOTSA", metrics["motsa"]), _row("ID switches", metrics["id_switches"]),
        *_odometry_rows(metrics, map_pq),
        "",
        "| latency [ms] | p50 | p95 | p99 |", "| --- | --- | --- | --- |",
        *[f"| {stage} | {v['p50']:.1f} | {v['p95']:.1f} | {v['p99']:.1f} |" for stage, v in latency.items()],
        "",
        *pictures,
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    (out / "metrics.json").write_text(json.dumps({"run": counters, "metrics": metrics, "latency_ms": latency}, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panoptic-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: out/demo)")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL, help="fusion model (model.json + weights)")
    parser.add_argument("--seed", type=int, default=2000, help="scene seed of the synthetic drive (2000+: test split)")
    parser.add_argument("--rig", default="hdl32-front", help="sensor rig preset")
    parser.add_argument("--frames", type=int, default=50, help="sweeps in the drive (10 Hz)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="playback speed, 1 = sensor rate; 0 (default) = closed loop: each sweep once the last one "
                             "has left the stack (the odometry takes over a second per sweep on a 2-core CPU)")
    parser.add_argument("--no-odometry", dest="odometry", action="store_false",
                        help="leave the odometry node out: the player's true pose places the sweeps in the map")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="give up playing after this many seconds (50 sweeps took 236 s at load average 5-7)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.rate < 0:
        parser.error("--rate must be >= 0")
    if not (args.model_dir / "model.json").is_file():
        parser.error(f"no model in {args.model_dir} (model.json missing): train one with panoptic-train")

    from panoptic_datasets.evaluation import evaluate_bags

    bag = args.out / f"drive_{args.rig}_seed{args.seed}_{args.frames}"
    write_drive(bag, args.seed, args.rig, args.frames)
    recording = args.out / "recording"
    from panoptic_datasets.world import make_rig

    rig = make_rig(args.rig)
    camera = rig.cameras["front"]
    counters = run_stack(bag, recording, args.model_dir, "map", args.rate, args.timeout, [camera.height, camera.width],
                         args.odometry, list(rig.cameras))
    # ATE/RPE need a pose for every sweep; a run that lost some says so in its counters and fails below.
    localised = counters["localised"] == counters["sweeps"]
    metrics = evaluate_bags(bag, recording, odometry=args.odometry and localised, missing="empty")
    report = write_report(args.out, bag, args.model_dir, args.rate, counters, metrics,
                          latency_table(recording, args.odometry), args.out / "map")
    print(report.read_text())
    print(f"report: {report}")
    complete = counters["processed"] == counters["sweeps"] and (localised or not args.odometry)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
