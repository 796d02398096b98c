"""The tracking head's per-instance inputs: projection into the cameras, RGB statistics, shape, validation, the head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from panoptic_perception.models import (
    ModelInputError,
    SweepContext,
    TrackingHead,
    UPFuse,
    columns_for,
    input_dim,
    instance_inputs,
    load_model,
    masks_to_segments,
    panoptic_instances,
    save_model,
)
from panoptic_perception.models.tracking_inputs import EXTRA_NAMES

# LiDAR x forward, y left, z up -> camera z forward, x right, y down
R_CAM_LIDAR = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def two_camera_context(xyz: torch.Tensor) -> SweepContext:
    """A 4 x 6 image per camera, fx = fy = 2, principal point (2.5, 1.5): a point (2, y, z) lands at u = 2.5 - y,
    v = 1.5 - z. Slot 0 (all white) is marked missing, so colours must come from slot 1."""
    T = torch.eye(4)
    T[:3, :3] = R_CAM_LIDAR
    K = torch.tensor([[2.0, 0.0, 2.5], [0.0, 2.0, 1.5], [0.0, 0.0, 1.0]])
    images = torch.zeros(2, 3, 4, 6)
    images[0] = 1.0
    images[1, :, 1, 2] = torch.tensor([1.0, 0.0, 0.0])  # (v, u) = (1, 2)
    images[1, :, 2, 3] = torch.tensor([0.0, 1.0, 0.0])
    images[1, :, 0, 0] = torch.tensor([0.0, 0.0, 1.0])
    images[1, :, 3, 5] = torch.tensor([0.5, 0.5, 0.5])  # seen only by a point of no segment
    return SweepContext(xyz, images, torch.stack([K, K]), torch.stack([T, T]), torch.tensor([False, True]))


def example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xyz = torch.tensor([
        [2.0, 0.5, 0.5],  # segment 1, pixel (u, v) = (2, 1): red
        [2.0, -0.5, -0.5],  # segment 1, (3, 2): green
        [2.0, 2.5, 1.5],  # segment 1, (0, 0): blue
        [-2.0, 0.0, 0.2],  # segment 1, behind the camera: no colour
        [2.0, -10.0, 0.0],  # segment 2, right of the image
        [2.0, 0.0, 9.0],  # segment 2, above the image
        [2.0, -2.5, -1.5],  # no segment, (5, 3)
    ])
    segment = torch.tensor([1, 1, 1, 1, 2, 2, 0])
    features = torch.arange(7 * 4, dtype=torch.float32).reshape(7, 4)
    return xyz, segment, features


def test_appearance_shape_inputs_match_a_hand_computation():
    xyz, segment, features = example()
    inputs = instance_inputs("appearance_shape", features, segment, 2, two_camera_context(xyz))
    assert inputs.shape == (2, 4 + len(EXTRA_NAMES)) == (2, input_dim("appearance_shape", 4))
    torch.testing.assert_close(inputs[:, :4], torch.stack([features[:4].mean(0), features[4:6].mean(0)]))
    extra = dict(zip(EXTRA_NAMES, inputs[:, 4:].T, strict=True))
    # segment 1: 3 of 4 points seen; colours red, green, blue -> mean 1/3, std sqrt(1/3 - 1/9) per channel
    torch.testing.assert_close(extra["camera_fraction"], torch.tensor([0.75, 0.0]))
    for channel in "rgb":
        torch.testing.assert_close(extra[f"rgb_mean_{channel}"], torch.tensor([1 / 3, 0.0]))
        torch.testing.assert_close(extra[f"rgb_std_{channel}"], torch.tensor([math.sqrt(2 / 9), 0.0]))
    for k, rows in enumerate(([0, 1, 2, 3], [4, 5])):
        pts = xyz[rows].double().numpy()
        spread = np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(pts.T, bias=True)), 0, None))[::-1]
        np.testing.assert_allclose([float(extra[f"spread_{i}"][k]) for i in (1, 2, 3)], spread, atol=1e-5)
        assert float(extra["height"][k]) == pytest.approx(pts[:, 2].max() - pts[:, 2].min())
        assert float(extra["log_points"][k]) == pytest.approx(math.log1p(len(rows)))
    # the "features" kind is the first columns of the same inputs
    torch.testing.assert_close(instance_inputs("features", features, segment, 2), inputs[:, :4])
    torch.testing.assert_close(columns_for("features", inputs, 4), inputs[:, :4])


def test_a_missing_camera_slot_contributes_no_colour():
    xyz, segment, features = example()
    context = two_camera_context(xyz)
    context.camera_valid = torch.tensor([False, False])
    inputs = instance_inputs("appearance_shape", features, segment, 2, context)
    assert torch.equal(inputs[:, 4:11], torch.zeros(2, 7))  # fraction, RGB mean and std


def test_inputs_are_refused_with_clear_errors():
    xyz, segment, features = example()
    with pytest.raises(ModelInputError, match="need the sweep's points and camera images"):
        instance_inputs("appearance_shape", features, segment, 2)
    with pytest.raises(ModelInputError, match="unknown kind 'colour'"):
        instance_inputs("colour", features, segment, 2)
    with pytest.raises(ModelInputError, match=r"SweepContext.xyz: expected shape \(7, 3\)"):
        instance_inputs("appearance_shape", features, segment, 2, two_camera_context(xyz[:5]))
    with pytest.raises(ModelInputError, match="needs 16 columns"):
        columns_for("appearance_shape", torch.zeros(2, 10), 4)
    with pytest.raises(ModelInputError, match="overlap"):
        masks_to_segments(torch.tensor([[1, 1, 0], [0, 1, 1]], dtype=torch.bool))
    assert masks_to_segments(torch.tensor([[1, 0, 0], [0, 0, 1]], dtype=torch.bool)).tolist() == [1, 0, 2]


def test_an_appearance_head_standardises_its_inputs_with_its_stored_statistics():
    torch.manual_seed(0)
    head = TrackingHead(feature_dim=4, num_things=2, hidden=8, dim=3, inputs="appearance_shape")
    d = 4 + len(EXTRA_NAMES)
    mean, std = torch.randn(d), torch.rand(d) + 0.5
    std[0] = 0.0  # a constant column is left unscaled
    head.set_input_statistics(mean, std)
    x = torch.randn(5, d)
    plain = TrackingHead(feature_dim=4, num_things=2, hidden=8, dim=3, inputs="appearance_shape")
    plain.load_state_dict({k: v for k, v in head.state_dict().items() if not k.startswith("input_")}, strict=False)
    torch.testing.assert_close(head(x), plain((x - mean) / torch.where(std == 0, torch.ones_like(std), std)))
    with pytest.raises(ModelInputError, match="must have 16 columns"):
        head(torch.randn(5, 4))
    with pytest.raises(ModelInputError, match="unstandardised"):
        TrackingHead(4, 2, 8, 3).set_input_statistics(mean, std)


def test_upfuse_with_an_appearance_head_pools_each_final_segment_with_its_camera_colour_and_round_trips(scene, tmp_path):
    torch.manual_seed(3)
    config = scene.tiny_config(tracking_head=True, association_dim=8, object_mask_threshold=0.0, overlap_threshold=0.0,
                               tracking_inputs="appearance_shape")
    batch, _, _ = scene.tiny_batch(config)
    model = UPFuse(config).eval()
    d = input_dim("appearance_shape", config.mask_dim)
    model.tracking_head.set_input_statistics(torch.linspace(-1, 1, d), torch.linspace(0.5, 2, d))
    with torch.no_grad():
        model.decoder.class_embed.bias[:] = -5.0
        model.decoder.class_embed.bias[0] = 5.0  # every query predicts a car: instances exist
        out = model(batch)
    prediction = model.predict(batch)[0]
    valid = batch.point_valid[0]
    _, instance_id, _, _, label = panoptic_instances(out.class_logits[0], out.point_logits[0][:, valid],
                                                     config.thing_class_ids, 0.0, 0.0)
    context = SweepContext(batch.point_xyz[0][valid], batch.images[0], batch.K[0], batch.T_cam_lidar[0], batch.camera_valid[0])
    inputs = instance_inputs("appearance_shape", out.point_features[0][valid], instance_id, len(label), context)
    assert float(inputs[:, config.mask_dim].max()) > 0  # some segment is seen by the camera
    with torch.no_grad():
        expected = model.tracking_head(inputs)[torch.arange(len(label)), [config.thing_class_ids.index(int(c)) for c in label]]
    torch.testing.assert_close(prediction.association, expected)

    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config.tracking_inputs == "appearance_shape"
    torch.testing.assert_close(loaded.tracking_head.input_std, torch.linspace(0.5, 2, d))
    torch.testing.assert_close(loaded.predict(batch)[0].association, prediction.association)
