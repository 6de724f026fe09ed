"""Packaging: ``pip install .`` gives the library and a working ``se-analysis`` command.

The dependencies in pyproject.toml (plus its ``test`` extra) are requirements.txt's, pins included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_pyproject_declares_the_requirements_and_the_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["test"]
    assert sorted(declared) == sorted(_requirements())
    assert "torch==2.14.1" in project["project"]["dependencies"]
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["scripts"] == {"se-analysis": "se_analysis.cli:main"}


def test_pip_install_gives_a_working_se_analysis_command(tmp_path):
    # Build from a copy, so that the checkout gets no build/ or egg-info folders.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "se_analysis", src / "se_analysis", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    # The dependencies are this environment's own (installing torch again would copy gigabytes).
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True, text=True, timeout=300)
    script = target / "bin" / "se-analysis"
    assert script.exists()
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([str(script), "models"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "default" in out.stdout and "SE gates" in out.stdout
    where = subprocess.run([sys.executable, "-c", "import se_analysis; print(se_analysis.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=120)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr  # the installed copy ran
