"""Evaluation metrics: panoptic, tracking, odometry, image/video and depth."""
