"""Association strategies selectable by name (``TrackerConfig.association``)."""

from __future__ import annotations

from .association import EmbeddingAssociation
from .baselines import CentroidKalmanAssociation, PointIoUAssociation

ASSOCIATIONS: dict[str, type[EmbeddingAssociation | CentroidKalmanAssociation | PointIoUAssociation]] = {
    "embedding": EmbeddingAssociation,
    "centroid_kalman": CentroidKalmanAssociation,
    "point_iou": PointIoUAssociation,
}
