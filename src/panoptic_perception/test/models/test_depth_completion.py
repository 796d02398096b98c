import torch

from panoptic_perception.models import complete_depth, render_sparse_depth
from panoptic_perception.models.depth_completion import masked_median


def tilted_wall_depth(height: int, width: int, focal: float = 60.0) -> torch.Tensor:
    """Depth along the optical axis of the plane z = 10 + 0.15 x (camera frame) for every pixel."""
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    x_over_z = (u - (width - 1) / 2) / focal
    return (10.0 / (1 - 0.15 * x_over_z)).float()


def test_ip_basic_completion_fills_a_sparse_planar_scene_within_two_percent():
    h, w = 64, 192
    truth = tilted_wall_depth(h, w)
    g = torch.Generator().manual_seed(0)
    # LiDAR-like sampling: every 4th row, 40 % of the columns, and a 6 x 10 block with no return.
    keep = torch.zeros(h, w, dtype=torch.bool)
    keep[::4] = torch.rand(h // 4, w, generator=g) < 0.4
    keep[20:26, 50:60] = False
    sparse = torch.where(keep, truth, torch.zeros_like(truth))[None, None]
    dense = complete_depth(sparse, max_depth=100.0)[0, 0]
    holes = ~keep
    assert (dense[holes] > 0).float().mean() == 1.0
    relative_error = ((dense - truth).abs() / truth)[holes]
    assert relative_error.max() < 0.02
    assert relative_error.mean() < 0.005


def test_completion_leaves_an_image_without_measurements_empty():
    assert complete_depth(torch.zeros(1, 1, 8, 8)).abs().sum() == 0


def test_masked_median_ignores_empty_pixels():
    x = torch.tensor([[[[1.0, 0.0, 0.0], [5.0, 2.0, 0.0], [0.0, 0.0, 9.0]]]])
    out = masked_median(x, x > 0, 3)
    # centre window holds 1, 5, 2, 9 (empties ignored): lower median 2
    assert out[0, 0, 1, 1].item() == 2.0


def test_sparse_rendering_keeps_the_nearest_depth_per_pixel():
    uv = torch.tensor([[[1.2, 0.9], [0.8, 1.1], [3.0, 2.0], [50.0, 1.0]]])
    depth = torch.tensor([[7.0, 4.0, 3.0, 2.0]])
    image = render_sparse_depth(uv, depth, torch.ones(1, 4, dtype=torch.bool), 4, 5)
    assert image[0, 0, 1, 1].item() == 4.0
    assert image[0, 0, 2, 3].item() == 3.0
    assert (image > 0).sum().item() == 2


def test_masked_median_equals_the_lower_median_of_the_valid_window_pixels():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 6, (1, 1, 9, 12), generator=g).float()  # repeated values: ties
    valid = torch.rand(1, 1, 9, 12, generator=g) < 0.6
    valid[0, 0, :5, :5] = True  # one full 5x5 window
    out = masked_median(x, valid, 5)
    for row in range(9):
        for col in range(12):
            window = x[0, 0, max(row - 2, 0):row + 3, max(col - 2, 0):col + 3]
            ok = valid[0, 0, max(row - 2, 0):row + 3, max(col - 2, 0):col + 3]
            values = torch.sort(window[ok]).values
            expected = values[(len(values) - 1) // 2] if len(values) else x[0, 0, row, col]
            assert out[0, 0, row, col] == expected, (row, col)
