import io

import numpy as np
import pytest
import torch

from panoptic_perception.models import PointMaskHead3D, select_nearest_range_neighbours
from panoptic_perception.models.mask_head_3d import query_logits, smallest_k_stable


def tie_heavy_values(rows: int, slots: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    values = torch.randint(0, 4, (rows, slots), generator=g).float()
    values[torch.rand(rows, slots, generator=g) < 0.3] = float("inf")
    return values


def reference_smallest_k(values: torch.Tensor, k: int) -> np.ndarray:
    # sort every row by (value, slot): the order smallest_k_stable promises
    v = values.numpy()
    slot = np.broadcast_to(np.arange(v.shape[1]), v.shape)
    return np.stack([np.lexsort((slot[i], v[i]))[:k] for i in range(len(v))])


@pytest.mark.parametrize("k", [1, 3, 9])
def test_smallest_k_takes_equal_values_and_empties_in_slot_order(k):
    values = tie_heavy_values(400, 9, seed=k)
    assert np.array_equal(smallest_k_stable(values, k).numpy(), reference_smallest_k(values, k))


def test_smallest_k_picks_the_same_slots_in_onnx_runtime():
    ort = pytest.importorskip("onnxruntime")

    class SmallestThree(torch.nn.Module):
        def forward(self, values: torch.Tensor) -> torch.Tensor:
            return smallest_k_stable(values, 3)

    values = tie_heavy_values(2000, 9, seed=7)
    buffer = io.BytesIO()
    torch.onnx.export(SmallestThree(), (values,), buffer, dynamo=False, opset_version=17,
                      input_names=["values"], dynamic_axes={"values": {0: "rows"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (picked,) = session.run(None, {"values": values.numpy()})
    assert np.array_equal(picked, reference_smallest_k(values, 3))


def test_query_logits_are_the_einsum_in_torch_and_in_onnx_runtime():
    ort = pytest.importorskip("onnxruntime")
    g = torch.Generator().manual_seed(0)
    queries, points = torch.randn(1, 48, 32, generator=g), torch.randn(1, 5000, 32, generator=g)
    expected = torch.einsum("bqc,bnc->bqn", queries, points).numpy()

    class Logits(torch.nn.Module):
        def forward(self, q: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            return query_logits(q, f)

    buffer = io.BytesIO()
    torch.onnx.export(Logits(), (queries, points), buffer, dynamo=False, opset_version=17, input_names=["q", "f"],
                      dynamic_axes={"f": {1: "n"}})
    (onnx_logits,) = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]).run(
        None, {"q": queries.numpy(), "f": points.numpy()})
    np.testing.assert_allclose(query_logits(queries, points).numpy(), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(onnx_logits, expected, rtol=1e-6, atol=1e-5)


def test_the_window_wraps_across_the_seam_so_column_zero_sees_column_w_minus_one():
    h, w = 4, 8
    ranges = torch.full((1, h, w), 50.0)
    ranges[0, 1, w - 1] = 10.2  # across the seam
    ranges[0, 1, 0] = 30.0  # the point's own pixel holds a nearer occluder
    index, valid = select_nearest_range_neighbours(ranges, torch.tensor([[[1, 0]]]), torch.tensor([[10.0]]), 3, 1)
    assert index[0, 0, 0].item() == 1 * w + (w - 1)
    assert valid.all()


def test_the_k_nearest_range_pixels_are_chosen_in_a_hand_built_window():
    ranges = torch.tensor([[[10.0, 5.2, 0.0], [4.9, 20.0, 7.0], [0.0, 5.5, 30.0]]])
    index, valid = select_nearest_range_neighbours(ranges, torch.tensor([[[1, 1]]]), torch.tensor([[5.0]]), 3, 3)
    # |4.9-5| = 0.1 (pixel 3), |5.2-5| = 0.2 (pixel 1), |5.5-5| = 0.5 (pixel 7); empties (0) never win
    assert index[0, 0].tolist() == [3, 1, 7]
    assert valid.all()


def test_empty_and_out_of_image_pixels_are_flagged_invalid():
    ranges = torch.zeros(1, 3, 5)
    ranges[0, 0, 2] = 8.0
    index, valid = select_nearest_range_neighbours(ranges, torch.tensor([[[0, 2]]]), torch.tensor([[8.0]]), 3, 3)
    assert index[0, 0, 0].item() == 2
    assert valid[0, 0].tolist() == [True, False, False]


def test_an_occluded_point_reads_features_of_pixels_at_its_own_depth():
    # Row 0: a foreground pixel (range 5) in the middle of background pixels (range 20).
    ranges = torch.tensor([[[20.0, 20.0, 5.0, 20.0, 20.0]]])
    features = torch.tensor([[[[0.0, 0.0, 1.0, 0.0, 0.0]]]])  # (B, C=1, H, W): 1 only on the occluder
    head = PointMaskHead3D(mask_dim=1, window=3, k=2, hidden=1)
    with torch.no_grad():  # MLP = mean of the two selected features
        head.mlp[0].weight.fill_(0.5)
        head.mlp[0].bias.zero_()
        head.mlp[2].weight.fill_(1.0)
        head.mlp[2].bias.zero_()
    vu = torch.tensor([[[0, 2], [0, 2]]])  # the occluder and a point behind it, same pixel
    feats = head.point_features(features, ranges, vu, torch.tensor([[5.0, 20.0]]))
    assert feats[0, :, 0].tolist() == [0.5, 0.0]  # occluder: itself + a background neighbour; hidden point: background only
    logits = head(features, ranges, vu, torch.tensor([[5.0, 20.0]]), torch.tensor([[[2.0]]]))
    assert logits.tolist() == [[[1.0, 0.0]]]
