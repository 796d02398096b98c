"""Re-identification by association vectors (``TrackerConfig.reid_*``): an object that disappears for longer than
the motion gate allows and reappears far away continues its ID when its vector matches, and gets a new one when
not; the baselines are unchanged by the setting."""

from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import (
    CentroidKalmanAssociation,
    Detection,
    Graveyard,
    PanopticTracker,
    ReIdentification,
    TrackerConfig,
    TrackerConfigError,
    TrackState,
    TrackTable,
)

SEC = 1_000_000_000
CAR = 1
RIGHT, LEFT, UP = np.eye(4)[0], np.eye(4)[1], np.eye(4)[2]
OFFSETS = np.array([[dx, dy, 0.0] for dx in (-0.4, 0.0, 0.4) for dy in (-0.2, 0.2)])


def car(x: float, vector: np.ndarray, y: float = 0.0, class_id: int = CAR) -> Detection:
    centre = np.array([x, y, 0.0])
    return Detection(class_id, 0.9, centre, embedding=vector + 0.01 * np.sin(x + y + np.arange(4)), points=centre + OFFSETS)


def config(association: str, **overrides: object) -> TrackerConfig:
    values = {"association": association, "min_hits": 3, "max_lost": 3, "n_t": 3, "reid_frames": 5, "reid_threshold": 0.5,
              "reid_max_speed_mps": 15.0, **overrides}
    return TrackerConfig(**values)  # type: ignore[arg-type]


def occlusion(gap: int, reappear: Detection) -> list[list[Detection]]:
    """A car at x = 0 (vector RIGHT) seen 4 s, a second car (vector LEFT) at y = 10 throughout, the first unseen for
    ``gap`` sweeps (1 s apart), then ``reappear``."""
    other = [car(0.0, LEFT, y=10.0)]
    return [[car(0.0, RIGHT), *other] for _ in range(4)] + [other] * gap + [[reappear, *other]]


def ids_of_first_car(trk: PanopticTracker, frames: list[list[Detection]]) -> list[int]:
    """Track ID of detection 0 per frame it is the first car (the frames where it is seen)."""
    ids = []
    for k, dets in enumerate(frames):
        outputs = trk.update(dets, (k + 1) * SEC)
        if dets[0].embedding is not None and not np.allclose(dets[0].centroid, [0.0, 10.0, 0.0]):
            ids.append(next(o.track_id for o in outputs if o.detection_index == 0))
    return ids


@pytest.mark.parametrize("association", ["embedding", "embedding_motion"])
@pytest.mark.parametrize("gap", [2, 6])  # still lost (2 misses < max_lost 3) / removed 3 sweeps before it reappears
def test_a_car_reappearing_beyond_every_gate_with_its_vector_continues_its_id(association: str, gap: int) -> None:
    frames = occlusion(gap, car(40.0, RIGHT))  # 40 m away: outside the 2 m and 6 m (+0.5 m per frame) gates
    trk = PanopticTracker.from_config(config(association))
    assert ids_of_first_car(trk, frames) == [1] * 5
    (back,) = [t for t in trk.tracks if t.track_id == 1]
    assert back.state == TrackState.CONFIRMED and back.hits == 5 and back.misses == 0 and back.age == 4 + gap
    np.testing.assert_allclose(back.mean, [40.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # Kalman restarted at the detection
    assert sorted(t.track_id for t in trk.tracks) == [1, 2]


@pytest.mark.parametrize("association", ["embedding", "embedding_motion"])
def test_without_re_identification_or_with_another_vector_the_car_gets_a_new_id(association: str) -> None:
    assert ids_of_first_car(PanopticTracker.from_config(config(association, reid_frames=0)),
                            occlusion(6, car(40.0, RIGHT))) == [1] * 4 + [3]
    assert ids_of_first_car(PanopticTracker.from_config(config(association)), occlusion(6, car(40.0, UP))) == [1] * 4 + [3]
    # the other car's vector matches but it is tracked (matched) already: re-identification takes unmatched tracks only
    assert ids_of_first_car(PanopticTracker.from_config(config(association)), occlusion(6, car(40.0, LEFT))) == [1] * 4 + [3]


@pytest.mark.parametrize("overrides", [{"reid_max_speed_mps": 4.0},  # 40 m in 7 s needs 5.7 m/s
                                       {"reid_frames": 2},  # removed 3 sweeps before it reappears: forgotten
                                       {"reid_threshold": 0.005}])  # the reappearing vector's noise is larger
def test_re_identification_respects_its_speed_bound_memory_and_threshold(overrides: dict[str, object]) -> None:
    trk = PanopticTracker.from_config(config("embedding_motion", **overrides))
    assert ids_of_first_car(trk, occlusion(6, car(40.0, RIGHT))) == [1] * 4 + [3]


def test_a_different_class_with_the_same_vector_is_not_re_identified() -> None:
    trk = PanopticTracker.from_config(config("embedding"))
    assert ids_of_first_car(trk, occlusion(6, car(40.0, RIGHT, class_id=CAR + 1))) == [1] * 4 + [3]


def test_a_removed_tentative_track_is_re_identified_and_stays_tentative() -> None:
    trk = PanopticTracker.from_config(config("embedding", min_hits=3))
    (first,) = trk.update([car(0.0, RIGHT)], 1 * SEC)
    (gone,) = trk.update([], 2 * SEC)
    assert gone.state == TrackState.REMOVED
    (back,) = trk.update([car(5.0, RIGHT)], 3 * SEC)  # 5 m: outside the 2 m gate, within 15 m/s x 2 s
    assert (back.track_id, back.state, back.hits, back.age, back.detection_index) == (1, TrackState.TENTATIVE, 2, 2, 0)
    (again,) = trk.update([car(5.0, RIGHT)], 4 * SEC)
    assert (again.track_id, again.state) == (1, TrackState.CONFIRMED)


@pytest.mark.parametrize("association", ["centroid_kalman", "point_iou"])
def test_the_baselines_ignore_the_re_identification_settings(association: str) -> None:
    frames = occlusion(6, car(40.0, RIGHT))
    runs = []
    for reid_frames in (0, 5):
        trk = PanopticTracker.from_config(config(association, reid_frames=reid_frames))
        assert trk.reid is None
        runs.append([[(o.track_id, o.state, o.detection_index) for o in trk.update(d, (k + 1) * SEC)]
                     for k, d in enumerate(frames)])
    assert runs[0] == runs[1]
    assert ids_of_first_car(PanopticTracker.from_config(config(association)), frames) == [1] * 4 + [3]


def test_re_identification_needs_a_vector_association_and_valid_settings() -> None:
    with pytest.raises(TrackerConfigError, match="vector-based association"):
        PanopticTracker(CentroidKalmanAssociation(), reid=ReIdentification(5, 0.5, 15.0))
    for bad in ({"reid_frames": -1}, {"reid_threshold": 0.0}, {"reid_max_speed_mps": -2.0}):
        with pytest.raises(TrackerConfigError, match=next(iter(bad))):
            TrackerConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(TrackerConfigError, match="frames >= 1"):
        ReIdentification(0, 0.5, 15.0)
    # the motion cue alone reads no vectors, but re-identification does: the pipeline must then run the head
    assert not PanopticTracker.from_config(config("embedding_motion", reid_frames=0)).association.uses_embeddings
    assert PanopticTracker.from_config(config("embedding_motion")).association.uses_embeddings


def test_the_graveyard_forgets_tracks_after_its_frames_and_gives_back_the_rows_taken() -> None:
    table = TrackTable(embedding_window=2, moving_window=3)
    rows = table.start(np.array([7, 8, 9]), TrackState.CONFIRMED, np.zeros((3, 6)), np.tile(np.eye(6), (3, 1, 1)))
    table.class_id[:] = [1, 2, 3]
    graveyard = Graveyard(2, 3)
    graveyard.bury(table, rows[[0, 2]])
    graveyard.age(frames=2)
    graveyard.bury(table, rows[[1]])
    taken = graveyard.exhume(np.array([1]))
    assert taken.track_id.tolist() == [9] and taken.class_id.tolist() == [3]
    assert graveyard.table.track_id.tolist() == [7, 8] and graveyard.since_removal.tolist() == [1, 0]
    graveyard.age(frames=1)  # removed 2 and 1 sweeps ago
    assert graveyard.table.track_id.tolist() == [8] and graveyard.table.age.tolist() == [1]
    graveyard.age(frames=1)
    assert len(graveyard) == 0
