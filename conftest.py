"""Workspace-wide pytest set-up: every test session talks DDS on its own, localhost only.

A domain id derived from the process id keeps parallel runs (two CI jobs, two developers)
from hearing each other; localhost-only discovery keeps traffic off the network.
"""

import os

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")
