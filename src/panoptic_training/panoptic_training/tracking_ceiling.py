"""The most any tracking head could give: the associations with ground-truth identity vectors on oracle detections.

Every ground-truth object gets its own random unit vector (the same in every frame), so two detections' vector
distance is 0 for the same object and about 1.4 for any two others: a head that tells every object apart
perfectly. What the associations still get wrong then is not the vectors' fault (life cycle, gates, detections).

    python -m panoptic_training.tracking_ceiling --split val
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from panoptic_perception.tracking import TrackerConfig

from .evaluate_tracking import BASELINES, Sequences, add_drive_arguments, load_average, recorded_drives, score


def identity_vectors(sequences: Sequences, dim: int = 32, seed: int = 0) -> None:
    """Replace every record's oracle vectors by one random unit vector per (drive, ground-truth instance)."""
    rng = np.random.default_rng(seed)
    for _, records in sequences.values():
        own: dict[int, np.ndarray] = {}
        for rec in records:
            vectors = np.zeros((len(rec.oracle_classes), dim), np.float32)
            for k in range(len(rec.oracle_classes)):
                instance = int(rec.gt_inst[np.flatnonzero(rec.oracle_segment == k + 1)[0]])
                if instance not in own:
                    v = rng.normal(size=dim)
                    own[instance] = v / np.linalg.norm(v)
                vectors[k] = own[instance]
            rec.oracle_vectors = vectors


def ceiling_configs(weight: float, gate_m: float) -> list[tuple[str, TrackerConfig]]:
    return [("embedding", TrackerConfig(association="embedding")),
            (f"embedding_motion, weight {weight:g}", TrackerConfig(association="embedding_motion", embedding_weight=weight,
                                                                    motion_gate_m=gate_m)),
            (f"embedding_motion, weight 0 (motion only), gate {gate_m:g} m",
             TrackerConfig(association="embedding_motion", embedding_weight=0.0, motion_gate_m=gate_m)),
            *[(a, TrackerConfig(association=a)) for a in BASELINES]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--weight", type=float, default=1.0, help="embedding_motion's vector weight with identity vectors")
    parser.add_argument("--gate", type=float, default=6.0, help="embedding_motion's Euclidean motion gate [m]")
    known, rest = parser.parse_known_args(argv)
    drive_parser = argparse.ArgumentParser()
    add_drive_arguments(drive_parser, known.split, first=16 if known.split == "test" else 0, threads=1)
    args = drive_parser.parse_args(rest)
    start = time.perf_counter()
    drives = recorded_drives(args, known.split)
    if drives is None:
        return 2
    sequences, _ = drives
    identity_vectors(sequences)
    rows: list[dict[str, Any]] = []
    for label, config in ceiling_configs(known.weight, known.gate):
        every, occluded = (score(sequences, config, "oracle", kind, args.min_points) for kind in ("all", "occlusion"))
        rows.append({"association": label, "sptq": every["sptq"], "id_switches": every["id_switches"],
                     "id_switches_occlusion": occluded["id_switches"]})
    print(f"| association (oracle detections, identity vectors; {known.split} drives) | sPTQ | ID sw. | ID sw. (occl.) |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['association']} | {100 * r['sptq']:.2f} | {r['id_switches']} | {r['id_switches_occlusion']} |")
    print(json.dumps({"wall_s": round(time.perf_counter() - start), "load": load_average()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
