"""The model loader: a model directory -> validated artifacts -> a ready backend chosen by name.

A model directory holds ``model.json`` (architecture, format version, config, metadata) and
``weights.safetensors`` (never a pickle), and optionally ``model.onnx``. A shipped ``model.onnx``
must carry the sha256 of the weights it was exported from (ONNX metadata ``weights_sha256``), so a
stale export is refused instead of silently running old weights. Without one, ONNX-based backends
export the core on first use into ``onnx_cache_dir`` (keyed by that hash) — model directories may be
read-only (a container's /opt).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch

from panoptic_perception.models import ModelError, UPFuse, collate, load_model, read_config
from panoptic_perception.models.io import CONFIG_FILE, WEIGHTS_FILE

from .artifacts import ModelArtifacts
from .backend import BACKENDS, InferenceBackend
from .engine_cache import default_cache_dir, sha256_bytes
from .errors import ModelLoadError
from .onnx_export import export_onnx
from .tensor_core import INPUT_NAMES, output_names

ONNX_FILE = "model.onnx"
WEIGHTS_HASH_KEY = "weights_sha256"


@dataclass(frozen=True)
class ExportShapes:
    """Fixed sizes of an on-demand ONNX export: cameras and image size (the point axis stays dynamic)."""

    num_cameras: int = 1
    image_height: int = 376  # the hdl32-front/KITTI camera
    image_width: int = 1241
    num_points: int = 4096  # traced size only

    def example_batch(self, model: UPFuse) -> Any:
        spec = model.config.range_spec
        g = torch.Generator().manual_seed(0)
        # Points on a 10 m sphere inside the LiDAR's field of view; values only matter for tracing.
        flat = torch.randn(self.num_points, 3, generator=g) * torch.tensor([1.0, 1.0, 0.2])
        direction = torch.nn.functional.normalize(flat, dim=1)
        points = torch.cat([direction * 10.0, torch.rand(self.num_points, 1, generator=g)], 1)
        m, h, w = self.num_cameras, self.image_height, self.image_width
        K = torch.tensor([[w / 2, 0.0, (w - 1) / 2], [0.0, w / 2, (h - 1) / 2], [0.0, 0.0, 1.0]]).expand(1, m, 3, 3)
        T = torch.eye(4).expand(1, m, 4, 4)
        return collate([points], spec, torch.rand(1, m, 3, h, w, generator=g), K, T)


def onnx_weights_hash(path: Path) -> str | None:
    model = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in model.metadata_props if p.key == WEIGHTS_HASH_KEY), None)


def check_onnx(path: Path, weights_sha256: str, model: UPFuse) -> None:
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as err:  # onnx raises DecodeError / OSError variants
        raise ModelLoadError(f"{path}: not a readable ONNX file: {err}") from err
    inputs = tuple(i.name for i in graph.input)
    outputs = tuple(o.name for o in graph.output)
    if inputs != INPUT_NAMES or outputs != output_names(model):
        raise ModelLoadError(
            f"{path}: inputs {list(inputs)} / outputs {list(outputs)} do not match the UP-Fuse core "
            f"({list(INPUT_NAMES)} / {list(output_names(model))})"
        )
    found = onnx_weights_hash(path)
    if found != weights_sha256:
        raise ModelLoadError(
            f"{path}: exported from other weights (ONNX metadata {WEIGHTS_HASH_KEY}={found!r}, "
            f"{WEIGHTS_FILE} has {weights_sha256}); re-export it or delete it"
        )


def onnx_camera_shape(path: Path) -> tuple[int, ...]:
    """(cameras, height, width) of the ``images`` input of an exported core; 0 where an axis is dynamic."""
    graph = onnx.load(str(path), load_external_data=False).graph
    images = next(i for i in graph.input if i.name == "images")
    return tuple(d.dim_value for d in images.type.tensor_type.shape.dim[1:2] + images.type.tensor_type.shape.dim[3:5])


def load_artifacts(
    directory: str | Path,
    *,
    export_shapes: ExportShapes | None = None,
    onnx_cache_dir: str | Path | None = None,
    device: str = "cpu",
) -> ModelArtifacts:
    """Validate and load a model directory; errors name the file and field."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: model directory does not exist")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise ModelLoadError(f"{directory / name}: missing (a model directory needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    try:
        read_config(directory)
        model = load_model(directory, device=device)
    except ModelError as err:
        raise ModelLoadError(str(err)) from err
    metadata = json.loads((directory / CONFIG_FILE).read_text()).get("metadata") or {}
    weights_sha256 = sha256_bytes((directory / WEIGHTS_FILE).read_bytes())
    shapes = export_shapes or ExportShapes()
    shipped: Path | None = directory / ONNX_FILE
    if shipped.is_file():
        check_onnx(shipped, weights_sha256, model)
        # A fixed-size graph for other cameras is left aside; the right one is exported on demand.
        if onnx_camera_shape(shipped) != (shapes.num_cameras, shapes.image_height, shapes.image_width):
            shipped = None
    else:
        shipped = None
    cache = Path(onnx_cache_dir) if onnx_cache_dir is not None else default_cache_dir().parent / "onnx"

    def export() -> Path:
        path = cache / (
            f"{weights_sha256[:32]}-m{shapes.num_cameras}-{shapes.image_height}x{shapes.image_width}.onnx"
        )
        if not path.is_file():
            _export_atomically(model, shapes, weights_sha256, path)
        return path

    return ModelArtifacts(
        directory=directory,
        config=model.config,
        model=model,
        metadata={str(k): str(v) for k, v in metadata.items()},
        weights_sha256=weights_sha256,
        export=export,
        _onnx_path=shipped,
    )


def _export_atomically(model: UPFuse, shapes: ExportShapes, weights_sha256: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    export_onnx(model, shapes.example_batch(model), partial, metadata={WEIGHTS_HASH_KEY: weights_sha256})
    os.replace(partial, path)  # never leave a half-written export under the final name


def write_model_onnx(directory: str | Path, export_shapes: ExportShapes | None = None) -> Path:
    """Ship ``model.onnx`` next to the weights (their hash inside), so no backend has to export at start-up."""
    artifacts = load_artifacts(directory, export_shapes=export_shapes)
    path = Path(directory) / ONNX_FILE
    _export_atomically(artifacts.model, export_shapes or ExportShapes(), artifacts.weights_sha256, path)
    return path


def load_backend(
    directory: str | Path,
    backend: str = "onnxruntime",
    *,
    export_shapes: ExportShapes | None = None,
    onnx_cache_dir: str | Path | None = None,
    **options: Any,
) -> tuple[ModelArtifacts, InferenceBackend]:
    """The loaded model and a backend (``BACKENDS`` name) running it; ``options`` go to the backend."""
    artifacts = load_artifacts(directory, export_shapes=export_shapes, onnx_cache_dir=onnx_cache_dir)
    return artifacts, BACKENDS.create(backend, artifacts, **options)
