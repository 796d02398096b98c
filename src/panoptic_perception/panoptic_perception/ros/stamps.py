"""``builtin_interfaces/Time`` <-> integer nanoseconds, and header filling."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

from .errors import ConversionError

_NS_PER_S = 1_000_000_000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def stamp_to_ns(stamp: Time) -> int:
    """Nanoseconds since the epoch of ``stamp`` (``sec`` is signed, ``nanosec`` in [0, 1e9))."""
    sec, nanosec = int(stamp.sec), int(stamp.nanosec)
    if not 0 <= nanosec < _NS_PER_S:
        raise ConversionError(f"stamp.nanosec must be in [0, 1e9), got {nanosec}")
    return sec * _NS_PER_S + nanosec


def ns_to_stamp(ns: int) -> Time:
    """The ``Time`` for integer nanoseconds; floor division keeps ``nanosec`` non-negative."""
    ns = int(ns)
    sec, nanosec = divmod(ns, _NS_PER_S)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        raise ConversionError(f"stamp {ns} ns does not fit builtin_interfaces/Time.sec (int32)")
    return Time(sec=sec, nanosec=nanosec)


def make_header(header: Header | None = None, frame_id: str = "", stamp_ns: int | None = None) -> Header:
    """A new header: a copy of ``header`` (or an empty one) with ``frame_id``/``stamp_ns`` overriding when given."""
    out = Header()
    if header is not None:
        out.frame_id = header.frame_id
        out.stamp = Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec)
    if frame_id:
        out.frame_id = frame_id
    if stamp_ns is not None:
        out.stamp = ns_to_stamp(stamp_ns)
    return out
