# Source me: the workspace environment (virtual environment + colcon overlay).
_ws_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "$_ws_root/.venv/bin/activate"
export AMENT_PREFIX_PATH=$_ws_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
# shellcheck disable=SC1091
. "$_ws_root/install/setup.bash"
unset _ws_root
# Console scripts (panoptic-data, panoptic-eval, ...) install where `ros2 run` finds them; put them on PATH too.
for _dir in "$(dirname "${BASH_SOURCE[0]}")"/../install/panoptic_*/lib/panoptic_*; do
  [ -d "$_dir" ] && PATH=$(cd "$_dir" && pwd):$PATH
done
unset _dir
export PATH
