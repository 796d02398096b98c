"""TensorRT backend: an engine built from the exported ONNX with the TensorRT Python API, cached on disk.

Precision fp32, fp16 (``BuilderFlag.FP16``) or int8 (entropy calibration from ``Int8Calibrator``, with
fp16 allowed for layers without an int8 kernel). The point axis is dynamic: one optimisation profile
covers ``PointProfile.min_points .. max_points`` and is tuned for ``opt_points``. I/O buffers are torch
CUDA tensors, so no pycuda/cuda-python is needed. Engines are keyed by ONNX hash, TensorRT version,
GPU name, precision and profile (``EngineCache``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .artifacts import ModelArtifacts
from .backend import BACKENDS, InferenceBackend, check_precision
from .engine_cache import CacheEntry, EngineCache, sha256_bytes
from .errors import BackendInputError, InferenceError
from .int8_calibration import Int8Calibrator
from .tensor_core import check_inputs
from .trt_runtime import import_tensorrt, require_cuda, tensorrt_major

WORKSPACE_BYTES = 2 << 30


@dataclass(frozen=True)
class PointProfile:
    """The optimisation profile of the dynamic point axis N (padded points per sweep)."""

    min_points: int = 1024
    opt_points: int = 32768
    max_points: int = 131072

    def __post_init__(self) -> None:
        if not 1 <= self.min_points <= self.opt_points <= self.max_points:
            raise InferenceError(f"PointProfile needs 1 <= min <= opt <= max, got {self}")

    def shapes(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) shapes of an input whose only dynamic (-1) axis is N."""
        if sum(d < 0 for d in shape) > 1:
            raise InferenceError(f"tensorrt: only the point axis may be dynamic, got input shape {shape}")
        return tuple(tuple(n if d < 0 else d for d in shape) for n in (self.min_points, self.opt_points, self.max_points))

    def describe(self) -> str:
        return f"{self.min_points}/{self.opt_points}/{self.max_points}"


def build_serialized_engine(
    onnx_bytes: bytes,
    precision: str,
    profile: PointProfile,
    calibrator: Int8Calibrator | None = None,
    timing_cache: bytes = b"",
    workspace_bytes: int = WORKSPACE_BYTES,
) -> tuple[bytes, bytes]:
    """(serialized engine, serialized timing cache) for the ONNX core."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0 if tensorrt_major(trt) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InferenceError(f"tensorrt: cannot parse the ONNX core: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    cache = config.create_timing_cache(timing_cache)
    config.set_timing_cache(cache, ignore_mismatch=False)
    optimisation_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        optimisation_profile.set_shape(tensor.name, *profile.shapes(tuple(tensor.shape)))
    config.add_optimization_profile(optimisation_profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        if calibrator is None:
            raise InferenceError("tensorrt: precision 'int8' needs calibration batches (an Int8Calibrator)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)
        config.int8_calibrator = calibrator.tensorrt_calibrator()
        config.set_calibration_profile(optimisation_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InferenceError(f"tensorrt: engine build failed ({precision}, profile {profile.describe()}); see the log above")
    return bytes(serialized), bytes(config.get_timing_cache().serialize())


class TensorRTBackend:
    """Runs a cached TensorRT engine of the ONNX core on one CUDA device."""

    name = "tensorrt"

    def __init__(
        self,
        onnx_path: str | Path,
        precision: str = "fp32",
        profile: PointProfile | None = None,
        cache: EngineCache | None = None,
        calibration_batches: Iterable[dict[str, np.ndarray]] | None = None,
        build_only: bool = False,
        device: int = 0,
    ) -> None:
        trt = import_tensorrt()
        require_cuda()
        check_precision("tensorrt", precision, ("fp32", "fp16", "int8"))
        self.precision = precision
        self.profile = profile or PointProfile()
        self.cache = cache or EngineCache()
        self.device = torch.device("cuda", device)
        onnx_bytes = Path(onnx_path).read_bytes()
        model_sha = sha256_bytes(onnx_bytes)
        runtime_fields = {"tensorrt": str(trt.__version__), "gpu": torch.cuda.get_device_name(self.device)}
        self.key_fields = {
            "model_sha256": model_sha,
            **runtime_fields,
            "precision": precision,
            "profile": self.profile.describe(),
        }

        def build() -> bytes:
            calibrator = None
            if precision == "int8":
                if calibration_batches is None:
                    raise InferenceError("tensorrt: precision 'int8' needs calibration_batches")
                calibration_file = self.cache.directory / f"calibration-{model_sha[:32]}.cache"
                calibrator = Int8Calibrator(calibration_batches, calibration_file, self.profile.opt_points)
            engine, timing = build_serialized_engine(
                onnx_bytes, precision, self.profile, calibrator, self.cache.load_timing_cache(runtime_fields)
            )
            self.cache.save_timing_cache(runtime_fields, timing)
            return engine

        self.entry: CacheEntry = self.cache.get_or_build(self.key_fields, build, build_only=build_only)
        self.context: Any = None
        if build_only:
            return
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(self.entry.engine)
        if self.engine is None:
            raise InferenceError(f"tensorrt: cannot deserialize {self.entry.path}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._output_dtypes = {n: torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(n)))).dtype
                               for n in self.output_names}
        self.stream = torch.cuda.Stream(self.device)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.context is None:
            raise InferenceError(f"tensorrt: backend was created with build_only=True (engine at {self.entry.path})")
        check_inputs(inputs)
        n = inputs["point_xyz"].shape[1]
        if not self.profile.min_points <= n <= self.profile.max_points:
            raise BackendInputError(f"tensorrt: {n} points outside the engine's profile {self.profile.describe()}")
        with torch.cuda.stream(self.stream):
            device_inputs = {name: torch.from_numpy(inputs[name]).to(self.device, non_blocking=True) for name in self.input_names}
            for name, tensor in device_inputs.items():
                self.context.set_input_shape(name, tuple(tensor.shape))
                self.context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                outputs[name] = torch.empty(shape, dtype=self._output_dtypes[name], device=self.device)
                self.context.set_tensor_address(name, outputs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise InferenceError("tensorrt: execute_async_v3 failed")
        self.stream.synchronize()
        return {name: t.float().cpu().numpy() for name, t in outputs.items()}


@BACKENDS.register("tensorrt")
def _tensorrt(artifacts: ModelArtifacts, **options: Any) -> InferenceBackend:
    return TensorRTBackend(artifacts.onnx_path(), **options)
