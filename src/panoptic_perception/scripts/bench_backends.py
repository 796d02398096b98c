"""Latency/throughput of the UP-Fuse core on every available backend and precision.

    python src/panoptic_perception/scripts/bench_backends.py [--model-dir models/upfuse_cpu] [--frames 3] [--repeats 5]
        [--rig hdl32-surround]

Without a model directory the untrained ``cpu_default`` network is timed (latency does not depend on
the weights). Frames come from the synthetic world (``--rig``, default hdl32-front: every camera of the rig goes into
the network); points are padded to a bucket.
Rows: torch eager, torch.compile, onnxruntime CPU; on a CUDA machine also torch CUDA fp32/fp16,
onnxruntime CUDA, TensorRT fp32/fp16. Each backend is checked against torch eager before it is timed.
Prints a Markdown table to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from panoptic_datasets.world import PRESETS, SceneConfig, make_rig, simulate
from panoptic_perception.inference import (
    BACKENDS,
    BackendUnavailableError,
    ExportShapes,
    PanopticRunner,
    load_artifacts,
)
from panoptic_perception.models import UPFuse, UPFuseConfig, batch_from_sensor_frame, save_model


def candidates(cuda: bool) -> list[tuple[str, dict]]:
    rows: list[tuple[str, dict]] = [
        ("torch", {}),
        ("torch_compile", {}),
        ("onnxruntime", {"use_gpu": False}),
    ]
    if cuda:
        rows += [
            ("torch", {"device": "cuda"}),
            ("torch", {"device": "cuda", "precision": "fp16"}),
            ("onnxruntime", {"providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}),
            ("tensorrt", {"precision": "fp32"}),
            ("tensorrt", {"precision": "fp16"}),
        ]
    return rows


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bucket", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--rig", default="hdl32-front", choices=PRESETS, help="sensor rig of the frames")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_backends_"))
    model_dir = args.model_dir
    if model_dir is None:
        torch.manual_seed(0)
        model_dir = save_model(UPFuse(UPFuseConfig.cpu_default()), work / "cpu_default")
    rig = make_rig(args.rig)
    camera = next(iter(rig.cameras.values()))
    artifacts = load_artifacts(
        model_dir, export_shapes=ExportShapes(len(rig.cameras), camera.height, camera.width, 4096), onnx_cache_dir=work / "onnx"
    )
    frames = [f.sensor for f in simulate(SceneConfig(seed=11), rig, args.frames)]
    batches = [batch_from_sensor_frame(f, artifacts.config.range_spec) for f in frames]
    reference = PanopticRunner(BACKENDS.create("torch", artifacts), artifacts.config, args.bucket)
    inputs = [reference.inputs(b) for b in batches]
    expected = [reference.backend.run(x) for x in inputs]
    points = statistics.mean(b.point_xyz.shape[1] for b in batches)
    setup = f"{len(batches)} {args.rig} frames ({len(rig.cameras)} camera(s), mean {points:.0f} points, bucket {args.bucket})"
    print(f"model {model_dir.name}, {setup}, {machine()}")
    print("| backend | options | precision | max abs diff vs torch | first run [ms] | median [ms] | throughput [frames/s] |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, options in candidates(torch.cuda.is_available()):
        if name == "onnxruntime":
            options = {**options, "intra_op_threads": args.threads}
        try:
            backend = BACKENDS.create(name, artifacts, **options)
        except BackendUnavailableError as err:
            print(f"| {name} | {options} | - | unavailable: {err} | | | |")
            continue
        start = time.perf_counter()
        outputs = [backend.run(x) for x in inputs]
        first = (time.perf_counter() - start) * 1000 / len(inputs)
        diff = max(float(np.abs(o["point_logits"] - e["point_logits"]).max()) for o, e in zip(outputs, expected, strict=True))
        times = []
        for _ in range(args.repeats):
            for x in inputs:
                t = time.perf_counter()
                backend.run(x)
                times.append(time.perf_counter() - t)
        median = statistics.median(times) * 1000
        print(f"| {name} | {options} | {backend.precision} | {diff:.1e} | {first:.0f} | {median:.1f} | {1000 / median:.1f} |")


if __name__ == "__main__":
    main()
