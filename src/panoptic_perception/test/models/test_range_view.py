import math

import pytest
import torch

from panoptic_perception.models import ModelInputError, RangeViewSpec, project_to_range_view, range_view_coordinates

SPEC = RangeViewSpec.tiny()  # 16 x 128, +10 / -30 deg


def pixel_centre_direction(row: float, col: float, spec: RangeViewSpec = SPEC) -> torch.Tensor:
    fov = math.radians(spec.fov_up_deg - spec.fov_down_deg)
    elevation = (1 - (row + 0.5) / spec.height) * fov - math.radians(-spec.fov_down_deg)
    azimuth = (1 - 2 * (col + 0.5) / spec.width) * math.pi
    return torch.tensor([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])


def cloud(*xyz_range: tuple[torch.Tensor, float]) -> torch.Tensor:
    return torch.stack([torch.cat([d * r, torch.tensor([0.5])]) for d, r in xyz_range])


def test_hand_placed_points_land_on_the_paper_formula_pixels():
    # Azimuth 0 looks at u = W/2; elevation 0 at v = (1 - 30/40) H = 4; +90 deg azimuth at u = W/4.
    points = torch.tensor([[10.0, 0.01, 0.1, 0.1], [0.01, 10.0, -1.0, 0.2], [-0.01, -5.0, -0.1, 0.3], [5.0, 0.0, -5.0, 0.4]])
    proj = project_to_range_view(points, SPEC)
    v, u, _ = range_view_coordinates(points[:, :3], SPEC)
    assert u[0].item() == pytest.approx(64.0 - 0.01 / 10 / math.pi * 64, abs=1e-3)
    assert v[0].item() == pytest.approx(
        (1 - (math.asin(0.1 / math.sqrt(100.0101)) + math.radians(30)) / math.radians(40)) * 16, abs=1e-3
    )
    # atan2(10, 0.01) ~ +90 deg -> u ~ 32; elevation asin(-1/sqrt(101)) ~ -5.71 deg -> v = (1 - 24.29/40) * 16
    assert u[1].item() == pytest.approx(0.5 * (1 - math.atan2(10.0, 0.01) / math.pi) * 128, abs=1e-3)
    assert v[1].item() == pytest.approx(
        (1 - (math.asin(-1 / math.sqrt(101.01)) + math.radians(30)) / math.radians(40)) * 16, abs=1e-3
    )
    # elevation -45 deg is below the FOV: clamped to the last row.
    assert proj.point_vu.tolist() == [[3, 63], [6, 32], [4, 96], [15, 64]]


@pytest.mark.parametrize("row,col", [(0, 0), (0, 127), (7, 64), (15, 5), (9, 100)])
def test_point_at_a_pixel_centre_lands_on_that_pixel(row, col):
    proj = project_to_range_view(cloud((pixel_centre_direction(row, col), 7.0)), SPEC)
    assert proj.point_vu[0].tolist() == [row, col]
    assert proj.mask[row, col] and proj.mask.sum() == 1
    x, y, z = (pixel_centre_direction(row, col) * 7.0).tolist()
    assert proj.features[:, row, col].tolist() == pytest.approx([7.0, z, 0.5, x, y], abs=1e-5)


def test_nearest_point_wins_its_pixel_and_occluded_points_keep_their_pixel_index():
    direction = pixel_centre_direction(5, 40)
    points = cloud((direction, 10.0), (direction, 5.0), (direction * 1.0001, 20.0), (pixel_centre_direction(5, 41), 8.0))
    proj = project_to_range_view(points, SPEC)
    assert proj.pixel_point[5, 40].item() == 1
    assert proj.features[0, 5, 40].item() == pytest.approx(5.0, rel=1e-5)
    assert proj.visible.tolist() == [False, True, False, True]
    # Every point, also those that lost their pixel, maps back to its pixel with its own range.
    assert proj.point_vu[:3].tolist() == [[5, 40]] * 3
    assert proj.point_range[:3].tolist() == pytest.approx([10.0, 5.0, 20.002], rel=1e-4)
    assert int(proj.mask.sum()) == 2


def test_equal_ranges_give_the_pixel_to_the_lower_point_index():
    d = pixel_centre_direction(2, 2)
    proj = project_to_range_view(cloud((d, 4.0), (d, 4.0)), SPEC)
    assert proj.pixel_point[2, 2].item() == 0
    assert proj.visible.tolist() == [True, False]


def test_points_either_side_of_the_180_degree_seam_fall_in_the_first_and_last_columns():
    points = torch.tensor([[-10.0, 0.05, 0.0, 0.0], [-10.0, -0.05, 0.0, 0.0], [-10.0, 0.0, 0.0, 0.0]])
    proj = project_to_range_view(points, SPEC)
    assert proj.point_vu[:, 1].tolist() == [0, 127, 0]


def test_empty_pixels_hold_zero_features_and_no_point():
    proj = project_to_range_view(cloud((pixel_centre_direction(1, 1), 3.0)), SPEC)
    assert proj.features.abs().sum().item() == pytest.approx(proj.features[:, 1, 1].abs().sum().item())
    assert (proj.pixel_point == -1).sum().item() == 16 * 128 - 1


def test_projection_rejects_points_without_intensity():
    with pytest.raises(ModelInputError, match=r"\(N, 4\)"):
        project_to_range_view(torch.zeros(5, 3), SPEC)


def test_spec_presets_match_the_sensors():
    assert RangeViewSpec.hdl64() == RangeViewSpec(64, 2048, 3.0, -25.0)
    assert RangeViewSpec.vlp32() == RangeViewSpec(32, 1024, 10.0, -30.0)
    with pytest.raises(ModelInputError, match="fov_up_deg"):
        RangeViewSpec(16, 128, -30.0, 10.0)
