"""Where a sweep's time goes in the fusion stage, part by part, outside and inside the network core.

Replays ``FusionStage.process`` step by step on synthetic sweeps (ROS-free, no DDS) and times each part:
camera tensors, range-view projection and batching, the padded core inputs, the network core (the
backend), panoptic post-processing, then tracking and the ``perception/panoptic_points`` message that
the node publishes. ``--cprofile`` adds the functions that cost most. Used for the "where the time
goes" table of docs/benchmarks.md (end-to-end latency through ROS: ``panoptic-bench replay``).

    python src/panoptic_perception/scripts/profile_fusion_stage.py --frames 12 --threads 2
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(times: dict[str, list[float]], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    value = fn()
    times.setdefault(name, []).append((time.perf_counter() - start) * 1e3)
    return value


def profile_frames(pipeline: Any, frames: list[Any]) -> dict[str, list[float]]:
    """Per-part milliseconds of each frame, in the order FusionStage.process and the node run them."""
    import torch

    from panoptic_perception.inference.runner import predictions_from_outputs
    from panoptic_perception.models.upfuse import collate
    from panoptic_perception.pipeline import thing_detections
    from panoptic_perception.ros.conversions import panoptic_cloud_to_msg

    fusion, times = pipeline.fusion, {}
    for frame in frames:
        start = time.perf_counter()
        cams = timed(times, "camera tensors", lambda f=frame: fusion._camera_tensors(f))  # images, K, T, valid
        batch = timed(times, "range view + batch (collate)", lambda f=frame, c=cams: collate(
            [torch.from_numpy(f.points)], fusion.runner.config.range_spec, *c))
        inputs = timed(times, "padded core inputs", lambda b=batch: fusion.runner.inputs(b))
        outputs = timed(times, "network core (backend)", lambda x=inputs: fusion.runner.backend.run(x))
        with torch.inference_mode():
            timed(times, "panoptic post-processing", lambda o=outputs, x=inputs: predictions_from_outputs(
                o, x["point_valid"], fusion.runner.config))
        times.setdefault("fusion stage, sum of the parts", []).append((time.perf_counter() - start) * 1e3)
        result = timed(times, "whole pipeline (fusion + tracking), again", lambda f=frame: pipeline.process(f))
        timed(times, "thing detections", lambda r=result: thing_detections(r.cloud, pipeline._is_thing, 5))
        timed(times, "panoptic_points message", lambda r=result: panoptic_cloud_to_msg(r.cloud, "lidar"))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="models/upfuse_cpu")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--rig", default="hdl32-front")
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=12, help="sweeps timed (after --warmup more)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (fusion.threads)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="also print the N costliest functions")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be >= 1 and --warmup >= 0")

    from panoptic_datasets.sources import SyntheticSource
    from panoptic_datasets.world import make_rig
    from panoptic_perception.pipeline import FusionConfig, PerceptionPipeline, PipelineConfig

    camera = make_rig(args.rig).cameras["front"]
    frames = [f.sensor for f in SyntheticSource.from_names(args.seed, args.rig, args.warmup + args.frames)]
    config = PipelineConfig(FusionConfig(model_dir=args.model_dir, backend=args.backend, threads=args.threads,
                                         image_size=[camera.height, camera.width]))
    pipeline = PerceptionPipeline.from_config(config)
    profile_frames(pipeline, frames[: args.warmup])
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        profiler.enable()
    times = profile_frames(pipeline, frames[args.warmup:])
    if profiler:
        profiler.disable()
    print(f"{args.frames} sweeps of {args.rig} (seed {args.seed}), {args.backend}, {args.threads} thread(s)\n")
    print("| part | median [ms] | p95 [ms] |\n| --- | --- | --- |")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.1f} | {np.percentile(values, 95):.1f} |")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
