"""One feature cache for every extractor, classical or deep.

An entry is keyed by the extractor's name, its parameters and version, and the
SHA-256 of the image file's bytes, so a changed image, a changed parameter or a
bumped version never hits a stale entry.  Each entry is an ``.npz`` holding the
vector and a checksum of its bytes; a corrupt or truncated entry is detected on
read, deleted and reported as a miss (the caller recomputes it).  Writes are
atomic (temporary file + ``os.replace``), so an interrupted run leaves no
half-written entry behind and parallel workers may share one directory.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["FeatureCache", "file_digest", "params_digest", "default_cache_dir"]

_DIGESTS: dict[tuple[str, int, int], str] = {}


def default_cache_dir() -> Path:
    """``$IQABENCH_CACHE`` or ``~/.cache/iqabench``."""
    env = os.environ.get("IQABENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "iqabench"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (memoised on path, size and mtime within a process)."""
    p = os.fspath(path)
    st = os.stat(p)
    memo = (os.path.abspath(p), st.st_size, st.st_mtime_ns)
    if memo in _DIGESTS:
        return _DIGESTS[memo]
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    _DIGESTS[memo] = digest
    return digest


def params_digest(name: str, version: str, params: Mapping[str, Any] | None) -> str:
    """Stable short digest of an extractor's identity (name, version, parameters)."""
    blob = json.dumps({"name": name, "version": version, "params": dict(params or {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class FeatureCache:
    """Directory-backed cache of 1-D feature vectors.

    ``FeatureCache(None)`` is a disabled cache (every lookup misses, nothing is written).
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def key(self, name: str, version: str, params: Mapping[str, Any] | None, image_path) -> str:
        return f"{name}/{params_digest(name, version, params)}/{file_digest(image_path)}"

    def _path(self, key: str) -> Path:
        assert self.root is not None
        name, pd, fd = key.split("/")
        return self.root / name / pd / fd[:2] / f"{fd}.npz"

    def get(self, key: str) -> np.ndarray | None:
        if self.root is None:
            self.misses += 1
            return None
        path = self._path(key)
        if not path.exists():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                vec = np.array(z["x"], dtype=np.float64)
                check = str(z["sha"])
            if hashlib.sha256(vec.tobytes()).hexdigest() != check or not np.all(np.isfinite(vec)):
                raise ValueError("checksum mismatch")
        except Exception:
            self.corrupt += 1
            self.misses += 1
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self.hits += 1
        return vec

    def put(self, key: str, vec: np.ndarray) -> None:
        if self.root is None:
            return
        vec = np.ascontiguousarray(vec, dtype=np.float64)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, x=vec, sha=np.array(hashlib.sha256(vec.tobytes()).hexdigest()))
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
