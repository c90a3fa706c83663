"""Shared fixtures: the ../shared folder (skip when absent), a private feature cache, small images."""
from __future__ import annotations

import os
from pathlib import Path

# One BLAS/OpenMP thread per process: the 2-core CI machine is several times slower with more.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Tests and CI never download backbone weights (deep.backbones fails at once instead).
os.environ["IQABENCH_OFFLINE"] = "1"

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IQABENCH_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or skip the test with the reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (the ../shared folder beside the checkout is absent)")
    return p


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op torch thread in tests that use torch (the 2 shared cores spin with more)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the feature cache of the test run out of the user's home."""
    old = os.environ.get("IQABENCH_CACHE")
    os.environ["IQABENCH_CACHE"] = str(tmp_path_factory.mktemp("iqabench-cache"))
    yield
    if old is None:
        os.environ.pop("IQABENCH_CACHE", None)
    else:
        os.environ["IQABENCH_CACHE"] = old


@pytest.fixture(scope="session")
def astronaut_small() -> np.ndarray:
    """scikit-image's astronaut photo, 128x128 RGB uint8 (ships with scikit-image)."""
    from skimage import data, transform

    img = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True)
    return (img * 255).round().astype(np.uint8)


@pytest.fixture(scope="session")
def calibration_pairs():
    """The 5 TID2013 calibration pairs and the official values, or skip."""
    import pandas as pd

    root = shared_path("data", "calibration")
    official = pd.read_csv(root / "results_official.csv", index_col=0)
    return root, official


@pytest.fixture
def use_entries():
    """``use_entries(registry, *entries, only=False)``: these registry entries for this test only
    (``only=True``: nothing else); the registry is restored afterwards (``Registry.temporarily``)."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield lambda registry, *entries, only=False: stack.enter_context(registry.temporarily(*entries, only=only))
