"""The tracking head trained on cached per-instance inputs: the cache, a toy training run, attaching to a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from panoptic_perception.core import PanopticCloud
from panoptic_perception.models import UPFuse, input_dim, load_model, save_model
from panoptic_training.config import load_config
from panoptic_training.data import SyntheticPanopticDataset, ensure_cache
from panoptic_training.errors import TrainingConfigError, TrainingDataError
from panoptic_training.tracking_ceiling import identity_vectors
from panoptic_training.tracking_head_cache import (
    InstanceCache,
    build_cache,
    cache_from_records,
    cache_path,
    load_cache,
    save_cache,
)
from panoptic_training.tracking_loss import gt_instance_masks
from panoptic_training.tracking_records import FrameRecord
from panoptic_training.train_tracking_head import (
    HEAD_FILE,
    SUMMARY_FILE,
    HeadTrainingConfig,
    attach,
    core_sha256,
    mean_triplet_loss,
    train_head,
    windows,
)
from panoptic_training.trainer import build_model_config

TRACKING_CONFIG = Path(__file__).resolve().parents[1] / "config" / "tiny_tracking_smoke.yaml"
THINGS = (1, 2)
FEATURES = 4


def toy_cache(sequences: int = 12, objects: int = 4, seed: int = 0) -> InstanceCache:
    """3-frame sequences of ``objects`` cars whose pooled features are noise drawn anew every frame (no identity in
    them) and whose camera colour is their own (plus a little noise): only the colour tells the objects apart."""
    rng = np.random.default_rng(seed)
    rows, cls, inst, frame, seq = [], [], [], [], []
    for s in range(sequences):
        colors = rng.uniform(0, 1, (objects, 3))
        for f in range(3):
            for k in range(objects):
                extra = np.zeros(input_dim("appearance_shape", FEATURES) - FEATURES)
                extra[0] = 1.0  # fully seen
                extra[1:4] = colors[k] + rng.normal(0, 0.01, 3)
                extra[4:7] = 0.05
                extra[7:] = [1.0, 0.5, 0.3, 1.2, np.log1p(50)]  # every car the same shape
                rows.append(np.concatenate([rng.normal(0, 1, FEATURES), extra]))
                cls.append(1)
                inst.append(k + 1)
                frame.append(f)
                seq.append(s)
    return InstanceCache(np.asarray(rows, np.float32), *(np.asarray(a, np.int64) for a in (cls, inst, frame, seq)))


def test_the_instance_cache_round_trips_through_npz_without_pickle(tmp_path):
    cache = toy_cache(sequences=2)
    save_cache(tmp_path / "c.npz", cache)
    with np.load(tmp_path / "c.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["class_id", "frame", "inputs", "instance", "sequence"]
    back = load_cache(tmp_path / "c.npz")
    for name in ("inputs", "class_id", "instance", "frame", "sequence"):
        np.testing.assert_array_equal(getattr(back, name), getattr(cache, name))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(TrainingDataError, match="not a readable tracking-head instance cache"):
        load_cache(tmp_path / "bad.npz")
    with pytest.raises(TrainingDataError, match=r"InstanceCache.frame must be \(3,\)"):
        InstanceCache(np.zeros((3, 5), np.float32), *(np.zeros(3, np.int64) for _ in range(2)), np.zeros(2, np.int64),
                      np.zeros(3, np.int64))


def test_windows_are_three_consecutive_frames_of_one_sequence():
    cache = toy_cache(sequences=2, objects=2)
    runs = windows(cache, 3)
    assert len(runs) == 2
    for run in runs:
        assert len(run) == 6 and len(set(cache.sequence[run])) == 1 and sorted(set(cache.frame[run])) == [0, 1, 2]
    assert windows(cache, 2) and len(windows(cache, 2)) == 4
    long = toy_cache(sequences=1, objects=2)
    long = InstanceCache.concatenate([long, InstanceCache(long.inputs, long.class_id, long.instance, long.frame + 3,
                                                          long.sequence)])  # frames 0..5
    strided = windows(long, 3, max_stride=2)
    assert [sorted(set(long.frame[w].tolist())) for w in strided] == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 2, 4],
                                                                     [1, 3, 5]]


def test_training_on_a_toy_set_where_only_colour_separates_identities_lowers_the_triplet_loss():
    cache = toy_cache()
    config = HeadTrainingConfig(steps=150, windows_per_step=4, hidden=32, dim=8, lr=0.01)
    untrained, _ = train_head(cache, THINGS, FEATURES, HeadTrainingConfig(steps=1, hidden=32, dim=8, lr=1e-9), progress=False)
    head, losses = train_head(cache, THINGS, FEATURES, config, progress=False)
    before = mean_triplet_loss(untrained, cache, THINGS, FEATURES)
    after = mean_triplet_loss(head, cache, THINGS, FEATURES)
    assert before > 0.15 and after < 0.25 * before, (before, after)
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    # the pooled features alone carry no identity here: a features-only head cannot learn it
    blind, _ = train_head(cache, THINGS, FEATURES, HeadTrainingConfig(inputs="features", steps=150, windows_per_step=4,
                                                                      hidden=32, dim=8, lr=0.01), progress=False)
    assert mean_triplet_loss(blind, cache, THINGS, FEATURES) > 3 * after
    with pytest.raises(TrainingDataError, match="not things"):
        bad = toy_cache(sequences=1)
        bad.class_id[:] = 9
        train_head(bad, THINGS, FEATURES, config, progress=False)


@pytest.fixture(scope="module")
def tiny_frames(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("frames")
    config = load_config(TRACKING_CONFIG, [f"data.cache_dir={cache}"])
    ensure_cache(config.data, progress=False)
    return config


def test_the_cache_of_real_frames_holds_every_ground_truth_thing_and_a_trained_head_attaches_with_the_network_unchanged(
        tiny_frames, tmp_path):
    torch.manual_seed(0)
    model = UPFuse(build_model_config(tiny_frames.model)).eval()
    save_model(model, tmp_path / "source")
    cache = build_cache(model, tiny_frames.data, 3, tmp_path / "cache", progress=False)
    assert cache_path(tmp_path / "cache", tiny_frames.data, model, 3).is_file()
    dataset = SyntheticPanopticDataset(tiny_frames.data, generate=False)
    expected = 0
    for i in range(len(dataset)):
        sample = dataset[i]
        _, keys, _ = gt_instance_masks(torch.from_numpy(sample["semantic"].astype(np.int64)),
                                       torch.from_numpy(sample["instance"].astype(np.int64)),
                                       torch.ones(len(sample["semantic"]), dtype=torch.bool), model.config.thing_class_ids, 3)
        expected += len(keys)
        assert sorted(cache.instance[cache.frame == int(sample["index"])].tolist()) == sorted((keys & 0xFFFF).tolist())
    assert len(cache) == expected > 0
    assert cache.inputs.shape[1] == input_dim("appearance_shape", model.config.mask_dim)
    assert (cache.inputs[:, model.config.mask_dim] > 0).any()  # some instance is seen by the camera

    config = HeadTrainingConfig(steps=5, windows_per_step=1, hidden=16, dim=4)
    head, _ = train_head(cache, model.config.thing_class_ids, model.config.mask_dim, config, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(run / HEAD_FILE))
    (run / SUMMARY_FILE).write_text(json.dumps({"config": {"inputs": "appearance_shape", "hidden": 16, "dim": 4, "steps": 5},
                                                "wall_seconds": 1.0}))
    sha = attach(run, tmp_path / "source", tmp_path / "shipped", onnx=False)
    shipped = load_model(tmp_path / "shipped")
    assert sha == core_sha256(model.state_dict()) == core_sha256(shipped.state_dict())
    assert shipped.config.tracking_inputs == "appearance_shape" and shipped.tracking_head.dim == 4
    for name, value in model.state_dict().items():
        if not name.startswith("tracking_head."):
            assert torch.equal(shipped.state_dict()[name], value), name
    torch.testing.assert_close(shipped.tracking_head.input_mean, head.input_mean)
    assert json.loads((tmp_path / "shipped" / "model.json").read_text())["metadata"]["core_sha256"] == sha
    (run / SUMMARY_FILE).write_text(json.dumps({"config": {"inputs": "appearance_shape", "hidden": 8, "dim": 4, "steps": 5},
                                                "wall_seconds": 1.0}))
    with pytest.raises(RuntimeError, match="size mismatch"):
        attach(run, tmp_path / "source", tmp_path / "other", onnx=False)
    with pytest.raises(TrainingConfigError, match="inputs must be one of"):
        HeadTrainingConfig(inputs="colour")


def record(gt_inst, segment, classes, inputs) -> FrameRecord:
    """A frame record with only the ground-truth fields (no points, no prediction)."""
    n = len(gt_inst)
    cloud = PanopticCloud(0, np.zeros((n, 4), np.float32), np.zeros(n, np.uint16), np.zeros(n, np.uint32),
                          np.zeros(n, np.float32), np.zeros(n, np.float32))
    return FrameRecord(0, np.eye(4), np.zeros((n, 4), np.float32), np.zeros(n, np.int64), np.asarray(gt_inst), cloud,
                       None, np.asarray(segment), np.asarray(classes), None, 1.0, None, np.asarray(inputs, np.float32))


def test_recorded_drives_become_an_instance_cache_with_each_instance_id_and_frame():
    drive_a = [record([7, 7, 0, 9], [1, 1, 0, 2], [1, 2], [[1.0, 2.0], [3.0, 4.0]]),
               record([9, 9, 0], [1, 1, 0], [2], [[5.0, 6.0]])]
    drive_b = [record([0, 0], [0, 0], np.zeros(0, np.int64), np.zeros((0, 2))), record([4], [1], [1], [[7.0, 8.0]])]
    cache = cache_from_records({"a": ("normal", drive_a), "b": ("occlusion", drive_b)})
    assert cache.instance.tolist() == [7, 9, 9, 4] and cache.class_id.tolist() == [1, 2, 2, 1]
    assert cache.frame.tolist() == [0, 0, 1, 1] and cache.sequence.tolist() == [0, 0, 0, 1]
    np.testing.assert_array_equal(cache.inputs, [[1, 2], [3, 4], [5, 6], [7, 8]])
    drive_a[0].oracle_inputs = None
    with pytest.raises(TrainingDataError, match="without head inputs"):
        cache_from_records({"a": ("normal", drive_a)})


def test_identity_vectors_are_one_unit_vector_per_object_of_a_drive():
    drive = [record([7, 7, 0, 9], [1, 1, 0, 2], [1, 2], np.zeros((2, 2))), record([9, 7], [1, 2], [2, 1], np.zeros((2, 2)))]
    other = [record([7], [1], [1], np.zeros((1, 2)))]
    identity_vectors({"a": ("normal", drive), "b": ("normal", other)}, dim=8)
    first, second = drive[0].oracle_vectors, drive[1].oracle_vectors
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(first[0], second[1])  # object 7 in both frames
    np.testing.assert_array_equal(first[1], second[0])  # object 9
    assert np.linalg.norm(first[0] - first[1]) > 0.5
    assert not np.allclose(other[0].oracle_vectors[0], first[0])  # instance ids are per drive


def test_the_joint_trainer_gives_an_appearance_head_the_batch_images(tiny_frames, tmp_path):
    import csv

    from panoptic_training.trainer import Trainer

    config = load_config(TRACKING_CONFIG, [f"data.cache_dir={tiny_frames.data.cache_dir}", f"train.out_dir={tmp_path / 'run'}",
                                           "train.steps=2", "model.architecture.tracking_inputs=appearance_shape"])
    trainer = Trainer(config, progress=False)
    assert trainer.model.tracking_head.inputs == "appearance_shape"
    trainer.run()
    with (tmp_path / "run" / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert all(float(r["triplet_anchors"]) > 0 and np.isfinite(float(r["loss_triplet"])) for r in rows)
