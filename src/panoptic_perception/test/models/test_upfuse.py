import dataclasses

import numpy as np
import pytest
import torch

from panoptic_perception.core import CameraImage, CameraModel, SensorFrame
from panoptic_perception.models import (
    ModelConfigError,
    ModelInputError,
    UPFuse,
    UPFuseConfig,
    batch_from_sensor_frame,
    collate,
    panoptic_inference,
)


def test_forward_gives_per_layer_class_logits_and_per_point_masks(scene):
    torch.manual_seed(0)
    config = scene.tiny_config()
    batch, semantic, _ = scene.tiny_batch(config)
    out = UPFuse.from_config(config).eval()(batch)
    n = semantic.shape[0]
    assert len(out.layers) == config.decoder_layers + 1
    for class_logits, point_logits in out.layers:
        assert class_logits.shape == (1, config.num_queries, config.num_classes + 1)
        assert point_logits.shape == (1, config.num_queries, n)
    assert out.point_uncertainty.shape == (1, n)
    assert 0 <= out.point_uncertainty.min() and out.point_uncertainty.max() < 1
    assert [m.shape[-2:] for m in out.camera_masks] == [(4, 32), (2, 16), (1, 8), (1, 4)]
    assert out.camera_masks[0].any() and not out.camera_masks[0].all()  # the camera sees a forward sector


def test_a_missing_camera_gives_the_lidar_only_path(scene):
    torch.manual_seed(0)
    config = scene.tiny_config()
    model = UPFuse.from_config(config).eval()
    without_a, _, _ = scene.tiny_batch(config, camera_valid=False, seed=1)
    without_b, _, _ = scene.tiny_batch(config, camera_valid=False, seed=2)
    with_camera, _, _ = scene.tiny_batch(config, camera_valid=True, seed=1)
    with torch.no_grad():
        a, b, c = model(without_a), model(without_b), model(with_camera)
    assert not any(m.any() for m in a.camera_masks)
    for f_a, f_b in zip(a.fused_features, b.fused_features, strict=True):
        assert torch.equal(f_a, f_b)
    assert torch.equal(a.point_logits, b.point_logits)
    assert not torch.equal(a.point_logits, c.point_logits)


def test_concatenation_fusion_swaps_in_by_name_and_reports_no_uncertainty(scene):
    config = scene.tiny_config(fusion="concat")
    batch, semantic, _ = scene.tiny_batch(config)
    model = UPFuse.from_config(config).eval()
    out = model(batch)
    assert out.point_uncertainty is None and out.point_logits.shape[-1] == semantic.shape[0]
    assert model.predict(batch)[0].uncertainty is None


def test_prediction_labels_every_point_with_a_kept_query(scene):
    torch.manual_seed(0)
    config = scene.tiny_config(object_mask_threshold=0.0, overlap_threshold=0.0)
    batch, semantic, _ = scene.tiny_batch(config)
    pred = UPFuse.from_config(config).eval().predict(batch)[0]
    n = semantic.shape[0]
    assert pred.class_id.shape == pred.instance_id.shape == pred.score.shape == pred.uncertainty.shape == (n,)
    assert pred.class_id.min() >= 0 and pred.class_id.max() <= config.num_classes
    assert (pred.score >= 0).all() and (pred.score <= 1).all()


def test_panoptic_inference_merges_stuff_per_class_and_numbers_things():
    # queries: car, car, road, road, no-object; 6 points
    class_logits = torch.full((5, 20), -10.0)
    for q, c in enumerate([0, 0, 8, 8, 19]):
        class_logits[q, c] = 10.0
    point_logits = torch.full((5, 6), -10.0)
    point_logits[0, 0:2] = 10
    point_logits[1, 2] = 10
    point_logits[2, 3] = 10
    point_logits[3, 4] = 10
    point_logits[4, 5] = 10  # no-object query is dropped: point 5 stays unassigned
    class_id, instance_id, score = panoptic_inference(class_logits, point_logits, thing_ids=(1,))
    assert class_id.tolist() == [1, 1, 1, 9, 9, 0]
    assert instance_id.tolist() == [1, 1, 2, 0, 0, 0]
    assert score[:5].min() > 0.99 and score[5] == 0


def test_config_round_trips_through_a_dict_and_rejects_bad_fields():
    for config in (UPFuseConfig.cpu_default(), UPFuseConfig.gpu_large()):
        assert UPFuseConfig.from_dict(config.to_dict()) == config
    assert UPFuseConfig.gpu_large().range_spec.height == 64
    with pytest.raises(ModelConfigError, match="lidar_widths needs 4 entries"):
        UPFuseConfig(lidar_widths=(8, 16))
    with pytest.raises(ModelConfigError, match="unknown 'attention'"):
        UPFuseConfig(fusion="attention")
    with pytest.raises(ModelConfigError, match="field 'num_queries'"):
        UPFuseConfig.from_dict({"num_queries": "many"})


def test_batches_with_wrong_shapes_are_refused_naming_the_field(scene):
    config = scene.tiny_config()
    batch, _, _ = scene.tiny_batch(config)
    bad = dataclasses.replace(batch, K=batch.K[:, :, :2])
    with pytest.raises(ModelInputError, match=r"UPFuseBatch.K: expected shape \(1, 1, 3, 3\)"):
        UPFuse.from_config(config)(bad)


def test_a_sensor_frame_becomes_a_batch_with_its_camera_calibration(scene):
    config = scene.tiny_config()
    points, _, _ = scene.ray_cast_scene(config.range_spec)
    K, T = scene.camera_matrices()
    camera = CameraModel("front", 96, 32, K.numpy(), T.numpy())
    rgb = np.zeros((32, 96, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    frame = SensorFrame(0, points.numpy(), {"front": CameraImage(camera, 0, rgb)})
    batch = batch_from_sensor_frame(frame, config.range_spec)
    assert batch.images.shape == (1, 1, 3, 32, 96) and batch.images[0, 0, 0].min() == 1.0
    assert torch.allclose(batch.K[0, 0], K) and batch.point_xyz.shape == (1, points.shape[0], 3)
    with pytest.raises(ModelInputError, match=r"no camera\(s\) \['left'\]"):
        batch_from_sensor_frame(frame, config.range_spec, ["left"])


def test_panoptic_inference_drops_a_segment_that_loses_most_of_its_mask_to_a_stronger_query():
    class_logits = torch.full((2, 20), -10.0)
    class_logits[0, 0] = 10.0  # confident car
    class_logits[1, 0] = 3.0  # weaker car, score ~0.999 still above 0.8
    point_logits = torch.full((2, 5), -10.0)
    point_logits[0, 0:4] = 10  # strong query owns points 0-3
    point_logits[1, 1:5] = 10  # weak query wants 1-4 but keeps only point 4 (25 % < 80 %)
    class_id, instance_id, _ = panoptic_inference(class_logits, point_logits, thing_ids=(1,))
    assert class_id.tolist() == [1, 1, 1, 1, 0]
    assert instance_id.tolist() == [1, 1, 1, 1, 0]


def test_a_padded_batch_of_two_sweeps_matches_running_them_one_by_one(scene):
    torch.manual_seed(0)
    config = scene.tiny_config()
    model = UPFuse.from_config(config).eval()
    big, _, _ = scene.ray_cast_scene(config.range_spec)
    small, _, _ = scene.ray_cast_scene(config.range_spec, cars=((5.0, -2.0),), columns=100)
    K, T = scene.camera_matrices()
    images = torch.rand(2, 1, 3, 32, 96, generator=torch.Generator().manual_seed(3))
    Ks, Ts = K.expand(2, 1, 3, 3), T.expand(2, 1, 4, 4)
    with torch.no_grad():
        both = model.predict(collate([big, small], config.range_spec, images, Ks, Ts))
        alone = [model(collate([p], config.range_spec, images[i : i + 1], Ks[:1], Ts[:1])) for i, p in enumerate((big, small))]
        batched = model(collate([big, small], config.range_spec, images, Ks, Ts))
    assert batched.point_logits.shape[-1] == big.shape[0]
    for i, (points, out) in enumerate(zip((big, small), alone, strict=True)):
        n = points.shape[0]
        assert torch.allclose(batched.point_logits[i, :, :n], out.point_logits[0], atol=1e-4)
        assert torch.allclose(batched.class_logits[i], out.class_logits[0], atol=1e-4)
        assert both[i].class_id.shape == (n,)
