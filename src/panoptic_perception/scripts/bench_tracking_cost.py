"""Benchmark: the parts of a sweep's tracking cost with 50 objects, as CPU time of this thread (not run in CI).

The same synthetic sweeps as ``test/tracking/test_tracking_cost_benchmark.py`` (32,768 points, 50 instances of
200 points); per sweep the association vectors (``TrackingHead.segment_vectors``), the detections
(``thing_detections``), ``PanopticTracker.update`` and the per-point IDs, each timed with ``time.thread_time``
(CPU time of this thread: on the shared machine, waiting for a core is left out, which wall time is not).

    python src/panoptic_perception/scripts/bench_tracking_cost.py --frames 100
    python src/panoptic_perception/scripts/bench_tracking_cost.py --frames 100 --embedding-weight 0   # without the head
    python src/panoptic_perception/scripts/bench_tracking_cost.py --frames 100 --embedding-weight 0 --reid-frames 10 \
        --dropout 0.2   # re-identification on, each object unseen in a fifth of the sweeps
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from panoptic_perception.pipeline import thing_detections
from panoptic_perception.tracking import PanopticTracker, TrackerConfig, assign_track_ids, matches_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test" / "tracking"))
from test_tracking_cost_benchmark import Sweeps, head  # noqa: E402  (the benchmark's sweeps, one definition)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--association", default="embedding_motion")
    parser.add_argument("--embedding-weight", type=float, default=1.0)
    parser.add_argument("--reid-frames", type=int, default=0, help="TrackerConfig.reid_frames (0: no re-identification)")
    parser.add_argument("--reid-threshold", type=float, default=TrackerConfig.reid_threshold)
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="probability that an object is not detected in a sweep (re-identification work)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sweeps, model = Sweeps(), head()
    tracker = PanopticTracker.from_config(TrackerConfig(association=args.association, embedding_weight=args.embedding_weight,
                                                        reid_frames=args.reid_frames, reid_threshold=args.reid_threshold))
    hide = np.random.default_rng(1)
    parts: dict[str, list[float]] = {k: [] for k in ("vectors", "detections", "update", "point ids", "total")}
    clock = time.thread_time
    for f in range(args.warmup + args.frames):
        cloud, features, T = sweeps.frame(f)
        t0 = clock()
        vectors = None
        if tracker.association.uses_embeddings:  # as the pipeline: no head for an association that reads no vectors
            with torch.inference_mode():
                vectors = model.segment_vectors(features, torch.from_numpy(cloud.instance_id.astype(np.int64)),
                                                sweeps.slots).numpy()
        t1 = clock()
        detections = thing_detections(cloud, sweeps.is_thing, 5, vectors)
        t2 = clock()
        if args.dropout > 0:  # objects the network missed in this sweep; not timed
            detections = [d for d in detections if hide.random() >= args.dropout]
        t2b = clock()
        untimed = t2b - t2
        outputs = tracker.update(detections, cloud.stamp_ns, T)
        t3 = clock()
        assign_track_ids(len(cloud.points), detections, matches_of(outputs))
        t4 = clock()
        if f >= args.warmup:
            for name, a, b in (("vectors", t0, t1), ("detections", t1, t2), ("update", t2b, t3), ("point ids", t3, t4),
                               ("total", t0 + untimed, t4)):
                parts[name].append((b - a) * 1000)
    with open("/proc/loadavg") as f:
        load = " / ".join(f.read().split()[:3])
    print(f"{args.frames} sweeps, {args.association} (embedding_weight {args.embedding_weight:g}, reid_frames "
          f"{args.reid_frames}, dropout {args.dropout:g}), load average {load}")
    print("| part | CPU ms median | p90 |\n| --- | --- | --- |")
    for name, values in parts.items():
        print(f"| {name} | {np.median(values):.2f} | {np.percentile(values, 90):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
