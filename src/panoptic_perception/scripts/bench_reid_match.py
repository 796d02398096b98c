"""Benchmark: re-identification's matching in a crowded worst case, as CPU time of this thread (not run in CI).

50 unmatched detections against 50 unmatched live tracks and 100 removed ones (32-d unit vectors, 8 classes,
positions uniform in a 60 m square, one second since every track was last seen): the cost matrix of 150 x 50 pairs and
one Hungarian assignment, as ``ReIdentification.match`` does in a sweep where nothing matched inside the gates.

    python src/panoptic_perception/scripts/bench_reid_match.py --repeats 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from panoptic_perception.tracking import Detection, DetectionBatch, Graveyard, ReIdentification, TrackState, TrackTable

SEC = 1_000_000_000


def detections(rng: np.random.Generator, n: int) -> DetectionBatch:
    vectors = rng.normal(size=(n, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return DetectionBatch.of([Detection(int(c), 0.9, rng.uniform(-30, 30, 3), embedding=v)
                              for c, v in zip(rng.integers(1, 9, n), vectors, strict=True)])


def tracks(rng: np.random.Generator, n: int, first_id: int) -> TrackTable:
    table = TrackTable(embedding_window=3, moving_window=5)
    rows = table.start(np.arange(first_id, first_id + n), TrackState.LOST, np.zeros((n, 6)), np.tile(np.eye(6), (n, 1, 1)))
    table.observe(rows, detections(rng, n), np.arange(n), SEC)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    live = tracks(rng, 50, 1)
    graveyard = Graveyard(3, 5)
    graveyard.bury(tracks(rng, 100, 100), np.arange(100))
    dets = detections(rng, 50)
    reid = ReIdentification(frames=10, threshold=1.5, max_speed_mps=20.0)
    times, matched = [], 0
    for _ in range(args.repeats):
        start = time.thread_time()
        live_rows, _, buried, _ = reid.match(live, np.arange(50), graveyard, dets, np.arange(50), 2 * SEC)
        times.append((time.thread_time() - start) * 1000)
        matched = live_rows.size + buried.size
    with open("/proc/loadavg") as f:
        load = " / ".join(f.read().split()[:3])
    print(f"150 candidate tracks x 50 detections, {matched} re-identified; CPU ms median {np.median(times):.3f}, "
          f"p90 {np.percentile(times, 90):.3f}; load average {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
