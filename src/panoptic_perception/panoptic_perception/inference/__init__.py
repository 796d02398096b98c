"""Inference backends (torch, ONNX Runtime, TensorRT), ONNX export, engine cache and the model loader."""

from . import tensorrt_backend  # noqa: F401  (registers the "tensorrt" backend; imports TensorRT lazily)
from .artifacts import ModelArtifacts
from .backend import BACKENDS, PRECISIONS, BackendRegistry, InferenceBackend, OnnxRuntimeBackend, TorchBackend
from .engine_cache import CacheEntry, EngineCache, cache_key, default_cache_dir
from .errors import (
    BackendInputError,
    BackendUnavailableError,
    EngineCacheError,
    ExportError,
    InferenceError,
    ModelLoadError,
)
from .int8_calibration import Int8Calibrator
from .loader import ONNX_FILE, ExportShapes, load_artifacts, load_backend, write_model_onnx
from .onnx_export import export_onnx
from .runner import PanopticRunner, pad_points, predictions_from_outputs
from .tensor_core import INPUT_NAMES, INPUTS, OUTPUTS, UPFuseTensorCore, batch_to_inputs
from .tensorrt_backend import PointProfile, TensorRTBackend, build_serialized_engine

__all__ = [
    "BACKENDS",
    "INPUTS",
    "INPUT_NAMES",
    "ONNX_FILE",
    "OUTPUTS",
    "PRECISIONS",
    "BackendInputError",
    "BackendRegistry",
    "BackendUnavailableError",
    "CacheEntry",
    "EngineCache",
    "EngineCacheError",
    "ExportError",
    "ExportShapes",
    "InferenceBackend",
    "InferenceError",
    "Int8Calibrator",
    "ModelArtifacts",
    "ModelLoadError",
    "OnnxRuntimeBackend",
    "PanopticRunner",
    "PointProfile",
    "TensorRTBackend",
    "TorchBackend",
    "UPFuseTensorCore",
    "batch_to_inputs",
    "build_serialized_engine",
    "cache_key",
    "default_cache_dir",
    "export_onnx",
    "load_artifacts",
    "load_backend",
    "write_model_onnx",
    "pad_points",
    "predictions_from_outputs",
]
