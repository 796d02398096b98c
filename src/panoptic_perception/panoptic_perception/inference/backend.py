"""Inference backends: one ``InferenceBackend`` protocol, a name -> factory registry, torch and ONNX Runtime.

Every backend runs the UP-Fuse tensor core (``tensor_core``): a dict of named numpy arrays in, a dict
of named float32 numpy arrays out. TensorRT lives in ``tensorrt_backend`` (registered there as
``"tensorrt"``); its runtime is imported only when such a backend is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from panoptic_perception.models import UPFuse

from .artifacts import ModelArtifacts
from .errors import BackendUnavailableError, InferenceError
from .tensor_core import UPFuseTensorCore, check_inputs, inputs_to_tensors

PRECISIONS = ("fp32", "fp16", "int8")


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs the tensor core; ``name`` is its registry name, ``precision`` one of ``PRECISIONS``."""

    name: str
    precision: str

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


BackendFactory = Callable[..., InferenceBackend]


class BackendRegistry:
    """Backends by name; a factory takes the loaded model's artifacts plus backend options."""

    def __init__(self) -> None:
        self._factories: dict[str, BackendFactory] = {}

    def register(self, name: str) -> Callable[[BackendFactory], BackendFactory]:
        def add(factory: BackendFactory) -> BackendFactory:
            if name in self._factories and self._factories[name] is not factory:
                raise InferenceError(f"backend {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return add

    def create(self, name: str, *args: Any, **options: Any) -> InferenceBackend:
        try:
            factory = self._factories[name]
        except KeyError:
            raise InferenceError(f"unknown backend {name!r}; registered: {', '.join(self.names())}") from None
        return factory(*args, **options)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        return name in self._factories


BACKENDS = BackendRegistry()


def check_precision(backend: str, precision: str, supported: tuple[str, ...]) -> None:
    if precision not in PRECISIONS:
        raise InferenceError(f"{backend}: unknown precision {precision!r}; one of {PRECISIONS}")
    if precision not in supported:
        raise BackendUnavailableError(f"{backend}: precision {precision!r} is not available here (available: {supported})")


class TorchBackend:
    """Eager PyTorch, or ``torch.compile`` when ``compile`` is set; fp16 only on CUDA (autocast).

    ``dynamic=True`` compiles one graph for every point count (inputs padded to buckets keep the
    number of distinct shapes small either way); ``dynamic=False`` specialises per shape.
    """

    def __init__(
        self,
        model: UPFuse,
        device: str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        compile_backend: str = "inductor",
        dynamic: bool = True,
    ) -> None:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(f"torch: device {device!r} requested but CUDA is not available")
        check_precision("torch", precision, ("fp32", "fp16") if device.startswith("cuda") else ("fp32",))
        self.name = "torch_compile" if compile else "torch"
        self.precision = precision
        self.device = torch.device(device)
        self.core = UPFuseTensorCore(model.to(self.device).eval())
        self.output_names = self.core.output_names
        self._forward: Callable[..., tuple[torch.Tensor, ...]] = (
            torch.compile(self.core, backend=compile_backend, dynamic=dynamic) if compile else self.core
        )

    @torch.inference_mode()
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(inputs)
        args = inputs_to_tensors(inputs, self.device)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.precision == "fp16"):
            outputs = self._forward(*args)
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outputs, strict=True)}


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class OnnxRuntimeBackend:
    """ONNX Runtime on the exported core: CPU by default, CUDA/TensorRT execution providers when installed.

    ``providers=None`` takes the available ones of TensorRT, CUDA, CPU in that order (``use_gpu=False``
    keeps only the CPU). ``precision="fp16"`` needs the TensorRT execution provider, which builds its own
    engines; they are cached in ``trt_cache_dir`` when given.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        precision: str = "fp32",
        intra_op_threads: int = 1,
        providers: list[str] | None = None,
        use_gpu: bool = True,
        trt_cache_dir: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if providers is None:
            providers = [p for p in GPU_PROVIDERS if use_gpu and p in available] + ["CPUExecutionProvider"]
        missing = [p for p in providers if p not in available]
        if missing:
            raise BackendUnavailableError(f"onnxruntime: execution provider(s) {missing} not available (have {available})")
        check_precision("onnxruntime", precision, ("fp32", "fp16") if "TensorrtExecutionProvider" in providers else ("fp32",))
        if intra_op_threads < 0:
            raise InferenceError(f"onnxruntime: intra_op_threads must be >= 0 (0 = all cores), got {intra_op_threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        provider_options: list[dict[str, str]] = []
        for p in providers:
            if p == "TensorrtExecutionProvider":
                trt = {"trt_fp16_enable": str(precision == "fp16")}
                if trt_cache_dir is not None:
                    trt |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(trt_cache_dir)}
                provider_options.append(trt)
            else:
                provider_options.append({})
        self.session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=providers, provider_options=provider_options
        )
        self.name = "onnxruntime"
        self.precision = precision
        self.providers = tuple(self.session.get_providers())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(inputs)
        outputs = self.session.run(list(self.output_names), inputs)
        return dict(zip(self.output_names, outputs, strict=True))


@BACKENDS.register("torch")
def _torch(artifacts: ModelArtifacts, **options: Any) -> InferenceBackend:
    return TorchBackend(artifacts.model, **options)


@BACKENDS.register("torch_compile")
def _torch_compile(artifacts: ModelArtifacts, **options: Any) -> InferenceBackend:
    return TorchBackend(artifacts.model, compile=True, **options)


@BACKENDS.register("onnxruntime")
def _onnxruntime(artifacts: ModelArtifacts, **options: Any) -> InferenceBackend:
    return OnnxRuntimeBackend(artifacts.onnx_path(), **options)
