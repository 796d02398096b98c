"""MOPT tracking head: mask pooling, head shapes, batch-hard triplet loss, UP-Fuse integration, save/load."""

from __future__ import annotations

import json

import pytest
import torch

from panoptic_perception.models import (
    ModelInputError,
    TrackingHead,
    UPFuse,
    batch_hard_triplet_loss,
    load_model,
    mask_pool,
    panoptic_instances,
    save_model,
    segment_pool,
    thing_slots,
)


def test_mask_pool_averages_the_features_under_each_ground_truth_mask():
    torch.manual_seed(0)
    features = torch.randn(2, 7, 4)
    masks = torch.zeros(2, 3, 7)
    masks[0, 0, [1, 2, 5]] = 1
    masks[0, 1, [0]] = 1
    masks[1, 0, [3, 4, 6]] = 1  # masks[*, 2] and masks[0, 2] stay empty
    pooled = mask_pool(features, masks)
    assert pooled.shape == (2, 3, 4)
    torch.testing.assert_close(pooled[0, 0], features[0, [1, 2, 5]].mean(0))
    torch.testing.assert_close(pooled[0, 1], features[0, 0])
    torch.testing.assert_close(pooled[1, 0], features[1, [3, 4, 6]].mean(0))
    assert torch.equal(pooled[0, 2], torch.zeros(4)) and torch.equal(pooled[1, 2], torch.zeros(4))
    with pytest.raises(ModelInputError, match="must agree"):
        mask_pool(features, masks[:, :, :5])


def test_segment_pool_equals_mask_pooling_under_the_masks_of_the_segment_ids():
    torch.manual_seed(5)
    features = torch.randn(40, 6)
    segment_id = torch.randint(0, 4, (40,))
    segment_id[segment_id == 2] = 0  # segment 2 of 4 is empty
    masks = torch.stack([segment_id == k for k in range(1, 5)])
    pooled = segment_pool(features, segment_id, 4)
    torch.testing.assert_close(pooled, mask_pool(features[None], masks[None])[0])
    torch.testing.assert_close(pooled[0], features[segment_id == 1].mean(0))
    assert torch.equal(pooled[1], torch.zeros(6)) and torch.equal(pooled[3], torch.zeros(6))
    with pytest.raises(ModelInputError, match=r"segment ids must lie in \[0, 2\]"):
        segment_pool(features, segment_id, 2)
    with pytest.raises(ModelInputError, match="must agree"):
        segment_pool(features, segment_id[:10], 4)


def test_segment_vectors_equal_instance_vectors_under_the_segments_as_masks():
    torch.manual_seed(6)
    head = TrackingHead(feature_dim=16, num_things=8, hidden=32, dim=8)
    features = torch.randn(50, 16)
    segment_id = torch.cat([torch.full((10,), 2), torch.zeros(15, dtype=torch.long), torch.full((25,), 1)])
    slot = torch.tensor([5, 1])
    masks = torch.stack([segment_id == 1, segment_id == 2])
    torch.testing.assert_close(head.segment_vectors(features, segment_id, slot), head.instance_vectors(features, masks, slot))


def test_head_gives_one_unit_vector_per_thing_class_and_instances_read_their_class_slice():
    torch.manual_seed(1)
    head = TrackingHead(feature_dim=16, num_things=8, hidden=128, dim=32)
    assert head.fc1.out_features == 128 and head.fc2.out_features == 8 * 32
    out = head(torch.randn(3, 5, 16))
    assert out.shape == (3, 5, 8, 32)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3, 5, 8))
    features = torch.randn(20, 16)
    masks = torch.zeros(2, 20, dtype=torch.bool)
    masks[0, :6], masks[1, 10:] = True, True
    slot = torch.tensor([3, 0])
    vectors = head.instance_vectors(features, masks, slot)
    full = head(torch.stack([features[:6].mean(0), features[10:].mean(0)]))
    torch.testing.assert_close(vectors, torch.stack([full[0, 3], full[1, 0]]))


def brute_force_triplet(x, identity, frame, cls, margin):
    """Every anchor: max over positives and min over negatives by explicit loops."""
    terms = []
    for a in range(len(x)):
        pos = [float((x[a] - x[p]).norm()) for p in range(len(x)) if identity[p] == identity[a] and frame[p] != frame[a]]
        neg = [float((x[a] - x[n]).norm()) for n in range(len(x)) if identity[n] != identity[a] and cls[n] == cls[a]]
        if pos and neg:
            terms.append(max(0.0, max(pos) - min(neg) + margin))
    return sum(terms) / len(terms), len(terms)


def test_batch_hard_triplet_loss_matches_a_brute_force_computation():
    torch.manual_seed(2)
    # 3 frames; objects 10, 11 (class 1), 12 (class 2, alone in its class), 13 only in frame 0
    identity = torch.tensor([10, 11, 12, 13, 10, 11, 12, 10, 12])
    frame = torch.tensor([0, 0, 0, 0, 1, 1, 1, 2, 2])
    cls = torch.tensor([1, 1, 2, 1, 1, 1, 2, 1, 2])
    x = torch.nn.functional.normalize(torch.randn(9, 5), dim=-1)
    loss, anchors = batch_hard_triplet_loss(x, identity, frame, cls, margin=0.2)
    expected, count = brute_force_triplet(x, identity, frame, cls, 0.2)
    assert anchors == count == 5  # class-2 object has no negative, object 13 no positive
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_triplet_loss_is_zero_when_objects_are_separated_by_more_than_the_margin_and_has_gradients():
    identity = torch.tensor([0, 1, 0, 1])
    frame = torch.tensor([0, 0, 1, 1])
    cls = torch.zeros(4, dtype=torch.long)
    separated = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.14], [0.14, 0.99]])
    loss, anchors = batch_hard_triplet_loss(separated, identity, frame, cls, margin=0.2)
    assert anchors == 4 and float(loss) == 0.0
    swapped = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    loss, _ = batch_hard_triplet_loss(swapped, identity, frame, cls, margin=0.2)
    assert float(loss.detach()) == pytest.approx(2 ** 0.5 + 0.2, rel=1e-5)  # d(a, p) = sqrt(2), d(a, n) = 0
    loss.backward()
    assert torch.isfinite(swapped.grad).all() and swapped.grad.abs().sum() > 0
    with pytest.raises(ModelInputError, match="identity"):
        batch_hard_triplet_loss(separated, identity[:3], frame, cls)


def test_upfuse_predict_gives_each_instance_the_vector_pooled_over_its_final_segment_in_its_class_slice(scene):
    torch.manual_seed(3)
    config = scene.tiny_config(tracking_head=True, association_dim=8, object_mask_threshold=0.0, overlap_threshold=0.0)
    toy_batch, _, _ = scene.tiny_batch(config)
    model = UPFuse(config).eval()
    with torch.no_grad():
        model.decoder.class_embed.bias[:] = -5.0
        model.decoder.class_embed.bias[0] = 5.0  # every query predicts a car (thing): instances exist
        out = model(toy_batch)
    assert out.point_features.shape == (toy_batch.point_xyz.shape[0], toy_batch.point_xyz.shape[1], config.mask_dim)
    predictions = model.predict(toy_batch)
    for i, p in enumerate(predictions):
        valid = toy_batch.point_valid[i]
        _, instance_id, _, query, label = panoptic_instances(out.class_logits[i], out.point_logits[i][:, valid],
                                                             config.thing_class_ids, 0.0, 0.0)
        assert int(instance_id.max()) == len(query) == p.association.shape[0] > 0
        features = out.point_features[i][valid]
        with torch.no_grad():
            expected = torch.stack([model.tracking_head(features[instance_id == k + 1].mean(0))[
                config.thing_class_ids.index(int(c))] for k, c in enumerate(label)])
        torch.testing.assert_close(p.association, expected)
        torch.testing.assert_close(p.association.norm(dim=-1), torch.ones(len(label)))
    assert thing_slots(torch.tensor([config.thing_class_ids[2]]), config.thing_class_ids).tolist() == [2]


def test_a_model_saved_with_the_head_loads_back_identically_and_old_model_json_files_load_without_it(scene, tmp_path):
    torch.manual_seed(4)
    tiny_config = scene.tiny_config
    config = tiny_config(tracking_head=True)
    model = UPFuse(config)
    save_model(model, tmp_path / "with_head")
    assert not list((tmp_path / "with_head").glob("*.pt*")) and not list((tmp_path / "with_head").glob("*.pkl"))
    loaded = load_model(tmp_path / "with_head")
    assert loaded.config.tracking_head and loaded.tracking_head is not None
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert any(k.startswith("tracking_head.fc2") for k in loaded.state_dict())

    save_model(UPFuse(tiny_config()), tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "model.json").read_text())
    for key in ("tracking_head", "tracking_hidden", "association_dim"):
        del doc["config"][key]  # a model.json written before the head existed
    (tmp_path / "old" / "model.json").write_text(json.dumps(doc))
    old = load_model(tmp_path / "old")
    assert old.tracking_head is None and not any(k.startswith("tracking_head") for k in old.state_dict())

