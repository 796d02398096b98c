import pytest
import torch

from panoptic_perception.models import SetCriterion, UPFuse, build_targets, hungarian_match, match_queries
from panoptic_perception.models.errors import ModelInputError


def test_hungarian_matching_finds_the_known_optimal_assignment():
    cost = torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    rows, cols = hungarian_match(cost)
    # Greedy would take (1, 1) = 0 first; the optimum is 1 + 2 + 2 = 5.
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]
    assert cost[rows, cols].sum().item() == 5.0


def test_matching_rejects_non_finite_costs():
    with pytest.raises(ModelInputError, match="NaN or inf"):
        hungarian_match(torch.tensor([[float("nan")]]))


def test_targets_hold_one_segment_per_thing_instance_and_per_present_stuff_class():
    semantic = torch.tensor([0, 1, 1, 1, 9, 9, 13, 1, 13])
    instance = torch.tensor([0, 4, 4, 7, 0, 3, 0, 0, 0])
    t = build_targets(semantic, instance, thing_ids=(1, 2), num_classes=19)
    assert t.labels.tolist() == [0, 0, 8, 12]  # car #4, car #7, road, building (train id - 1)
    assert t.masks.int().tolist() == [
        [0, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0, 1],
    ]
    assert t.labeled.tolist() == [False] + [True] * 8


def test_query_matching_recovers_a_permutation_of_the_targets():
    semantic = torch.tensor([1, 1, 9, 9, 13, 13])
    instance = torch.tensor([1, 1, 0, 0, 0, 0])
    t = build_targets(semantic, instance, (1,), 19)
    order = torch.tensor([2, 0, 1])  # query q predicts target order[q]
    class_logits = torch.full((3, 20), -5.0)
    class_logits[torch.arange(3), t.labels[order]] = 5.0
    point_logits = (t.masks[order].float() * 2 - 1) * 6
    q, tgt = match_queries(class_logits, point_logits, t, num_points=100, weights=(2.0, 5.0, 5.0))
    assert tgt[q.argsort()].tolist() == order.tolist()


def test_set_loss_is_lower_for_a_correct_prediction_than_for_a_wrong_one():
    semantic = torch.tensor([1, 1, 9, 9, 13, 13])
    t = build_targets(semantic, torch.tensor([1, 1, 0, 0, 0, 0]), (1,), 19)
    criterion = SetCriterion(19, num_points=4)
    good_cls = torch.full((1, 4, 20), -5.0)
    good_cls[0, torch.arange(3), t.labels] = 5.0
    good_cls[0, 3, 19] = 5.0
    good_masks = torch.cat([(t.masks.float() * 2 - 1) * 6, torch.full((1, 6), -6.0)])[None]
    good = criterion([(good_cls, good_masks)], [t], torch.Generator().manual_seed(0))["loss"]
    bad = criterion([(torch.zeros(1, 4, 20), torch.zeros(1, 4, 6))], [t], torch.Generator().manual_seed(0))["loss"]
    assert good.item() < 0.2 * bad.item()


def test_the_model_overfits_one_tiny_sample(scene):
    torch.manual_seed(0)
    config = scene.tiny_config()
    model = UPFuse.from_config(config).train()
    batch, semantic, instance = scene.tiny_batch(config)
    targets = [build_targets(semantic, instance, config.thing_class_ids, config.num_classes)]
    criterion = SetCriterion(config.num_classes, num_points=512)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        out = model(batch)
        loss = criterion(out.layers, targets, g)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
