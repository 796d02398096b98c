"""Typed errors of the odometry core."""


class OdometryInputError(ValueError):
    """An argument has the wrong shape, dtype or range; the message names the argument."""


class DegenerateGeometryError(RuntimeError):
    """The data do not constrain the estimate (e.g. ICP correspondences that leave a direction free)."""
