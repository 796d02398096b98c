"""Readers for evaluation inputs: SemanticKITTI ``.label`` files and KITTI pose files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core import load_class_table
from ..core.labels import INSTANCE_SHIFT, SEMANTIC_MASK
from .errors import EvalDataError


def read_label_file(path: Path, raw_to_train: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train semantic uint16, instance uint32) from a SemanticKITTI ``.label`` (uint32 raw | inst << 16)."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype="<u4")
    except OSError as err:
        raise EvalDataError(f"{path}: cannot read label file: {err}") from err
    if path.stat().st_size % 4:
        raise EvalDataError(f"{path}: size {path.stat().st_size} is not a multiple of 4 bytes")
    lut = load_class_table().raw_to_train_lut() if raw_to_train is None else raw_to_train
    return lut[raw & SEMANTIC_MASK], (raw >> INSTANCE_SHIFT).astype(np.uint32)


def label_pairs(gt_root: Path, pred_root: Path, sequence: str) -> list[tuple[Path, Path]]:
    """Matching (prediction, ground truth) label files of one sequence; errors name what is missing."""
    gt_dir = Path(gt_root) / "sequences" / sequence / "labels"
    pred_dir = Path(pred_root) / "sequences" / sequence / "predictions"
    for d in (gt_dir, pred_dir):
        if not d.is_dir():
            raise EvalDataError(f"missing directory {d}")
    gt_files = sorted(gt_dir.glob("*.label"))
    pred_files = sorted(pred_dir.glob("*.label"))
    if not gt_files:
        raise EvalDataError(f"{gt_dir}: no .label files")
    gt_names, pred_names = [f.name for f in gt_files], [f.name for f in pred_files]
    if gt_names != pred_names:
        missing = sorted(set(gt_names) - set(pred_names))
        extra = sorted(set(pred_names) - set(gt_names))
        raise EvalDataError(f"sequence {sequence}: {len(pred_names)} predictions for {len(gt_names)} labels; "
                            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
    return list(zip(pred_files, gt_files, strict=True))


def iter_frames(gt_root: Path, pred_root: Path, sequence: str
                ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(pred_sem, pred_inst, gt_sem, gt_inst) per scan, checking point counts agree."""
    lut = load_class_table().raw_to_train_lut()
    for pred_file, gt_file in label_pairs(gt_root, pred_root, sequence):
        ps, pi = read_label_file(pred_file, lut)
        gs, gi = read_label_file(gt_file, lut)
        if ps.shape != gs.shape:
            raise EvalDataError(f"{pred_file}: {ps.shape[0]} points, but {gt_file} has {gs.shape[0]}")
        yield ps, pi, gs, gi


def read_kitti_poses(path: Path) -> np.ndarray:
    """(N, 4, 4) poses from a KITTI odometry pose file (12 floats per line, row-major 3x4)."""
    path = Path(path)
    if not path.is_file():
        raise EvalDataError(f"missing pose file {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError as err:
            raise EvalDataError(f"{path}:{n}: not a number: {err}") from err
        if len(values) != 12:
            raise EvalDataError(f"{path}:{n}: expected 12 values, got {len(values)}")
        rows.append(values)
    if not rows:
        raise EvalDataError(f"{path}: no poses")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :] = np.asarray(rows).reshape(-1, 3, 4)
    return poses


def write_kitti_poses(path: Path, poses: np.ndarray) -> None:
    np.savetxt(path, np.asarray(poses)[:, :3, :].reshape(-1, 12), fmt="%.9e")


def write_label_file(path: Path, sem_train: np.ndarray, inst: np.ndarray) -> None:
    """Write a SemanticKITTI ``.label`` with the canonical raw id of each training class."""
    raw = load_class_table().train_to_raw_lut()[np.asarray(sem_train)].astype(np.uint32)
    (raw | (np.asarray(inst, np.uint32) << INSTANCE_SHIFT)).astype("<u4").tofile(path)
