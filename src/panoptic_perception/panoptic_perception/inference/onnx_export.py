"""Export the UP-Fuse tensor core to ONNX (TorchScript exporter; no extra packages needed).

The torch.export-based exporter (torch's default since 2.9) needs ``onnxscript``, which is not a
dependency; the TorchScript exporter still ships with torch 2.13 and its deprecation warning is silenced.

The point axis N is dynamic by default (``dynamic_points``): one ONNX file serves every sweep size,
and TensorRT engines cover a range of N with an optimisation profile. B, M and the image size stay
as in the example batch. ``aten::expm1`` (U = 1 - exp(-d)) has no ONNX symbolic; it is exported as
``Exp(x) - 1``, which differs from expm1 by < 1e-7 absolute for the U values fusion produces.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from panoptic_perception.models import UPFuse, UPFuseBatch

from .errors import ExportError
from .tensor_core import INPUT_NAMES, INPUTS, OUTPUTS, UPFuseTensorCore, batch_to_inputs, inputs_to_tensors

MIN_OPSET = 17  # GridSample (16) and LayerNormalization (17)
_registered_opsets: set[int] = set()


def _expm1(g, x):  # type: ignore[no-untyped-def]  # ONNX graph-builder callback
    one = g.op("Constant", value_t=torch.tensor(1.0, dtype=torch.float32))
    return g.op("Sub", g.op("Exp", x), one)


def _register_symbolics(opset: int) -> None:
    if opset not in _registered_opsets:
        torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1, opset)
        _registered_opsets.add(opset)


def dynamic_axes(output_names: tuple[str, ...], dynamic_points: bool) -> dict[str, dict[int, str]]:
    """Axes named by their symbol in ``tensor_core.INPUTS/OUTPUTS`` that vary at run time."""
    if not dynamic_points:
        return {}
    specs = {**INPUTS, **{n: OUTPUTS[n] for n in output_names}}
    return {name: {i: "N" for i, s in enumerate(spec.shape) if s == "N"} for name, spec in specs.items() if "N" in spec.shape}


def export_onnx(
    model: UPFuse,
    example_batch: UPFuseBatch,
    path: str | Path,
    opset: int = 17,
    dynamic_points: bool = True,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write the tensor core of ``model`` (eval mode, on CPU) to ``path``; returns the path.

    The file is checked with ``onnx.checker``, holds the weights inline (models here are a few MB)
    and carries ``metadata`` as ONNX metadata properties (the loader records the weights' hash).
    """
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: UP-Fuse needs opset >= {MIN_OPSET} (GridSample, LayerNormalization)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    core = UPFuseTensorCore(model.cpu().eval())
    args = tuple(inputs_to_tensors(batch_to_inputs(example_batch.to("cpu"))))
    _register_symbolics(opset)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every Python int taken from a shape; N is declared dynamic below.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                core,
                args,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=list(core.output_names),
                dynamic_axes=dynamic_axes(core.output_names, dynamic_points),
                do_constant_folding=True,
            )
        exported = onnx.load(str(path))
        for key, value in (metadata or {}).items():
            exported.metadata_props.add(key=str(key), value=str(value))
        onnx.checker.check_model(exported)
        onnx.save(exported, str(path))
    except (RuntimeError, torch.onnx.errors.OnnxExporterError, onnx.checker.ValidationError) as err:
        raise ExportError(f"{path}: ONNX export of UP-Fuse failed: {err}") from err
    finally:
        model.train(was_training)
    return path
