"""A non-editable install (``pip install .``) carries its goldens and finds the shared data.

Slow (builds and installs the package, then checks the goldens from the installed copy, outside
the checkout): ``python -m pytest -m slow tests/test_install.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK = r"""
import json, sys
from pathlib import Path
import benchmark, benchmark.goldens as g
site = Path(sys.argv[1]).resolve()
out = {"package": str(Path(benchmark.__file__).resolve()), "reference": str(g.REFERENCE_DIR),
       "files": sorted(p.name for p in g.REFERENCE_DIR.glob("*")), "shared": str(g.find_shared()),
       "ids": sorted(g.golden_images(g.find_shared())["id"])}
out["in_site"] = str(g.REFERENCE_DIR.resolve()).startswith(str(site))
out["problems"] = g.check_goldens(quick_table=False) if sys.argv[2] == "check" else None
print(json.dumps(out))
"""


def _installed(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(REPO)], check=True, cwd=tmp_path)
    return site


def _run(site: Path, cwd: Path, mode: str, env_extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("IQABENCH_SHARED", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), **env_extra)
    res = subprocess.run([sys.executable, "-c", CHECK, str(site), mode], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_non_editable_install_checks_its_goldens(tmp_path):
    site = _installed(tmp_path)
    shared = REPO.parent / "shared"
    env = {"IQABENCH_SHARED": str(shared)} if shared.is_dir() else {}
    out = _run(site, tmp_path, "check", env)
    assert out["package"].startswith(str(site.resolve()))          # the installed copy, not the checkout
    assert out["in_site"]
    assert {"per_image_metrics.csv", "quick_table.csv", "svr_predictions.csv", "cnn_forward.csv",
            "cnn_train_step.csv", "tolerances.json"} <= set(out["files"])
    assert out["problems"] == [], out["problems"]
    if shared.is_dir():
        assert any(i.startswith("calibration/") for i in out["ids"])


@pytest.mark.slow
def test_non_editable_install_finds_shared_beside_the_current_directory(tmp_path):
    shared = REPO.parent / "shared"
    if not shared.is_dir():
        pytest.skip(f"needs {shared}")
    site = _installed(tmp_path)
    out = _run(site, REPO, "find", {})                                # run from the checkout: ../shared
    assert Path(out["shared"]).resolve() == shared.resolve()
    assert any(i.startswith("calibration/") for i in out["ids"])
    out = _run(site, tmp_path, "find", {})                            # elsewhere, no variable: none
    assert out["shared"] == "None"
