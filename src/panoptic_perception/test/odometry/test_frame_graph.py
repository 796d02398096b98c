"""Keyframe window: selection by mean flow, co-visibility edges, bounded size."""

import numpy as np
import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import FrameGraph, OdometryInputError, frame_distance, mean_flow_magnitude


def test_mean_flow_magnitude_weights_by_confidence():
    flow = np.zeros((2, 2, 2))
    flow[0, 0] = (3.0, 4.0)  # |f| = 5
    assert mean_flow_magnitude(flow) == pytest.approx(1.25)
    conf = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert mean_flow_magnitude(flow, conf) == pytest.approx(5.0)


def test_a_frame_becomes_a_keyframe_only_after_enough_flow():
    graph = FrameGraph(keyframe_flow=4.0)
    assert graph.is_keyframe(0.0)  # the first frame
    graph.add(0)
    assert not graph.is_keyframe(3.9)
    assert graph.is_keyframe(4.0)


def test_edges_connect_temporal_neighbours_within_the_radius_and_co_visible_frames():
    graph = FrameGraph(window=6, radius=1, covis_flow=10.0)
    for k in range(5):
        graph.add(10 + k, {10: 5.0} if k == 4 else None)  # keyframe 14 sees 10 again (loop-like revisit)
    pairs = set(zip(*(t.tolist() for t in graph.edges()), strict=True))
    expected = {(a, b) for a in range(5) for b in range(5) if abs(a - b) == 1} | {(0, 4), (4, 0)}
    assert pairs == expected


def test_the_window_evicts_the_oldest_keyframe_and_its_flow_links():
    graph = FrameGraph(window=3, radius=1, covis_flow=10.0)
    assert [graph.add(k, {0: 1.0} if k == 2 else None) for k in range(4)] == [None, None, None, 0]
    assert graph.keyframes == [1, 2, 3]
    assert graph._flow == {}
    ii, jj = graph.edges()
    assert sorted(zip(ii.tolist(), jj.tolist(), strict=True)) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_add_raises_on_a_duplicate_or_unknown_keyframe():
    graph = FrameGraph()
    graph.add(1)
    with pytest.raises(OdometryInputError, match="already in the window"):
        graph.add(1)
    with pytest.raises(OdometryInputError, match="mean_flow: keyframe 7"):
        graph.add(2, {7: 1.0})


def test_frame_distance_is_the_mean_reprojection_flow():
    # A fronto-parallel plane 2 m away seen after a 0.1 m sideways move: every pixel moves fx * 0.1 / 2 = 2.5 px.
    disps = torch.full((2, 4, 5), 0.5, dtype=torch.float64)
    K = torch.tensor([50.0, 50.0, 2.0, 1.5], dtype=torch.float64)
    poses = pp.SE3(torch.tensor([[0, 0, 0, 0, 0, 0, 1], [-0.1, 0, 0, 0, 0, 0, 1]], dtype=torch.float64))
    dist = frame_distance(poses, disps, K, torch.tensor([0, 1]), torch.tensor([1, 0]))
    torch.testing.assert_close(dist, torch.tensor([2.5, 2.5], dtype=torch.float64))
