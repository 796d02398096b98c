"""ROS side of panoptic_datasets: LabeledFrame <-> messages and the player node (the only rclpy code here)."""
