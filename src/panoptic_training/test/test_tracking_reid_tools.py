"""The re-identification tools: ``evaluate_tracking --set`` overrides and ``tune_reid``'s grid and choice rule."""

from __future__ import annotations

import pytest

from panoptic_perception.tracking import TrackerConfigError
from panoptic_training.evaluate_tracking import ASSOCIATIONS, parse_overrides
from panoptic_training.tune_reid import choose, config_of, grid


def test_overrides_apply_per_association_or_to_all_and_are_checked() -> None:
    out = parse_overrides(["embedding_motion:reid_frames=10", "reid_threshold=1.5", "embedding:motion_metric=\"euclidean\""])
    assert out["embedding_motion"] == {"reid_frames": 10, "reid_threshold": 1.5}
    assert out["embedding"] == {"reid_threshold": 1.5, "motion_metric": "euclidean"}
    assert out["centroid_kalman"] == {"reid_threshold": 1.5} and set(out) == set(ASSOCIATIONS)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["reid_frames"])
    with pytest.raises(ValueError, match="unknown association"):
        parse_overrides(["tracktor:reid_frames=1"])
    with pytest.raises(TrackerConfigError, match="reid_frames must be int"):
        parse_overrides(["reid_frames=1.5"])
    with pytest.raises(TrackerConfigError, match="reid_frames must be >= 0"):
        parse_overrides(["reid_frames=-1"])


def entry(frames: int, threshold: float, sptq: float, switches: int) -> dict[str, object]:
    return {"association": "embedding_motion", "reid_frames": frames, "reid_threshold": threshold, "reid_max_speed_mps": 20.0,
            "oracle": {"sptq": sptq, "id_switches": switches}}


def test_the_choice_takes_the_best_oracle_sptq_then_fewer_switches_then_re_identification_off() -> None:
    off, weak, best, tied = entry(0, 0.5, 0.9700, 180), entry(5, 0.5, 0.9740, 150), entry(10, 1.5, 0.9750, 140), \
        entry(5, 1.0, 0.97495, 140)
    assert choose([off, weak, best]) is best
    assert choose([off, weak, best, tied]) is tied  # within 0.01 points, same switches: fewer frames
    assert choose([entry(0, 0.5, 0.97, 100), entry(5, 0.5, 0.97, 100)])["reid_frames"] == 0
    configs = grid("embedding")
    assert configs[0].reid_frames == 0 and all(c.reid_frames > 0 for c in configs[1:])
    assert config_of(best).reid_threshold == 1.5 and config_of(best).association == "embedding_motion"
