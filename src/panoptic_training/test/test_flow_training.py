"""Flow update operator training: frame-pair data, losses, the smoke config end to end, export, evaluation helpers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from panoptic_perception.models import load_model
from panoptic_perception.models.update_operator import FlowPrediction, UpdateOperator, UpdateOperatorConfig
from panoptic_perception.odometry import FlowEstimator, LearnedFlow
from panoptic_training.config import load_config
from panoptic_training.errors import TrainingConfigError
from panoptic_training.evaluate_flow import Accumulator, in_view, roc_auc, static_scene_flow
from panoptic_training.flow_data import FlowPairDataset, collate_pairs, mirror_pair
from panoptic_training.flow_loss import FlowLossWeights, flow_sequence_loss
from panoptic_training.flow_training import FlowTrainer, export_flow_run

SMOKE = Path(__file__).resolve().parents[1] / "config" / "update_operator_tiny_smoke.yaml"


@pytest.fixture(scope="module")
def flow_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("flow_cache")
    FlowPairDataset(load_config(SMOKE, [f"data.cache_dir={cache}"]).data, progress=False)
    return cache


def test_cached_pairs_hold_flow_and_the_moving_object_mask(flow_cache):
    config = load_config(SMOKE, [f"data.cache_dir={flow_cache}"])
    dataset = FlowPairDataset(config.data, generate=False)
    assert len(dataset) == 2  # 1 sequence x 2 pairs x 1 camera
    pair = dataset[0]
    assert pair["img0"].shape == pair["img1"].shape == (64, 160, 3) and pair["img0"].dtype == np.uint8
    assert pair["flow"].shape == (64, 160, 2) and pair["dynamic"].dtype == bool
    valid = np.isfinite(pair["flow"]).all(axis=-1)
    assert valid.mean() > 0.5  # sky is undefined, the road and buildings are not
    assert not np.array_equal(pair["img0"], pair["img1"])  # the ego moves
    assert float(np.median(np.linalg.norm(pair["flow"][valid], axis=-1))) > 0.1
    batch = collate_pairs([pair, dataset[1]])
    assert batch.img0.shape == (2, 3, 64, 160) and float(batch.img0.max()) <= 1.0
    assert torch.equal(batch.valid[0, 0], torch.from_numpy(valid)) and torch.isfinite(batch.flow).all()
    assert torch.equal(batch.dynamic[0, 0].bool(), torch.from_numpy(pair["dynamic"]))


def test_mirroring_flips_images_and_negates_the_horizontal_flow():
    rng = np.random.default_rng(0)
    sample = {"img0": rng.integers(0, 255, (4, 6, 3), dtype=np.uint8), "img1": rng.integers(0, 255, (4, 6, 3), dtype=np.uint8),
              "flow": rng.normal(size=(4, 6, 2)).astype(np.float32), "dynamic": rng.random((4, 6)) > 0.5}
    out = mirror_pair(sample)
    assert np.array_equal(out["img0"], sample["img0"][:, ::-1]) and np.array_equal(out["dynamic"], sample["dynamic"][:, ::-1])
    assert np.allclose(out["flow"][:, ::-1, 0], -sample["flow"][..., 0])
    assert np.allclose(out["flow"][:, ::-1, 1], sample["flow"][..., 1])


def _prediction(flows: list[torch.Tensor], conf: float = 0.0, dyn: float = 0.0) -> FlowPrediction:
    shape = (flows[0].shape[0], 1, *flows[0].shape[-2:])
    return FlowPrediction(flows, [torch.full(shape, conf) for _ in flows], [torch.full(shape, dyn) for _ in flows])


def test_flow_loss_is_sequence_weighted_and_ignores_undefined_pixels():
    gt = torch.zeros(1, 2, 4, 4)
    valid = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 0, 0] = False
    dynamic = torch.zeros(1, 1, 4, 4)
    wrong = torch.zeros(1, 2, 4, 4)
    wrong[:, 0] = 1.0  # 1 px off everywhere
    wrong[:, :, 0, 0] = 100.0  # a huge error where the ground truth is undefined
    weights = FlowLossWeights(gamma=0.5)
    losses = flow_sequence_loss(_prediction([wrong, gt.clone()]), gt, valid, dynamic, weights)
    assert float(losses["loss_flow"]) == pytest.approx(0.5 * 1.0)  # first of 2 iterations weighs gamma^1
    assert float(losses["epe"]) == pytest.approx(0.0)
    # confidence target: the last flow is exact, so a confident logit costs less than an unsure one
    sure = flow_sequence_loss(_prediction([gt.clone()], conf=5.0), gt, valid, dynamic, weights)["loss_confidence"]
    unsure = flow_sequence_loss(_prediction([gt.clone()], conf=-5.0), gt, valid, dynamic, weights)["loss_confidence"]
    assert float(sure) < 0.01 < 4.0 < float(unsure)


def test_loss_weights_come_from_train_loss_weights_and_are_checked():
    assert FlowLossWeights.from_overrides({"gamma": 0.9}).gamma == 0.9
    with pytest.raises(TrainingConfigError, match="unknown"):
        FlowLossWeights.from_overrides({"gama": 0.9})
    with pytest.raises(TrainingConfigError, match="gamma"):
        FlowLossWeights.from_overrides({"gamma": 1.5})


def test_loss_decreases_in_a_few_steps_on_a_tiny_pair():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    texture = torch.from_numpy(rng.random((1, 3, 40, 56)).astype(np.float32))
    texture = torch.nn.functional.avg_pool2d(texture, 3, stride=1, padding=1)
    img0, img1 = texture[..., 4:36, 4:52], texture[..., 3:35, 2:50]  # img1(x + (-2, -1)) = img0(x)
    gt = torch.tensor([-2.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 32, 48).contiguous()
    valid = torch.ones(1, 1, 32, 48, dtype=torch.bool)
    dynamic = torch.zeros(1, 1, 32, 48)
    model = UpdateOperator(UpdateOperatorConfig(stem=8, widths=(8, 8, 16, 16), feature_dim=16, hidden_dim=16, context_dim=8,
                                                motion_dim=16, corr_levels=2, corr_radius=2, iterations=3)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(12):
        losses = flow_sequence_loss(model(img0, img1), gt, valid, dynamic, FlowLossWeights())
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append(float(losses["loss"].detach()))
    assert np.mean(history[-3:]) < 0.6 * np.mean(history[:3])


def read_log(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def test_smoke_config_trains_exports_and_runs_as_a_flow_estimator(flow_cache, tmp_path):
    config = load_config(SMOKE, [f"data.cache_dir={flow_cache}", f"train.out_dir={tmp_path / 'run'}"])
    summary = FlowTrainer(config, progress=False).run()
    rows = read_log(tmp_path / "run" / "log.csv")
    assert summary.steps == 4 and [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(r["loss_flow"] > 0 and r["loss_confidence"] > 0 and r["loss_dynamic"] > 0 for r in rows)
    directory = export_flow_run(tmp_path / "run", "flow_tiny", tmp_path / "models")
    assert {p.name for p in directory.iterdir()} == {"model.json", "weights.safetensors", "MODEL_CARD.md"}
    model = load_model(directory, architecture="update_operator")
    assert model.config.input_width == 160 and model.config.hidden_dim == 16
    assert "4 steps x batch 2" in (directory / "MODEL_CARD.md").read_text()
    estimator = LearnedFlow(directory)
    assert isinstance(estimator, FlowEstimator)
    pair = FlowPairDataset(config.data, generate=False)[0]
    flow, conf = estimator(pair["img0"], pair["img1"])
    assert flow.shape == (64, 160, 2) and conf.shape == (64, 160) and flow.dtype == conf.dtype == np.float32


def test_flow_trainer_refuses_other_tasks(flow_cache, tmp_path):
    config = load_config(SMOKE, [f"data.cache_dir={flow_cache}", f"train.out_dir={tmp_path}", "train.task=panoptic"])
    with pytest.raises(TrainingConfigError, match="task: flow"):
        FlowTrainer(config, progress=False)


def test_roc_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    score = np.round(rng.random(60), 1)  # ties on purpose
    positive = rng.random(60) > 0.4
    pos, neg = score[positive], score[~positive]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert roc_auc(score, positive) == pytest.approx(pairwise)
    assert np.isnan(roc_auc(score, np.ones(60, dtype=bool)))


def test_accumulator_splits_static_and_dynamic_errors():
    flow_gt = np.zeros((2, 2, 2), np.float32)
    flow_gt[0, 0] = np.nan  # undefined: not counted
    dynamic_gt = np.array([[False, True], [False, False]])
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 1] = (3.0, 4.0)  # 5 px error on the dynamic pixel
    acc = Accumulator()
    acc.add(flow, np.array([[1.0, 0.2], [0.9, 0.8]], np.float32), flow_gt, dynamic_gt, dynamic_gt.astype(np.float32), 10.0)
    out = acc.summary()
    assert out["epe_dynamic"] == pytest.approx(5.0) and out["epe_static"] == 0.0
    assert out["outliers_all"] == pytest.approx(1 / 3) and out["dynamic_iou"] == 1.0
    assert out["confidence_auc"] == 1.0 and out["epe_confident"] == 0.0 and out["pixels"] == 3
    assert out["epe_top_half_confidence"] == 0.0  # the most confident pixel (1.0) is exact


def test_pixels_whose_correspondence_leaves_the_view_are_not_scored():
    flow_gt = np.zeros((3, 4, 2), np.float32)
    flow_gt[0, 0] = (-1.0, 0.0)  # leaves on the left
    flow_gt[2, 3] = (0.0, 0.5)  # leaves at the bottom
    flow_gt[1, 1] = np.nan
    assert in_view(flow_gt).sum() == 12 - 3 and not in_view(flow_gt)[0, 0] and in_view(flow_gt)[0, 1]


def test_static_scene_flow_keeps_static_ground_truth_and_fills_movers_from_the_background():
    flow_gt = np.zeros((3, 5, 2), np.float32)
    flow_gt[:, :, 0] = np.arange(5, dtype=np.float32)  # background flow grows to the right
    flow_gt[1, 3] = (40.0, 0.0)  # a moving object
    flow_gt[0, 0] = np.nan  # sky
    dynamic = np.zeros((3, 5), bool)
    dynamic[1, 3] = True
    init = static_scene_flow(flow_gt, dynamic)
    assert np.isfinite(init).all() and init[1, 3, 0] in (2.0, 3.0, 4.0)  # a static neighbour's flow, not 40
    assert init[0, 0, 0] in (0.0, 1.0) and np.array_equal(init[2], flow_gt[2])
