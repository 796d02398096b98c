"""LiDAR/camera synchroniser: nearest-image pairing, release rules, timeouts, bounds, counters."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.core import (
    CameraSyncConfig,
    LidarCameraSynchronizer,
    SyncConfig,
    SyncCounters,
    SyncHealthWindow,
)

MS = 1_000_000
PERIOD = 100 * MS  # 10 Hz LiDAR


def _nearest(stamps: list[int], target: int, slop: int) -> int | None:
    """Reference: the stamp nearest target within slop, the earlier on a tie."""
    inside = [s for s in stamps if abs(s - target) <= slop]
    return min(inside, key=lambda s: (abs(s - target), s)) if inside else None


def _run_in_arrival_order(sync: LidarCameraSynchronizer, events: list[tuple[int, str, int]]) -> list:
    """events: (arrival_ns, source, stamp_ns) with source "lidar" or a camera name; polls after each."""
    released = []
    for arrival, source, stamp in sorted(events):
        if source == "lidar":
            sync.add_lidar(stamp, f"sweep@{stamp}", arrival)
        else:
            sync.add_image(source, stamp, f"{source}@{stamp}", arrival)
        released += sync.poll(arrival)
    return released


# --- configuration ---------------------------------------------------------------------------------------


def test_config_rejects_negative_slop_and_empty_queues():
    with pytest.raises(ValueError, match="slop_ns must be >= 0"):
        CameraSyncConfig(slop_ns=-1)
    with pytest.raises(ValueError, match="queue_size must be >= 1"):
        CameraSyncConfig(queue_size=0)
    with pytest.raises(ValueError, match="lidar_queue_size"):
        SyncConfig.uniform(["front"], lidar_queue_size=0)
    with pytest.raises(TypeError, match="timeout_ns must be an int"):
        CameraSyncConfig(timeout_ns=0.1)


def test_unknown_camera_is_a_key_error_naming_the_configured_ones():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"]))
    with pytest.raises(KeyError, match=r"unknown camera 'rear'; configured cameras: \['front'\]"):
        sync.add_image("rear", 0, None, 0)


# --- pairing ---------------------------------------------------------------------------------------------


def test_jittered_images_within_slop_pair_with_their_own_sweep():
    rng = np.random.default_rng(0)
    slop = 20 * MS
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=slop, timeout_ns=300 * MS))
    n = 200
    lidar = np.arange(n) * PERIOD + rng.integers(-5 * MS, 5 * MS, n)
    camera = lidar + rng.integers(-slop, slop, n, endpoint=True)
    events = [(int(t) + 10 * MS, "lidar", int(t)) for t in lidar] + [(int(t) + 5 * MS, "front", int(t)) for t in camera]

    released = _run_in_arrival_order(sync, events) + sync.poll(10**12)

    assert [s.lidar_stamp_ns for s in released] == lidar.tolist()
    assert [s.images["front"][0] for s in released] == camera.tolist()
    assert [s.images["front"][1] for s in released] == [f"front@{t}" for t in camera]
    assert not any(s.missing for s in released)
    assert not any(s.late for s in released[:-1])  # each is resolved by the next image, not by a timeout
    assert sync.counters == SyncCounters(processed=n, dropped=0, degraded=0)


def test_jittered_images_beyond_slop_leave_the_camera_missing_without_waiting_for_the_timeout():
    rng = np.random.default_rng(1)
    slop = 20 * MS
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=slop, timeout_ns=300 * MS))
    n = 200
    lidar = np.arange(n) * PERIOD
    outside = rng.integers(slop + 1, 45 * MS, n) * rng.choice([-1, 1], n)
    camera = lidar + outside
    events = [(int(t) + 10 * MS, "lidar", int(t)) for t in lidar] + [(int(t) + 50 * MS, "front", int(t)) for t in camera]

    released = _run_in_arrival_order(sync, events) + sync.poll(10**12)

    assert [s.lidar_stamp_ns for s in released] == lidar.tolist()
    assert all(s.missing == ("front",) and s.images == {} for s in released)
    assert not any(s.late for s in released[:-1])
    assert sync.counters == SyncCounters(processed=n, dropped=0, degraded=n)


def test_per_camera_offsets_shift_the_matching_window():
    config = SyncConfig(
        {
            "left": CameraSyncConfig(offset_ns=30 * MS, slop_ns=10 * MS),
            "right": CameraSyncConfig(offset_ns=-25 * MS, slop_ns=10 * MS),
        }
    )
    sync = LidarCameraSynchronizer(config)
    sync.add_lidar(1000 * MS, "sweep", now_ns=0)
    sync.add_image("left", 1034 * MS, "L", now_ns=0)
    sync.add_image("right", 979 * MS, "R", now_ns=0)

    (synced,) = sync.poll(10**12)
    assert synced.images == {"left": (1034 * MS, "L"), "right": (979 * MS, "R")}
    assert synced.missing == ()

    no_offset = LidarCameraSynchronizer(SyncConfig.uniform(["left", "right"], slop_ns=10 * MS))
    no_offset.add_lidar(1000 * MS, "sweep", now_ns=0)
    no_offset.add_image("left", 1034 * MS, "L", now_ns=0)
    no_offset.add_image("right", 979 * MS, "R", now_ns=0)
    (synced,) = no_offset.poll(10**12)
    assert synced.missing == ("left", "right")


def test_the_nearest_image_wins_and_an_image_may_serve_two_sweeps():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=60 * MS))
    for stamp in (0, 40 * MS, 200 * MS):
        sync.add_image("front", stamp, stamp, now_ns=0)
    sync.add_lidar(30 * MS, "a", now_ns=0)
    sync.add_lidar(100 * MS, "b", now_ns=0)

    a, b = sync.poll(now_ns=0)

    assert a.images["front"][0] == 40 * MS  # 10 ms away beats 30 ms away
    assert b.images["front"][0] == 40 * MS  # 60 ms (within slop) beats 100 ms
    assert not a.late and not b.late


# --- release timing --------------------------------------------------------------------------------------


def test_a_sweep_without_its_camera_is_released_at_the_timeout_with_the_camera_missing():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front", "rear"], slop_ns=20 * MS, timeout_ns=100 * MS))
    sync.add_lidar(5000 * MS, "sweep", now_ns=7 * MS)
    sync.add_image("front", 5000 * MS, "F", now_ns=8 * MS)

    assert sync.poll(now_ns=50 * MS) == []
    assert sync.poll(now_ns=107 * MS - 1) == []
    (synced,) = sync.poll(now_ns=107 * MS)

    assert synced.images == {"front": (5000 * MS, "F")}
    assert synced.missing == ("rear",)
    assert synced.late and synced.degraded
    assert sync.counters == SyncCounters(processed=1, dropped=0, degraded=1)


def test_next_deadline_is_the_oldest_waiting_sweeps_next_camera_timeout():
    cameras = {"front": CameraSyncConfig(timeout_ns=100 * MS), "rear": CameraSyncConfig(timeout_ns=40 * MS)}
    sync = LidarCameraSynchronizer(SyncConfig(cameras))
    assert sync.next_deadline_ns(0) is None  # nothing waits
    sync.add_lidar(5000 * MS, "old", now_ns=7 * MS)
    sync.add_lidar(5100 * MS, "new", now_ns=60 * MS)  # waits behind the older sweep
    assert sync.next_deadline_ns(10 * MS) == 47 * MS  # rear's timeout comes first
    assert sync.next_deadline_ns(47 * MS) == 107 * MS  # then front's
    assert sync.next_deadline_ns(107 * MS) == 107 * MS  # every timeout passed: poll now
    assert [s.lidar for s in sync.poll(107 * MS)] == ["old"]
    assert sync.next_deadline_ns(107 * MS) == 160 * MS  # the newer sweep waits from its own arrival (60 ms)


def test_a_timed_out_sweep_keeps_an_image_within_slop_that_was_not_yet_final():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=20 * MS, timeout_ns=100 * MS))
    sync.add_image("front", 990 * MS, "early", now_ns=0)
    sync.add_lidar(1000 * MS, "sweep", now_ns=0)

    assert sync.poll(now_ns=99 * MS) == []  # an image at 1000..1010 ms could still come
    (synced,) = sync.poll(now_ns=100 * MS)
    assert synced.images == {"front": (990 * MS, "early")} and synced.missing == () and synced.late


def test_an_image_arriving_before_its_sweep_releases_it_on_the_first_poll():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"]))
    sync.add_image("front", 1000 * MS, "F", now_ns=0)
    sync.add_lidar(1000 * MS, "sweep", now_ns=1)

    (synced,) = sync.poll(now_ns=1)
    assert synced.images == {"front": (1000 * MS, "F")} and not synced.late


def test_an_image_arriving_after_its_sweep_releases_it_once_it_cannot_be_beaten():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=20 * MS))
    sync.add_lidar(1000 * MS, "sweep", now_ns=0)
    assert sync.poll(now_ns=1) == []
    sync.add_image("front", 995 * MS, "before", now_ns=2)
    assert sync.poll(now_ns=2) == []  # an image within 5 ms after 1000 ms would be nearer
    sync.add_image("front", 1006 * MS, "after", now_ns=3)

    (synced,) = sync.poll(now_ns=3)
    assert synced.images == {"front": (995 * MS, "before")} and not synced.late


def test_a_lidar_only_configuration_releases_every_sweep_at_once():
    sync = LidarCameraSynchronizer(SyncConfig({}))
    sync.add_lidar(1, "a", now_ns=0)
    sync.add_lidar(2, "b", now_ns=0)
    assert [(s.lidar, s.images, s.missing, s.late) for s in sync.poll(0)] == [("a", {}, (), False), ("b", {}, (), False)]


# --- ordering, drops and bounds ----------------------------------------------------------------------------


def test_out_of_order_sweeps_are_released_in_stamp_order_and_stale_ones_dropped():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], timeout_ns=100 * MS))
    assert sync.add_lidar(300 * MS, "c", now_ns=0)
    assert sync.add_lidar(100 * MS, "a", now_ns=10 * MS)
    assert sync.add_lidar(200 * MS, "b", now_ns=20 * MS)

    # "a" and "b" wait no longer than "c", which arrived first.
    assert sync.poll(now_ns=99 * MS) == []
    assert [s.lidar for s in sync.poll(now_ns=100 * MS)] == ["a", "b", "c"]

    assert not sync.add_lidar(250 * MS, "stale", now_ns=110 * MS)
    assert sync.add_lidar(400 * MS, "d", now_ns=110 * MS)
    assert not sync.add_lidar(400 * MS, "duplicate", now_ns=111 * MS)
    assert sync.counters == SyncCounters(processed=3, dropped=2, degraded=3)


def test_lidar_queue_overflow_drops_the_oldest_sweeps_and_counts_them():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], timeout_ns=100 * MS, lidar_queue_size=3))
    for k in range(5):
        assert sync.add_lidar(k * PERIOD, k, now_ns=k * MS)
    assert sync.pending_sweeps == 3
    assert not sync.add_lidar(int(0.5 * PERIOD), "older than an evicted sweep", now_ns=6 * MS)

    assert [s.lidar for s in sync.poll(now_ns=10**12)] == [2, 3, 4]
    assert sync.counters == SyncCounters(processed=3, dropped=3, degraded=3)


def test_image_queue_overflow_keeps_the_newest_images():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=10 * MS, queue_size=3))
    for k in range(5):
        sync.add_image("front", k * PERIOD, k, now_ns=0)
    assert sync.queued_images() == {"front": 3}

    sync.add_lidar(0, "first", now_ns=0)
    sync.add_lidar(4 * PERIOD, "last", now_ns=0)
    first, last = sync.poll(now_ns=0)
    assert first.missing == ("front",)  # its image was the oldest, dropped
    assert last.images == {"front": (4 * PERIOD, 4)}


def test_images_no_future_sweep_can_use_are_pruned_after_a_release():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], slop_ns=20 * MS, queue_size=10))
    for k in range(6):
        sync.add_image("front", k * PERIOD, k, now_ns=0)
    sync.add_lidar(3 * PERIOD, "sweep", now_ns=0)
    assert len(sync.poll(now_ns=0)) == 1
    # Later sweeps are newer than 300 ms: only images from 281 ms on can serve them (300, 400, 500 ms).
    assert sync.queued_images() == {"front": 3}


def test_reset_after_a_clock_jump_accepts_older_stamps_again_and_keeps_counters():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], timeout_ns=0))
    sync.add_lidar(10 * PERIOD, "late in the bag", now_ns=0)
    assert len(sync.poll(now_ns=0)) == 1
    sync.reset()
    assert sync.add_lidar(PERIOD, "bag restarted", now_ns=1)
    assert [s.lidar for s in sync.poll(now_ns=1)] == ["bag restarted"]
    assert sync.counters.processed == 2


def test_a_released_set_that_its_consumer_dropped_counts_as_dropped_not_processed():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"], timeout_ns=0))
    sync.add_lidar(PERIOD, "sweep", now_ns=0)
    assert len(sync.poll(now_ns=0)) == 1 and sync.counters.processed == 1
    sync.drop_released()
    assert (sync.counters.processed, sync.counters.dropped) == (0, 1)


def test_two_cameras_at_15_and_5_hz_pair_with_a_10_hz_lidar():
    slop = 35 * MS
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["fast", "slow"], slop_ns=slop, timeout_ns=150 * MS))
    n = 60
    lidar = [k * PERIOD for k in range(n)]
    fast = [round(k * 1e9 / 15) for k in range(n * 3 // 2 + 1)]
    slow = [k * 2 * PERIOD for k in range(n // 2 + 1)]
    events = [(t + 10 * MS, "lidar", t) for t in lidar]
    events += [(t + 5 * MS, "fast", t) for t in fast] + [(t + 5 * MS, "slow", t) for t in slow]

    released = _run_in_arrival_order(sync, events) + sync.poll(10**12)

    assert [s.lidar_stamp_ns for s in released] == lidar
    for synced in released:
        t = synced.lidar_stamp_ns
        assert synced.images["fast"][0] == _nearest(fast, t, slop)  # odd sweeps: two images 33.3 ms away, earlier wins
        assert ("slow" in synced.images) == (t % (2 * PERIOD) == 0)
    assert sum(s.degraded for s in released) == n // 2
    assert not any(s.late for s in released[:-1])  # the 5 Hz camera's next image settles the odd sweeps


def test_ten_thousand_sweeps_with_a_dead_camera_stay_within_the_queue_bounds():
    config = SyncConfig(
        {
            "alive": CameraSyncConfig(timeout_ns=50 * MS, queue_size=10),
            "dead": CameraSyncConfig(timeout_ns=50 * MS, queue_size=10),
        },
        lidar_queue_size=5,
    )
    sync = LidarCameraSynchronizer(config)
    released = 0
    for k in range(10_000):
        t = k * PERIOD
        sync.add_image("alive", t, k, now_ns=t + 3 * MS)
        sync.add_lidar(t, k, now_ns=t + 5 * MS)
        released += len(sync.poll(now_ns=t + 5 * MS))
        assert sync.pending_sweeps <= 5
        assert all(n <= 10 for n in sync.queued_images().values())
        released += len(sync.poll(now_ns=t + 60 * MS))
    assert released == 10_000
    assert sync.pending_sweeps == 0
    assert sync.queued_images() == {"alive": 1, "dead": 0}
    assert sync.counters == SyncCounters(processed=10_000, dropped=0, degraded=10_000)


# --- randomized properties ---------------------------------------------------------------------------------


def _random_scenario(rng: np.random.Generator) -> tuple[SyncConfig, list[tuple[int, int, str, int]]]:
    cameras = {}
    events: list[tuple[int, int, str, int]] = []  # (arrival, kind order, source, stamp); kind 2 = timer poll
    n = 120
    duration = n * PERIOD
    for c in range(int(rng.integers(1, 4))):
        name = f"cam{c}"
        camera = CameraSyncConfig(
            offset_ns=int(rng.integers(-30 * MS, 30 * MS)),
            slop_ns=int(rng.integers(5 * MS, 40 * MS)),
            timeout_ns=int(rng.integers(20 * MS, 200 * MS)),
            queue_size=60,
        )
        cameras[name] = camera
        rate = float(rng.choice([5.0, 10.0, 15.0, 20.0, 30.0]))
        stamps = np.arange(0, duration, 1e9 / rate).astype(np.int64) + camera.offset_ns
        stamps += rng.integers(-3 * MS, 3 * MS, stamps.size)
        stamps = stamps[rng.random(stamps.size) > 0.1]  # 10 % of images lost
        # Each camera delivers in stamp order, after a random transport delay.
        arrivals = np.maximum.accumulate(stamps + rng.integers(1 * MS, 80 * MS, stamps.size))
        events += [(int(a), 0, name, int(s)) for s, a in zip(stamps, arrivals, strict=True)]
    lidar = np.arange(n) * PERIOD + rng.integers(-5 * MS, 5 * MS, n)
    delays = rng.integers(1 * MS, 30 * MS, n)
    late = rng.random(n) < 0.05
    delays[late] += rng.integers(100 * MS, 400 * MS, int(late.sum()))  # occasionally out of order
    events += [(int(t + d), 1, "lidar", int(t)) for t, d in zip(lidar, delays, strict=True)]
    events += [(int(t), 2, "timer", 0) for t in range(0, duration + 500 * MS, 10 * MS)]
    return SyncConfig(cameras, lidar_queue_size=int(rng.integers(2, 7))), sorted(events)


@pytest.mark.parametrize("seed", range(12))
def test_random_streams_release_every_sweep_once_with_the_nearest_image_within_slop(seed):
    rng = np.random.default_rng(seed)
    config, events = _random_scenario(rng)
    sync = LidarCameraSynchronizer(config)
    received: dict[str, list[int]] = {name: [] for name in config.cameras}
    every_image: dict[str, list[int]] = {name: [] for name in config.cameras}
    for _, _, source, stamp in events:
        if source in every_image:
            every_image[source].append(stamp)
    added: list[int] = []
    released = []  # (set, images received per camera at release)

    for now, _, source, stamp in events:
        if source == "lidar":
            added.append(stamp)
            sync.add_lidar(stamp, stamp, now)
        elif source != "timer":
            received[source].append(stamp)
            sync.add_image(source, stamp, (source, stamp), now)
        for synced in sync.poll(now):
            released.append((synced, {name: list(stamps) for name, stamps in received.items()}))
    released += [(s, received) for s in sync.poll(10**15)]

    stamps = [s.lidar_stamp_ns for s, _ in released]
    assert stamps == sorted(set(stamps)), "released in strictly increasing stamp order, each once"
    assert set(stamps) <= set(added)
    counters = sync.counters
    assert counters.processed == len(released)
    assert counters.processed + counters.dropped == len(added)
    assert counters.degraded == sum(s.degraded for s, _ in released)
    assert sync.pending_sweeps == 0
    for synced, seen in released:
        assert set(synced.images) | set(synced.missing) == set(config.cameras)
        for name, camera in config.cameras.items():
            target = synced.lidar_stamp_ns + camera.offset_ns
            chosen = synced.images[name][0] if name in synced.images else None
            if chosen is not None:
                assert abs(chosen - target) <= camera.slop_ns
                assert synced.images[name][1] == (name, chosen)
            assert chosen == _nearest(seen[name], target, camera.slop_ns)
            if not synced.late:  # settled: nothing that arrived later could have been nearer
                assert chosen == _nearest(every_image[name], target, camera.slop_ns)


# --- health window -----------------------------------------------------------------------------------------


def test_health_window_ratios_cover_only_the_last_sweeps():
    window = SyncHealthWindow(size=10)
    assert (window.sweeps, window.dropped_ratio, window.degraded_ratio) == (0, 0.0, 0.0)
    window.update(SyncCounters(processed=8, dropped=2, degraded=4))
    assert window.sweeps == 10
    assert window.dropped_ratio == pytest.approx(0.2)
    assert window.degraded_ratio == pytest.approx(4 / 8)

    window.update(SyncCounters(processed=18, dropped=2, degraded=4))  # ten clean sweeps push the rest out
    assert (window.sweeps, window.dropped_ratio, window.degraded_ratio) == (10, 0.0, 0.0)

    window.update(SyncCounters(processed=19, dropped=3, degraded=5))
    assert window.dropped_ratio == pytest.approx(0.1)
    assert window.degraded_ratio == pytest.approx(1 / 9)

    with pytest.raises(ValueError, match="size must be >= 1"):
        SyncHealthWindow(size=0)


# --- benchmark ---------------------------------------------------------------------------------------------


def _drive_100_sweeps(sync: LidarCameraSynchronizer, start_ns: int) -> int:
    """100 sweeps at 10 Hz, three cameras at 30 Hz, each message followed by a poll; returns sets released."""
    released = 0
    for k in range(100):
        t = start_ns + k * PERIOD
        for j in range(3):
            stamp = t + j * PERIOD // 3
            for name in ("front", "left", "right"):
                sync.add_image(name, stamp, None, now_ns=stamp + 5 * MS)
                released += len(sync.poll(stamp + 5 * MS))
        sync.add_lidar(t, None, now_ns=t + 10 * MS)
        released += len(sync.poll(t + 10 * MS))
    return released


@pytest.mark.benchmark(group="sync 100 sweeps, 3 cameras at 30 Hz")
def test_benchmark_synchronizer_100_sweeps_with_three_cameras(benchmark):
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front", "left", "right"], slop_ns=20 * MS))
    rounds = iter(range(10**6))

    released = benchmark(lambda: _drive_100_sweeps(sync, next(rounds) * 100 * PERIOD))

    assert released == 100  # every sweep has an image at its own stamp: settled at once
    assert sync.counters.dropped == 0 and sync.counters.degraded == 0
