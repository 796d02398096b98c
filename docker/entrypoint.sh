#!/usr/bin/env bash
# Source the apt ROS 2 install and the workspace overlay, then run the command (default: the vehicle launch).
set -eo pipefail
# shellcheck disable=SC1091
source /opt/ros/jazzy/setup.bash
# shellcheck disable=SC1091
source /workspace/install/setup.bash
exec "$@"
