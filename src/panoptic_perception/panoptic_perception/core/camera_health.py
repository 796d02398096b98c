"""Camera faults that make an image worse than none: black (no exposure) and frozen (repeated) frames."""

from __future__ import annotations

import hashlib

import numpy as np


class CameraHealth:
    """Remembers each camera's last image digest; ``check`` returns why an image is unusable, or None."""

    def __init__(self, black_level: float = 4.0, frozen_after: int = 2) -> None:
        if frozen_after < 2:
            raise ValueError(f"frozen_after must be >= 2 identical frames, got {frozen_after}")
        self.black_level = black_level  # mean 8-bit intensity below which a frame is black
        self.frozen_after = frozen_after  # identical consecutive frames that make a camera frozen
        self._last: dict[str, tuple[bytes, int]] = {}

    def check(self, name: str, rgb: np.ndarray) -> str | None:
        # A strided sample is enough to tell a repeated frame from a live one and costs microseconds.
        digest = hashlib.blake2b(np.ascontiguousarray(rgb[::7, ::7]).tobytes(), digest_size=16).digest()
        previous, identical = self._last.get(name, (b"", 0))
        identical = identical + 1 if digest == previous else 1
        self._last[name] = (digest, identical)
        if identical >= self.frozen_after:
            return f"camera {name}: frozen ({identical} identical frames)"
        if float(rgb.mean()) < self.black_level:
            return f"camera {name}: black image (mean intensity {float(rgb.mean()):.1f})"
        return None
