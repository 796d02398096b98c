"""Camera health: a repeated frame is frozen, a dark frame is black, a live night frame is neither."""

import numpy as np
import pytest

from panoptic_perception.core.camera_health import CameraHealth


def _frame(seed: int, level: float = 120.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 30.0, (48, 64, 3)), 0, 255).astype(np.uint8)


def test_a_repeated_frame_is_frozen_until_the_camera_moves_again():
    health = CameraHealth(frozen_after=2)
    assert health.check("front", _frame(0)) is None
    assert health.check("front", _frame(0)) == "camera front: frozen (2 identical frames)"
    assert health.check("front", _frame(0)) == "camera front: frozen (3 identical frames)"
    assert health.check("front", _frame(1)) is None
    assert health.check("left", _frame(1)) is None  # cameras are tracked separately


def test_a_black_frame_is_reported_and_a_dark_night_frame_is_not():
    health = CameraHealth(black_level=4.0)
    lens_cap = np.random.default_rng(2).integers(0, 4, (48, 64, 3), dtype=np.uint8)  # sensor noise only
    assert health.check("front", lens_cap).startswith("camera front: black image")
    assert health.check("front", _frame(3, level=40.0)) is None


def test_frozen_needs_at_least_two_frames():
    with pytest.raises(ValueError, match="frozen_after must be >= 2"):
        CameraHealth(frozen_after=1)
