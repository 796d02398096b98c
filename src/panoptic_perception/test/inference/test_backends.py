"""Backends: registry, input checks, ONNX Runtime options, torch.compile, TensorRT (GPU only) and INT8 feeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panoptic_perception.inference import (
    BACKENDS,
    BackendInputError,
    BackendUnavailableError,
    InferenceBackend,
    InferenceError,
    Int8Calibrator,
    OnnxRuntimeBackend,
    PanopticRunner,
    PointProfile,
    TensorRTBackend,
    TorchBackend,
    load_artifacts,
)
from panoptic_perception.inference.tensor_core import batch_to_inputs

HAS_TENSORRT = __import__("importlib").util.find_spec("tensorrt") is not None


def test_an_unknown_backend_name_lists_the_registered_ones(tiny_model):
    with pytest.raises(InferenceError, match="unknown backend 'tflite'; registered: onnxruntime, tensorrt, torch"):
        BACKENDS.create("tflite", load_artifacts(tiny_model.directory))


def test_backends_refuse_missing_inputs_and_wrong_dtypes_naming_the_input(tiny_model):
    backend = TorchBackend(load_artifacts(tiny_model.directory).model)
    inputs = batch_to_inputs(tiny_model.batches[0])
    with pytest.raises(BackendInputError, match=r"missing \['K'\]"):
        backend.run({k: v for k, v in inputs.items() if k != "K"})
    with pytest.raises(BackendInputError, match="'point_vu': expected a int32 array, got int64"):
        backend.run({**inputs, "point_vu": inputs["point_vu"].astype(np.int64)})


def test_onnx_runtime_uses_the_cpu_provider_with_the_configured_threads_and_refuses_missing_ones(tiny_onnx):
    backend = OnnxRuntimeBackend(tiny_onnx, intra_op_threads=2, use_gpu=False)
    assert isinstance(backend, InferenceBackend)
    assert backend.providers == ("CPUExecutionProvider",)
    assert backend.session.get_session_options().intra_op_num_threads == 2
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        with pytest.raises(BackendUnavailableError, match=r"\['CUDAExecutionProvider'\] not available"):
            OnnxRuntimeBackend(tiny_onnx, providers=["CUDAExecutionProvider"])
        with pytest.raises(BackendUnavailableError, match="precision 'fp16' is not available"):
            OnnxRuntimeBackend(tiny_onnx, precision="fp16")


def test_torch_compile_backend_matches_eager(tiny_model):
    model = load_artifacts(tiny_model.directory).model
    inputs = PanopticRunner(TorchBackend(model), tiny_model.config, bucket=1024).inputs(tiny_model.batches[0])
    eager = TorchBackend(model).run(inputs)
    # Graph capture only, one shape: the inductor build takes minutes on the CI machine (see docs/benchmarks.md).
    compiled = TorchBackend(model, compile=True, compile_backend="eager", dynamic=False)
    assert compiled.name == "torch_compile"
    for name, value in compiled.run(inputs).items():
        np.testing.assert_allclose(value, eager[name], atol=1e-5, err_msg=name)
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="CUDA is not available"):
            TorchBackend(model, device="cuda")
        with pytest.raises(BackendUnavailableError, match="precision 'fp16' is not available"):
            TorchBackend(model, precision="fp16")


@pytest.mark.skipif(HAS_TENSORRT, reason="checks the error raised where TensorRT is not installed")
def test_tensorrt_backend_without_tensorrt_raises_a_clear_error(tiny_onnx, tmp_path):
    with pytest.raises(BackendUnavailableError, match="TensorRT Python package is not installed"):
        TensorRTBackend(tiny_onnx)


def test_point_profiles_replace_only_the_dynamic_axis():
    profile = PointProfile(1024, 4096, 8192)
    assert profile.shapes((1, -1, 3)) == ((1, 1024, 3), (1, 4096, 3), (1, 8192, 3))
    with pytest.raises(InferenceError, match="only the point axis may be dynamic"):
        profile.shapes((-1, -1, 3))
    with pytest.raises(InferenceError, match="min <= opt <= max"):
        PointProfile(4096, 1024, 8192)


def test_the_int8_calibrator_stages_batches_in_the_requested_order_until_the_data_ends(tiny_model, tmp_path):
    inputs = batch_to_inputs(tiny_model.batches[0])
    staged: list[str] = []

    def stage(array: np.ndarray) -> tuple[int, object]:
        staged.append(str(array.dtype))
        return 1000 + len(staged), array

    n = inputs["point_xyz"].shape[1]
    calibrator = Int8Calibrator([inputs, inputs], tmp_path / "calib.cache", expected_points=n, stage=stage)
    assert calibrator.next_pointers(["point_vu", "images"]) == [1001, 1002] and staged == ["int32", "float32"]
    assert calibrator.next_pointers(["K"]) == [1003]
    assert calibrator.next_pointers(["K"]) is None and calibrator.batches_used == 2
    assert calibrator.read_cache() is None
    calibrator.write_cache(b"scales")
    assert Int8Calibrator([], tmp_path / "calib.cache").read_cache() == b"scales"
    wrong = Int8Calibrator([inputs], expected_points=n + 1, stage=stage)
    with pytest.raises(BackendInputError, match="pad batches to it"):
        wrong.next_pointers(["K"])


@pytest.mark.parametrize(("precision", "atol", "agreement"), [("fp32", 1e-3, 0.999), ("fp16", 5e-2, 0.98), ("int8", None, 0.8)])
def test_tensorrt_engines_match_onnx_runtime_on_a_gpu(tiny_model, tiny_onnx, tmp_path, precision, atol, agreement):
    pytest.importorskip("tensorrt", reason="TensorRT runs only on the GPU machine / GPU image")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA device")
    from panoptic_perception.inference import EngineCache

    runner = PanopticRunner(OnnxRuntimeBackend(tiny_onnx, use_gpu=False), tiny_model.config, bucket=4096)
    calibration = [runner.inputs(b) for b in tiny_model.batches]
    cache = EngineCache(tmp_path / "engines")
    trt_backend = TensorRTBackend(
        tiny_onnx, precision, PointProfile(1024, 4096, 8192), cache, calibration_batches=calibration
    )
    assert trt_backend.entry.built and len(list(cache.directory.glob("timing-*.cache"))) == 1
    again = TensorRTBackend(tiny_onnx, precision, PointProfile(1024, 4096, 8192), cache, calibration_batches=calibration)
    assert not again.entry.built
    trt_runner = PanopticRunner(trt_backend, tiny_model.config, bucket=4096)
    for batch in tiny_model.batches:
        inputs = runner.inputs(batch)
        expected, got = runner.backend.run(inputs), trt_backend.run(inputs)
        if atol is not None:
            np.testing.assert_allclose(got["class_logits"], expected["class_logits"], atol=atol)
        (p_ref,), (p_trt,) = runner.predict(batch), trt_runner.predict(batch)
        assert (p_ref.class_id == p_trt.class_id).float().mean() >= agreement
