"""Where ONNX Runtime's outputs differ from torch eager on synthetic frames, and whether it changes a point's mask.

    python src/panoptic_perception/scripts/compare_backends.py --model-dir models/upfuse_cpu_surround --rig hdl32-surround

Per frame and output: the largest absolute difference and the share of values off by more than 1e-3; for the
point logits also the share of points whose highest-scoring query (the mask a point joins) is the same.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from panoptic_datasets.world import PRESETS, SceneConfig, make_rig, simulate
from panoptic_perception.inference import BACKENDS, ExportShapes, PanopticRunner, load_artifacts
from panoptic_perception.models import batch_from_sensor_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("models/upfuse_cpu"))
    parser.add_argument("--rig", default="hdl32-front", choices=PRESETS)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11, help="scene seed (bench_backends uses 11)")
    parser.add_argument("--bucket", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rig = make_rig(args.rig)
    camera = next(iter(rig.cameras.values()))
    artifacts = load_artifacts(args.model_dir, export_shapes=ExportShapes(len(rig.cameras), camera.height, camera.width,
                                                                          args.bucket))
    reference = PanopticRunner(BACKENDS.create("torch", artifacts), artifacts.config, args.bucket)
    onnx = BACKENDS.create("onnxruntime", artifacts, use_gpu=False, intra_op_threads=args.threads)
    print("| frame | output | max abs diff | share off by > 1e-3 |")
    print("| --- | --- | --- | --- |")
    for i, frame in enumerate(simulate(SceneConfig(seed=args.seed), rig, args.frames)):
        inputs = reference.inputs(batch_from_sensor_frame(frame.sensor, artifacts.config.range_spec))
        expected, got = reference.backend.run(inputs), onnx.run(inputs)
        for name, value in expected.items():
            if value.dtype.kind != "f":
                continue
            diff = np.abs(value - got[name])
            print(f"| {i} | {name} | {diff.max():.1e} | {100 * (diff > 1e-3).mean():.2f} % |")
        same = (expected["point_logits"].argmax(1) == got["point_logits"].argmax(1)).mean()
        print(f"| {i} | points joining the same query | | {100 * same:.2f} % |")


if __name__ == "__main__":
    main()
