"""Choose ``embedding_motion``'s weights on validation drives (never the test drives ``evaluate_tracking`` reports).

Grid: ``motion_metric`` mahalanobis x ``embedding_weight``, and euclidean x ``motion_gate_m`` x ``embedding_weight``
(weight 0 is the motion cue alone with that gate: the ablation); each is scored with the network's detections and
with the oracle (ground-truth) detections, normal and occlusion-heavy drives together.
Chosen: the highest oracle sPTQ over all validation drives (the network's detections are too few to tell
associations apart, see docs/tracking.md), ties (< 0.01 points) to fewer oracle ID switches, then to the
smaller weight. The baselines are scored on the same drives for reference.

    python -m panoptic_training.tune_tracking
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from panoptic_perception.tracking import TrackerConfig

from .evaluate_tracking import (
    BASELINES,
    Sequences,
    add_drive_arguments,
    load_average,
    recorded_drives,
    score,
    table,
    write_section,
)

START, END = "<!-- tracking-tuning:start -->", "<!-- tracking-tuning:end -->"
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
GATES_M = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)  # euclidean motion gate; the mahalanobis gate is the chi-square quantile
TIE = 1e-4  # sPTQ differences below 0.01 points are ties


def grid() -> list[TrackerConfig]:
    configs = [TrackerConfig(association="embedding_motion", motion_metric="mahalanobis", embedding_weight=w)
               for w in (0.0, 1.0, 4.0)]
    configs += [TrackerConfig(association="embedding_motion", motion_metric="euclidean", motion_gate_m=g, embedding_weight=w)
                for g in GATES_M for w in WEIGHTS]
    return configs


def choose(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The best oracle sPTQ (all drives); ties to fewer oracle ID switches, then the smaller weight and gate."""
    best = max(r["oracle"]["sptq"] for r in results)
    tied = [r for r in results if r["oracle"]["sptq"] >= best - TIE]
    return min(tied, key=lambda r: (r["oracle"]["id_switches"], r["embedding_weight"], r["motion_gate_m"]))


def tune(sequences: Sequences, configs: list[TrackerConfig], min_points: int, progress: bool) -> list[dict[str, Any]]:
    results = []
    for cfg in tqdm(configs, desc="weights", disable=not progress):
        entry: dict[str, Any] = {"motion_metric": cfg.motion_metric, "motion_gate_m": cfg.motion_gate_m,
                                 "embedding_weight": cfg.embedding_weight}
        for source in ("model", "oracle"):
            entry[source] = score(sequences, cfg, source, "all", min_points)
            entry[f"{source}_occlusion"] = score(sequences, cfg, source, "occlusion", min_points)
        results.append(entry)
    return results


def markdown(results: list[dict[str, Any]], chosen: dict[str, Any], baselines: list[dict[str, Any]],
             info: dict[str, Any]) -> str:
    lines = [
        START,
        "### Choosing the weights (validation drives)",
        "",
        f"Reproduce: `{info['command']}` ({info['wall_s']:.0f} s wall on the 2-core CPU dev machine, no GPU, load average "
        f"{info['load']} at the end; network records from the NPZ cache, the first run takes about 5 minutes more). "
        f"Validation split, {info['frames']} frames per drive: normal drives seeds "
        f"{info['normal_seeds']}; occlusion-heavy drives seeds {info['occluded_seeds']}. Chosen: highest oracle sPTQ "
        "over all validation drives, ties (< 0.01 points) to fewer oracle ID switches, then the smaller weight and gate. "
        "Weight 0 is the motion cue alone with that gate (the ablation).",
        "",
        "| motion_metric | motion_gate_m | embedding_weight | model sPTQ | model ID sw. (occl.) | oracle sPTQ | oracle sPTQ_th "
        "| oracle ID sw. | oracle ID sw. (occl.) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        mark = " **(chosen)**" if r is chosen else ""
        gate = f"{r['motion_gate_m']:g}" if r["motion_metric"] == "euclidean" else "χ² 99 %"
        lines.append(f"| {r['motion_metric']} | {gate} | {r['embedding_weight']:g}{mark} | {100 * r['model']['sptq']:.2f} | "
                     f"{r['model_occlusion']['id_switches']} | {100 * r['oracle']['sptq']:.2f} | "
                     f"{100 * r['oracle']['sptq_th']:.2f} | {r['oracle']['id_switches']} | "
                     f"{r['oracle_occlusion']['id_switches']} |")
    lines += ["", "The other associations on the same validation drives (their `TrackerConfig` defaults):", "",
              *table(baselines), "", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_drive_arguments(parser, "val", first=0, threads=1)
    parser.add_argument("--out", default="docs/tracking.md")
    parser.add_argument("--json", default="runs/eval/tracking_tuning.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    drives = recorded_drives(args, "val")
    if drives is None:
        return 2
    sequences, _ = drives
    results = tune(sequences, grid(), args.min_points, not args.no_progress)
    chosen = choose(results)
    reference = [TrackerConfig(association="embedding"), *(TrackerConfig(association=a) for a in BASELINES),
                 TrackerConfig(association="embedding_motion", motion_metric=chosen["motion_metric"],
                               motion_gate_m=chosen["motion_gate_m"], embedding_weight=chosen["embedding_weight"])]
    baselines = [row for cfg in reference for source in ("model", "oracle") for kind in ("occlusion", "all")
                 if (row := score(sequences, cfg, source, kind, args.min_points)) is not None]
    wall = time.perf_counter() - start
    info = {"command": "python -m panoptic_training.tune_tracking " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "wall_s": wall, "frames": args.frames, "load": load_average(),
            "normal_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "normal"),
            "occluded_seeds": ", ".join(n for n, (k, _) in sequences.items() if k == "occlusion")}
    write_section(Path(args.out), markdown(results, chosen, baselines, info), START, END)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"results": results, "chosen": chosen, "reference": baselines, "info": info},
                                          indent=2, default=float) + "\n")
    print(json.dumps({k: chosen[k] for k in ("motion_metric", "motion_gate_m", "embedding_weight")}),
          f"oracle sPTQ {100 * chosen['oracle']['sptq']:.2f}, ID switches {chosen['oracle']['id_switches']}")
    print(f"wrote {args.out}, {args.json} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
