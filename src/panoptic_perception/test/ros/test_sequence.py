"""Sweeps that never reached the callback are found from publication sequence numbers and counted as dropped."""

import pytest

from panoptic_perception.core import LidarCameraSynchronizer, SyncConfig
from panoptic_perception.ros.sequence import SequenceGapCounter


def _info(sequence):
    return {"source_timestamp": 0, "received_timestamp": 0, "publication_sequence_number": sequence,
            "reception_sequence_number": None}


def test_gaps_in_the_publication_sequence_are_the_messages_not_delivered():
    counter = SequenceGapCounter()
    # The first delivered message sets the baseline: what was published before we subscribed is not ours to count.
    assert [counter.update(_info(s)) for s in (8, 9, 10, 14, 15, 17)] == [0, 0, 0, 3, 0, 1]
    assert counter.missed == 4


def test_a_restarted_publisher_starts_a_new_count_and_missing_numbers_count_nothing():
    counter = SequenceGapCounter()
    assert [counter.update(_info(s)) for s in (40, 41, 1, 2, 5)] == [0, 0, 0, 0, 2]
    assert counter.update(None) == 0 and counter.update(_info(None)) == 0
    assert counter.missed == 2


def test_missed_sweeps_add_to_the_synchronisers_dropped_counter():
    sync = LidarCameraSynchronizer(SyncConfig.uniform(["front"]))
    sync.count_missed_lidar(3)
    sync.count_missed_lidar(0)
    assert sync.counters.dropped == 3 and sync.counters.processed == 0
    with pytest.raises(ValueError, match=">= 0"):
        sync.count_missed_lidar(-1)
