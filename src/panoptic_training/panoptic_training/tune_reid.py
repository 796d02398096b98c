"""Choose the re-identification parameters on validation drives, and show where the remaining ID switches come from.

For ``embedding`` and ``embedding_motion`` (their other ``TrackerConfig`` defaults), re-identification off and a grid
of ``reid_frames`` x ``reid_threshold`` x ``reid_max_speed_mps`` are scored with the network's and the oracle
detections; the ID switches of the oracle runs are classified (``tracking_switches``: a new track after the old one
was removed, tentative or confirmed; a new track while the old one was alive but outside its gate; a swap).
Chosen per association: the highest oracle sPTQ over all validation drives, ties (< 0.01 points) to fewer oracle ID
switches, then to re-identification off, fewer frames, the smaller threshold and speed. ``--identity`` replaces the
oracle vectors by one random unit vector per object (``tracking_ceiling``): what re-identification could gain at most;
``--constant`` by one unit vector for every object (vectors that tell nothing apart): what it gains by class, reach and
life cycle alone, without the vectors.

    python -m panoptic_training.tune_reid --section shipped
    python -m panoptic_training.tune_reid --model runs/tracking_head_appearance/model --section appearance
    python -m panoptic_training.tune_reid --identity --section identity
    python -m panoptic_training.tune_reid --constant --section constant
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from panoptic_perception.tracking import TrackerConfig

from .evaluate_tracking import PROPOSED, Sequences, add_drive_arguments, load_average, recorded_drives, score, write_section
from .tracking_ceiling import identity_vectors
from .tracking_switches import classify_switches

FRAMES = (5, 10, 20)
THRESHOLDS = (0.25, 0.5, 1.0, 1.5, 2.0)  # unit vectors: 2.0 admits every pair, the vectors only rank them
SPEEDS_MPS = (10.0, 20.0, 30.0)
TIE = 1e-4  # sPTQ differences below 0.01 points are ties
KINDS = ("new track, previous removed tentative", "new track, previous removed", "new track, previous missed",
         "new track, previous took another", "older track, previous removed", "older track, previous removed tentative",
         "older track, previous missed", "older track, previous took another")


def constant_vectors(sequences: Sequences, dim: int = 32) -> None:
    """Every oracle and predicted instance gets the same unit vector: the vectors tell no two objects apart."""
    vector = np.zeros(dim, np.float32)
    vector[0] = 1.0
    for _, records in sequences.values():
        for rec in records:
            rec.oracle_vectors = np.tile(vector, (len(rec.oracle_classes), 1))
            if rec.pred_vectors is not None:
                rec.pred_vectors = np.tile(vector, (len(rec.pred_vectors), 1))


def grid(association: str) -> list[TrackerConfig]:
    base = TrackerConfig(association=association)
    return [base] + [dataclasses.replace(base, reid_frames=f, reid_threshold=t, reid_max_speed_mps=v)
                     for f, t, v in itertools.product(FRAMES, THRESHOLDS, SPEEDS_MPS)]


def switch_kinds(sequences: Sequences, config: TrackerConfig) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for _, records in sequences.values():
        kinds += classify_switches(records, config)[0]
    return kinds


def evaluate(sequences: Sequences, config: TrackerConfig, min_points: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"association": config.association, "reid_frames": config.reid_frames,
                             "reid_threshold": config.reid_threshold, "reid_max_speed_mps": config.reid_max_speed_mps}
    for source in ("model", "oracle"):
        entry[source] = score(sequences, config, source, "all", min_points)
        entry[f"{source}_occlusion"] = score(sequences, config, source, "occlusion", min_points)
    return entry


def choose(results: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(r["oracle"]["sptq"] for r in results)
    tied = [r for r in results if r["oracle"]["sptq"] >= best - TIE]
    return min(tied, key=lambda r: (r["oracle"]["id_switches"], r["reid_frames"], r["reid_threshold"], r["reid_max_speed_mps"]))


def config_of(entry: dict[str, Any]) -> TrackerConfig:
    return TrackerConfig(association=entry["association"], reid_frames=entry["reid_frames"],
                         reid_threshold=entry["reid_threshold"], reid_max_speed_mps=entry["reid_max_speed_mps"])


def markdown(section: str, results: list[dict[str, Any]], chosen: dict[str, dict[str, Any]],
             kinds: dict[str, dict[str, int]], info: dict[str, Any]) -> str:
    start, end = f"<!-- tracking-reid-{section}:start -->", f"<!-- tracking-reid-{section}:end -->"
    lines = [start, "", f"Reproduce: `{info['command']}` ({info['wall_s']:.0f} s wall, 2-core CPU dev machine, no GPU, load "
             f"average {info['load']} at the end). Validation drives {info['seeds']}, model `{info['model']}`"
             f"{', identity vectors (a perfect head)' if info['identity'] else ''}"
             f"{', one vector for every object (vectors that tell nothing apart)' if info['constant'] else ''}.", "",
             "| association | reid_frames | reid_threshold | reid_max_speed_mps | model sPTQ | model ID sw. (occl.) "
             "| oracle sPTQ | oracle sPTQ_th | oracle ID sw. | oracle ID sw. (occl.) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        mark = " **(chosen)**" if r is chosen[r["association"]] else ""
        reid = ("off", "", "") if r["reid_frames"] == 0 else (str(r["reid_frames"]), f"{r['reid_threshold']:g}",
                                                               f"{r['reid_max_speed_mps']:g}")
        lines.append(f"| {r['association']} | {reid[0]}{mark} | {reid[1]} | {reid[2]} | {100 * r['model']['sptq']:.2f} | "
                     f"{r['model_occlusion']['id_switches']} | {100 * r['oracle']['sptq']:.2f} | "
                     f"{100 * r['oracle']['sptq_th']:.2f} | {r['oracle']['id_switches']} | "
                     f"{r['oracle_occlusion']['id_switches']} |")
    lines += ["", "Oracle ID switches by kind (`tracking_switches`: an object's track ID changing between two of its "
              "observations; `new`/`older`: the track that picked it up was born in that sweep or before; the previous "
              "track was removed (`tentative`: never confirmed), alive but unmatched (`missed`: outside its gate), or "
              "matched to another object (`took another`)):", "",
              "| run | " + " | ".join(KINDS) + " | all |", "| --- |" + " --- |" * (len(KINDS) + 1)]
    for name, counts in kinds.items():
        lines.append(f"| {name} | " + " | ".join(str(counts.get(k, 0)) for k in KINDS) + f" | {sum(counts.values())} |")
    lines += ["", end]
    return "\n".join(lines)


def plot_kinds(kinds: dict[str, dict[str, int]], path: Path) -> None:
    """Stacked bars: the oracle ID switches of each run by kind (tentative track removed, confirmed removed, outside the
    gate, swaps, another older track)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"new track after a removed tentative track": ("new track, previous removed tentative",),
              "new track after a removed confirmed track": ("new track, previous removed",),
              "outside the gate (old track alive)": ("new track, previous missed",),
              "swap": ("new track, previous took another", "older track, previous took another"),
              "another older track": ("older track, previous removed", "older track, previous removed tentative",
                                      "older track, previous missed")}
    runs = list(kinds)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    left = np.zeros(len(runs))
    for label, members in groups.items():
        values = np.array([sum(kinds[r].get(m, 0) for m in members) for r in runs], dtype=float)
        ax.barh(runs, values, left=left, label=label)
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("ID switches (tracking_switches), oracle detections, validation drives")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_drive_arguments(parser, "val", first=0, threads=1)
    parser.add_argument("--identity", action="store_true", help="oracle vectors: one random unit vector per object")
    parser.add_argument("--constant", action="store_true", help="every instance the same vector (ablation)")
    parser.add_argument("--section", required=True, help="name of the docs section (markers tracking-reid-NAME)")
    parser.add_argument("--out", default="docs/tracking.md")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the switch kinds per run")
    parser.add_argument("--json", default=None, help="default runs/eval/tracking_reid_SECTION.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    drives = recorded_drives(args, "val")
    if drives is None:
        return 2
    sequences, _ = drives
    if args.identity and args.constant:
        parser.error("--identity and --constant exclude each other")
    if args.identity:
        identity_vectors(sequences)
    if args.constant:
        constant_vectors(sequences)
    configs = [c for a in PROPOSED for c in grid(a)]
    results = [evaluate(sequences, c, args.min_points) for c in tqdm(configs, desc="re-identification", disable=args.no_progress)]
    chosen = {a: choose([r for r in results if r["association"] == a]) for a in PROPOSED}
    kinds = {}
    for a in PROPOSED:
        off = next(r for r in results if r["association"] == a and r["reid_frames"] == 0)
        for label, entry in (("off", off), ("chosen", chosen[a])):
            kinds[f"{a}, re-identification {label}"] = dict(switch_kinds(sequences, config_of(entry)))
    kinds["centroid_kalman"] = dict(switch_kinds(sequences, TrackerConfig(association="centroid_kalman")))
    wall = time.perf_counter() - start
    info = {"command": "python -m panoptic_training.tune_reid " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "wall_s": wall, "load": load_average(), "model": args.model, "identity": args.identity, "constant": args.constant,
            "seeds": ", ".join(f"{n} ({k})" for n, (k, _) in sequences.items())}
    write_section(Path(args.out), markdown(args.section, results, chosen, kinds, info),
                  f"<!-- tracking-reid-{args.section}:start -->", f"<!-- tracking-reid-{args.section}:end -->")
    if args.plot is not None:
        plot_kinds(kinds, args.plot)
    out_json = Path(args.json or f"runs/eval/tracking_reid_{args.section}.json")
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"results": results, "chosen": chosen, "kinds": kinds, "info": info}, indent=2,
                                   default=float) + "\n")
    for a, c in chosen.items():
        off = next(r for r in results if r["association"] == a and r["reid_frames"] == 0)
        print(f"{a}: chosen reid_frames {c['reid_frames']} threshold {c['reid_threshold']:g} speed "
              f"{c['reid_max_speed_mps']:g}: oracle sPTQ {100 * c['oracle']['sptq']:.2f} "
              f"(off {100 * off['oracle']['sptq']:.2f}), "
              f"ID sw. {c['oracle']['id_switches']} (off {off['oracle']['id_switches']}), occl. "
              f"{c['oracle_occlusion']['id_switches']} (off {off['oracle_occlusion']['id_switches']})")
    print(json.dumps(kinds, indent=1))
    print(f"wrote {args.out}, {out_json} ({wall:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
