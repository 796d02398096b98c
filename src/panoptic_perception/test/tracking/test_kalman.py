from __future__ import annotations

import numpy as np
import pytest

from panoptic_perception.tracking import ConstantVelocityKalman, TrackerConfigError, chi2_gate


def test_filter_converges_on_a_noisy_constant_velocity_target() -> None:
    rng = np.random.default_rng(3)
    kf = ConstantVelocityKalman(process_noise=0.1, measurement_noise=0.2)
    velocity = np.array([3.0, -1.0, 0.2])
    start = np.array([10.0, 5.0, 1.0])
    mean, cov = kf.initiate(start + rng.normal(scale=0.2, size=3))
    dt = 0.1
    for k in range(1, 80):
        mean, cov = kf.predict(mean, cov, dt)
        truth = start + velocity * k * dt
        mean, cov = kf.update(mean, cov, truth + rng.normal(scale=0.2, size=3))
    assert np.linalg.norm(mean[3:] - velocity) < 0.3
    assert np.linalg.norm(mean[:3] - truth) < 0.2  # better than one raw measurement's 0.35 m expected error
    assert np.allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


def test_predict_moves_the_state_by_velocity_times_dt_and_grows_the_covariance() -> None:
    kf = ConstantVelocityKalman(process_noise=1.0, measurement_noise=0.1)
    mean = np.array([1.0, 2.0, 3.0, 2.0, 0.0, -1.0])
    cov = np.eye(6) * 0.01
    new_mean, new_cov = kf.predict(mean, cov, 0.5)
    np.testing.assert_allclose(new_mean, [2.0, 2.0, 2.5, 2.0, 0.0, -1.0])
    assert np.all(np.diag(new_cov) > np.diag(cov))


def test_predict_and_update_work_on_a_batch_of_tracks() -> None:
    kf = ConstantVelocityKalman()
    mean, cov = kf.initiate(np.array([[0.0, 0, 0], [5.0, 5, 0]]))
    mean, cov = kf.predict(mean, cov, 0.1)
    batch_mean, batch_cov = kf.update(mean, cov, np.array([[0.1, 0, 0], [5.0, 5.2, 0]]))
    single_mean, single_cov = kf.update(mean[1], cov[1], np.array([5.0, 5.2, 0]))
    np.testing.assert_allclose(batch_mean[1], single_mean)
    np.testing.assert_allclose(batch_cov[1], single_cov)


def test_chi_square_gate_is_the_quantile_of_three_degrees_of_freedom() -> None:
    assert chi2_gate(3, 0.95) == pytest.approx(7.8147, abs=1e-3)
    assert chi2_gate(3, 0.99) == pytest.approx(11.3449, abs=1e-3)
    with pytest.raises(TrackerConfigError, match="probability"):
        chi2_gate(3, 1.0)


def test_gating_distance_is_the_squared_mahalanobis_distance_and_gates_95_percent() -> None:
    kf = ConstantVelocityKalman(process_noise=1.0, measurement_noise=0.5)
    mean = np.array([0.0, 0, 0, 1, 0, 0])
    cov = np.diag([0.25, 1.0, 4.0, 1, 1, 1])
    S = np.diag([0.5, 1.25, 4.25])
    z = np.array([[0.0, 0, 0], [np.sqrt(0.5), 0, 0], [0, 0, 2 * np.sqrt(4.25)]])
    np.testing.assert_allclose(kf.gating_distance(mean, cov, z)[0], [0.0, 1.0, 4.0])
    samples = np.random.default_rng(0).multivariate_normal(np.zeros(3), S, size=4000)
    inside = np.mean(kf.gating_distance(mean, cov, samples)[0] <= chi2_gate(3, 0.95))
    assert 0.935 < inside < 0.965


def test_non_positive_noise_is_rejected() -> None:
    with pytest.raises(TrackerConfigError, match="positive"):
        ConstantVelocityKalman(process_noise=0.0)
