"""Static checks run as tests, as ament_lint does in a ROS package: ruff over every Python file."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_sources_pass_ruff():
    result = subprocess.run(["ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
