"""What a loaded model directory hands to backend factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from panoptic_perception.models import UPFuse, UPFuseConfig


@dataclass
class ModelArtifacts:
    """A validated model: config, eval-mode network, and its ONNX file (exported on first request)."""

    directory: Path
    config: UPFuseConfig
    model: UPFuse
    metadata: dict[str, str]
    weights_sha256: str
    export: Callable[[], Path] = field(repr=False)
    _onnx_path: Path | None = field(default=None, repr=False)

    def onnx_path(self) -> Path:
        if self._onnx_path is None:
            self._onnx_path = self.export()
        return self._onnx_path
