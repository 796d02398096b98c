#!/usr/bin/env bash
# Source the apt ROS 2 install and the workspace overlay, then run the command (default: the vehicle launch).
set -eo pipefail
# shellcheck disable=SC1091
source /opt/ros/jazzy/setup.bash
# shellcheck disable=SC1091
source /workspace/install/setup.bash
# Whole sweeps and images over shared memory (Fast DDS's default segment loses most of them; docs/benchmarks.md).
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-/workspace/install/panoptic_bringup/share/panoptic_bringup/config/fastdds_large_messages.xml}"
exec "$@"
