"""How much of the truly moving points the dynamic mask M_d covers with predicted panoptic labels.

Runs the shipped UP-Fuse model + tracker (``PerceptionPipeline``, no poses, as in the odometry evaluation's
``--labels upfuse``) on a synthetic sequence and compares M_d (``dynamic_pixels`` on the predicted classes,
track ids and the tracker's moving set) with the world's moving objects, point by point over whole sweeps:
recall (share of moving points in M_d), precision, and where the missed moving points are lost (not segmented
as a thing, or in a track the tracker does not call moving).

    python -m panoptic_perception.odometry.mask_coverage --scenario high --seed 2000 --frames 15
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..core import load_class_table, unpack_label
from .evaluate import SCENARIOS, make_sequence
from .reduced_grid import dynamic_pixels

PEOPLE = (6, 7, 8)  # person, bicyclist, motorcyclist


def coverage_counts(true_class: np.ndarray, true_moving: np.ndarray, pred_class: np.ndarray, pred_track: np.ndarray,
                    moving_tracks: Iterable[int], thing_ids: Iterable[int], untracked_dynamic: Iterable[int] = PEOPLE
                    ) -> dict[str, int]:
    """Point counts of one sweep: moving points, those in M_d, M_d's size, and where moving points are lost."""
    moving_tracks, thing_ids = list(moving_tracks), list(thing_ids)
    dynamic = dynamic_pixels(pred_class, pred_track, set(moving_tracks), thing_ids, untracked_dynamic)
    thing = np.isin(pred_class, thing_ids)
    car, people = true_moving & (true_class == 1), true_moving & np.isin(true_class, PEOPLE)
    parked = ~true_moving & np.isin(true_class, thing_ids)
    return {"points": len(true_moving), "moving": int(true_moving.sum()), "covered": int((true_moving & dynamic).sum()),
            "masked": int(dynamic.sum()), "moving_as_thing": int((true_moving & thing).sum()),
            "moving_in_moving_track": int((true_moving & thing & np.isin(pred_track, moving_tracks)).sum()),
            "moving_cars": int(car.sum()), "moving_cars_covered": int((car & dynamic).sum()),
            "moving_people": int(people.sum()), "moving_people_covered": int((people & dynamic).sum()),
            "parked_things": int(parked.sum()), "parked_things_masked": int((parked & dynamic).sum())}


def summary(counts: dict[str, int]) -> dict[str, float]:
    c = {k: max(v, 1) for k, v in counts.items()}
    return {"moving_share": counts["moving"] / c["points"], "recall": counts["covered"] / c["moving"],
            "precision": counts["covered"] / c["masked"], "moving_segmented_as_thing": counts["moving_as_thing"] / c["moving"],
            "moving_in_moving_track": counts["moving_in_moving_track"] / c["moving"],
            "car_recall": counts["moving_cars_covered"] / c["moving_cars"],
            "people_recall": counts["moving_people_covered"] / c["moving_people"],
            "parked_things_masked": counts["parked_things_masked"] / c["parked_things"]}


def run(frames: list[Any], model_dir: str) -> dict[str, Any]:
    from ..pipeline import PerceptionPipeline, PipelineConfig
    from .visual_odometry import moving_track_ids

    pipeline = PerceptionPipeline.from_config(PipelineConfig.from_dict({"fusion": {"model_dir": model_dir, "threads": 1}}))
    thing_ids = load_class_table().thing_ids
    total: dict[str, int] = {}
    for frame in tqdm(frames, desc="UP-Fuse + tracker", leave=False):
        result = pipeline.process(frame.sensor)
        true_class, true_instance = unpack_label(frame.point_label)
        true_moving = (true_instance > 0) & np.isin(true_instance, [o.instance_id for o in frame.objects if o.moving])
        counts = coverage_counts(true_class.astype(np.int64), true_moving, np.asarray(result.cloud.class_id, np.int64),
                                 np.asarray(result.cloud.track_id, np.int64), moving_track_ids(result.tracks), thing_ids)
        total = {k: total.get(k, 0) + v for k, v in counts.items()}
    return {"counts": total, **summary(total)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="high", choices=list(SCENARIOS))
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--rig", default="hdl64-front")
    ap.add_argument("--model-dir", default="models/upfuse_cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    frames, _ = make_sequence(args.scenario, args.seed, args.frames, args.rig)
    print(json.dumps(run(frames, args.model_dir), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
