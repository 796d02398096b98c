import numpy as np
import pytest

from panoptic_perception.mapping.track_motion import moving_tracks, odom_velocities


def pose(yaw: float, x: float, y: float) -> np.ndarray:
    T = np.eye(4)
    T[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    T[:2, 3] = x, y
    return T


def sensor_frame_velocity(world_point_now, world_velocity, T_now, T_prev, dt):
    """What a tracker in the sensor frame sees: the point's sensor-frame displacement over dt."""
    world_prev = world_point_now - world_velocity * dt
    now = np.linalg.inv(T_now) @ np.append(world_point_now, 1.0)
    prev = np.linalg.inv(T_prev) @ np.append(world_prev, 1.0)
    return now[:3], (now[:3] - prev[:3]) / dt


@pytest.mark.parametrize("yaw_rate", [0.0, 0.3])
def test_a_parked_car_seen_from_a_driving_and_turning_vehicle_does_not_move_in_the_odom_frame(yaw_rate):
    dt = 0.1
    T_prev, T_now = pose(0.2, 5.0, 1.0), pose(0.2 + yaw_rate * dt, 6.0, 1.0)  # 10 m/s
    parked = np.array([20.0, 4.0, 0.5])
    centre, v_sensor = sensor_frame_velocity(parked, np.zeros(3), T_now, T_prev, dt)
    assert np.linalg.norm(v_sensor) > 9.0  # relative to the vehicle it rushes by
    v = odom_velocities(v_sensor[None], centre[None], T_now, T_prev, dt)
    np.testing.assert_allclose(v, 0.0, atol=1e-9)
    assert moving_tracks(np.array([7]), v, 0.5) == {7: False}


def test_a_car_driving_alongside_is_moving_in_the_odom_frame():
    dt = 0.1
    T_prev, T_now = pose(0.0, 0.0, 0.0), pose(0.0, 1.0, 0.0)
    other = np.array([10.0, 3.5, 0.5])
    centre, v_sensor = sensor_frame_velocity(other, np.array([10.0, 0.0, 0.0]), T_now, T_prev, dt)
    assert np.linalg.norm(v_sensor) < 1e-9  # same speed as the vehicle: still in the sensor frame
    v = odom_velocities(v_sensor[None], centre[None], T_now, T_prev, dt)
    np.testing.assert_allclose(v[0], [10.0, 0.0, 0.0], atol=1e-9)
    assert moving_tracks(np.array([3]), v, 0.5) == {3: True}


def test_a_non_positive_interval_is_refused():
    with pytest.raises(ValueError, match="dt_s"):
        odom_velocities(np.zeros((1, 3)), np.zeros((1, 3)), np.eye(4), np.eye(4), 0.0)
