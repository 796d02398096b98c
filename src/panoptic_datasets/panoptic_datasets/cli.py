"""``panoptic-data``: generate synthetic sequences, convert datasets to bags, inspect datasets.

panoptic-data generate --rig tiny --frames 20 --split val --sequence 3 --format both --out data/
panoptic-data convert --from semantickitti data/sequences/1003 --to bag data/1003_bag
panoptic-data info data/bags/1003
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from panoptic_perception.core.labels import SEMANTIC_MASK, load_class_table

from .formats.errors import FormatError
from .sources import SyntheticSource, detect_format, open_dataset
from .splits import SPLITS, split_seed


class UserError(Exception):
    """A mistake in the command line or its inputs: reported in one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panoptic-data", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="simulate a synthetic sequence and write it")
    gen.add_argument("--seed", type=int, help="scene seed (= sequence number); or use --split/--sequence")
    gen.add_argument("--split", choices=sorted(SPLITS), help="standard split; the seed comes from --sequence")
    gen.add_argument("--sequence", type=int, help="index of the sequence within --split")
    gen.add_argument("--frames", type=int, default=100, help="number of LiDAR sweeps")
    gen.add_argument("--scene", type=Path, help="scene config YAML (SceneConfig fields; seed is overridden)")
    gen.add_argument("--rig", default="hdl64-front", help="rig preset")
    gen.add_argument("--format", choices=("semantickitti", "bag", "both"), default="both")
    gen.add_argument("--out", type=Path, required=True, help="output folder")

    conv = sub.add_parser("convert", help="convert a dataset to a rosbag2/MCAP bag")
    conv.add_argument("--from", dest="src_format", choices=("semantickitti", "kitti_raw", "nuscenes"), required=True)
    conv.add_argument("src", type=Path)
    conv.add_argument("--to", dest="dst_format", choices=("bag",), required=True)
    conv.add_argument("dst", type=Path)

    info = sub.add_parser("info", help="summarise a dataset folder or bag")
    info.add_argument("path", type=Path)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from .formats.bag import BagWriter
    from .formats.semantickitti import SemanticKittiWriter

    if args.split is not None:
        if args.sequence is None or args.seed is not None:
            raise UserError("--split needs --sequence (and no --seed)")
        seed = split_seed(args.split, args.sequence)
    elif args.seed is None:
        raise UserError("give --seed, or --split with --sequence")
    else:
        seed = args.seed
    if args.frames < 1:
        raise UserError(f"--frames must be positive; got {args.frames}")
    scene: dict[str, Any] = {}
    if args.scene is not None:
        if not args.scene.is_file():
            raise UserError(f"{args.scene}: scene config not found")
        scene = yaml.safe_load(args.scene.read_text()) or {}
    source = SyntheticSource.from_names(seed, args.rig, args.frames, scene)
    writers: list[Any] = []
    if args.format in ("semantickitti", "both"):
        writers.append(SemanticKittiWriter(args.out, seed, T_base_lidar=source.T_base_lidar))
    if args.format in ("bag", "both"):
        writers.append(BagWriter(args.out / "bags" / f"{seed:02d}", T_base_lidar=source.T_base_lidar, sequence=seed))
    effective = {"seed": seed, "frames": args.frames, "rig": args.rig, "scene": dataclasses.asdict(source.config)}
    config_path = args.out / "configs" / f"{seed:02d}.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(effective, sort_keys=True))
    for frame in tqdm(source, total=len(source), desc=f"sequence {seed:02d}", unit="frame"):
        for writer in writers:
            writer.write(frame)
    for writer in writers:
        writer.close()
    print(f"wrote sequence {seed:02d} ({args.frames} frames, rig {args.rig}) to {args.out}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .formats.convert import convert

    count = convert(open_dataset(args.src, args.src_format), args.dst)
    print(f"converted {count} frames from {args.src} to {args.dst}")
    return 0


def _info(args: argparse.Namespace) -> int:
    fmt = detect_format(args.path)
    reader = open_dataset(args.path)
    print(f"{args.path}: {fmt}, {len(reader)} frames")
    topics = getattr(reader, "topics", None)
    if topics:
        print("topics:")
        for name, (msgtype, count) in sorted(topics.items()):
            print(f"  {name}  {msgtype}  {count}")
    print("cameras: " + (", ".join(f"{n} {c.width}x{c.height}" for n, c in reader.cameras.items()) or "none"))
    names = load_class_table().names
    points, classes = [], Counter[int]()
    for frame in tqdm(reader, total=len(reader), desc="reading", unit="frame", leave=False):
        points.append(len(frame.sensor.points))
        ids, counts = np.unique(frame.point_label & SEMANTIC_MASK, return_counts=True)
        classes.update(dict(zip(ids.tolist(), counts.tolist(), strict=True)))
    total = sum(points)
    mean = total / max(len(points), 1)
    print(f"points: {total} total, {mean:.0f} per frame (min {min(points, default=0)}, max {max(points, default=0)})")
    print("classes present (points):")
    for class_id, count in sorted(classes.items()):
        name = names[class_id] if class_id < len(names) else f"id {class_id}"
        print(f"  {class_id:2d} {name:<14} {count}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"generate": _generate, "convert": _convert, "info": _info}
    try:
        return commands[args.command](args)
    except (UserError, FormatError, ValueError, FileNotFoundError) as err:
        print(f"panoptic-data {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
