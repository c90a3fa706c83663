"""BRISQUE features (Mittal, Moorthy & Bovik, IEEE TIP 21(12), 2012), 36-D.

Follows the authors' MATLAB release (``brisquescore.m`` / ``brisque_feature.m``):

* **Grey**: RGB ``uint8`` -> MATLAB ``rgb2gray`` *on uint8* (so rounded to integers,
  half away from zero) -> double on ``[0, 255]`` (:func:`to_gray_uint8`).  A grey
  array is used as given (float in ``[0, 1]`` is scaled to ``[0, 255]``).
* **MSCN** (paper Eq. 1-3): ``(I - mu) / (sigma + C)``, ``C = 1``; ``mu`` and
  ``sigma`` from a 7x7 Gaussian window, ``sigma_g = 7/6``, normalised to sum 1,
  applied as MATLAB ``filter2(w, I, 'same')`` (**zero padding** outside the image);
  ``sigma = sqrt(|E[I^2] - mu^2|)``.
* **GGD** fit of the MSCN field (Eq. 4, moment matching ``estimateggdparam``):
  shape ``alpha`` and variance ``sigma^2 = mean(x^2)``.
* **Paired products** (Eq. 7-10) of each MSCN pixel with its neighbour obtained by
  MATLAB ``circshift`` (wrap-around) by ``[0 1]`` (H), ``[1 0]`` (V), ``[1 1]`` (D1),
  ``[-1 1]`` (D2); **AGGD** fit (Eq. 5-6, ``estimateaggdparam``): shape ``nu``,
  mean ``eta = (sr - sl) Gamma(2/nu) / sqrt(Gamma(1/nu) Gamma(3/nu))``, left and
  right variances.
* Shapes are chosen on the grid ``0.2:0.001:10`` (nearest moment ratio), exactly as
  the release does.
* **Two scales**: the second is MATLAB ``imresize(I, 0.5)`` (bicubic, antialiased;
  :func:`features.imresize.imresize`) of the first.

Feature order (per scale, 18 values; scale 1 then scale 2):
``[alpha, sigma^2, (nu, eta, sl^2, sr^2) for H, V, D1, D2]``.

OpenCV contrib's ``cv2.quality.QualityBRISQUE_computeFeatures`` differs in its
conventions (replicated border, zero-filled instead of wrapped shifts, an AGGD
instead of a GGD fit on the MSCN field with ``(sl^2 + sr^2) / 2`` as variance,
``cv2.resize`` ``INTER_CUBIC`` without antialiasing for scale 2, float32
arithmetic); ``tests/test_brisque.py`` rebuilds OpenCV's variant from these
building blocks to check them tightly and pins the per-feature differences of the
MATLAB variant.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.special import gamma as _gamma

from ._ggd import ggd_table
from .extraction import register_extractor
from .imageio import ImageError, as_rgb_uint8, check_min_size, check_not_constant, rgb_to_gray
from .imresize import imresize

__all__ = [
    "to_gray_uint8",
    "gaussian_window",
    "local_mean_std",
    "mscn",
    "fit_ggd",
    "fit_aggd",
    "paired_products",
    "brisque_features",
    "extract",
    "FEATURE_NAMES",
    "SHIFTS",
]

VERSION = "1"
WINDOW = 7
SIGMA = 7.0 / 6.0
C = 1.0
# (row, column) circshift offsets of brisque_feature.m: H, V, D1, D2.
SHIFTS: dict[str, tuple[int, int]] = {"H": (0, 1), "V": (1, 0), "D1": (1, 1), "D2": (-1, 1)}

_TABLE = ggd_table(0.2, 10.0, 0.001)          # gam = 0.2:0.001:10 and r(gam) of the release
_R_AGGD = 1.0 / _TABLE.ratio                  # Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g))

_BORDERS = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE, "symmetric": cv2.BORDER_REFLECT}

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"s{s}_{n}" for s in (1, 2)
    for n in ["mscn_alpha", "mscn_var"] + [f"{o}_{p}" for o in SHIFTS for p in ("nu", "eta", "lvar", "rvar")]
)


def to_gray_uint8(image: np.ndarray, source: object = None) -> np.ndarray:
    """Grey ``[0, 255]`` float64 as MATLAB ``double(rgb2gray(uint8 RGB))`` (rounded to integers).

    A 2-D (grey) array is returned as float64 without rounding (``[0, 1]`` floats are
    scaled by 255, uint16 by ``1/257``), as the MATLAB code would take it.
    """
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return rgb_to_gray(arr, source)
    rgb = as_rgb_uint8(arr, source)
    return np.floor(rgb_to_gray(rgb, source) + 0.5)


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` normalised to sum 1."""
    x = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def local_mean_std(image: np.ndarray, window: np.ndarray | None = None,
                   boundary: str = "zero") -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted local mean and std (``sqrt(|E[x^2] - mu^2|)``), separable filtering.

    ``boundary="zero"`` is MATLAB ``filter2(..., 'same')``; ``"replicate"`` is OpenCV's
    ``BORDER_REPLICATE``; ``"symmetric"`` mirrors (``scipy`` ``reflect``).
    """
    w = gaussian_window() if window is None else np.asarray(window, dtype=np.float64)
    border = _BORDERS[boundary]

    def blur(a: np.ndarray) -> np.ndarray:  # separable correlation (the window is symmetric)
        return cv2.sepFilter2D(a, cv2.CV_64F, w, w, borderType=border)

    img = np.ascontiguousarray(image, dtype=np.float64)
    mu = blur(img)
    sigma = np.sqrt(np.abs(blur(img * img) - mu * mu))
    return mu, sigma


def mscn(image: np.ndarray, c: float = C, boundary: str = "zero") -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + c)`` (Eq. 1)."""
    img = np.asarray(image, dtype=np.float64)
    mu, sigma = local_mean_std(img, boundary=boundary)
    return (img - mu) / (sigma + c)


def fit_ggd(x: np.ndarray) -> tuple[float, float]:
    """Moment-matching GGD fit (``estimateggdparam``): ``(alpha, sigma^2)``."""
    v = np.asarray(x, dtype=np.float64).ravel()
    sigma_sq = float(np.mean(v * v))
    e = float(np.mean(np.abs(v)))
    if e == 0.0:
        return float("nan"), sigma_sq
    return float(_TABLE.nearest(sigma_sq / (e * e))), sigma_sq


def fit_aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Moment-matching AGGD fit (``estimateaggdparam``): ``(nu, eta, sl^2, sr^2)``.

    Zeros count in the overall moments but in neither side's variance, as in MATLAB.
    Returns NaNs when one side is empty (e.g. a constant region).
    """
    v = np.ascontiguousarray(x, dtype=np.float64).ravel()
    vn = np.minimum(v, 0.0)                     # the negative part (zeros elsewhere)
    n_neg = int(np.count_nonzero(vn))
    n_pos = int(np.count_nonzero(v)) - n_neg
    if n_neg == 0 or n_pos == 0:
        return (float("nan"),) * 4
    sum_sq = float(np.einsum("i,i->", v, v))      # einsum, not BLAS dot: no thread start-up cost
    neg_sq = float(np.einsum("i,i->", vn, vn))
    lvar = neg_sq / n_neg
    rvar = (sum_sq - neg_sq) / n_pos
    lstd, rstd = np.sqrt(lvar), np.sqrt(rvar)
    g = lstd / rstd
    abs_mean = (float(v.sum()) - 2.0 * float(vn.sum())) / v.size     # |v| = v - 2 min(v, 0)
    rhat = abs_mean ** 2 / (sum_sq / v.size)
    rhatnorm = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    nu = float(_TABLE.grid[np.argmin((_R_AGGD - rhatnorm) ** 2)])
    eta = (rstd - lstd) * (_gamma(2 / nu) / _gamma(1 / nu)) * np.sqrt(_gamma(1 / nu)) / np.sqrt(_gamma(3 / nu))
    return nu, float(eta), lvar, rvar


def paired_products(m: np.ndarray) -> dict[str, np.ndarray]:
    """``m * circshift(m, shift)`` for the H, V, D1, D2 neighbours (wrap-around, as MATLAB)."""
    return {name: m * np.roll(m, shift, axis=(0, 1)) for name, shift in SHIFTS.items()}


def _scale_features(gray: np.ndarray) -> list[float]:
    m = mscn(gray)
    feats = list(fit_ggd(m))
    for prod in paired_products(m).values():
        feats.extend(fit_aggd(prod))
    return feats


def brisque_features(gray: np.ndarray, scales: int = 2) -> np.ndarray:
    """36 BRISQUE features of a grey ``[0, 255]`` float image (no checks; see :func:`extract`)."""
    img = np.asarray(gray, dtype=np.float64)
    feats: list[float] = []
    for s in range(scales):
        if s:
            img = imresize(img, 0.5)
        feats.extend(_scale_features(img))
    return np.asarray(feats, dtype=np.float64)


def extract(image: np.ndarray, scales: int = 2) -> np.ndarray:
    """BRISQUE feature vector (``18 * scales`` values) of an RGB uint8 or grey image.

    Raises :class:`ImageError` for constant images and images smaller than 7x7 at the
    coarsest scale (14x14 for two scales).
    """
    gray = to_gray_uint8(image)
    side = WINDOW * 2 ** (scales - 1)
    check_min_size(gray, side, what=f"BRISQUE minimum ({WINDOW}x{WINDOW} window at the coarsest of {scales} scales)")
    check_not_constant(gray)
    vec = brisque_features(gray, scales)
    if not np.all(np.isfinite(vec)):
        raise ImageError(None, "BRISQUE statistics undefined (an MSCN product has no negative or no positive "
                               "values: nearly flat image)")
    return vec


register_extractor(
    "brisque", extract, version=VERSION, params={"scales": 2},
    paper="Mittal, Moorthy & Bovik, No-reference image quality assessment in the spatial domain, "
          "IEEE TIP 21(12):4695-4708, 2012",
    reference="LIVE BRISQUE release (brisque_feature.m), http://live.ece.utexas.edu/research/quality/",
)
