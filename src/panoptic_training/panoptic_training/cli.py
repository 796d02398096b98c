"""Console scripts: ``panoptic-train`` (YAML config + dotted overrides) and ``panoptic-export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import TrainingError


def train_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="panoptic-train",
        description="Train from a YAML config; overrides as dotted section.field=value (e.g. train.steps=100).",
    )
    parser.add_argument("config", help="YAML config (see src/panoptic_training/config/)")
    parser.add_argument("overrides", nargs="*", help="section.field=value overrides")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of train.out_dir")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = parser.parse_args(argv)
    from .config import load_config
    from .trainer import Trainer

    try:
        config = load_config(args.config, args.overrides)
        if config.train.task == "deepdps":
            from .deepdps_train import DeepDPSTrainer as Trainer  # noqa: N814
        elif config.train.task == "flow":
            from .flow_training import FlowTrainer as Trainer  # noqa: N814
        summary = Trainer(config, resume=args.resume, progress=not args.no_progress).run()
    except TrainingError as err:
        print(f"panoptic-train: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {summary.task} for {summary.steps} steps in {summary.wall_seconds:.0f} s; final loss "
          f"{summary.final_loss:.4f}; run in {summary.out_dir}")
    return 0


def export_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panoptic-export", description="Export a training run to models/<name>/.")
    parser.add_argument("run_dir", help="a panoptic training run (train.out_dir)")
    parser.add_argument("--name", required=True, help="model name: writes <models-dir>/<name>/")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--metrics", default=None, help="metrics JSON of evaluate_upfuse for the model card")
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx (KITTI-size front camera)")
    args = parser.parse_args(argv)
    from .config import load_config
    from .export import export_run

    try:
        task = load_config(Path(args.run_dir) / "config.yaml").train.task
        if task == "flow":
            from .flow_training import export_flow_run as export_run
        elif task == "deepdps":
            from .deepdps_export import export_deepdps_run as export_run
        directory = export_run(args.run_dir, args.name, args.models_dir, args.metrics)
        if args.onnx:
            from panoptic_perception.inference import write_model_onnx

            print(f"wrote {write_model_onnx(directory)}")
    except TrainingError as err:
        print(f"panoptic-export: error: {err}", file=sys.stderr)
        return 2
    print(f"exported {args.run_dir} to {directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m panoptic_training.cli {train,export} ...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": train_main, "export": export_main}
    if not argv or argv[0] not in commands:
        print("usage: python -m panoptic_training.cli {train,export} ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
