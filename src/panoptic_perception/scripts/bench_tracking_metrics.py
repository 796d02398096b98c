"""Benchmark: tracking metrics over a long sequence of LiDAR-sized frames (not run in CI).

    python src/panoptic_perception/scripts/bench_tracking_metrics.py --frames 1000 --points 120000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from panoptic_perception.metrics import TrackingEval


def make_frames(rng: np.random.Generator, points: int, count: int = 8) -> list[tuple[np.ndarray, ...]]:
    """A pool of frames (generation is kept out of the timing); ids permuted so tracks switch."""
    frames = []
    for _ in range(count):
        gs = rng.integers(0, 20, points)
        gi = np.where((gs >= 1) & (gs <= 8), rng.integers(1, 41, points), 0)
        ps = np.where(rng.random(points) < 0.9, gs, rng.integers(0, 20, points))
        perm = rng.permutation(64)
        pi = np.where((ps >= 1) & (ps <= 8), perm[gi], 0)
        frames.append((ps.astype(np.uint16), pi.astype(np.uint32), gs.astype(np.uint16), gi.astype(np.uint32)))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--points", type=int, default=120_000)
    args = parser.parse_args()
    pool = make_frames(np.random.default_rng(0), args.points)
    ev = TrackingEval()
    start = time.perf_counter()
    for i in range(args.frames):
        ev.add_frame(*pool[i % len(pool)])
    result = ev.compute()
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.frames} frames x {args.points} points: {elapsed:.1f} s "
          f"({1000 * elapsed / args.frames:.1f} ms/frame), peak RSS {peak_mib:.0f} MiB; "
          f"PTQ {result.ptq:.4f} LSTQ {result.lstq:.4f} IDS {result.id_switches}")


if __name__ == "__main__":
    main()
