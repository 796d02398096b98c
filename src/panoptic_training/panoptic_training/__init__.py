"""Offline training, evaluation and export of the panoptic perception models."""

from .augmentation import augment_sample, flip_y, rotate_z
from .camera_pretrain import CameraSemanticModel, camera_semantic_loss
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import DataConfig, ExperimentConfig, ModelConfig, OptimConfig, TrainConfig, apply_overrides, load_config
from .data import SyntheticPanopticDataset, TrainBatch, collate_samples, ensure_cache, scene_for_seed
from .errors import CheckpointError, TrainingConfigError, TrainingDataError, TrainingError
from .export import export_run, model_from_run
from .trainer import RunSummary, Trainer, build_model_config

__version__ = "0.1.0"

__all__ = [
    "CameraSemanticModel",
    "CheckpointError",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "OptimConfig",
    "RunSummary",
    "SyntheticPanopticDataset",
    "TrainBatch",
    "TrainConfig",
    "Trainer",
    "TrainingConfigError",
    "TrainingDataError",
    "TrainingError",
    "apply_overrides",
    "augment_sample",
    "build_model_config",
    "camera_semantic_loss",
    "collate_samples",
    "ensure_cache",
    "export_run",
    "flip_y",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "model_from_run",
    "rotate_z",
    "save_checkpoint",
    "scene_for_seed",
]
