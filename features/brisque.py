"""BRISQUE features (Mittal, Moorthy & Bovik, IEEE TIP 21(12), 2012), 36-D.

Follows the authors' MATLAB release (``brisquescore.m`` / ``brisque_feature.m``):

* **Grey**: RGB ``uint8`` -> MATLAB ``rgb2gray`` *on uint8* (so rounded to integers,
  half away from zero) -> double on ``[0, 255]`` (:func:`features.matlab.gray_double`,
  also exported here as ``to_gray_uint8``).  A grey array is used as given (float in
  ``[0, 1]`` is scaled to ``[0, 255]``).
* **MSCN** (paper Eq. 1-3): ``(I - mu) / (sigma + C)``, ``C = 1``; ``mu`` and
  ``sigma`` from a 7x7 Gaussian window, ``sigma_g = 7/6``, normalised to sum 1,
  applied as MATLAB ``filter2(w, I, 'same')`` (**zero padding** outside the image;
  :func:`features.matlab.filter2`);
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
  :func:`features.matlab.imresize`) of the first.

Feature order (per scale, 18 values; scale 1 then scale 2):
``[alpha, sigma^2, (nu, eta, sl^2, sr^2) for H, V, D1, D2]``.

OpenCV contrib's ``cv2.quality.QualityBRISQUE_computeFeatures`` differs in its
conventions (replicated border, zero-filled instead of wrapped shifts, an AGGD
instead of a GGD fit on the MSCN field with ``(sl^2 + sr^2) / 2`` as variance,
``cv2.resize`` ``INTER_CUBIC`` without antialiasing for scale 2, float32
arithmetic); ``tests/test_brisque.py`` rebuilds OpenCV's variant from these
building blocks to check them tightly and pins the per-feature differences of the
MATLAB variant.

Speed: per scale, one pass over strips of rows (each strip's buffers stay in cache) computes
the MSCN field (the same values as :func:`mscn`), its moments and, for the rows whose
neighbours are ready, the four paired products and their AGGD moments (never the whole
product array, no ``np.roll`` copies; a shifted product is one 1-D product of the flattened
field, as numpy buffers gapped 2-D views; ``sum |v|`` is one L1 norm).  The sums differ from
whole-array sums only in rounding (< 1e-13 relative); the half scale is one sparse product per
axis (:func:`imresize`).  ``bench/bench_speed.py`` compares it with OpenCV's C++.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.special import gamma as _gamma

from ._ggd import ggd_table
from ._scratch import scratch
from ._threads import single_threaded_blas
from .extraction import register_extractor
from .imageio import ImageError, check_min_size, check_not_constant
from .matlab import gaussian_1d, gray_double, imfilter, imresize

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

#: ``local_mean_std`` boundary -> :func:`features.matlab.imfilter` boundary
_BORDERS = {"zero": "zero", "replicate": "replicate", "symmetric": "symmetric"}

FEATURE_NAMES: tuple[str, ...] = tuple(
    f"s{s}_{n}" for s in (1, 2)
    for n in ["mscn_alpha", "mscn_var"] + [f"{o}_{p}" for o in SHIFTS for p in ("nu", "eta", "lvar", "rvar")]
)


#: ``double(rgb2gray(I))`` of uint8 RGB (rounded), grey input as float64 (see :func:`features.matlab.gray_double`).
to_gray_uint8 = gray_double


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` normalised to sum 1."""
    return gaussian_1d(size, sigma)


_WIN = gaussian_window()


def local_mean_std(image: np.ndarray, window: np.ndarray | None = None,
                   boundary: str = "zero") -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted local mean and std (``sqrt(|E[x^2] - mu^2|)``), separable filtering.

    ``boundary="zero"`` is MATLAB ``filter2(..., 'same')``; ``"replicate"`` is OpenCV's
    ``BORDER_REPLICATE``; ``"symmetric"`` mirrors (``scipy`` ``reflect``).
    """
    w = _WIN if window is None else np.asarray(window, dtype=np.float64)
    border = _BORDERS[boundary]
    x = np.ascontiguousarray(image, dtype=np.float64)
    mu = imfilter(x, (w, w), border)
    sigma = imfilter(np.multiply(x, x, out=scratch("brisque_sq", x.shape)), (w, w), border)
    t = np.multiply(mu, mu, out=scratch("brisque_t", mu.shape))
    sigma -= t
    np.abs(sigma, out=sigma)
    return mu, np.sqrt(sigma, out=sigma)


def mscn(image: np.ndarray, c: float = C, boundary: str = "zero") -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + c)`` (Eq. 1)."""
    img = np.asarray(image, dtype=np.float64)
    mu, sigma = local_mean_std(img, boundary=boundary)
    sigma += c
    np.subtract(img, mu, out=mu)
    return np.divide(mu, sigma, out=mu)


def fit_ggd(x: np.ndarray) -> tuple[float, float]:
    """Moment-matching GGD fit (``estimateggdparam``): ``(alpha, sigma^2)``."""
    v = np.asarray(x, dtype=np.float64).ravel()
    buf = scratch("brisque_ggd", v.shape)
    sigma_sq = float(np.multiply(v, v, out=buf).mean())
    e = float(np.abs(v, out=buf).mean())
    if e == 0.0:
        return float("nan"), sigma_sq
    return float(_TABLE.nearest(sigma_sq / (e * e))), sigma_sq


def fit_aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Moment-matching AGGD fit (``estimateaggdparam``): ``(nu, eta, sl^2, sr^2)``.

    Zeros count in the overall moments but in neither side's variance, as in MATLAB.
    Returns NaNs when one side is empty (e.g. a constant region).
    """
    v = np.ascontiguousarray(x, dtype=np.float64).ravel()
    vn = np.minimum(v, 0.0, out=scratch("brisque_vn", v.shape))   # the negative part (zeros elsewhere)
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


def _circshift_parts(n: int, shift: int) -> list[tuple[slice, slice]]:
    """``(dst, src)`` slices along one axis with ``circshift(x, shift)[dst] == x[src]``."""
    k = shift % n
    if k == 0:
        return [(slice(None), slice(None))]
    return [(slice(k, None), slice(None, n - k)), (slice(None, k), slice(n - k, None))]


def _shifted_product(m: np.ndarray, shift: tuple[int, int], out: np.ndarray) -> np.ndarray:
    """``out = m * circshift(m, shift)`` (MATLAB wrap-around) without building the shifted copy."""
    for rd, rs in _circshift_parts(m.shape[0], shift[0]):
        for cd, cs in _circshift_parts(m.shape[1], shift[1]):
            np.multiply(m[rd, cd], m[rs, cs], out=out[rd, cd])
    return out


def paired_products(m: np.ndarray) -> dict[str, np.ndarray]:
    """``m * circshift(m, shift)`` for the H, V, D1, D2 neighbours (wrap-around, as MATLAB)."""
    return {name: _shifted_product(m, shift, np.empty_like(m)) for name, shift in SHIFTS.items()}


_STRIP_ELEMENTS = 30_000     # pixels per strip of the fused per-scale pass (its buffers stay in L2)


def _strips(h: int, w: int) -> list[tuple[int, int]]:
    rows = max(8, _STRIP_ELEMENTS // max(w, 1))
    return [(r0, min(h, r0 + rows)) for r0 in range(0, h, rows)]


def _row_parts(r0: int, r1: int, dy: int, h: int) -> list[tuple[slice, slice]]:
    """``(dst rows within the strip, source rows)`` with ``circshift(x, dy)[r0:r1][dst] == x[src]``."""
    parts, i = [], r0
    while i < r1:
        src = (i - dy) % h
        n = min(r1 - i, h - src)                                   # up to the wrap of the source
        parts.append((slice(i - r0, i - r0 + n), slice(src, src + n)))
        i += n
    return parts


class _AggdMoments:
    """Running moments of ``v = m * circshift(m, shift)`` over the rows added so far:
    ``#(v<0)``, ``sum v^2``, ``sum_{v<0} v^2``, ``sum |v|`` (the product is only ever held
    for a strip of rows)."""

    __slots__ = ("abs_total", "cols", "dx", "dy", "n_neg", "neg_sq", "sum_sq")

    def __init__(self, shift: tuple[int, int], w: int):
        self.dy, self.dx = shift
        self.cols = _circshift_parts(w, shift[1])
        self.n_neg = 0
        self.sum_sq = self.neg_sq = self.abs_total = 0.0

    def _product(self, m: np.ndarray, r0: int, r1: int, v: np.ndarray) -> None:
        """``v = circshift(m, shift)[r0:r1] * m[r0:r1]``.

        Without a row wrap and with a column shift of 0 or 1 the shifted rows are one contiguous
        run of the flattened ``m`` (offset ``dy * w + dx``), multiplied as 1-D arrays (numpy
        buffers gapped 2-D views, several times slower); the wrapped first column is then
        redone.  Otherwise the product is assembled from the wrap-around parts.
        """
        h, w = m.shape
        dy, dx = self.dy, self.dx
        if dx in (0, 1) and 0 <= r0 - dy and r1 - dy <= h:
            flat = m.reshape(-1)
            off = dy * w + dx
            vf = v.reshape(-1)
            np.multiply(flat[r0 * w + dx:r1 * w], flat[r0 * w + dx - off:r1 * w - off], out=vf[dx:])
            if dx:
                np.multiply(m[r0:r1, 0], m[r0 - dy:r1 - dy, w - 1], out=v[:, 0])
            return
        for rd, rs in _row_parts(r0, r1, dy, h):
            for cd, cs in self.cols:
                np.multiply(m[r0:r1][rd, cd], m[rs, cs], out=v[rd, cd])

    def add(self, m: np.ndarray, r0: int, r1: int, prod: np.ndarray, neg: np.ndarray) -> None:
        """Add rows ``r0:r1`` of the product (their source rows of ``m`` must be final)."""
        if r1 <= r0:
            return
        v = prod[:r1 - r0]
        self._product(m, r0, r1, v)
        vn = np.minimum(v, 0.0, out=neg[:r1 - r0])
        self.n_neg += cv2.countNonZero(vn)
        fv, fn = v.ravel(), vn.ravel()
        self.sum_sq += float(np.dot(fv, fv))            # BLAS: one thread (brisque_features)
        self.neg_sq += float(np.dot(fn, fn))
        self.abs_total += cv2.norm(v, cv2.NORM_L1)


def _scale_moments(img: np.ndarray) -> tuple[float, float, list[tuple[int, int, float, float, float]]]:
    """One pass over strips of rows: :func:`mscn` (same values) and, while each strip is in
    cache, the paired products of the rows whose neighbours are ready.

    Returns ``sum(m^2)``, ``sum(|m|)`` and per shift (:data:`SHIFTS` order) the moments of
    :func:`_aggd_from_moments` (``#(v<0), #(v>0), sum v^2, sum_{v<0} v^2, sum |v|``).
    Each strip is filtered with the 3 rows above and below it (zeros only at the image edges,
    MATLAB ``filter2``), so its values do not depend on the strip height; the sums differ from
    whole-array sums only in rounding.
    """
    h, w = img.shape
    rad = WINDOW // 2
    m = np.empty((h, w))
    strips = _strips(h, w)
    rows = strips[0][1]
    tmp = scratch("brisque_tmp", (min(h, rows + 2 * rad), w))
    prod = scratch("brisque_prod", (rows, w))
    neg = scratch("brisque_neg", (rows, w))
    acc = {name: _AggdMoments(shift, w) for name, shift in SHIFTS.items()}
    up = [a for name, a in acc.items() if SHIFTS[name][0] == 1]      # partner one row above (V, D1)
    down = [a for name, a in acc.items() if SHIFTS[name][0] == -1]   # partner one row below (D2)
    level = [a for name, a in acc.items() if SHIFTS[name][0] == 0]   # same row (H)
    assert len(up) + len(down) + len(level) == len(SHIFTS)
    sum_sq = sum_abs = 0.0
    zeros = False
    for r0, r1 in strips:
        a0, a1 = max(0, r0 - rad), min(h, r1 + rad)
        x = img[a0:a1]
        crop = slice(r0 - a0, r1 - a0)
        mu = cv2.sepFilter2D(x, cv2.CV_64F, _WIN, _WIN, borderType=cv2.BORDER_CONSTANT)[crop]
        sq = np.multiply(x, x, out=tmp[:a1 - a0])
        sig = cv2.sepFilter2D(sq, cv2.CV_64F, _WIN, _WIN, borderType=cv2.BORDER_CONSTANT)[crop]
        mu2 = np.multiply(mu, mu, out=tmp[:r1 - r0])
        cv2.absdiff(sig, mu2, dst=sig)                              # |E[x^2] - mu^2|
        np.sqrt(sig, out=sig)
        sig += C                                                    # sigma + C
        out = m[r0:r1]
        np.subtract(img[r0:r1], mu, out=out)
        np.divide(out, sig, out=out)
        flat = out.ravel()
        sum_sq += float(np.dot(flat, flat))             # BLAS: one thread (brisque_features)
        sum_abs += cv2.norm(out, cv2.NORM_L1)
        zeros = zeros or cv2.countNonZero(out) < out.size
        for a in level:
            a.add(m, r0, r1, prod, neg)
        for a in up:                                    # row 0 pairs with the last row: at the end
            a.add(m, max(r0, 1), r1, prod, neg)
        for a in down:                                  # the strip's last row waits for the next strip
            a.add(m, max(r0 - 1, 0), min(r1 - 1, h - 1), prod, neg)
    for a in up:
        a.add(m, 0, 1, prod, neg)
    for a in down:
        a.add(m, h - 1, h, prod, neg)
    n = h * w
    out_moments = []
    for name, a in acc.items():
        if zeros:                                       # v = 0 where either factor is 0
            z = m == 0
            n_nz = int(np.count_nonzero(~(z | np.roll(z, SHIFTS[name], axis=(0, 1)))))
        else:
            n_nz = n
        out_moments.append((a.n_neg, n_nz - a.n_neg, a.sum_sq, a.neg_sq, a.abs_total))
    return sum_sq, sum_abs, out_moments


def _aggd_from_moments(n_neg: int, n_pos: int, sum_sq: float, neg_sq: float, abs_total: float,
                       n: int) -> tuple[float, float, float, float]:
    """``estimateaggdparam`` from the moments of :class:`_AggdMoments` (see :func:`fit_aggd`)."""
    if n_neg == 0 or n_pos == 0:
        return (float("nan"),) * 4
    lvar = neg_sq / n_neg
    rvar = (sum_sq - neg_sq) / n_pos
    lstd, rstd = np.sqrt(lvar), np.sqrt(rvar)
    g = lstd / rstd
    abs_mean = abs_total / n
    rhat = abs_mean ** 2 / (sum_sq / n)
    rhatnorm = rhat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    nu = float(_TABLE.grid[np.argmin((_R_AGGD - rhatnorm) ** 2)])
    eta = (rstd - lstd) * (_gamma(2 / nu) / _gamma(1 / nu)) * np.sqrt(_gamma(1 / nu)) / np.sqrt(_gamma(3 / nu))
    return nu, float(eta), lvar, rvar


def _scale_features(gray: np.ndarray) -> list[float]:
    """The 18 features of one scale: :func:`mscn`, :func:`fit_ggd` and :func:`fit_aggd` of the
    :func:`paired_products`, fused into one strip-wise pass (equal up to summation order)."""
    img = np.ascontiguousarray(gray, dtype=np.float64)
    sum_sq, sum_abs, moments = _scale_moments(img)
    n = img.size
    sigma_sq, e = sum_sq / n, sum_abs / n
    feats = [float(_TABLE.nearest(sigma_sq / (e * e))) if e != 0.0 else float("nan"), sigma_sq]
    for mom in moments:
        feats.extend(_aggd_from_moments(*mom, n=n))
    return feats


@single_threaded_blas
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
    label="BRISQUE", svr_kernel="rbf",
    description="36 spatial NSS features (MSCN GGD + paired-product AGGD fits, 2 scales)",
)
