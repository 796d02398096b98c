"""The pipeline with MOPT embedding association: the fusion model's association vectors reach the tracker."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from panoptic_datasets.world import SceneConfig, make_rig, simulate
from panoptic_perception.models import UPFuse, UPFuseConfig, save_model
from panoptic_perception.pipeline import PerceptionPipeline, PipelineConfig, PipelineConfigError, thing_detections

torch.set_num_threads(1)


def tiny_config(**overrides: object) -> UPFuseConfig:
    return UPFuseConfig(range_height=16, range_width=256, lidar_stem=8, lidar_widths=(8, 16, 16, 16), camera_stem=8,
                        camera_widths=(8, 8, 16, 16), camera_scale=0.5, fusion_hidden=8, hidden_dim=16, mask_dim=16,
                        pixel_decoder_layers=1, heads=2, ffn_dim=32, num_queries=8, decoder_layers=2, mask_head_hidden=16,
                        object_mask_threshold=0.0, overlap_threshold=0.0, **overrides)


@pytest.fixture(scope="module")
def head_model_dir(tmp_path_factory):
    """A tiny untrained model with the tracking head whose queries all predict cars (things to track)."""
    torch.manual_seed(0)
    model = UPFuse(tiny_config(tracking_head=True, association_dim=8)).eval()
    with torch.no_grad():
        model.decoder.class_embed.bias[:] = -5.0
        model.decoder.class_embed.bias[0] = 5.0
        model.mask_head.mlp[-1].weight *= 20.0  # decisive point masks: instance scores above new_track_score
    return save_model(model, tmp_path_factory.mktemp("head_model"))


@pytest.fixture(scope="module")
def frames():
    return list(simulate(SceneConfig(seed=3), make_rig("tiny"), 3))


def config_for(model_dir, frames, association="embedding"):
    fusion = {"model_dir": str(model_dir), "threads": 1, "min_instance_points": 1, "image_size": [64, 160],
              "cameras": list(frames[0].sensor.cameras), "backend": "torch"}
    return PipelineConfig.from_dict({"fusion": fusion, "tracking": {"association": association, "min_hits": 1}})


def test_embedding_association_tracks_with_the_networks_vectors_end_to_end(head_model_dir, frames):
    pipeline = PerceptionPipeline.from_config(config_for(head_model_dir, frames))
    tracked = 0
    for frame in frames:
        result = pipeline.process(frame.sensor, frame.T_world_lidar)
        cloud, association = pipeline.fusion.run(frame.sensor)
        assert association.shape == (int(cloud.instance_id.max()), 8)
        detections = thing_detections(cloud, pipeline._is_thing, 1, association)
        assert detections and all(d.embedding.shape == (8,) for d in detections)
        np.testing.assert_allclose([np.linalg.norm(d.embedding) for d in detections], 1.0, atol=1e-5)
        for d in detections:  # each detection carries the vector of its own instance id
            instance = int(cloud.instance_id[d.point_indices[0]])
            np.testing.assert_array_equal(d.embedding, association[instance - 1])
        observed = [t for t in result.tracks if t.detection_index >= 0]
        assert {int(i) for i in np.unique(result.cloud.track_id)} - {0} == {t.track_id for t in observed}
        tracked += len(observed)
    assert tracked > 0
    ids = [t.track_id for t in result.tracks]
    assert len(ids) == len(set(ids))


def test_embedding_association_with_a_model_without_the_head_is_refused_by_name(tiny_upfuse_dir, frames):
    with pytest.raises(PipelineConfigError, match="tracking head"):
        PerceptionPipeline.from_config(config_for(tiny_upfuse_dir, frames))
    assert PerceptionPipeline.from_config(config_for(tiny_upfuse_dir, frames, "centroid_kalman")) is not None
    # the configured association decides: embedding_motion reads vectors only with a positive vector weight
    motion_only = config_for(tiny_upfuse_dir, frames, "embedding_motion")
    assert PerceptionPipeline.from_config(dataclasses.replace(
        motion_only, tracking=dataclasses.replace(motion_only.tracking, embedding_weight=0.0))) is not None
    with pytest.raises(PipelineConfigError, match="tracking head"):
        PerceptionPipeline.from_config(dataclasses.replace(
            motion_only, tracking=dataclasses.replace(motion_only.tracking, embedding_weight=0.5)))


def test_an_association_that_reads_no_vectors_leaves_the_head_out_and_tracks_the_same(head_model_dir, frames):
    motion_only = config_for(head_model_dir, frames, "embedding_motion")  # validated default: vector weight 0
    assert motion_only.tracking.embedding_weight == 0.0
    without = PerceptionPipeline.from_config(motion_only)
    assert without.fusion.runner.tracking_head is None and without.fusion.run(frames[0].sensor)[1] is None
    weighted = PerceptionPipeline.from_config(dataclasses.replace(
        motion_only, tracking=dataclasses.replace(motion_only.tracking, embedding_weight=0.5)))
    assert weighted.fusion.runner.tracking_head is not None and weighted.fusion.run(frames[0].sensor)[1] is not None
    plain = PerceptionPipeline.from_config(dataclasses.replace(
        motion_only, tracking=dataclasses.replace(motion_only.tracking, association="centroid_kalman")))
    for frame in frames:  # the same panoptic cloud without the head's pooling
        a, b = without.process(frame.sensor, frame.T_world_lidar), plain.process(frame.sensor, frame.T_world_lidar)
        np.testing.assert_array_equal(a.cloud.instance_id, b.cloud.instance_id)
        assert a.tracks and b.tracks


def test_re_identification_runs_the_head_and_is_dropped_with_a_warning_for_a_model_without_one(head_model_dir, tiny_upfuse_dir,
                                                                                             frames, caplog):
    def reid(model_dir):
        config = config_for(model_dir, frames, "embedding_motion")  # vector weight 0: the cost reads no vectors
        return dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, reid_frames=10))

    with_head = PerceptionPipeline.from_config(reid(head_model_dir))
    assert with_head.tracker.reid is not None and with_head.fusion.runner.tracking_head is not None
    assert with_head.process(frames[0].sensor, frames[0].T_world_lidar).tracks
    with caplog.at_level("WARNING"):
        without_head = PerceptionPipeline.from_config(reid(tiny_upfuse_dir))
    assert without_head.tracker.reid is None and not without_head.tracker.association.uses_embeddings
    assert "re-identification (tracking.reid_frames 10) is off" in caplog.text
    # an association whose cost reads the vectors still needs the head
    weighted = reid(tiny_upfuse_dir)
    with pytest.raises(PipelineConfigError, match="tracking head"):
        PerceptionPipeline.from_config(dataclasses.replace(
            weighted, tracking=dataclasses.replace(weighted.tracking, embedding_weight=0.5)))
