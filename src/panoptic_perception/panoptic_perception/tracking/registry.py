"""Association strategies selectable by name (``TrackerConfig.association``)."""

from __future__ import annotations

from .association import EmbeddingAssociation
from .baselines import CentroidKalmanAssociation, PointIoUAssociation
from .combined import EmbeddingMotionAssociation

ASSOCIATIONS: dict[str, type[EmbeddingAssociation | EmbeddingMotionAssociation | CentroidKalmanAssociation
                             | PointIoUAssociation]] = {
    "embedding": EmbeddingAssociation,
    "embedding_motion": EmbeddingMotionAssociation,
    "centroid_kalman": CentroidKalmanAssociation,
    "point_iou": PointIoUAssociation,
}
