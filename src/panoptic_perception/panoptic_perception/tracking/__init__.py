"""ROS-free panoptic tracking (PanopticTrackNet / MOPT): detections, association, track life cycle, fusion."""

from .association import AssociationResult, EmbeddingAssociation, confident, hungarian
from .baselines import CentroidKalmanAssociation, PointIoUAssociation
from .batches import DetectionBatch, TrackBatch
from .combined import EmbeddingMotionAssociation
from .config import TrackerConfig
from .errors import TrackerConfigError, TrackingError, TrackingInputError
from .kalman import ConstantVelocityKalman, chi2_gate
from .panoptic_fusion import PanopticFusionResult, fuse_panoptic
from .registry import ASSOCIATIONS
from .reid import Graveyard, ReIdentification
from .segments import segment_detections
from .track_table import TrackTable
from .tracker import PanopticTracker, TrackOutput, assign_track_ids, matches_of
from .types import Detection, Track, TrackState

__all__ = [
    "ASSOCIATIONS",
    "AssociationResult",
    "CentroidKalmanAssociation",
    "ConstantVelocityKalman",
    "Detection",
    "DetectionBatch",
    "EmbeddingAssociation",
    "EmbeddingMotionAssociation",
    "Graveyard",
    "PanopticFusionResult",
    "PanopticTracker",
    "PointIoUAssociation",
    "ReIdentification",
    "Track",
    "TrackBatch",
    "TrackOutput",
    "TrackState",
    "TrackTable",
    "TrackerConfig",
    "TrackerConfigError",
    "TrackingError",
    "TrackingInputError",
    "assign_track_ids",
    "chi2_gate",
    "confident",
    "fuse_panoptic",
    "hungarian",
    "matches_of",
    "segment_detections",
]
