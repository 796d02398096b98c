from __future__ import annotations

import itertools

import pytest

from panoptic_datasets.player import Player


class FakeClock:
    """Wall clock that only advances when the player sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_player_waits_one_sweep_period_between_frames_at_rate_one(tiny_frames):
    frames = tiny_frames()
    clock = FakeClock()
    out = list(Player(frames, rate=1.0, clock=clock, sleep=clock.sleep))
    assert [t for t, _ in out] == [f.sensor.stamp_ns for f in frames]
    assert clock.sleeps == pytest.approx([0.1, 0.1])


def test_player_at_double_rate_halves_the_waits(tiny_frames):
    clock = FakeClock()
    list(Player(tiny_frames(), rate=2.0, clock=clock, sleep=clock.sleep))
    assert clock.sleeps == pytest.approx([0.05, 0.05])


def test_player_at_rate_zero_never_sleeps(tiny_frames):
    clock = FakeClock()
    assert len(list(Player(tiny_frames(), rate=0.0, clock=clock, sleep=clock.sleep))) == 3
    assert clock.sleeps == []


def test_looping_shifts_each_pass_so_time_keeps_increasing(tiny_frames):
    frames = tiny_frames()
    clock = FakeClock()
    out = list(itertools.islice(Player(frames, rate=0.0, loop=True, clock=clock, sleep=clock.sleep), 7))
    times = [t for t, _ in out]
    base = frames[0].sensor.stamp_ns
    assert [t - base for t in times] == [k * 100_000_000 for k in range(7)]
    looped = out[3][1]
    assert looped.sensor.stamp_ns == times[3]
    assert looped.sensor.cameras["front"].stamp_ns - looped.sensor.stamp_ns == 1000
    assert looped.sensor.points is frames[0].sensor.points


def test_player_rejects_negative_rate_and_one_shot_loops(tiny_frames):
    with pytest.raises(ValueError, match="rate must be >= 0"):
        Player(tiny_frames(), rate=-1.0)
    with pytest.raises(ValueError, match="re-iterable source"):
        Player(iter(tiny_frames()), loop=True)
