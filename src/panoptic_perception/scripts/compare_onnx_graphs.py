"""Two exports of the network core on the same sweeps: are their outputs bit-identical, and which is faster?

Feeds the core inputs of synthetic hdl32 sweeps (built by the fusion stage, as the node does) to both graphs with
ONNX Runtime (1 thread), checks every output for bit equality, then times the two alternately. Used whenever the
graph is re-exported with unchanged weights for speed (docs/benchmarks.md).

    python src/panoptic_perception/scripts/compare_onnx_graphs.py /tmp/model_before.onnx models/upfuse_cpu/model.onnx
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--model-dir", default="models/upfuse_cpu", help="weights and config that build the inputs")
    parser.add_argument("--rig", default="hdl32-front")
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="timing passes over the sweeps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    from panoptic_datasets.sources import SyntheticSource
    from panoptic_datasets.world import make_rig
    from panoptic_perception.inference.backend import OnnxRuntimeBackend
    from panoptic_perception.models.upfuse import collate
    from panoptic_perception.pipeline import FusionConfig, PerceptionPipeline, PipelineConfig

    camera = make_rig(args.rig).cameras["front"]
    fusion = PerceptionPipeline.from_config(PipelineConfig(FusionConfig(
        model_dir=args.model_dir, threads=args.threads, image_size=[camera.height, camera.width]))).fusion
    inputs = [fusion.runner.inputs(collate([torch.from_numpy(f.sensor.points)], fusion.runner.config.range_spec,
                                           *fusion._camera_tensors(f.sensor)))
              for f in SyntheticSource.from_names(args.seed, args.rig, args.frames)]
    # As the node runs them (CPU, all graph optimisations)
    before, after = (OnnxRuntimeBackend(p, intra_op_threads=args.threads, use_gpu=False) for p in (args.before, args.after))
    names = list(before.output_names)
    if names != list(after.output_names):
        raise SystemExit(f"the graphs' outputs differ: {names} vs {list(after.output_names)}")
    differing = set()
    for x in inputs:
        a, b = before.run(x), after.run(x)
        differing |= {name for name in names if not np.array_equal(a[name], b[name])}
    print(f"{len(inputs)} sweeps of {args.rig} (seed {args.seed}); outputs {names}")
    print("bit-identical" if not differing else f"DIFFERENT: {sorted(differing)}")
    ms: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.repeats):
        for x in inputs:
            for label, backend in (("before", before), ("after", after)):
                start = time.perf_counter()
                backend.run(x)
                ms[label].append((time.perf_counter() - start) * 1e3)
    paired = np.array(ms["before"]) - np.array(ms["after"])
    print(f"median ms: before {np.median(ms['before']):.1f}, after {np.median(ms['after']):.1f}, "
          f"paired difference {np.median(paired):.1f}")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
