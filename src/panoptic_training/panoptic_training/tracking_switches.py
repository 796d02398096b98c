"""What the ID switches of a tracker are: fragmentation (a new track picks the object up) or swaps.

For every object (ground-truth class + instance) whose track ID changes between two of its observed frames:
was it picked up by a track born in that frame (``new track``) or by an older one, and what had happened to
its previous track (``removed``: no longer alive, ``removed tentative`` when it was never confirmed; ``missed``:
alive but unmatched, i.e. the object was outside its gate; ``took another``: matched to another object, a swap).
Runs on the oracle detections of the NPZ records ``evaluate_tracking`` and
``tune_tracking`` cache, with the ``TrackerConfig`` defaults of the association named.

    python -m panoptic_training.tracking_switches --association centroid_kalman --drives 'runs/eval/tracking_records/10*.npz'
"""

from __future__ import annotations

import argparse
import glob
import json
from collections import Counter

import numpy as np

from panoptic_perception.tracking import PanopticTracker, TrackerConfig

from .tracking_records import FrameRecord, load_records


def classify_switches(records: list[FrameRecord], config: TrackerConfig) -> tuple[Counter[str], list[int]]:
    """Counts per kind of switch on one drive, and the point count of the object at each switch."""
    tracker = PanopticTracker.from_config(config)
    last: dict[tuple[int, int], int] = {}
    born: dict[int, int] = {}
    confirmed: set[int] = set()
    kinds: Counter[str] = Counter()
    sizes = []
    for f, rec in enumerate(records):
        detections = rec.oracle()
        outputs = tracker.update(detections, rec.stamp_ns, rec.pose)
        alive = {o.track_id for o in outputs if o.state.name != "REMOVED"}
        current = {}
        for o in outputs:
            born.setdefault(o.track_id, f)
            if o.state.name == "CONFIRMED":
                confirmed.add(o.track_id)
            if o.detection_index >= 0:
                d = detections[o.detection_index]
                current[(d.class_id, int(rec.gt_inst[d.point_indices[0]]))] = (o.track_id, d.point_indices.size)
        owners = {tid for tid, _ in current.values()}
        for key, (tid, size) in current.items():
            if key in last and last[key] != tid:
                previous = last[key]
                fate = "took another" if previous in owners else "missed" if previous in alive else \
                    "removed" if previous in confirmed else "removed tentative"
                kinds[f"{'new' if born[tid] == f else 'older'} track, previous {fate}"] += 1
                sizes.append(size)
        last.update({k: tid for k, (tid, _) in current.items()})
    return kinds, sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--association", default="centroid_kalman")
    parser.add_argument("--drives", default="runs/eval/tracking_records/10*.npz", help="glob of cached drive records")
    args = parser.parse_args(argv)
    kinds: Counter[str] = Counter()
    sizes: list[int] = []
    paths = sorted(glob.glob(args.drives))
    if not paths:
        parser.error(f"no records match {args.drives!r}: run tune_tracking or evaluate_tracking first")
    for path in paths:
        k, s = classify_switches(load_records(path), TrackerConfig(association=args.association))
        kinds += k
        sizes += s
    print(json.dumps({"drives": len(paths), "switches": sum(kinds.values()), "kinds": dict(kinds.most_common()),
                      "median points of the object": float(np.median(sizes)) if sizes else None}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
