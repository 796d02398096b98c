#!/usr/bin/env bash
# One idempotent set-up: virtual environment in .venv, pinned packages, CMake mend, colcon build.
# Each step is skipped when its inputs have not changed since it last succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
python=${PYTHON:-python3.11}

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment in .venv ($python)"
  "$python" -m venv "$venv"
fi

req_hash=$(cat requirements/*.txt tools/mend_ros_cmake.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements-hash" 2>/dev/null)" != "$req_hash" ]; then
  echo "setup: installing pinned requirements"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'pip>=24' 'setuptools<80' wheel
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements/base.txt -c requirements/lock.txt
  # Test-only peers whose declared dependencies would pull conflicting pins: their real needs are in base.txt.
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r requirements/nodeps.txt -c requirements/lock.txt
  "$venv/bin/python" tools/mend_ros_cmake.py "$venv"
  echo "$req_hash" > "$venv/.requirements-hash"
fi

src_hash=$(find src tools/ros_overlay colcon.meta -type f \( -name package.xml -o -name setup.py -o -name setup.cfg \
  -o -name CMakeLists.txt -o -name '*.msg' -o -name '*.srv' -o -name colcon.meta -o -path '*/resource/*' \
  -o -path '*/launch/*' -o -path '*/config/*' -o -path '*/rviz/*' -o -path '*/foxglove/*' \) | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat install/.source-hash 2>/dev/null)" != "$src_hash-$req_hash" ]; then
  echo "setup: colcon build"
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
  export AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
  packages=(src/*/)
  # tf2_msgs has no PyPI wheel: build the interface-only overlay where it is missing.
  env -u PYTHONPATH "$venv/bin/python" -c "import tf2_msgs" 2>/dev/null || packages+=(tools/ros_overlay/tf2_msgs)
  colcon --log-base log build --paths "${packages[@]}" --symlink-install --event-handlers console_cohesion- summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$venv/bin/python"
  echo "$src_hash-$req_hash" > install/.source-hash
fi
