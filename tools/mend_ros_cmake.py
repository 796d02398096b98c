"""Point the CMake exports of the PyPI ROS wheels at this environment's Python and NumPy headers.

The wheels are built in a manylinux container, and their exported targets name
/opt/python/cp311-cp311/... include directories that exist only there; CMake refuses
imported targets with missing include paths. Rewriting them inside the virtual
environment needs no root and is idempotent.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PREFIX = "/opt/python/cp311-cp311"
REPLACEMENTS = {
    f"{BUILD_PREFIX}/include/python3.11": sysconfig.get_paths()["include"],
    f"{BUILD_PREFIX}/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
}


def mend(prefix: Path) -> int:
    mended = 0
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        if BUILD_PREFIX not in text:
            continue
        for old, new in REPLACEMENTS.items():
            text = text.replace(old, new)
        path.write_text(text)
        mended += 1
    return mended


def main() -> None:
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    for new in REPLACEMENTS.values():
        if not Path(new).is_dir():
            sys.exit(f"mend_ros_cmake: include directory {new} does not exist")
    print(f"mend_ros_cmake: rewrote {mend(prefix)} CMake export file(s) under {prefix}/share")


if __name__ == "__main__":
    main()
