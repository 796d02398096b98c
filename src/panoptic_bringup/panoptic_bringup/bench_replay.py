"""``panoptic-bench replay``: a bag through the real ROS graph, timed from sensor stamp to output.

The player runs in its own process with ``restamp`` (every header stamp is the wall clock at the
moment the frame is published) and its recorded pose as ``odom -> base_link`` (no odometry node runs
here). The stack (perception + mapping, the vehicle launch's YAML) runs as
``vehicle.launch.py`` lays it out, each node in its own process (``--layout processes``, the default),
or composed in this process (``--layout composed``, the in-process runner). A probe node in this
process notes the wall clock at which each sweep and each output arrives; the age of an output on
arrival is its end-to-end latency.

Rates: a number plays at that multiple of sensor rate (1 = 10 Hz for a 10 Hz drive); ``max``
plays closed loop: the next sweep goes out as soon as the ``perception/status`` of the previous one
came back (or after ``--pace-timeout`` seconds, when that sweep counts as lost), so ``max`` measures
the throughput the stack sustains with no queueing in front of it. Overload (a rate faster than the
stack) is a number, e.g. ``--rate 3``: sweeps then queue and drops show up in the accounting.

Accounting: every played sweep is processed (an output came back), counted as dropped by the node
(``PipelineStatus.frames_dropped``: the synchroniser's overflow and late sweeps, and sweeps that a
full subscription queue or the transport lost, found from gaps in the publication sequence numbers),
or lost without the node counting it (what the bench sees that the node does not, e.g. the last
sweeps of a drive, after which no sequence number shows a gap).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

RATE_MAX = "max"
LAYOUTS = ("processes", "composed")
STACK_IN_BENCH = "stack and probe (the bench process)"  # the composed layout's CPU clock
NODE_MODULES = {"perception": ("panoptic_perception.nodes.perception_node", "perception.yaml"),
                "mapping": ("panoptic_perception.nodes.mapping_node", "mapping.yaml")}
NODE_PREFIX = {"mapping": ["nice", "-n", "10"]}  # as vehicle.launch.py starts it: perception is served first
DEFAULT_OUT = Path("out/bench")
PERCENTILES = (50, 95, 99)
# Stages reported besides those of PipelineStatus.stage_latencies, in table order.
INPUT_STAGE = "input transport (stamp -> sweep received)"
NODE_TOTAL_STAGE = "node total (stamp -> status published)"
END_TO_END_STAGE = "end to end (stamp -> panoptic_points received)"


@dataclass
class FrameRecord:
    """What the probe saw of one sweep, by its (restamped) stamp; times are wall clock [ns]."""

    input_ns: int | None = None
    points_ns: int | None = None
    stages_ms: dict[str, float] = field(default_factory=dict)
    node_total_ms: float | None = None
    mode: int | None = None  # PipelineStatus.mode


def cdr_stamp_ns(data: bytes) -> int:
    """``header.stamp`` of a serialised message whose first field is a ``std_msgs/Header``.

    CDR: a 4-byte encapsulation header, then ``int32 sec`` and ``uint32 nanosec`` (little endian
    when the encapsulation says so, as Fast DDS and Cyclone write on x86/ARM).
    """
    if len(data) < 12:
        raise ValueError(f"serialised message of {len(data)} bytes is too short for a header stamp")
    order = "<" if data[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(order + "iI", data, 4)
    return sec * 1_000_000_000 + nanosec


class LatencyProbe:
    """Subscriptions (on a node of the stack's process) that time inputs and outputs on arrival."""

    def __init__(self, node: Any, cameras: list[str], cpu_clock: Callable[[], dict[str, float]]) -> None:
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from panoptic_msgs.msg import PipelineStatus
        from panoptic_perception.ros.qos import qos_from_name

        self.frames: dict[int, FrameRecord] = {}
        self.last_status: Any = None
        self.last_arrival = time.monotonic()
        # (monotonic, CPU per process) [s] at the newest status: the end of the measuring window.
        self.cpu_clock = cpu_clock
        self.window_end: tuple[float, dict[str, float]] | None = None
        self._lock = threading.Lock()
        # Raw: only the stamp is read, the stack's process does not pay for a second deserialisation.
        node.create_subscription(PointCloud2, "lidar/points", self._on_input, qos_from_name("reliable"), raw=True)
        # Deeper than the outputs' keep-last 1: two clouds published back to back (the two-stage node catching up)
        # would otherwise replace one another in the probe's queue before it takes them.
        node.create_subscription(PointCloud2, "perception/panoptic_points", self._on_points, qos_from_name("reliable"),
                                 raw=True)
        # Also a reader of every camera topic, so that the player waits for two readers (node and probe) on each.
        for name in cameras:
            for msg_type, topic in ((Image, f"cameras/{name}/image"), (CameraInfo, f"cameras/{name}/camera_info")):
                node.create_subscription(msg_type, topic, lambda _: None, qos_from_name("reliable"), raw=True)
        node.create_subscription(PipelineStatus, "perception/status", self._on_status, 100)

    def _record(self, stamp_ns: int) -> FrameRecord:
        self.last_arrival = time.monotonic()
        return self.frames.setdefault(stamp_ns, FrameRecord())

    def _on_input(self, data: bytes) -> None:
        now = time.time_ns()
        with self._lock:
            self._record(cdr_stamp_ns(data)).input_ns = now

    def _on_points(self, data: bytes) -> None:
        now = time.time_ns()
        with self._lock:
            self._record(cdr_stamp_ns(data)).points_ns = now

    def _on_status(self, msg: Any) -> None:
        from panoptic_perception.ros.conversions import stamp_to_ns

        with self._lock:
            record = self._record(stamp_to_ns(msg.header.stamp))
            record.stages_ms = {s.stage: float(s.latency_ms) for s in msg.stage_latencies}
            record.node_total_ms = float(msg.total_latency_ms)
            record.mode = int(msg.mode)
            self.last_status = msg
            self.window_end = (time.monotonic(), self.cpu_clock())

    @property
    def received(self) -> int:
        return sum(r.input_ns is not None for r in self.frames.values())

    @property
    def answered(self) -> int:
        return sum(r.node_total_ms is not None and r.input_ns is not None for r in self.frames.values())

    @property
    def answered_without_points(self) -> int:
        """Sweeps whose status came back before their (larger) panoptic cloud did."""
        return sum(r.node_total_ms is not None and r.input_ns is not None and r.points_ns is None
                   for r in self.frames.values())

    @property
    def dropped_by_node(self) -> int:
        return int(self.last_status.frames_dropped) if self.last_status is not None else 0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (and the count) of ``values``; empty -> only the count."""
    if not values:
        return {"n": 0}
    p = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    return {"n": len(values), **{f"p{k}": float(v) for k, v in zip(PERCENTILES, p, strict=True)}}


MODES = {0: "fusion", 1: "lidar_only", 2: "camera_only", 3: "degraded"}  # PipelineStatus.MODE_*


def summarise(frames: dict[int, FrameRecord], played: int, dropped_by_node: int, warmup: int) -> dict[str, Any]:
    """Latency percentiles per stage, and where every played sweep went.

    An output whose stamp is no played sweep's (a camera-only cloud carries its image's stamp) is counted
    apart, as ``other_outputs``, and left out of the latencies.
    """
    ordered = [(stamp, frames[stamp]) for stamp in sorted(frames) if frames[stamp].input_ns is not None]
    other_outputs = sum(r.input_ns is None and r.node_total_ms is not None for r in frames.values())
    every_answer = [(s, r) for s, r in ordered if r.node_total_ms is not None]
    answered = every_answer[warmup:]
    stages: dict[str, list[float]] = {INPUT_STAGE: [(r.input_ns - s) / 1e6 for s, r in answered if r.input_ns is not None]}
    for _, r in answered:
        for name, ms in r.stages_ms.items():
            stages.setdefault(name, []).append(ms)
    stages[NODE_TOTAL_STAGE] = [r.node_total_ms for _, r in answered if r.node_total_ms is not None]
    stages[END_TO_END_STAGE] = [(r.points_ns - s) / 1e6 for s, r in answered if r.points_ns is not None]
    processed = len(every_answer)
    modes: dict[str, int] = {}
    for _, r in every_answer:
        name = MODES.get(r.mode, str(r.mode)) if r.mode is not None else "unknown"
        modes[name] = modes.get(name, 0) + 1
    return {
        "latency_ms": {name: percentiles(values) for name, values in stages.items()},
        "frames": {
            "played": played,
            "processed": processed,
            "dropped_by_node": dropped_by_node,
            "lost_before_node": played - processed - dropped_by_node,
            "warmup_excluded": min(warmup, processed),
            "modes": modes,
            "other_outputs": other_outputs,
        },
    }


def _machine_busy() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat; None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``node.name=value`` (node: perception | mapping; value in YAML syntax) -> stack_nodes overrides."""
    out: dict[str, dict[str, Any]] = {"perception": {}, "mapping": {}}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, name = key.partition(".")
        if not sep or not dot or node not in out or not name:
            raise ValueError(f"--param {item!r}: expected perception.<name>=<value> or mapping.<name>=<value>")
        out[node][name] = yaml.safe_load(value)
    return out


def first_image_size(bag: Path, camera: str) -> list[int]:
    """[height, width] of ``camera`` in the bag's first frame."""
    from panoptic_datasets.formats.bag import BagReader

    frame = next(iter(BagReader(bag)), None)
    if frame is None:
        raise ValueError(f"{bag}: the bag has no frames")
    if camera not in frame.sensor.cameras:
        raise ValueError(f"{bag}: no camera {camera!r} in the bag (has {sorted(frame.sensor.cameras)})")
    height, width = frame.sensor.cameras[camera].rgb.shape[:2]
    return [int(height), int(width)]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process [s], from /proc/<pid>/stat (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


class ProcessClocks:
    """CPU seconds of named processes, read together (``watch`` adds one; ``None`` as pid: this process)."""

    def __init__(self) -> None:
        self.pids: dict[str, int | None] = {}

    def watch(self, name: str, pid: int | None) -> None:
        self.pids[name] = pid

    def __call__(self) -> dict[str, float]:
        return {name: time.process_time() if pid is None else process_cpu_seconds(pid) for name, pid in self.pids.items()}


class ClockSamples:
    """(wall clock [ns], monotonic [s], CPU per process [s]) read every few tens of ms while the drive plays.

    The measuring window starts at the sample before the first sweep was published (its restamped stamp), not
    when the probe received it: a probe that takes its sweeps late must not shrink the window.
    """

    def __init__(self, clocks: Callable[[], dict[str, float]]) -> None:
        self.clocks = clocks
        self.samples: list[tuple[int, float, dict[str, float]]] = []

    def sample(self) -> None:
        self.samples.append((time.time_ns(), time.monotonic(), self.clocks()))

    def before(self, wall_ns: int) -> tuple[float, dict[str, float]] | None:
        """(monotonic, CPU) of the newest sample taken at or before ``wall_ns`` (else the first); None without any."""
        if not self.samples:
            return None
        earlier = [s for s in self.samples if s[0] <= wall_ns]
        _, mono, cpu = earlier[-1] if earlier else self.samples[0]
        return mono, cpu


def process_peak_rss_mb(pid: int) -> float:
    """Peak resident set (VmHWM) of a live process [MB]; 0 where /proc does not say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def node_command(node: str, values: dict[str, Any]) -> list[str]:
    """The command that starts ``node`` (perception | mapping) with its YAML plus ``values`` as -p overrides."""
    from panoptic_bringup.runner import config_dir

    module, yaml_name = NODE_MODULES[node]
    command = [*NODE_PREFIX.get(node, []), sys.executable, "-m", module, "--ros-args", "--params-file",
               str(config_dir() / yaml_name)]
    for name, value in values.items():
        command += ["-p", f"{name}:={json.dumps(value)}"]  # JSON is YAML, which is how ROS reads -p values
    return command


class NodeProcesses:
    """The stack as vehicle.launch.py runs it: one process per node, output in ``<out>/logs/<node>.log``."""

    def __init__(self, overrides: dict[str, dict[str, Any]], out: Path) -> None:
        logs = out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.logs = {node: logs / f"{node}.log" for node in NODE_MODULES}
        self._files: list[IO[bytes]] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for node in NODE_MODULES:
            log = self.logs[node].open("wb")
            self._files.append(log)
            self.processes[node] = subprocess.Popen(node_command(node, overrides.get(node, {})), stdout=log,
                                                    stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        for node, process in self.processes.items():
            if process.poll() is not None:
                tail = self.logs[node].read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the {node} node exited with code {process.returncode}:\n{tail}")

    def peak_rss_mb(self) -> float:
        return sum(process_peak_rss_mb(p.pid) for p in self.processes.values())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self._files:
            log.close()


def wait_for_stack(probe_node: Any, processes: NodeProcesses | None, timeout_s: float) -> None:
    """Until the perception node publishes its outputs and the probe and the mapping node read them."""
    deadline = time.monotonic() + timeout_s
    while True:
        if processes is not None:
            processes.check_alive()
        ready = (probe_node.count_publishers("perception/status") >= 1
                 and probe_node.count_subscribers("perception/panoptic_points") >= 2)  # the probe and the mapping node
        if ready:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the stack did not come up within {timeout_s:.0f} s")
        time.sleep(0.05)


def run_replay(bag: Path, rate: str, out: Path, overrides: dict[str, dict[str, Any]], timeout_s: float,
               pace_timeout_s: float, warmup: int, layout: str = "processes") -> dict[str, Any]:
    """Play ``bag`` through the stack and return the report (also written to ``out/replay_<rate>.json``)."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from tqdm import tqdm

    from panoptic_bringup.runner import config_dir, load_parameters, stack_nodes
    from panoptic_datasets.formats.bag import BagReader

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    in_bag = len(BagReader(bag))
    perception_yaml = {**load_parameters(config_dir() / "perception.yaml"), **overrides.get("perception", {})}
    cameras = list(perception_yaml["cameras"])
    overrides = {"perception": {"image_size": first_image_size(bag, cameras[0]), **overrides.get("perception", {})},
                 "mapping": {"map_dir": str(out / "maps"), **overrides.get("mapping", {})}}
    processes = NodeProcesses(overrides, out) if layout == "processes" else None
    try:
        with rclpy.init():
            nodes = stack_nodes(None, overrides) if processes is None else []
            probe_node = Node("bench_probe")
            clocks = ProcessClocks()
            for node, process in (processes.processes.items() if processes else [(STACK_IN_BENCH, None)]):
                clocks.watch(node, None if process is None else process.pid)
            probe = LatencyProbe(probe_node, cameras, clocks)
            executor = MultiThreadedExecutor(num_threads=3)
            for node in (*nodes, probe_node):
                executor.add_node(node)
            stop = threading.Event()

            def spin() -> None:
                while not stop.is_set():
                    executor.spin_once(timeout_sec=0.05)

            spinner = threading.Thread(target=spin, daemon=True)
            spinner.start()
            wait_for_stack(probe_node, processes, 120.0)
            player_yaml = config_dir() / "player.yaml"
            topics = load_parameters(player_yaml)["wait_for_topics"]
            closed_loop = rate == RATE_MAX
            command = [sys.executable, "-m", "panoptic_datasets.ros.player_node", "--ros-args", "--params-file",
                       str(player_yaml), "-p", f"source:={bag}", "-p", f"rate:={0.0 if closed_loop else float(rate)}",
                       "-p", "exit_on_end:=true", "-p", "restamp:=true", "-p", f"wait_for_topics:={json.dumps(topics)}",
                       # the perception node and the probe both read lidar/points
                       "-p", "wait_for_subscribers:=2",
                       # no odometry node here (PVO is far from 10 Hz on a CPU): the recorded pose places the sweeps in
                       # the map, so that the mapping node does its full work
                       "-p", "ground_truth_tf:=odom",
                       # only what a vehicle's sensors give: the truth's topics are ~8 MB a frame
                       "-p", "ground_truth:=false", "-p", "preload:=true"]
            if closed_loop:
                command += ["-p", "pace_topic:=perception/status", "-p", f"pace_timeout_s:={pace_timeout_s}"]
            load_before = os.getloadavg()
            busy_before, wall_before = _machine_busy(), time.monotonic()
            samples = ClockSamples(clocks)
            player = subprocess.Popen(command)
            clocks.watch("player", player.pid)
            samples.sample()
            try:
                with tqdm(total=in_bag, desc=f"replay at {rate}", unit="sweep") as progress:
                    deadline = time.monotonic() + timeout_s
                    while time.monotonic() < deadline:
                        time.sleep(0.05)
                        samples.sample()
                        if probe.answered > progress.n:
                            progress.update(probe.answered - progress.n)
                        done = probe.answered + probe.dropped_by_node >= in_bag
                        if done and probe.answered_without_points and time.monotonic() - probe.last_arrival < 2.0:
                            continue  # the clouds of the last statuses are still on their way
                        # After the player has gone, what has not come back within 3 s is not coming.
                        quiet = player.poll() is not None and time.monotonic() - probe.last_arrival > 3.0
                        if done or quiet:
                            break
                wall_s = time.monotonic() - wall_before
                busy_after = _machine_busy()
            finally:
                try:
                    player.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    player.terminate()
                    player.wait(timeout=10)
            load_after = os.getloadavg()
            player_usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the player alone: node processes still run
            peak_rss = processes.peak_rss_mb() if processes else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stop.set()
            spinner.join(timeout=10)
            executor.shutdown()
            with probe._lock:
                frames = dict(probe.frames)
                played = probe.received
                published = [stamp for stamp, record in probe.frames.items() if record.input_ns is not None]
                window = (samples.before(min(published)) if published else None, probe.window_end)
            dropped = probe.dropped_by_node if processes else max(probe.dropped_by_node, nodes[0].sync.counters.dropped)
    finally:
        if processes is not None:
            processes.stop()
    report = summarise(frames, played, dropped, warmup)
    report["frames"]["in_bag"] = in_bag
    answered = report["frames"]["processed"]
    span_s, cpu_s = 0.0, {}
    if window[0] is not None and window[1] is not None:
        span_s = window[1][0] - window[0][0]
        cpu_s = {name: window[1][1][name] - window[0][1].get(name, 0.0) for name in window[1][1]}
    cores = {name: s / span_s if span_s > 0 else 0.0 for name, s in cpu_s.items()}
    machine = None
    if busy_before and busy_after and busy_after[1] > busy_before[1]:
        machine = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1]) * (os.cpu_count() or 1)
    report["run"] = {
        "bag": str(bag), "rate": rate, "layout": layout, "wall_s": wall_s, "measured_s": span_s,
        "throughput_fps": answered / span_s if span_s > 0 else 0.0,
        "stack_cpu_cores": sum(v for name, v in cores.items() if name != "player"),
        "cpu_cores_by_process": cores,
        "stack_peak_rss_mb": peak_rss,
        "player_cpu_s": player_usage.ru_utime + player_usage.ru_stime,
        "machine_busy_cores": machine, "load_average_before": list(load_before), "load_average_after": list(load_after),
        "cpus": os.cpu_count(), "player_exit_code": player.returncode,
        "config": {k: v for k, v in overrides.items() if v},
    }
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown tables (also what the console shows)."""
    run, frames = report["run"], report["frames"]
    lines = [
        f"# Replay benchmark: `{run['bag']}` at rate {run['rate']}",
        "",
        "| latency [ms] | n | p50 | p95 | p99 |", "| --- | --- | --- | --- | --- |",
    ]
    for stage, v in report["latency_ms"].items():
        if v["n"]:
            lines.append(f"| {stage} | {v['n']} | {v['p50']:.1f} | {v['p95']:.1f} | {v['p99']:.1f} |")
        else:
            lines.append(f"| {stage} | 0 | - | - | - |")
    machine = run["machine_busy_cores"]
    lines += [
        "",
        "| run | value |", "| --- | --- |",
        f"| sweeps in the bag | {frames['in_bag']} |",
        f"| sweeps played (seen on lidar/points) | {frames['played']} |",
        f"| processed (output came back) | {frames['processed']} |",
        f"| counted as dropped by the node (PipelineStatus.frames_dropped) | {frames['dropped_by_node']} |",
        f"| lost without the node counting them | {frames['lost_before_node']} |",
        f"| first answered sweeps left out of the latencies (warm-up) | {frames['warmup_excluded']} |",
        f"| modes of the processed sweeps | {', '.join(f'{k} {v}' for k, v in frames['modes'].items()) or '-'} |",
        f"| other outputs (stamped like no played sweep, e.g. camera-only) | {frames['other_outputs']} |",
        f"| wall time, player start to end [s] | {run['wall_s']:.1f} |",
        f"| first sweep published -> last output [s] (the window of throughput and CPU) | {run['measured_s']:.2f} |",
        f"| throughput [sweeps/s] | {run['throughput_fps']:.2f} |",
        f"| stack layout | {run['layout']} |",
        f"| stack CPU in that window (its processes) [cores] | {run['stack_cpu_cores']:.2f} |",
        f"| CPU per process in that window [cores] | "
        f"{', '.join(f'{k} {v:.2f}' for k, v in run.get('cpu_cores_by_process', {}).items()) or '-'} |",
        f"| stack peak RSS (sum over its processes) [MB] | {run['stack_peak_rss_mb']:.0f} |",
        f"| player process CPU, preloading included [s] | {run['player_cpu_s']:.1f} |",
        f"| whole machine busy during the run [cores of {run['cpus']}] | {'-' if machine is None else f'{machine:.2f}'} |",
        f"| load average (1/5/15 min) before -> after | {_load(run['load_average_before'])} -> "
        f"{_load(run['load_average_after'])} |",
    ]
    if run["config"]:
        lines.append(f"| parameters overridden | `{json.dumps(run['config'])}` |")
    return "\n".join(lines) + "\n"


def _load(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _rate(text: str) -> str:
    if text == RATE_MAX:
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rate must be a positive number or '{RATE_MAX}', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--rate must be a positive number or '{RATE_MAX}', got {text!r}")
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panoptic-bench", description="Benchmarks of the perception stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    replay = commands.add_parser("replay", help=__doc__.splitlines()[0], description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("bag", type=Path, help="rosbag2/MCAP bag (e.g. from panoptic-data generate)")
    replay.add_argument("--rate", type=_rate, default="1.0", help="playback speed (1 = sensor rate), or 'max': closed loop")
    replay.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: out/bench)")
    replay.add_argument("--param", action="append", default=[], metavar="NODE.NAME=VALUE",
                        help="override a node parameter of the YAML, e.g. perception.threads=1 (repeatable)")
    replay.add_argument("--layout", choices=LAYOUTS, default="processes",
                        help="processes: a process per node, as vehicle.launch.py (default); composed: the in-process runner")
    replay.add_argument("--warmup", type=int, default=1, help="first answered sweeps left out of the latencies (default 1)")
    replay.add_argument("--pace-timeout", type=float, default=2.0, help="rate max: give up on a sweep's output after [s]")
    replay.add_argument("--timeout", type=float, default=600.0, help="give up the whole replay after [s]")
    args = parser.parse_args(argv)
    if not (args.bag / "metadata.yaml").is_file():
        parser.error(f"{args.bag}: not a rosbag2 folder (no metadata.yaml)")
    if args.warmup < 0 or args.pace_timeout <= 0 or args.timeout <= 0:
        parser.error("--warmup must be >= 0, --pace-timeout and --timeout > 0")
    try:
        overrides = parse_overrides(args.param)
    except ValueError as err:
        parser.error(str(err))
    args.out.mkdir(parents=True, exist_ok=True)
    report = run_replay(args.bag, args.rate, args.out, overrides, args.timeout, args.pace_timeout, args.warmup,
                        args.layout)
    text = format_report(report)
    name = f"replay_{args.rate}"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    (args.out / f"{name}.md").write_text(text)
    print(text)
    print(f"report: {args.out / name}.md")
    return 0 if report["frames"]["processed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
