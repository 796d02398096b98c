"""The only room that imports rclpy and message types: conversions, QoS, sync, diagnostics."""
