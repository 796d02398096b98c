"""Synthetic panoptic frames and the peer evaluators (test-only dependencies)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

Frame = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def random_frame(rng: np.random.Generator, n: int, num_instances: int = 6, keep: float = 0.8,
                 track_perm: np.ndarray | None = None) -> Frame:
    """(pred_sem, pred_inst, gt_sem, gt_inst): gt over classes 0..19, things 1..8, noisy prediction."""
    gs = rng.integers(0, 20, n)
    gi = np.where((gs >= 1) & (gs <= 8), rng.integers(1, num_instances + 1, n), 0)
    ps = np.where(rng.random(n) < keep, gs, rng.integers(0, 20, n))
    ids = gi if track_perm is None else track_perm[gi]
    pi = np.where((ps >= 1) & (ps <= 8), np.where(rng.random(n) < keep, ids, rng.integers(0, 8, n)), 0)
    return ps.astype(np.uint16), pi.astype(np.uint32), gs.astype(np.uint16), gi.astype(np.uint32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def frame_maker() -> Callable[..., Frame]:
    return random_frame


@pytest.fixture
def nuscenes_eval() -> type:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = pytest.importorskip("nuscenes.eval.panoptic.panoptic_seg_evaluator")
    return module.PanopticEval


@pytest.fixture
def nuscenes_tracking_eval() -> type:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = pytest.importorskip("nuscenes.eval.panoptic.panoptic_track_evaluator")
    return module.PanopticTrackingEval
