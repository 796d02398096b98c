"""One training schema with nested sections (data, model, optim, train), filled from YAML.

The same dotted names are used in YAML, on the command line (``train.steps=200``) and in the
effective ``config.yaml`` written next to every run.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import TrainingConfigError

LIGHT_NAMES = ("day", "dusk", "night")
TASKS = ("panoptic", "camera_pretrain", "deepdps", "flow")
DEPTH_SUPERVISION = ("dense", "lidar", "both")


@dataclass
class DataConfig:
    rig: str = "hdl32-front"
    split: str = "train"
    first_sequence: int = 0  # index into the split's seed range
    num_sequences: int = 100
    frames_per_sequence: int = 3
    light_weights: tuple[float, ...] = (0.45, 0.25, 0.3)  # day, dusk, night, drawn per sequence from its seed
    dynamic_share_range: tuple[float, ...] = (0.0, 1.0)  # uniform per sequence
    cache_dir: str = "data/cache/upfuse"
    rotate_z_deg: float = 180.0  # random yaw of the cloud, composed into T_cam_lidar
    flip_y_prob: float = 0.5  # mirror y; the camera image and K are mirrored to match
    image_scale: float = 1.0  # flow task: cameras rendered at this fraction of the rig's image size

    def validate(self) -> None:
        if self.num_sequences < 1 or self.frames_per_sequence < 1 or self.first_sequence < 0:
            raise TrainingConfigError("data.num_sequences and data.frames_per_sequence must be >= 1, data.first_sequence >= 0")
        if len(self.light_weights) != len(LIGHT_NAMES) or min(self.light_weights) < 0 or sum(self.light_weights) <= 0:
            raise TrainingConfigError(f"data.light_weights needs 3 non-negative weights ({', '.join(LIGHT_NAMES)})")
        lo_hi = self.dynamic_share_range
        if len(lo_hi) != 2 or not 0.0 <= lo_hi[0] <= lo_hi[1] <= 1.0:
            raise TrainingConfigError(f"data.dynamic_share_range must be [lo, hi] within [0, 1], got {list(lo_hi)}")
        if not 0.0 <= self.flip_y_prob <= 1.0:
            raise TrainingConfigError(f"data.flip_y_prob must be in [0, 1], got {self.flip_y_prob}")
        if not 0.0 <= self.rotate_z_deg <= 180.0:
            raise TrainingConfigError(f"data.rotate_z_deg must be in [0, 180], got {self.rotate_z_deg}")
        if not 0.0 < self.image_scale <= 1.0:
            raise TrainingConfigError(f"data.image_scale must be in (0, 1], got {self.image_scale}")


@dataclass
class ModelConfig:
    preset: str = "cpu_default"  # UPFuseConfig preset: cpu_default | gpu_large
    fusion: str = "upfuse"  # registry name: upfuse | concat
    use_camera: bool = True  # False trains the LiDAR-only network (every camera marked missing)
    architecture: dict[str, Any] = field(default_factory=dict)  # UPFuseConfig fields overriding the preset
    camera_encoder_weights: str = ""  # safetensors of a camera pre-training run ("" = random init)
    freeze_camera_encoder: bool = True
    # Fine-tuning: a model directory (model.json + weights.safetensors) whose weights start the run; parts
    # the saved model lacks (a tracking head added by ``architecture``) start from random initialisation.
    init_weights: str = ""
    # With init_weights: train only the parts it lacks (the tracking head) on the frozen network, run in eval
    # mode (BatchNorm statistics kept), so the loaded weights ship unchanged; the panoptic losses are skipped.
    freeze_pretrained: bool = False

    def validate(self) -> None:
        if self.freeze_pretrained and not self.init_weights:
            raise TrainingConfigError("model.freeze_pretrained needs model.init_weights (the weights to keep)")
        if self.preset not in ("cpu_default", "gpu_large"):
            raise TrainingConfigError(f"model.preset must be cpu_default or gpu_large, got {self.preset!r}")


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    poly_power: float = 0.9  # lr = base * (1 - step / steps) ** power after warm-up
    grad_clip: float = 1.0
    pretrained_lr_scale: float = 1.0  # lr multiplier of the weights loaded from model.init_weights (fine-tuning)

    def validate(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.warmup_steps < 0 or self.grad_clip <= 0:
            raise TrainingConfigError("optim.lr and optim.grad_clip must be > 0, weight_decay and warmup_steps >= 0")
        if self.pretrained_lr_scale < 0:
            raise TrainingConfigError(f"optim.pretrained_lr_scale must be >= 0, got {self.pretrained_lr_scale}")


@dataclass
class TrainConfig:
    task: str = "panoptic"  # panoptic | camera_pretrain | deepdps | flow
    steps: int = 1000
    batch_size: int = 2  # per process
    seed: int = 0
    threads: int = 2  # torch intra-op threads per process
    out_dir: str = "runs/upfuse_cpu"
    checkpoint_every: int = 250
    log_every: int = 10
    loss_points: int = 2048  # points sampled per mask by the set loss
    instability_weight: float = 1.0
    camera_augmentation: bool = True  # train on corrupted images (augment_camera) + instability loss
    # False: the panoptic loss sees the clean image; the corrupted one only trains the instability heads
    corrupt_panoptic_input: bool = True
    # > 0: the corrupted batch also gets calibration drift (random_extrinsic_drift, up to this angle [deg],
    # each camera with probability 1/2), so the instability target includes misregistered camera features
    extrinsic_drift_deg: float = 0.0
    # False: the drift trains only the instability heads; the panoptic loss sees the corrupted images with the
    # true calibration (the same input a fusion without instability heads is trained on)
    drift_panoptic_input: bool = True
    # MOPT tracking head: batch_size mini-sequences of tracking_window consecutive frames per step and the
    # batch-hard triplet loss over their ground-truth instances (0 = frame batches, no triplet loss).
    tracking_window: int = 0
    triplet_weight: float = 1.0
    triplet_margin: float = 0.2
    triplet_min_points: int = 5  # ground-truth instances with fewer points in a frame are not pooled
    loss_weights: dict[str, Any] = field(default_factory=dict)  # deepdps / flow: loss weight fields overriding the defaults
    depth_supervision: str = "dense"  # deepdps: dense (rendered) | lidar (projected sweep) | both
    label_stride: int = 1  # deepdps: labels subsampled by this factor (the loss grid; images stay full size)

    def validate(self) -> None:
        if self.task not in TASKS:
            raise TrainingConfigError(f"train.task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.steps < 1 or self.batch_size < 1 or self.threads < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise TrainingConfigError("train.steps, batch_size, threads, checkpoint_every and log_every must be >= 1")
        if self.instability_weight < 0:
            raise TrainingConfigError(f"train.instability_weight must be >= 0, got {self.instability_weight}")
        if not 0 <= self.extrinsic_drift_deg <= 45:
            raise TrainingConfigError(f"train.extrinsic_drift_deg must be in [0, 45], got {self.extrinsic_drift_deg}")
        if self.extrinsic_drift_deg > 0 and not self.camera_augmentation:
            raise TrainingConfigError("train.extrinsic_drift_deg drifts the corrupted batch: it needs train.camera_augmentation")
        if self.tracking_window == 1 or self.tracking_window < 0:
            raise TrainingConfigError(f"train.tracking_window must be 0 (off) or >= 2, got {self.tracking_window}")
        if self.triplet_weight < 0 or self.triplet_margin < 0 or self.triplet_min_points < 1:
            raise TrainingConfigError("train.triplet_weight and triplet_margin must be >= 0, triplet_min_points >= 1")
        if self.depth_supervision not in DEPTH_SUPERVISION:
            raise TrainingConfigError(f"train.depth_supervision must be one of {', '.join(DEPTH_SUPERVISION)}, "
                                      f"got {self.depth_supervision!r}")
        if self.label_stride < 1:
            raise TrainingConfigError(f"train.label_stride must be >= 1, got {self.label_stride}")


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> ExperimentConfig:
        for section in (self.data, self.model, self.optim, self.train):
            section.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section in dataclasses.fields(self):
            values = dataclasses.asdict(getattr(self, section.name))
            out[section.name] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return out

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the field's declared type; ``name`` is the dotted field name for errors."""
    tp = typing.get_origin(annotation) or annotation
    if tp is dict:
        if not isinstance(value, dict):
            raise TrainingConfigError(f"{name}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise TrainingConfigError(f"{name}: expected a list, got {value!r}")
        return tuple(float(v) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise TrainingConfigError(f"{name}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool) or (tp is int and isinstance(value, float) and not value.is_integer()):
            raise TrainingConfigError(f"{name}: expected {tp.__name__}, got {value!r}")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise TrainingConfigError(f"{name}: expected {tp.__name__}, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str):
            raise TrainingConfigError(f"{name}: expected a string, got {value!r}")
        return value
    raise TrainingConfigError(f"{name}: unsupported field type {annotation!r}")  # pragma: no cover


def _set_field(section: Any, key: str, value: Any, name: str) -> None:
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise TrainingConfigError(f"unknown config field {name!r}; known in this section: {known}")
    setattr(section, key, _coerce(value, hints[key], name))


def config_from_dict(doc: Any, source: str = "config") -> ExperimentConfig:
    """Build and validate a config from a nested mapping; unknown sections or fields are errors."""
    if not isinstance(doc, dict):
        raise TrainingConfigError(f"{source}: expected a mapping with sections data, model, optim, train")
    config = ExperimentConfig()
    for section_name, values in doc.items():
        if section_name not in ("data", "model", "optim", "train"):
            raise TrainingConfigError(f"{source}: unknown section {section_name!r}; sections: data, model, optim, train")
        if not isinstance(values, dict):
            raise TrainingConfigError(f"{source}: section {section_name!r} must be a mapping")
        section = getattr(config, section_name)
        for key, value in values.items():
            try:
                _set_field(section, key, value, f"{section_name}.{key}")
            except TrainingConfigError as err:
                raise TrainingConfigError(f"{source}: {err}") from None
    try:
        return config.validate()
    except TrainingConfigError as err:
        raise TrainingConfigError(f"{source}: {err}") from None


def apply_overrides(config: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Apply dotted ``section.field=value`` overrides (values parsed as YAML scalars/lists)."""
    for item in overrides:
        if "=" not in item:
            raise TrainingConfigError(f"override {item!r}: expected section.field=value")
        key, raw = item.split("=", 1)
        parts = key.split(".")
        if len(parts) < 2 or parts[0] not in ("data", "model", "optim", "train"):
            raise TrainingConfigError(f"override {item!r}: expected section.field with section in data, model, optim, train")
        value = yaml.safe_load(raw) if raw else ""
        section = getattr(config, parts[0])
        if len(parts) == 3 and parts[1] == "architecture" and parts[0] == "model":
            config.model.architecture[parts[2]] = value
            continue
        if len(parts) == 3 and parts[1] == "loss_weights" and parts[0] == "train":
            config.train.loss_weights[parts[2]] = value
            continue
        if len(parts) != 2:
            raise TrainingConfigError(
                f"override {item!r}: nested names are only allowed for model.architecture.<field> and train.loss_weights.<field>"
            )
        _set_field(section, parts[1], value, key)
    return config.validate()


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config and apply overrides."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise TrainingConfigError(f"{path}: cannot read config: {err}") from err
    return apply_overrides(config_from_dict(doc or {}, source=str(path)), overrides or [])
