"""Online panoptic perception for a vehicle with a spinning LiDAR and cameras."""

__version__ = "0.1.0"
