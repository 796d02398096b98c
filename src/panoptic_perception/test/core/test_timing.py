"""StageTimer: per-stage milliseconds from an injected nanosecond clock."""

from __future__ import annotations

import time

import pytest

from panoptic_perception.core import StageTimer


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance_ms(self, ms: float) -> None:
        self.ns += int(ms * 1e6)


def test_stages_are_recorded_in_milliseconds_in_entry_order():
    clock = FakeClock()
    timer = StageTimer(clock)
    with timer.stage("convert"):
        clock.advance_ms(1.5)
    clock.advance_ms(100)  # between stages: not counted
    with timer.stage("fusion"):
        clock.advance_ms(12.25)

    assert timer.as_dict() == {"convert": 1.5, "fusion": 12.25}
    assert list(timer.as_dict()) == ["convert", "fusion"]
    assert timer.total_ms == pytest.approx(13.75)


def test_a_stage_entered_twice_accumulates():
    clock = FakeClock()
    timer = StageTimer(clock)
    for ms in (2.0, 3.0):
        with timer.stage("tracking"):
            clock.advance_ms(ms)
    assert timer.as_dict() == {"tracking": 5.0}


def test_a_stage_that_raises_still_records_its_time():
    clock = FakeClock()
    timer = StageTimer(clock)
    with pytest.raises(RuntimeError, match="model failed"), timer.stage("fusion"):
        clock.advance_ms(4.0)
        raise RuntimeError("model failed")
    assert timer.as_dict() == {"fusion": 4.0}


def test_as_dict_is_a_copy_and_reset_clears_the_stages():
    clock = FakeClock()
    timer = StageTimer(clock)
    with timer.stage("a"):
        clock.advance_ms(1.0)
    snapshot = timer.as_dict()
    snapshot["a"] = 99.0
    assert timer.as_dict() == {"a": 1.0}
    timer.reset()
    assert timer.as_dict() == {} and timer.total_ms == 0.0


def test_the_default_clock_measures_real_time():
    timer = StageTimer()
    with timer.stage("sleep"):
        time.sleep(0.01)
    assert 9.0 <= timer.as_dict()["sleep"] < 1000.0
