"""Low-level quality cues of Yang, Peltoketo & Kämäräinen (paper 004, Sec. 3.4): sharpness, tone, colourfulness.

``extract(image)`` returns, in this order::

    [s3, fish, tone_p5, tone_p95, colourfulness]

Each cue is also a function (and a training-free NR score where it makes sense):

* :func:`s3_sharpness` -- S3 of Vu, Phan & Chandler (IEEE TIP 21(3), 2012), following
  the authors' ``s3_map.m``: grey ``[0, 255]`` (:func:`features.matlab.gray_double`);
  **spectral map** S1: 32x32 blocks every 8 px (75 % overlap) on the image padded by
  16/17 px (mirror incl. edge pixel), block skipped (S1 = 0) unless one of its 8x8
  sub-blocks (stride 4) in luminance ``(0.7656 + 0.0364 I)^2.2`` has mean > 2 (after
  inverting blocks brighter than 127.5) and range > 5; otherwise the block is windowed
  by MATLAB ``hanning(32)`` (outer product), the amplitude spectrum ``|fft2|`` (DC replaced by
  the mean of its two neighbours) is averaged over 360 orientations at radii 1..16 with
  the release's bilinear polar sampling (spectra in float32, see ``SPECTRAL_DTYPE``: the S1
  map moves by < 1e-6 and the index by < 1e-7 from double precision), the slope ``alpha``
  of ``log A`` vs ``log f``
  (``f = r / 32``) is fitted by least squares and ``S1 = 1 - 1 / (1 + exp(-3 (alpha - 2)))``
  (Eq. 4) fills the block's central 8x8; **spatial map** S2: max over 2x2 windows of
  the total variation (six absolute pair differences / 255) within each 8x8 block,
  divided by 4 (Eq. 6-7), on two block grids offset by 4 px, element-wise max;
  ``S3 = S1^0.5 * S2^0.5`` (Eq. 8); the index is the mean of the largest 1 %
  (``floor(N / 100)``) of the S3 map (Sec. IV).  All blocks are processed at once
  (batched FFT and a precomputed polar-averaging matrix), not in MATLAB's loops.
* :func:`fish_sharpness` -- FISH of Vu & Chandler (IEEE SPL 19(7), 2012), following
  ``fish.m``: 3-level CDF 9/7 DWT computed by the release's lifting scheme
  (``dwt_cdf97.m``, symmetric boundary; identical to PyWavelets ``bior4.4`` in
  ``reflect`` mode for even lengths, see tests), ``E_XY = log10(1 + mean(XY^2))``,
  ``E_n = 0.8 E_HH + 0.2 (E_LH + E_HL) / 2`` (Eq. 2, alpha = 0.8) and
  ``FISH = sum_n 2^(3-n) E_n`` (Eq. 3, n = 1 finest).  :func:`fish_bb_sharpness` is the
  block-based FISH_bb (``fish_bb.m``: 16x16 blocks, 50 % overlap, root mean square of
  the largest 1 % of the map).
* :func:`tone` -- 5th and 95th percentiles (and their difference, the tonal range) of the
  luma ``rgb2gray`` on ``[0, 255]`` (not rounded), as paper 004 following Aydın et al.
  (2015); percentiles use MATLAB ``prctile``'s definition (numpy ``method="hazen"``).
* :func:`colourfulness` -- Hasler & Süsstrunk (2003) ``M3 = sigma_rgyb + 0.3 mu_rgyb`` with
  ``rg = R - G``, ``yb = (R + G) / 2 - B`` on sRGB ``[0, 255]`` (population std).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft
from scipy import sparse

from ._threads import single_threaded_blas
from .extraction import Score, register_extractor
from .imageio import ImageError, as_rgb_uint8, check_min_size, check_not_constant, rgb_to_gray
from .matlab import gray_double as to_gray_uint8
from .matlab import hanning, prctile, rgb2gray

__all__ = [
    "s3_maps",
    "s3_sharpness",
    "fish_sharpness",
    "fish_bb_sharpness",
    "dwt_cdf97",
    "tone",
    "Tone",
    "colourfulness",
    "extract",
    "FEATURE_NAMES",
]

VERSION = "2"          # 2: S3 block spectra in float32 (S3 index moved < 3e-8)
FEATURE_NAMES = ("s3", "fish", "tone_p5", "tone_p95", "colourfulness")

S3_BLOCK = 32          # spectral block size
S3_STEP = 8            # spectral block stride (blk_size / 4)
S3_PAD = 16            # spectral padding (left/top; right/bottom get one more, as the release)
TV_BLOCK = 8           # spatial block size
MIN_SIDE = S3_BLOCK    # smallest image S3 accepts (one spectral block)


# ----------------------------------------------------------------------------- S3
_matlab_hanning = hanning          # MATLAB hanning(n) (features.matlab)


@lru_cache(maxsize=4)
def _polar_average_matrix(n: int) -> sparse.csr_matrix:
    """Sparse ``P`` (``n/2 x n*(n/2+1)``) with ``s = P @ |rfft2(block)|.ravel()``: ``eo_polaraverage``.

    For radius ``r = 1..n/2`` the amplitude is sampled at 360 angles with the release's
    bilinear rule (including its handling of negative coordinates), and the DC term is
    replaced by the mean of its two neighbours before sampling; both are linear in ``|F|``.
    The columns ``k2 > n/2`` of the full spectrum are folded onto the half spectrum with
    ``|F(k1, k2)| = |F(-k1, -k2)|`` (real input).
    """
    dr = 360
    P = np.zeros((n // 2, n * n))
    th = np.arange(dr) / dr * (2.0 * np.pi)
    for r in range(1, n // 2 + 1):
        x = r * np.sin(th)
        y = r * np.cos(th)
        x1 = np.sign(x) * np.floor(np.abs(x))
        x2 = np.sign(x) * np.ceil(np.abs(x))
        y1 = np.sign(y) * np.floor(np.abs(y))
        y2 = np.sign(y) * np.ceil(np.abs(y))
        ex = np.abs(x - x1)
        ey = np.abs(y - y1)
        negx, negy = x2 < 0, y2 < 0
        ex = np.where(negx, np.abs(x - x2), ex)
        ey = np.where(negy, np.abs(y - y2), ey)
        x1 = np.where(negx & (x1 < 0), n + x1, x1)
        x2 = np.where(negx, n + x2, x2)
        y1 = np.where(negy & (y1 < 0), n + y1, y1)
        y2 = np.where(negy, n + y2, y2)
        x1, x2, y1, y2 = (v.astype(np.int64) for v in (x1, x2, y1, y2))
        # z = f11 (1 - ex - ey + ex ey) + f21 ex (1 - ey) + f12 (1 - ex) ey + f22 ex ey
        for (xi, yi, w) in ((x1, y1, 1.0 - ex * (1 - ey) - (1 - ex) * ey - ex * ey),
                            (x2, y1, ex * (1 - ey)),
                            (x1, y2, (1 - ex) * ey),
                            (x2, y2, ex * ey)):
            np.add.at(P[r - 1], xi * n + yi, w / dr)
    # data(1,1) = (data(2,1) + data(1,2)) / 2
    dc = P[:, 0].copy()
    P[:, 0] = 0.0
    P[:, n] += dc / 2.0
    P[:, 1] += dc / 2.0
    half = n // 2 + 1
    k1, k2 = np.divmod(np.arange(n * n), n)
    folded = np.where(k2 < half, k1 * half + k2, ((-k1) % n) * half + (n - k2))
    Ph = np.zeros((n // 2, n * half))
    np.add.at(Ph.T, folded, P.T)
    return sparse.csr_matrix(Ph)


def _luminance(gray: np.ndarray) -> np.ndarray:
    return (0.7656 + 0.0364 * gray) ** 2.2


_LUM = _luminance(np.arange(256, dtype=np.float64))   # per grey level: the same values, looked up
#: precision of the S3 block spectra (FFTs and polar averaging; the log-log fit is float64):
#: single precision moves the S3 index by < 1e-8 (``tests/test_cues.py``)
SPECTRAL_DTYPE = np.float32
_FFT_BATCH = 256                                     # spectral blocks per FFT batch


@lru_cache(maxsize=4)
def _polar_average_dense(n: int) -> np.ndarray:
    """:func:`_polar_average_matrix` as a dense right operand: ``(n * (n/2+1)) x (n/2)``."""
    return np.ascontiguousarray(_polar_average_matrix(n).toarray().T, dtype=SPECTRAL_DTYPE)


def _window_stats(lum: np.ndarray, size: int, step: int, levels: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, max and min of the ``size x size`` windows of ``lum`` starting every ``step`` pixels
    (those that fit), as ``sliding_window_view(lum, (size, size))[::step, ::step]`` would give.

    ``levels``: uint8 grey levels with ``lum = _LUM[levels]``; the luminance is increasing in
    the level, so the extremes are looked up from the levels' extremes (same values).
    """
    rows = (lum.shape[0] - size) // step + 1
    cols = (lum.shape[1] - size) // step + 1
    keep = (slice(0, (rows - 1) * step + 1, step), slice(0, (cols - 1) * step + 1, step))
    kernel = np.ones((size, size), np.uint8)
    # anchor (0, 0): output (i, j) covers lum[i:i+size, j:j+size]; only windows inside are kept
    src = lum if levels is None else levels
    mx = cv2.dilate(src, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[keep]
    mn = cv2.erode(src, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[keep]
    if levels is not None:
        mx, mn = _LUM[mx], _LUM[mn]
    mean = cv2.boxFilter(lum, cv2.CV_64F, (size, size), anchor=(0, 0), normalize=True,
                         borderType=cv2.BORDER_REPLICATE)[keep]
    return mean, mx, mn


def _spectral_map(gray: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
    """S1 map (``spectral_map(img, 16)`` of ``s3_map.m``), same size as ``gray``.

    ``levels``: the same image as uint8 grey levels when it has integer values (the luminance
    is then looked up per level instead of computed per pixel).
    """
    h, w = gray.shape
    B, step, pad = S3_BLOCK, S3_STEP, S3_PAD
    widths = ((pad, pad + 1), (pad, pad + 1))
    padded = np.pad(gray, widths, mode="symmetric")
    nr, nc = h // step + 1, w // step + 1             # blocks start at 0, 8, ..., <= h in the padded image

    # Activity test: any 8x8 luminance sub-block (stride 4) with mean > 2 (after inversion
    # of bright sub-blocks) and range > 5 (contrast_map_overlap(...) > 0).
    plevels = np.pad(levels, widths, mode="symmetric") if levels is not None else None
    lum = _LUM[plevels] if plevels is not None else _luminance(padded)
    mean, mx, mn = _window_stats(lum, 8, 4, plevels)  # sub-blocks on the stride-4 grid
    rng = mx - mn
    mean = np.where(mean > 127.5, 255.0 - mean, mean)
    ok = (mean > 2) & (rng > 5)
    # block at (8i, 8j) owns sub-blocks (2i + a, 2j + b), a, b = 0..6
    ok_win = sliding_window_view(ok, (7, 7))[::2, ::2].any(axis=(2, 3))[:nr, :nc]

    idx = np.flatnonzero(ok_win.ravel())
    s1_blocks = np.zeros(nr * nc)
    if idx.size:
        # The windowed 2-D FFT of a block is a row pass (windowed rfft of its 32-pixel rows) then
        # a column pass; blocks 8 rows apart share 24 rows, so the row pass is done once per
        # (image row, block column) and gathered.
        win = hanning(B)
        seg = sliding_window_view(padded, B, axis=1)[:, ::step][:, :nc]   # (rows, nc, 32) row segments
        rows_ft = sfft.rfft(np.multiply(seg.transpose(1, 0, 2), win), axis=2)     # (nc, rows, 17), float64
        cdt = np.result_type(SPECTRAL_DTYPE, np.complex64)
        rows_ft = rows_ft.astype(cdt)
        win = win.astype(SPECTRAL_DTYPE)
        s0, s1, s2 = rows_ft.strides
        n_start = (rows_ft.shape[1] - B) // step + 1
        # cols_view[j, i] = rows_ft[j, 8 i : 8 i + 32]: the row-pass output of block (i, j), contiguous
        cols_view = np.lib.stride_tricks.as_strided(rows_ft, (nc, n_start, B, B // 2 + 1),
                                                    (s0, step * s1, s1, s2), writeable=False)
        polar = _polar_average_dense(B)
        spec = np.empty((idx.size, B // 2))
        for i in range(0, idx.size, _FFT_BATCH):      # batches: the blocks and spectra stay in cache
            part = idx[i:i + _FFT_BATCH]
            sel = cols_view[part % nc, part // nc]                         # (n, 32, 17): row, k2
            sel *= win[:, None]
            # the DC term is replaced before the polar average: remove the column k2 = 0 mean over
            # rows (changes only X(0, 0)) so that single precision keeps the small terms accurate
            sel[:, :, 0] -= sel[:, :, 0].mean(axis=1, keepdims=True)
            amp = np.abs(sfft.fft(sel, axis=1, overwrite_x=True))          # (n, 32, 17): k1, k2
            spec[i:i + part.size] = amp.reshape(part.size, -1) @ polar
        lf = np.log(np.linspace(0.0, 0.5, B // 2 + 1)[1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            ls = np.log(spec)
        lfc = lf - lf.mean()
        slope = ((ls - ls.mean(axis=1, keepdims=True)) * lfc).sum(axis=1) / (lfc * lfc).sum()
        alpha = -slope
        s1_blocks[idx] = 1.0 - 1.0 / (1.0 + np.exp(-3.0 * (alpha - 2.0)))
    s1_blocks = s1_blocks.reshape(nr, nc)
    # block k writes original rows 8k-4 .. 8k+3; rows beyond the last block stay 0 (-100 -> 0)
    rows = (np.arange(h) + step // 2) // step
    cols = (np.arange(w) + step // 2) // step
    out = np.zeros((h, w))
    vr, vc = rows < nr, cols < nc
    out[np.ix_(vr, vc)] = s1_blocks[np.ix_(rows[vr], cols[vc])]
    return out


def _spatial_map(gray: np.ndarray, pad: int, levels: np.ndarray | None = None) -> np.ndarray:
    """S2 map for one block grid (``spatial_map(img, pad)`` of ``s3_map.m``).

    With ``levels`` (uint8 grey levels of ``gray``) the total variations are summed in exact
    integers and divided by 255 after the block maximum (division is monotone: same values).
    """
    h, w = gray.shape
    widths = ((pad, pad + 1), (pad, pad + 1))
    if levels is not None:
        p = np.pad(levels, widths, mode="symmetric")
        a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
        tv = cv2.absdiff(a, b).astype(np.uint16)
        for x, y in ((a, c), (a, d), (d, c), (c, b), (d, b)):
            tv += cv2.absdiff(x, y)
    else:
        p = np.pad(gray, widths, mode="symmetric")
        a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
        tv = (np.abs(a - b) + np.abs(a - c) + np.abs(a - d) + np.abs(d - c) + np.abs(c - b) + np.abs(d - b)) / 255.0
    hp, wp = p.shape
    # blocks start at 0, 8, ... while the centre 8k + 5 (1-based) <= size - 4, i.e. 8k + 8 <= size - 1
    nr, nc = (hp - 1) // TV_BLOCK, (wp - 1) // TV_BLOCK
    # each 8x8 block takes the max over its 7x7 2x2-windows (window rows 8k .. 8k+6)
    grown = cv2.dilate(tv, np.ones((TV_BLOCK - 1, TV_BLOCK - 1), np.uint8), anchor=(0, 0),
                       borderType=cv2.BORDER_REPLICATE)
    blk = grown[:nr * TV_BLOCK:TV_BLOCK, :nc * TV_BLOCK:TV_BLOCK].astype(np.float64)
    if levels is not None:
        blk /= 255.0
    blk /= 4.0
    out = np.zeros((h, w))
    # padded row r belongs to block r // 8 (rows past the last whole block stay 0)
    rows, cols = np.arange(pad, pad + h) // TV_BLOCK, np.arange(pad, pad + w) // TV_BLOCK
    vr, vc = rows < nr, cols < nc
    out[np.ix_(vr, vc)] = blk[np.ix_(rows[vr], cols[vc])]
    return out


def _gray_levels(image: np.ndarray, min_side: int, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``double(rgb2gray(I))`` (checked) and, when it holds integer levels, the same as uint8."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        levels = rgb2gray(as_rgb_uint8(arr))
        gray = levels.astype(np.float64)
    elif arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1)):
        levels = np.ascontiguousarray(arr.reshape(arr.shape[:2]))
        gray = levels.astype(np.float64)
    else:
        levels, gray = None, to_gray_uint8(arr)
    check_min_size(gray, min_side, what=what)
    check_not_constant(gray)
    return gray, levels


def _gray_checked(image: np.ndarray, min_side: int, what: str) -> np.ndarray:
    return _gray_levels(image, min_side, what)[0]


@single_threaded_blas
def _s3_maps(gray: np.ndarray, levels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s1 = _spectral_map(gray, levels)
    s2 = np.maximum(_spatial_map(gray, 8, levels), _spatial_map(gray, 4, levels))
    return s1, s2, np.sqrt(s1) * np.sqrt(s2)


def _s3_index(gray: np.ndarray, levels: np.ndarray | None = None) -> float:
    s3 = _s3_maps(gray, levels)[2].ravel()
    k = max(1, s3.size // 100)
    return float(np.partition(s3, s3.size - k)[s3.size - k:].mean())


def s3_maps(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(S1, S2, S3)`` maps of ``s3_map.m`` for an RGB uint8 or grey image."""
    return _s3_maps(*_gray_levels(image, MIN_SIDE, "S3 spectral block"))


def s3_sharpness(image: np.ndarray) -> float:
    """S3 index: mean of the largest 1 % of the S3 map (higher = sharper)."""
    return _s3_index(*_gray_levels(image, MIN_SIDE, "S3 spectral block"))


# ----------------------------------------------------------------------------- FISH
_LIFT = (-1.5861343420693648, -0.0529801185718856, 0.8829110755411875, 0.4435068520511142)
_SCALE = 1.1496043988602418


def _lift_axis0(x: np.ndarray) -> np.ndarray:
    """One CDF 9/7 analysis stage along axis 0 (``dwt_cdf97.m``): ``[low; high]`` stacked."""
    n = x.shape[0]
    s1, s2, s3, s4 = _LIFT
    x0 = x[0::2].copy()
    m = x0.shape[0]
    right = np.r_[np.arange(1, m), m - 1]            # X0(RightShift)
    if n % 2:
        ext = -2.0 * np.array([s1 * s2 * s3, s2 * s3, s1 + s3 + 3 * s1 * s2 * s3]) / (1 + 2 * s2 * s3)
        x1 = np.concatenate([x[1::2], (x0[m - 2] * ext[0] + x[n - 2] * ext[1] + x0[m - 1] * ext[2])[None]])
    else:
        x1 = x[1::2].copy()

    def pair_sum(v: np.ndarray) -> np.ndarray:        # filter([c c], 1, v, v(1) c) / c: v(k) + v(k-1), v(0) := v(1)
        out = v.copy()
        out[1:] += v[:-1]
        out[0] += v[0]
        return out

    x1 += s1 * (x0[right] + x0)
    x0 += s2 * pair_sum(x1)
    x1 += s3 * (x0[right] + x0)
    x0 += s4 * pair_sum(x1)
    if n % 2:
        x1 = x1[:-1]
    return np.concatenate([x0 * _SCALE, x1 / _SCALE])


def dwt_cdf97(gray: np.ndarray, levels: int = 3) -> np.ndarray:
    """In-place (Mallat layout) CDF 9/7 DWT of ``dwt_cdf97.m``: columns then rows, per level."""
    x = np.array(gray, dtype=np.float64)
    n1, n2 = x.shape
    for _ in range(levels):
        if n1 > 1:
            x[:n1, :n2] = _lift_axis0(x[:n1, :n2])
        if n2 > 1:
            x[:n1, :n2] = _lift_axis0(x[:n1, :n2].T).T
        n1, n2 = (n1 + 1) // 2, (n2 + 1) // 2
    return x


def _subbands(coeffs: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(LH, HL, HH) of ``level`` cut from the Mallat layout with the release's ``floor`` rule."""
    n1, n2 = coeffs.shape
    k = 2 ** level
    r1, r2, c1, c2 = n1 // k, 2 * n1 // k, n2 // k, 2 * n2 // k
    return coeffs[:r1, c1:c2], coeffs[r1:r2, :c1], coeffs[r1:r2, c1:c2]


def _ssq(lh: np.ndarray, hl: np.ndarray, hh: np.ndarray, axes=None) -> np.ndarray:
    e = [np.log10(1.0 + np.mean(b * b, axis=axes)) for b in (lh, hl, hh)]
    return 0.8 * e[2] + 0.2 * (e[0] + e[1]) / 2.0


FISH_LEVELS = 3
FISH_MIN_SIDE = 16     # three dyadic levels leave 2x2 coefficients per subband (and one FISH_bb block)


def _fish_index(gray: np.ndarray) -> float:
    coeffs = dwt_cdf97(gray, FISH_LEVELS)
    return float(sum(2 ** (FISH_LEVELS - n) * _ssq(*_subbands(coeffs, n)) for n in range(1, FISH_LEVELS + 1)))


def fish_sharpness(image: np.ndarray) -> float:
    """FISH index (higher = sharper)."""
    return _fish_index(_gray_checked(image, FISH_MIN_SIDE, "FISH 3-level DWT minimum"))


def fish_bb_sharpness(image: np.ndarray, return_map: bool = False):
    """FISH_bb (``fish_bb.m``): block map on 16x16 blocks (stride 8); index = RMS of the largest 1 %."""
    blk = 4
    gray = _gray_checked(image, FISH_MIN_SIDE, "FISH_bb block")
    coeffs = dwt_cdf97(gray, FISH_LEVELS)
    r, c = gray.shape
    r0, c0 = r // 2 // blk - 1, c // 2 // blk - 1
    dst = np.zeros((r0, c0))
    for m in range(1, FISH_LEVELS + 1):
        size = blk // 2 ** (m - 1)                      # stride; windows are 2 * size wide
        bands = []
        for band in _subbands(coeffs, m):
            win = sliding_window_view(band, (2 * size, 2 * size))[::size, ::size][:r0, :c0]
            bands.append(win)
        dst += 2 ** (FISH_LEVELS - m) * _ssq(*bands, axes=(2, 3))
    vals = np.sort(dst.ravel())[::-1]
    res = float(np.sqrt(np.mean(vals[:max(1, vals.size // 100)] ** 2)))
    return (res, dst) if return_map else res


# ----------------------------------------------------------------------------- tone, colour
class Tone(NamedTuple):
    p5: float
    p95: float
    range: float     # p95 - p5


def tone(image: np.ndarray) -> Tone:
    """5th / 95th luma percentiles on ``[0, 255]`` and their difference (MATLAB ``prctile``)."""
    y = rgb_to_gray(image)
    p5, p95 = prctile(y, [5.0, 95.0])
    return Tone(float(p5), float(p95), float(p95 - p5))


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) M3 on sRGB ``[0, 255]`` (0 for a grey image)."""
    rgb = as_rgb_uint8(image).astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    sigma = np.sqrt(rg.var() + yb.var())
    mu = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(sigma + 0.3 * mu)


def extract(image: np.ndarray) -> np.ndarray:
    """``[s3, fish, tone_p5, tone_p95, colourfulness]`` of an RGB uint8 or grey image."""
    gray, levels = _gray_levels(image, MIN_SIDE, "S3 spectral block")    # also covers FISH's minimum
    t = tone(image)
    vec = np.array([_s3_index(gray, levels), _fish_index(gray), t.p5, t.p95, colourfulness(image)])
    if not np.all(np.isfinite(vec)):
        raise ImageError(None, f"cues undefined for this image: {dict(zip(FEATURE_NAMES, vec.tolist()))}")
    return vec


register_extractor(
    "cues", extract, version=VERSION, params={},
    paper="Yang, Peltoketo & Kämäräinen, CNN-based cross-dataset no-reference image quality assessment, "
          "ICCVW 2019 (Sec. 3.4); S3: Vu, Phan & Chandler, IEEE TIP 21(3), 2012; FISH: Vu & Chandler, "
          "IEEE SPL 19(7), 2012; colourfulness: Hasler & Süsstrunk, SPIE 5007, 2003",
    reference="s3_map.m (Vu et al.), fish.m / dwt_cdf97.m (Vu & Chandler release)",
    label="Cues (S3+FISH+tone+colour)", svr_kernel="rbf",
    description="5 quality attributes: S3 index, FISH, 5th/95th luminance percentiles, colourfulness",
    scores=(
        Score("s3", FEATURE_NAMES.index("s3"), "S3", higher_better=True,
              paper="Vu, Phan & Chandler, S3: a spectral and spatial measure of local perceived sharpness in "
                    "natural images, IEEE TIP 21(3), 2012 (index: mean of the top 1 % of the S3 map)"),
        Score("fish", FEATURE_NAMES.index("fish"), "FISH", higher_better=True,
              paper="Vu & Chandler, A fast wavelet-based algorithm for global and local image sharpness "
                    "estimation, IEEE SPL 19(7), 2012"),
        Score("colourfulness", FEATURE_NAMES.index("colourfulness"), "Colourfulness", higher_better=True,
              paper="Hasler & Süsstrunk, Measuring colorfulness in natural images, SPIE HVEI VIII 5007, 2003 (M3)"),
    ),
)
