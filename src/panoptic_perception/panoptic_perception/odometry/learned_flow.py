"""The trained update operator (``models/update_operator_cpu``) as a flow front end, and the front-end registry.

``LearnedFlow`` has ``DISFlow``'s interface: ``flow, confidence = LearnedFlow()(img0, img1)``; the
confidence is the network's P(EPE < 1 px at its input size), and ``estimate`` also returns its
dynamic-mask probability (PVO's M_d). ``make_flow_estimator("dis" | "learned", **kwargs)`` picks one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..models.errors import ModelError
from ..models.io import load_model
from .errors import OdometryInputError
from .flow_frontend import DISFlow, FlowEstimator

DEFAULT_MODEL_DIR = "models/update_operator_cpu"


def _as_rgb(img: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise OdometryInputError(f"{name}: expected a uint8 (H, W) or (H, W, 3) RGB image, got {img.dtype} {img.shape}")
    if img.ndim == 2 or img.shape[2] == 1:
        return np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    return img


class LearnedFlow:
    """The update operator of ``model_dir`` (safetensors + JSON) on an image pair.

    ``width``: the network's input width; ``None`` = the width it was trained at (``input_width`` of
    ``model.json``), 0 = the images' own. Inputs are area-resized to it (aspect kept) and the flow is
    resized back with its vectors scaled. ``iterations``: update iterations (``None`` = the model's).
    """

    def __init__(self, model_dir: str | Path = DEFAULT_MODEL_DIR, width: int | None = None, iterations: int | None = None,
                 device: str = "cpu") -> None:
        try:
            self.model = load_model(model_dir, device=device, architecture="update_operator")
        except ModelError as err:
            raise OdometryInputError(f"model_dir: cannot load the learned flow model: {err}") from err
        self.width = self.model.config.input_width if width is None else int(width)
        if self.width < 0 or (0 < self.width < 16):
            raise OdometryInputError(f"width: expected 0 (native) or >= 16, got {self.width}")
        if iterations is not None and iterations < 1:
            raise OdometryInputError(f"iterations: must be >= 1, got {iterations}")
        self.iterations = iterations
        self.device = torch.device(device)

    def _resized(self, img: np.ndarray) -> np.ndarray:
        height, width = img.shape[:2]
        if self.width in (0, width):
            return img
        size = (self.width, max(round(height * self.width / width), 8))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA if self.width < width else cv2.INTER_LINEAR)

    def estimate(self, img0: np.ndarray, img1: np.ndarray,
                 init: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flow (H, W, 2) [px], confidence (H, W), dynamic-mask probability (H, W)), all float32.

        ``init`` (H, W, 2) [px]: optional flow to start the update iterations from (e.g. the flow the
        predicted pose and depth induce), as DROID-SLAM starts from its reprojection.
        """
        rgb0, rgb1 = _as_rgb(img0, "img0"), _as_rgb(img1, "img1")
        if rgb0.shape != rgb1.shape:
            raise OdometryInputError(f"img1: expected the size of img0 {rgb0.shape[:2]}, got {rgb1.shape[:2]}")
        height, width = rgb0.shape[:2]
        net0, net1 = self._resized(rgb0), self._resized(rgb1)
        h_net, w_net = net0.shape[:2]
        flow_init = None
        if init is not None:
            init = np.asarray(init, dtype=np.float32)
            if init.shape != (height, width, 2) or not np.isfinite(init).all():
                raise OdometryInputError(f"init: expected a finite {(height, width, 2)} flow, got {init.shape}")
            if (h_net, w_net) != (height, width):
                init = cv2.resize(init, (w_net, h_net), interpolation=cv2.INTER_AREA)
                init = init * np.array([w_net / width, h_net / height], dtype=np.float32)
            flow_init = torch.from_numpy(np.ascontiguousarray(init)).permute(2, 0, 1)[None].to(self.device)

        def tensor(img: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(img).permute(2, 0, 1)[None].float().div(255.0).to(self.device)

        with torch.inference_mode():
            pred = self.model(tensor(net0), tensor(net1), iterations=self.iterations, all_iterations=False, flow_init=flow_init)
        flow = pred.flow[0].permute(1, 2, 0).cpu().numpy()
        confidence = pred.confidence[0, 0].cpu().numpy()
        dynamic = pred.dynamic[0, 0].cpu().numpy()
        if (h_net, w_net) != (height, width):
            flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
            flow *= np.array([width / w_net, height / h_net], dtype=np.float32)
            confidence = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
            dynamic = cv2.resize(dynamic, (width, height), interpolation=cv2.INTER_LINEAR)
        return flow.astype(np.float32), confidence.astype(np.float32), dynamic.astype(np.float32)

    # No ``init`` here on purpose: the odometry stage passes its pose-predicted flow to front ends whose
    # ``__call__`` takes one, and starting from it made this network worse (docs/odometry.md, "guided" rows).
    def __call__(self, img0: np.ndarray, img1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flow, confidence, _ = self.estimate(img0, img1)
        return flow, confidence


FLOW_ESTIMATORS: dict[str, Callable[..., FlowEstimator]] = {"dis": DISFlow, "learned": LearnedFlow}


def make_flow_estimator(name: str = "dis", **kwargs: Any) -> FlowEstimator:
    """A flow front end by registry name (``FLOW_ESTIMATORS``) with its constructor's keyword arguments."""
    if name not in FLOW_ESTIMATORS:
        raise OdometryInputError(f"flow estimator: expected one of {sorted(FLOW_ESTIMATORS)}, got {name!r}")
    return FLOW_ESTIMATORS[name](**kwargs)
