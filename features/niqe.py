"""NIQE, the opinion-unaware "completely blind" quality index (Mittal, Soundararajan & Bovik,
IEEE SPL 20(3):209-212, 2013).  Lower is better.

Follows the authors' release (``niqe_release.zip``: ``computequality.m``,
``computefeature.m``, ``estimateaggdparam.m``, ``estimatemodelparam.m``):

* **Grey**: RGB ``uint8`` -> MATLAB ``rgb2gray`` rounded to integers -> double on
  ``[0, 255]`` (:func:`features.brisque.to_gray_uint8`); the image is cropped to a whole
  number of ``96 x 96`` blocks (top-left part kept).
* **MSCN** (paper Eq. 1): ``(I - mu) / (sigma + 1)``, ``mu`` and ``sigma`` from the 7x7
  Gaussian window (``sigma_g = 7/6``, normalised) applied as ``imfilter(..., 'replicate')``.
  Where ``|I - mu| < 1e-9`` (a constant 7x7 neighbourhood: in exact arithmetic ``I = mu``) the
  coefficient is set to exactly 0.  Left as computed, such residues are rounding noise whose
  sign decides whether they join the left or the right side of the AGGD fits, and so whether
  they count in ``beta_l`` or ``beta_r``; images with flat areas then move by several percent
  between implementations (3.4% on calibration image I19, 0.35% with the rule).
* **Per block** (``blkproc``; ``96 x 96`` at scale 1, ``48 x 48`` at scale 2), 18 features
  (paper Sec. III-B): an AGGD fit of the MSCN block (``estimateaggdparam``: shape ``alpha``,
  left and right scales ``beta_l/r = std_l/r * sqrt(Gamma(1/alpha) / Gamma(3/alpha))``) gives
  ``[alpha, (beta_l + beta_r) / 2]``; then for the products of each coefficient with its
  neighbour by ``circshift`` **within the block** (wrap-around) by ``[0 1]``, ``[1 0]``,
  ``[1 1]``, ``[1 -1]``: ``[alpha, (beta_r - beta_l) Gamma(2/alpha) / Gamma(1/alpha),
  beta_l, beta_r]``.  Shapes are the nearest point of the grid ``0.2:0.001:10`` (first on ties).
* **Two scales**: the second is MATLAB ``imresize(I, 0.5)`` (bicubic, antialiased;
  :func:`features.imresize.imresize`) of the cropped grey image: 36 features per block.
* **Quality** (Eq. 10): a multivariate Gaussian is fitted to the image's block features
  (``nanmean``; ``nancov`` over the blocks without NaN) and compared with the pristine
  model: ``sqrt((mu_p - mu_d)^T pinv((S_p + S_d) / 2) (mu_p - mu_d))``, ``pinv`` with
  MATLAB's tolerance.  As in ``computequality.m`` every block of the test image is used.
* **Pristine model** (:func:`fit_pristine_model`, ``estimatemodelparam.m``): the same block
  features of pristine images, keeping only blocks whose mean local ``sigma`` (at scale 1)
  exceeds ``sharpness_threshold`` (0.75) times the image's largest one; then mean and
  covariance.  :func:`load_pristine_model` returns the release's ``modelparameters.mat``
  (stored as text in ``features/data/niqe_pristine.txt``, with its provenance).

Reproduces the release row (``niqe``) of the calibration file within 1% per image
(``tests/test_niqe.py``), not MATLAB's built-in ``niqe`` (``niqe_matlab``), which ships a
different default model.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import gamma as _gamma

from ._ggd import aggd_ratio
from .brisque import gaussian_window, local_mean_std, to_gray_uint8
from .extraction import Score, register_extractor
from .imageio import ImageError, check_not_constant, load_image
from .imresize import imresize

__all__ = [
    "BLOCK_SIZE",
    "FEATURE_NAMES",
    "MODEL_FILE",
    "SHARPNESS_THRESHOLD",
    "PristineModel",
    "block_features",
    "extract",
    "fit_pristine_model",
    "load_pristine_model",
    "niqe",
]

VERSION = "1"
BLOCK_SIZE = 96
SHARPNESS_THRESHOLD = 0.75
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))     # circshift offsets of computefeature.m
FLAT_EPS = 1e-9          # |I - mu| below this (grey levels) is rounding residue: MSCN set to exactly 0
MODEL_FILE = Path(__file__).resolve().parent / "data" / "niqe_pristine.txt"

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"s{s}_{n}" for s in (1, 2)
    for n in ["mscn_alpha", "mscn_beta"] + [f"{o}_{p}" for o in ("H", "V", "D1", "D2")
                                            for p in ("alpha", "mean", "beta_l", "beta_r")]
)

_GRID = 0.2 + 0.001 * np.arange(9801, dtype=np.float64)       # MATLAB 0.2:0.001:10
_R_GRID = aggd_ratio(_GRID)                                   # Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g)), increasing


@dataclass(frozen=True)
class PristineModel:
    """A multivariate Gaussian of NIQE block features: ``mu`` (36,) and ``cov`` (36, 36)."""

    mu: np.ndarray
    cov: np.ndarray
    block_size: int = BLOCK_SIZE
    source: str = ""

    def __post_init__(self):
        mu = np.asarray(self.mu, dtype=np.float64).ravel()
        cov = np.asarray(self.cov, dtype=np.float64)
        if mu.shape != (36,) or cov.shape != (36, 36):
            raise ValueError(f"a NIQE model needs mu (36,) and cov (36, 36), got {mu.shape} and {cov.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
            raise ValueError("a NIQE model must be finite")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "cov", cov)

    @property
    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of the parameters: part of the feature-cache key."""
        h = hashlib.sha256(self.mu.tobytes() + self.cov.tobytes() + str(int(self.block_size)).encode())
        return h.hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as text (line 1: mu; then the rows of cov), loadable by :meth:`load`."""
        path = Path(path)
        header = f"NIQE pristine model, block size {int(self.block_size)}. {self.source}".strip()
        np.savetxt(path, np.vstack([self.mu[None], self.cov]), header=header)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, block_size: int = BLOCK_SIZE) -> PristineModel:
        arr = np.loadtxt(path, dtype=np.float64)
        if arr.shape != (37, 36):
            raise ValueError(f"{path}: expected 37 rows of 36 values (mu, then cov), got {arr.shape}")
        return cls(arr[0], arr[1:], block_size, source=str(path))


@lru_cache(maxsize=1)
def load_pristine_model() -> PristineModel:
    """The release's ``modelparameters.mat`` (``mu_prisparam``, ``cov_prisparam``; 96 x 96 blocks)."""
    m = PristineModel.load(MODEL_FILE)
    return PristineModel(m.mu, m.cov, BLOCK_SIZE, source="authors' release niqe_release.zip, modelparameters.mat")


def _blocks(a: np.ndarray, size: int) -> np.ndarray:
    """``(n_blocks, size, size)`` in MATLAB column-major block order (``blkproc`` then ``(:)``)."""
    h, w = a.shape
    nr, nc = h // size, w // size
    b = a[:nr * size, :nc * size].reshape(nr, size, nc, size)
    return b.transpose(2, 0, 1, 3).reshape(nr * nc, size, size)


def _nearest_shape(rho: np.ndarray) -> np.ndarray:
    """Grid shape whose AGGD ratio is nearest ``rho`` (MATLAB ``min``: first index on ties); NaN stays NaN."""
    rho = np.asarray(rho, dtype=np.float64)
    out = np.full(rho.shape, np.nan)
    ok = np.isfinite(rho)
    r = rho[ok]
    hi = np.clip(np.searchsorted(_R_GRID, r, side="left"), 0, _R_GRID.size - 1)
    lo = np.clip(hi - 1, 0, _R_GRID.size - 1)
    pick_lo = (r - _R_GRID[lo]) ** 2 <= (_R_GRID[hi] - r) ** 2
    out[ok] = _GRID[np.where(pick_lo, lo, hi)]
    return out


def _aggd(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise ``estimateaggdparam``: ``(alpha, beta_l, beta_r)`` of each row of ``v`` (NaN when a side is empty)."""
    neg, pos = v < 0, v > 0
    n_neg, n_pos = neg.sum(1), pos.sum(1)
    sq = v * v
    with np.errstate(invalid="ignore", divide="ignore"):
        lstd = np.sqrt(np.where(neg, sq, 0.0).sum(1) / n_neg)
        rstd = np.sqrt(np.where(pos, sq, 0.0).sum(1) / n_pos)
        g = lstd / rstd
        rhat = np.mean(np.abs(v), 1) ** 2 / np.mean(sq, 1)
        rhatnorm = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    alpha = _nearest_shape(rhatnorm)
    with np.errstate(invalid="ignore"):
        k = np.sqrt(_gamma(1.0 / alpha) / _gamma(3.0 / alpha))
    return alpha, lstd * k, rstd * k


def _scale_features(mscn: np.ndarray, size: int) -> np.ndarray:
    """``(n_blocks, 18)`` features of one scale (``computefeature.m`` on every block)."""
    b = _blocks(mscn, size)
    n = b.shape[0]
    a, bl, br = _aggd(b.reshape(n, -1))
    cols = [a, (bl + br) / 2.0]
    for shift in SHIFTS:
        prod = b * np.roll(b, shift, axis=(1, 2))     # circshift within each block
        a, bl, br = _aggd(prod.reshape(n, -1))
        with np.errstate(invalid="ignore"):
            cols += [a, (br - bl) * (_gamma(2.0 / a) / _gamma(1.0 / a)), bl, br]
    return np.column_stack(cols)


def _gray(image: np.ndarray) -> np.ndarray:
    return to_gray_uint8(image)


def block_features(image: np.ndarray, block_size: int = BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(features (n_blocks, 36), sharpness (n_blocks,))`` of an RGB uint8 or grey ``[0, 255]`` image.

    Sharpness is the mean local ``sigma`` of each block at scale 1 (``computemean`` of the release).
    Raises :class:`ImageError` when the image holds fewer than two blocks (no covariance).
    """
    img = _gray(image)
    h, w = img.shape
    nr, nc = h // block_size, w // block_size
    if nr * nc < 2:
        raise ImageError(None, f"image is {h}x{w}: NIQE needs at least two {block_size}x{block_size} blocks")
    img = img[:nr * block_size, :nc * block_size]
    check_not_constant(img)
    window = gaussian_window(7, 7.0 / 6.0)
    feats, sharp = [], None
    for scale in (1, 2):
        mu, sigma = local_mean_std(img, window=window, boundary="replicate")
        diff = img - mu
        diff[np.abs(diff) < FLAT_EPS] = 0.0        # rounding residue in a constant neighbourhood
        mscn = diff / (sigma + 1.0)
        size = block_size // scale
        feats.append(_scale_features(mscn, size))
        if scale == 1:
            sharp = _blocks(sigma, size).mean(axis=(1, 2))
            img = imresize(img, 0.5)
    return np.hstack(feats), sharp


def _mvg(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``nanmean`` (per column) and ``nancov`` (rows with a NaN dropped, ``n - 1``)."""
    with np.errstate(invalid="ignore"):
        mu = np.nanmean(feats, axis=0)
    complete = feats[np.all(np.isfinite(feats), axis=1)]
    if len(complete) < 2:
        raise ImageError(None, "NIQE: fewer than two blocks with defined statistics (nearly flat image)")
    return mu, np.cov(complete, rowvar=False)


def niqe(image: np.ndarray, model: PristineModel | None = None) -> float:
    """NIQE of one image (lower is better) against ``model`` (default: the release's pristine model)."""
    m = load_pristine_model() if model is None else model
    feats, _ = block_features(image, m.block_size)
    mu, cov = _mvg(feats)
    if not np.all(np.isfinite(mu)):
        raise ImageError(None, "NIQE: a feature is undefined in every block (nearly flat image)")
    d = m.mu - mu
    s = (m.cov + cov) / 2.0
    tol = max(s.shape) * np.finfo(np.float64).eps           # MATLAB pinv tolerance, relative to sigma_max
    return float(np.sqrt(max(d @ np.linalg.pinv(s, rcond=tol) @ d, 0.0)))


def fit_pristine_model(images: Iterable, block_size: int = BLOCK_SIZE,
                       sharpness_threshold: float = SHARPNESS_THRESHOLD) -> PristineModel:
    """Fit a pristine model on your own undistorted images (``estimatemodelparam.m``).

    ``images``: arrays (RGB uint8 or grey ``[0, 255]``) or image paths.  From each image the
    blocks whose sharpness exceeds ``sharpness_threshold`` times the image's sharpest block
    are kept; the model is the mean (``nanmean``) and covariance (``nancov``) of their features.
    """
    kept = []
    n_images = 0
    for item in images:
        src = item if isinstance(item, (str, os.PathLike)) else None
        img = load_image(item) if src is not None else item
        try:
            feats, sharp = block_features(img, block_size)
        except ImageError as exc:
            raise ImageError(src if src is not None else exc.source, exc.reason) from None
        kept.append(feats[sharp > sharpness_threshold * sharp.max()])
        n_images += 1
    if not kept:
        raise ValueError("fit_pristine_model needs at least one image")
    mu, cov = _mvg(np.vstack(kept))
    return PristineModel(mu, cov, block_size,
                         source=f"fitted on {n_images} image(s), sharpness threshold {sharpness_threshold}")


def extract(image: np.ndarray, model: str = "release") -> np.ndarray:
    """The NIQE score as a 1-vector (the registered extractor; ``model`` names the pristine model)."""
    if model != "release":
        raise ValueError(f"unknown NIQE model {model!r}; pass a PristineModel to niqe() for your own")
    return np.array([niqe(image)])


register_extractor(
    "niqe", extract, version=VERSION, params={"model": "release"},
    paper="Mittal, Soundararajan & Bovik, Making a 'completely blind' image quality analyzer, "
          "IEEE Signal Processing Letters 20(3):209-212, 2013",
    reference="niqe_release.zip (computequality.m, modelparameters.mat), http://live.ece.utexas.edu/research/quality/",
    label="NIQE",
    scores=(Score("niqe", 0, "NIQE", higher_better=False, score_range=(0.0, float("inf")),
                  paper="Mittal, Soundararajan & Bovik, Making a 'completely blind' image quality analyzer, "
                        "IEEE SPL 20(3), 2013",
                  description="training-free (opinion-unaware): distance of the image's 96x96-block NSS "
                              "features to the release's pristine multivariate Gaussian"),),
)
