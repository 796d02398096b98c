"""Camera-only stage: DeepDPS on each camera image -> a 3D panoptic cloud in the LiDAR frame.

The fallback of the stack when the LiDAR is missing or degraded: per camera, depth-aware panoptic
segmentation (class, instance, score, dense depth and its uncertainty), then every ``stride``-th
pixel back-projected with its depth (``models.deepdps.prediction_to_cloud``). The clouds of all
cameras are concatenated. ``dense_depth`` gives the learned metric depth of one image alone (the
odometry's inverse-depth initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .core import CameraModel, PanopticCloud, SensorFrame


class CameraOnlyConfigError(ValueError):
    """A camera-only configuration value is missing or out of range."""


@dataclass
class CameraOnlyConfig:
    model_dir: str = ""  # DeepDPS model.json + weights.safetensors; "" = no camera-only fallback
    stride: int = 4  # back-project every stride-th row and column
    max_depth: float = 80.0  # [m] pixels predicted farther are dropped
    max_uncertainty: float = 1.0  # pixels with a larger relative depth spread are dropped (1 keeps all)
    threads: int = 2

    def __post_init__(self) -> None:
        if self.stride < 1 or self.threads < 1:
            raise CameraOnlyConfigError(f"camera_only.stride and threads must be >= 1, got {self.stride}, {self.threads}")
        if self.max_depth <= 0:
            raise CameraOnlyConfigError(f"camera_only.max_depth must be > 0, got {self.max_depth}")
        if not 0.0 <= self.max_uncertainty <= 1.0:
            raise CameraOnlyConfigError(f"camera_only.max_uncertainty must be in [0, 1], got {self.max_uncertainty}")

    @property
    def enabled(self) -> bool:
        return bool(self.model_dir)


def load_deepdps(model_dir: str | Path) -> Any:
    """The DeepDPS network of ``model_dir`` in eval mode; a clear error when it is not a DeepDPS model."""
    from .models import load_model
    from .models.deepdps import DeepDPS  # noqa: F401  (registers the "deepdps" architecture)

    if not (Path(model_dir) / "model.json").is_file():
        raise CameraOnlyConfigError(f"camera_only.model_dir: no model.json in {model_dir}")
    return load_model(model_dir, architecture="deepdps").eval()


def image_tensor(rgb: np.ndarray) -> Any:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]."""
    import torch

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise CameraOnlyConfigError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255.0)


def dense_depth(model: Any, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Learned metric depth [m] along the optical axis (H, W) float32 and its relative uncertainty in [0, 1)."""
    import torch

    with torch.inference_mode():
        prediction = model.predict(image_tensor(rgb))[0]
    return prediction.depth.numpy().astype(np.float32), prediction.uncertainty.numpy().astype(np.float32)


def depth_init_from(model_dir: str | Path) -> Any:
    """RGB -> DeepDPS metric depth [m]: the odometry's inverse-depth initialisation beyond the LiDAR."""
    model = load_deepdps(model_dir)
    return lambda rgb: dense_depth(model, rgb)[0]


class CameraOnlyStage:
    """DeepDPS per camera image, back-projected into the LiDAR frame."""

    def __init__(self, model: Any, stride: int = 4, max_depth: float = 80.0, max_uncertainty: float = 1.0) -> None:
        self.model = model
        self.stride, self.max_depth, self.max_uncertainty = stride, max_depth, max_uncertainty

    @classmethod
    def from_config(cls, config: CameraOnlyConfig) -> CameraOnlyStage:
        import torch

        torch.set_num_threads(config.threads)
        return cls(load_deepdps(config.model_dir), config.stride, config.max_depth, config.max_uncertainty)

    def camera_cloud(self, rgb: np.ndarray, camera: CameraModel, stamp_ns: int, frame_id: str) -> PanopticCloud:
        """One image -> its panoptic cloud (x, y, z in ``frame_id``, intensity 0)."""
        import torch

        from .models.deepdps import camera_panoptic_cloud

        if rgb.shape[:2] != (camera.height, camera.width):
            raise CameraOnlyConfigError(f"camera {camera.name}: image is {rgb.shape[1]}x{rgb.shape[0]}, "
                                        f"its camera_info says {camera.width}x{camera.height}")
        with torch.inference_mode():
            p = self.model.predict(image_tensor(rgb))[0]
        depth = torch.where(p.uncertainty <= self.max_uncertainty, p.depth, torch.zeros_like(p.depth))  # 0 = dropped
        return camera_panoptic_cloud(camera, p.class_id, p.instance_id, p.score, depth, p.uncertainty, self.stride,
                                     stamp_ns, frame_id, self.max_depth)

    def process(self, frame: SensorFrame) -> PanopticCloud:
        """Every camera image of ``frame`` (its LiDAR points are not used), clouds concatenated in camera-name order."""
        if not frame.cameras:
            raise CameraOnlyConfigError("camera-only stage: the frame has no camera image")
        clouds = [self.camera_cloud(image.rgb, image.camera, frame.stamp_ns, frame.lidar_frame)
                  for _, image in sorted(frame.cameras.items())]
        return _concatenate(clouds, frame.stamp_ns, frame.lidar_frame)


def _concatenate(clouds: list[PanopticCloud], stamp_ns: int, frame_id: str) -> PanopticCloud:
    """Clouds of several cameras as one; instance ids are made distinct per camera (offset by camera index)."""
    offset, instances = 0, []
    for c in clouds:
        instances.append(np.where(c.instance_id > 0, c.instance_id + offset, 0).astype(np.uint32))
        offset += int(c.instance_id.max(initial=0))
    return PanopticCloud(
        stamp_ns=stamp_ns,
        points=np.concatenate([c.points for c in clouds]),
        class_id=np.concatenate([c.class_id for c in clouds]),
        instance_id=np.concatenate(instances),
        score=np.concatenate([c.score for c in clouds]),
        uncertainty=np.concatenate([c.uncertainty for c in clouds]),
        frame_id=frame_id,
    )
