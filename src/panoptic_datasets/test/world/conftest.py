"""Fixtures for the synthetic-world tests: one short drive on the tiny rig, shared by the session."""

from __future__ import annotations

import pytest

from panoptic_datasets.frame import LabeledFrame
from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_datasets.world.simulate import Drive

BUSY = SceneConfig(seed=5, num_vehicles=40, num_pedestrians=30, num_cyclists=6, occlusion_heavy=True)


@pytest.fixture(scope="session")
def busy_drive() -> Drive:
    return Drive(BUSY, make_rig("tiny"))


@pytest.fixture(scope="session")
def busy_frames() -> list[LabeledFrame]:
    """Six frames of a crowded street seen by the tiny rig."""
    return list(simulate(BUSY, make_rig("tiny"), 6))
