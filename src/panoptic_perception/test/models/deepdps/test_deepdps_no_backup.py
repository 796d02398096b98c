"""The no-backup-query ablation (``DeepDPSConfig.backup_query=False``): no backup term in the depth mixture,
uncovered pixels stay unlabelled, and the criterion drops the semantic-head and backup-depth terms."""

from __future__ import annotations

import torch

from panoptic_perception.models.deepdps import DeepDPS, DeepDPSCriterion, aggregate_depth


def test_without_the_backup_weight_the_mixture_is_the_mask_weighted_mean_of_the_segments():
    segment_depth = torch.tensor([[[[2.0]], [[10.0]]]])  # (B=1, Q=2, 1, 1)
    mask_logits = torch.tensor([[[[0.0]], [[2.0]]]])
    scores = torch.tensor([[1.0, 0.5]])
    w = torch.tensor([0.5, torch.sigmoid(torch.tensor(2.0)).item() * 0.5])
    depth, spread = aggregate_depth(segment_depth, mask_logits, scores, torch.full((1, 1, 1), 50.0), backup_weight=0.0)
    mean = (w * torch.tensor([2.0, 10.0])).sum() / w.sum()
    assert torch.allclose(depth.flatten(), mean[None])
    assert torch.allclose(spread.flatten(), ((w * (torch.tensor([2.0, 10.0]) - mean) ** 2).sum() / w.sum()).sqrt()[None])


def test_with_no_confident_query_and_no_backup_query_every_pixel_stays_unlabelled(make_config):
    torch.manual_seed(0)
    model = DeepDPS.from_config(make_config(object_mask_threshold=1.1, backup_query=False)).eval()
    image = torch.rand(1, 3, 64, 160)
    pred = model.predict(image)[0]
    with torch.no_grad():
        out = model(image)
    assert not pred.backup.any() and not pred.class_id.any() and not pred.instance_id.any()
    mixture = torch.nn.functional.interpolate(out.depth[:, None], size=(64, 160), mode="bilinear")[0, 0]
    assert torch.allclose(pred.depth, mixture)


def test_the_criterion_without_backup_query_leaves_the_semantic_head_untrained(make_config, sim_sample):
    torch.manual_seed(0)
    config = make_config(backup_query=False)
    model = DeepDPS.from_config(config)
    criterion = DeepDPSCriterion(config.num_classes, config.thing_class_ids, config.max_depth, num_points=256,
                                 backup_query=False)
    losses = criterion(model(sim_sample.image), sim_sample.semantic, sim_sample.instance, sim_sample.depth)
    assert losses["loss_semantic"].item() == 0 and losses["loss_depth_backup"].item() == 0
    assert losses["loss_depth"].item() > 0
    losses["loss"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.semantic_head.parameters())
