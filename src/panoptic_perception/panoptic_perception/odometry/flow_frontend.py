"""Optical-flow front ends behind one interface, with forward-backward consistency as confidence."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .errors import OdometryInputError


@runtime_checkable
class FlowEstimator(Protocol):
    """Dense flow from img0 to img1, ``img1(x + flow(x)) ~ img0(x)``.

    Returns flow (H, W, 2) float32 [px] as (dx, dy) and confidence (H, W) in [0, 1].
    """

    def __call__(self, img0: np.ndarray, img1: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def _gray(img: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise OdometryInputError(f"{name}: expected a uint8 (H, W) or (H, W, 3) RGB image, got {img.dtype} {img.shape}")
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img.reshape(img.shape[:2]))


def forward_backward_confidence(flow_fw: np.ndarray, flow_bw: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-|f_fw(x) + f_bw(x + f_fw(x))|^2 / sigma^2)``; 0 where x + f_fw(x) leaves the image."""
    ht, wd = flow_fw.shape[:2]
    u, v = np.meshgrid(np.arange(wd, dtype=np.float32), np.arange(ht, dtype=np.float32))
    map_x, map_y = u + flow_fw[..., 0], v + flow_fw[..., 1]
    bw_at_target = cv2.remap(flow_bw, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
    cycle = np.sum((flow_fw + bw_at_target) ** 2, axis=-1)
    inside = (map_x >= 0) & (map_x <= wd - 1) & (map_y >= 0) & (map_y <= ht - 1)
    return (np.exp(-cycle / sigma**2) * inside).astype(np.float32)


class DISFlow:
    """OpenCV's Dense Inverse Search flow (Kroeger et al., ECCV 2016), run both ways for a confidence.

    ``sigma`` [px] is the forward-backward cycle error at which confidence falls to 1/e.
    """

    PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

    def __init__(self, preset: str = "medium", sigma: float = 0.5) -> None:
        if preset not in self.PRESETS:
            raise OdometryInputError(f"preset: expected one of {sorted(self.PRESETS)}, got {preset!r}")
        if sigma <= 0:
            raise OdometryInputError(f"sigma: must be positive, got {sigma}")
        self.sigma = sigma
        self._dis = cv2.DISOpticalFlow_create(self.PRESETS[preset])

    def __call__(self, img0: np.ndarray, img1: np.ndarray, init: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``init`` (H, W, 2): optional initial forward flow (e.g. predicted from pose and depth); DIS refines it.

        Large forward-motion flows (road near the camera) come out too short from a zero start; a
        geometric prediction removes that bias. The backward pass starts from ``-init``. (OpenCV's DIS
        refines a flow passed to ``calc`` when it has the image's size and is float32 with 2 channels.)
        """
        g0, g1 = _gray(img0, "img0"), _gray(img1, "img1")
        if g0.shape != g1.shape:
            raise OdometryInputError(f"img1: expected the size of img0 {g0.shape}, got {g1.shape}")
        if init is None:
            flow_fw = self._dis.calc(g0, g1, None)
            flow_bw = self._dis.calc(g1, g0, None)
        else:
            init = np.asarray(init, dtype=np.float32)
            if init.shape != (*g0.shape, 2):
                raise OdometryInputError(f"init: expected {(*g0.shape, 2)}, got {init.shape}")
            flow_fw = self._dis.calc(g0, g1, init.copy())
            flow_bw = self._dis.calc(g1, g0, -init)
        return flow_fw, forward_backward_confidence(flow_fw, flow_bw, self.sigma)
