"""One synchronized frame through all stages; used by the ROS nodes and by offline replay alike.

    SensorFrame -> FusionStage (UP-Fuse: class, instance, score, camera uncertainty per point)
                -> detections of thing instances -> PanopticTracker (track ids, boxes, velocities)
                -> FrameResult

Missing cameras are passed to the network as invalid slots, so the fusion falls back to the
LiDAR path; the result says which cameras contributed and why a frame ran degraded.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .camera_only import CameraOnlyConfig, CameraOnlyStage
from .core import CameraModel, PanopticCloud, SensorFrame, StageTimer, load_class_table
from .tracking import (
    Detection,
    PanopticTracker,
    TrackerConfig,
    TrackOutput,
    assign_track_ids,
    matches_of,
    segment_detections,
)

MODE_FUSION, MODE_LIDAR_ONLY, MODE_DEGRADED = "fusion", "lidar_only", "degraded"
MODE_CAMERA_ONLY = "camera_only"  # no LiDAR: DeepDPS per camera, back-projected (camera_only.py)


class PipelineConfigError(ValueError):
    """A pipeline configuration value is missing, unknown or out of range."""


@dataclass
class FusionConfig:
    model_dir: str = "models/upfuse_cpu"
    cameras: list[str] = field(default_factory=lambda: ["front"])  # camera slots of the network, in order
    backend: str = "onnxruntime"  # inference.BACKENDS name: onnxruntime | torch | torch_compile | tensorrt
    image_size: list[int] = field(default_factory=lambda: [376, 1241])  # camera height, width (ONNX/TensorRT graphs are fixed)
    threads: int = 2  # intra-op threads of the backend
    min_instance_points: int = 5  # thing instances with fewer points are not handed to the tracker

    def __post_init__(self) -> None:
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise PipelineConfigError(f"fusion.cameras must be a non-empty list of distinct names, got {self.cameras!r}")
        if self.threads < 1 or self.min_instance_points < 1:
            raise PipelineConfigError("fusion.threads and fusion.min_instance_points must be >= 1")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise PipelineConfigError(f"fusion.image_size must be [height, width], got {self.image_size!r}")


@dataclass
class PipelineConfig:
    fusion: FusionConfig = field(default_factory=FusionConfig)
    # The shipped network has the MOPT head, but its vectors do not beat 3D motion on the test drives
    # (docs/tracking.md, Evaluation): associate by motion unless configured otherwise.
    tracking: TrackerConfig = field(default_factory=lambda: TrackerConfig(association="centroid_kalman"))
    camera_only: CameraOnlyConfig = field(default_factory=CameraOnlyConfig)  # the fallback when the LiDAR is missing

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        """Nested sections ``fusion``, ``tracking`` and ``camera_only``; unknown keys are errors."""
        unknown = set(data) - {"fusion", "tracking", "camera_only"}
        if unknown:
            raise PipelineConfigError(f"unknown pipeline section(s): {', '.join(sorted(unknown))}")
        fusion = data.get("fusion", {})
        names = {f.name for f in dataclasses.fields(FusionConfig)}
        if set(fusion) - names:
            raise PipelineConfigError(f"unknown fusion key(s): {', '.join(sorted(set(fusion) - names))}")
        tracking = {"association": "centroid_kalman", **data.get("tracking", {})}
        camera_only = data.get("camera_only", {})
        names = {f.name for f in dataclasses.fields(CameraOnlyConfig)}
        if set(camera_only) - names:
            raise PipelineConfigError(f"unknown camera_only key(s): {', '.join(sorted(set(camera_only) - names))}")
        return cls(FusionConfig(**fusion), TrackerConfig.from_dict(tracking), CameraOnlyConfig(**camera_only))


CoreOutputs = tuple[dict[str, np.ndarray], np.ndarray]  # the network core's outputs, the padded points' validity


@dataclass
class InferredFrame:
    """A sweep between ``PerceptionPipeline.infer`` and ``complete``: the network core's outputs."""

    frame: SensorFrame
    core: CoreOutputs
    network_ms: float  # time of ``infer``, counted in the "fusion" stage


@dataclass
class FrameResult:
    """What one sweep produced, plus how it was produced."""

    cloud: PanopticCloud  # with track_id filled
    tracks: list[TrackOutput]
    latency_ms: dict[str, float]
    cameras_used: tuple[str, ...]
    cameras_missing: tuple[str, ...]
    mode: str
    reason: str


class FusionStage:
    """UP-Fuse on one sweep and its camera images, through an inference backend."""

    def __init__(self, runner: Any, camera_names: list[str], image_size: tuple[int, int]) -> None:
        import torch

        self.runner = runner  # inference.PanopticRunner
        self.camera_names = list(camera_names)
        self.image_size = tuple(image_size)
        self._torch = torch
        self._known: dict[str, CameraModel] = {}

    @classmethod
    def from_config(cls, config: FusionConfig, association_vectors: bool = True) -> FusionStage:
        """``association_vectors=False`` leaves the model's tracking head out (no vectors are pooled): for an
        association that reads none."""
        import torch

        from .inference import ExportShapes, PanopticRunner, load_backend

        torch.set_num_threads(config.threads)
        if not (Path(config.model_dir) / "model.json").is_file():
            raise PipelineConfigError(f"fusion.model_dir: no model.json in {config.model_dir}")
        options = {"intra_op_threads": config.threads} if config.backend == "onnxruntime" else {}
        height, width = config.image_size
        shapes = ExportShapes(num_cameras=len(config.cameras), image_height=height, image_width=width)
        artifacts, backend = load_backend(config.model_dir, config.backend, export_shapes=shapes, **options)
        head = artifacts.model.tracking_head if association_vectors else None
        return cls(PanopticRunner(backend, artifacts.config, tracking_head=head), config.cameras, (height, width))

    def _camera_tensors(self, frame: SensorFrame) -> tuple[Any, Any, Any, Any]:
        torch = self._torch
        present = [frame.cameras[n] for n in self.camera_names if n in frame.cameras]
        for image in present:
            if image.rgb.shape[:2] != self.image_size:
                raise PipelineConfigError(f"camera {image.camera.name}: image is {image.rgb.shape[1]}x{image.rgb.shape[0]}, "
                                          f"fusion.image_size expects {self.image_size[1]}x{self.image_size[0]}")
            self._known[image.camera.name] = image.camera
        height, width = self.image_size
        images = torch.zeros(1, len(self.camera_names), 3, height, width)
        K = torch.eye(3).repeat(1, len(self.camera_names), 1, 1)
        T = torch.eye(4).repeat(1, len(self.camera_names), 1, 1)
        valid = torch.zeros(1, len(self.camera_names), dtype=torch.bool)
        for k, name in enumerate(self.camera_names):
            model = self._known.get(name)
            if model is not None:
                K[0, k], T[0, k] = torch.tensor(model.K), torch.tensor(model.T_cam_lidar)
            if name in frame.cameras:
                images[0, k].copy_(torch.from_numpy(frame.cameras[name].rgb).permute(2, 0, 1)).div_(255.0)  # no temporaries
                valid[0, k] = True
        return images, K, T, valid

    @property
    def has_association(self) -> bool:
        """Whether the network has the MOPT tracking head (association vectors per instance)."""
        return self.runner.tracking_head is not None

    def process(self, frame: SensorFrame) -> PanopticCloud:
        return self.run(frame)[0]

    def run(self, frame: SensorFrame) -> tuple[PanopticCloud, np.ndarray | None]:
        """The panoptic cloud and the (K, D) association vectors of its thing instances 1..K (None without a head)."""
        return self.finish(frame, self.infer(frame))

    def infer(self, frame: SensorFrame) -> CoreOutputs:
        """First half of ``run``: camera tensors, range view and the network core (outputs, point validity)."""
        from .models.upfuse import collate

        torch = self._torch
        images, K, T, valid = self._camera_tensors(frame)
        batch = collate([torch.from_numpy(frame.points)], self.runner.config.range_spec, images, K, T, valid)
        with torch.inference_mode():
            return self.runner.run_core(batch)

    def finish(self, frame: SensorFrame, core: CoreOutputs) -> tuple[PanopticCloud, np.ndarray | None]:
        """Second half of ``run``: panoptic post-processing of ``infer``'s core outputs into the cloud."""
        torch = self._torch
        with torch.inference_mode():
            prediction = self.runner.predictions(*core)[0]
        n = len(frame.points)
        uncertainty = prediction.uncertainty.numpy() if prediction.uncertainty is not None else np.ones(n)
        association = prediction.association.numpy() if prediction.association is not None else None
        cloud = PanopticCloud(
            stamp_ns=frame.stamp_ns,
            points=frame.points,
            class_id=prediction.class_id.numpy().astype(np.uint16),
            instance_id=prediction.instance_id.numpy().astype(np.uint32),
            score=prediction.score.numpy().astype(np.float32),
            uncertainty=np.asarray(uncertainty, dtype=np.float32),
            frame_id=frame.lidar_frame,
        )
        return cloud, association


def thing_detections(cloud: PanopticCloud, is_thing: np.ndarray, min_points: int,
                     association: np.ndarray | None = None) -> list[Detection]:
    """One detection per thing instance of the cloud with at least ``min_points`` points.

    ``association`` (K, D): row k is the association vector of instance id k + 1 (``FusionStage.run``).
    """
    return segment_detections(cloud.points, cloud.instance_id, cloud.class_id, cloud.score, association, min_points,
                              keep_class=is_thing)


class PerceptionPipeline:
    """Fusion then tracking, timed per stage; without LiDAR points, the camera-only stage instead of fusion."""

    def __init__(self, fusion: FusionStage, tracker: PanopticTracker, min_instance_points: int = 5,
                 camera_only: CameraOnlyStage | None = None) -> None:
        self.fusion = fusion
        self.camera_only = camera_only
        self.tracker = tracker
        self.min_instance_points = min_instance_points
        self._is_thing = load_class_table().is_thing_lut()

    @classmethod
    def from_config(cls, config: PipelineConfig) -> PerceptionPipeline:
        camera_only = CameraOnlyStage.from_config(config.camera_only) if config.camera_only.enabled else None
        tracker = PanopticTracker.from_config(config.tracking)
        # the configured association decides (embedding_motion with vector weight 0 reads no vectors, so the head's
        # pooling is skipped: 1-2 ms per sweep)
        fusion = FusionStage.from_config(config.fusion, association_vectors=tracker.association.uses_embeddings)
        if tracker.reid is not None and not fusion.has_association and not tracker.association.cost_reads_vectors:
            # Re-identification is an add-on of an association that tracks without vectors: a model without the head
            # tracks without it instead of failing (as with reid_frames 0).
            logging.getLogger(__name__).warning(
                "%s has no tracking head: re-identification (tracking.reid_frames %d) is off", config.fusion.model_dir,
                config.tracking.reid_frames)
            tracker = PanopticTracker.from_config(dataclasses.replace(config.tracking, reid_frames=0))
        if tracker.association.uses_embeddings and not fusion.has_association:
            raise PipelineConfigError(f"tracking.association {config.tracking.association!r} needs a fusion model with the "
                                      f"MOPT tracking head; "
                                      f"{config.fusion.model_dir} has none (model.json tracking_head: false): use "
                                      f"centroid_kalman or point_iou with it")
        return cls(fusion, tracker, config.fusion.min_instance_points, camera_only)

    def process(self, frame: SensorFrame, T_odom_lidar: np.ndarray | None = None, lidar_missing: str = "") -> FrameResult:
        """One frame. A non-empty ``lidar_missing`` reason, or a frame without points when a camera-only model is
        configured, takes the camera-only path."""
        if lidar_missing or (len(frame.points) == 0 and self.camera_only is not None):
            return self.process_camera_only(frame, lidar_missing or "no LiDAR points in the frame")
        return self.complete(self.infer(frame), T_odom_lidar)

    def infer(self, frame: SensorFrame) -> InferredFrame:
        """The first stage of ``process`` (a sweep with points): the network core. Thread-safe against ``complete``
        of an earlier frame, which may run at the same time (``core.two_stage``)."""
        start = time.perf_counter()
        core = self.fusion.infer(frame)
        return InferredFrame(frame, core, (time.perf_counter() - start) * 1e3)

    def complete(self, inferred: InferredFrame, T_odom_lidar: np.ndarray | None = None) -> FrameResult:
        """The second stage of ``process``: post-processing, tracking (frames must come in stamp order)."""
        frame = inferred.frame
        timer = StageTimer()
        used = tuple(n for n in self.fusion.camera_names if n in frame.cameras)
        missing = tuple(n for n in self.fusion.camera_names if n not in frame.cameras)
        with timer.stage("fusion"):
            cloud, association = self.fusion.finish(frame, inferred.core)
        timer.add("fusion", inferred.network_ms)
        with timer.stage("tracking"):
            detections = thing_detections(cloud, self._is_thing, self.min_instance_points, association)
            tracks = self.tracker.update(detections, frame.stamp_ns, T_odom_lidar)
            cloud.track_id = assign_track_ids(len(cloud.points), detections, matches_of(tracks))
        if not used:
            mode, reason = MODE_LIDAR_ONLY, f"no image from camera(s) {', '.join(missing)}"
        elif missing:
            mode, reason = MODE_DEGRADED, f"no image from camera(s) {', '.join(missing)}"
        else:
            mode, reason = MODE_FUSION, ""
        return FrameResult(cloud, tracks, timer.as_dict(), used, missing, mode, reason)

    def process_camera_only(self, frame: SensorFrame, reason: str) -> FrameResult:
        """The LiDAR is missing or degraded (``reason``): DeepDPS on the frame's images, back-projected.

        Not tracked: the tracker's state stays that of the LiDAR sweeps (camera stamps would interleave with
        theirs), so the cloud's track ids are 0 and the result has no tracks."""
        if self.camera_only is None:
            raise PipelineConfigError(f"{reason}, and no camera-only model is configured (camera_only.model_dir)")
        timer = StageTimer()
        with timer.stage("camera_only"):
            cloud = self.camera_only.process(frame)
        cloud.track_id = np.zeros(len(cloud.points), np.uint32)
        missing = tuple(n for n in self.fusion.camera_names if n not in frame.cameras)
        return FrameResult(cloud, [], timer.as_dict(), tuple(sorted(frame.cameras)), missing, MODE_CAMERA_ONLY, reason)
