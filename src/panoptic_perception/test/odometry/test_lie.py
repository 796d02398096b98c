"""pypose conventions the odometry core relies on, checked numerically."""

import math

import pypose as pp
import pytest
import torch

from panoptic_perception.odometry import OdometryInputError, adjoint_matrix, as_se3, retract

DT = torch.float64


def test_se3_exp_log_round_trip_recovers_the_tangent_vector():
    xi = 0.5 * torch.randn(20, 6, generator=torch.Generator().manual_seed(0), dtype=DT)
    torch.testing.assert_close(pp.se3(xi).Exp().Log().tensor(), xi, atol=1e-12, rtol=0)


def test_se3_log_exp_round_trip_recovers_the_group_element():
    T = pp.se3(0.5 * torch.randn(20, 6, generator=torch.Generator().manual_seed(1), dtype=DT)).Exp()
    torch.testing.assert_close(T.Log().Exp().matrix(), T.matrix(), atol=1e-12, rtol=0)


def test_quaternion_is_stored_xyzw_with_scalar_last():
    # A rotation of 90 deg about z: q = (0, 0, sin 45, cos 45) in xyzw order.
    T = pp.se3(torch.tensor([1.0, 2.0, 3.0, 0.0, 0.0, math.pi / 2], dtype=DT)).Exp()
    s = math.sqrt(0.5)
    torch.testing.assert_close(T.tensor()[3:], torch.tensor([0.0, 0.0, s, s], dtype=DT), atol=1e-12, rtol=0)
    torch.testing.assert_close(T.Act(torch.tensor([1.0, 0.0, 0.0], dtype=DT))[:2] - T.tensor()[:2],
                               torch.tensor([0.0, 1.0], dtype=DT), atol=1e-12, rtol=0)


def test_tangent_order_is_translation_then_rotation():
    T = pp.se3(torch.tensor([0.3, -0.2, 0.1, 0.0, 0.0, 0.0], dtype=DT)).Exp()
    torch.testing.assert_close(T.tensor(), torch.tensor([0.3, -0.2, 0.1, 0, 0, 0, 1], dtype=DT), atol=1e-12, rtol=0)


def test_adjoint_matrix_satisfies_ad_t_xi_equals_log_t_exp_xi_t_inverse():
    gen = torch.Generator().manual_seed(2)
    T = pp.se3(0.5 * torch.randn(10, 6, generator=gen, dtype=DT)).Exp()
    xi = 0.3 * torch.randn(10, 6, generator=gen, dtype=DT)
    lhs = (adjoint_matrix(T) @ xi[..., None])[..., 0]
    rhs = (T * pp.se3(xi).Exp() * T.Inv()).Log().tensor()
    torch.testing.assert_close(lhs, rhs, atol=1e-10, rtol=0)


def test_retract_is_a_left_multiplicative_update():
    gen = torch.Generator().manual_seed(3)
    T = pp.se3(0.5 * torch.randn(4, 6, generator=gen, dtype=DT)).Exp()
    xi = 0.1 * torch.randn(4, 6, generator=gen, dtype=DT)
    torch.testing.assert_close(retract(T, xi).matrix(), pp.se3(xi).Exp().matrix() @ T.matrix(), atol=1e-12, rtol=0)


def test_as_se3_raises_on_a_tensor_without_seven_components():
    with pytest.raises(OdometryInputError, match=r"poses: expected \(\.\.\., 7\)"):
        as_se3(torch.zeros(3, 6))
