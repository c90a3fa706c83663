"""DIIVINE: steerable-pyramid natural-scene-statistics features (88 per image).

Moorthy & Bovik, "Blind image quality assessment: from natural scene statistics to perceptual
quality", IEEE TIP 20(12), 2011, Sec. III (features f1-f88, Table I); numbers follow the
authors' release ``divine_feature_extract.m`` with ``norm_sender_normalized.m``,
``find_spatial_hist_fast.m`` and ``ssim_index_new.m``.

Only the 88-dimensional feature vector is produced here.  In this project it feeds a *single*
SVR (``FeatureSVR``); the paper's two-stage scheme (distortion identification by an SVM, then
distortion-specific regressors weighted by the class probabilities) is **not** used.

Conventions
-----------
* Input: RGB is converted with MATLAB ``rgb2gray`` (:func:`features.imageio.rgb_to_gray`, float,
  not rounded to uint8 as ``rgb2gray`` on a uint8 image in the release's README would be).
* Pyramid: Simoncelli's steerable *frequency* pyramid ``buildSFpyr(im, 2, 5)`` (2 scales,
  order 5 = 6 orientations, raised-cosine radial masks, circular boundary), implemented here
  after matlabPyrTools so that odd image sizes use MATLAB's frequency ramps
  (``(k - ceil((n+0.5)/2)) / (n/2)``; ``pyrtools.SteerablePyramidFreq`` 1.1 uses
  ``linspace(-1, 1, n+1)[:-1]``, identical for even sizes only -- a test checks the even case).
  Bands are the real parts, ordered fine -> coarse, orientation ``k * pi / 6``.
* Divisive normalisation (``norm_sender_normalized(pyr, pind, 2, 6, 1, 1, 3, 3, 50)``): each
  band coefficient is divided by ``z = sqrt(y' C^-1 y / N)`` where ``y`` holds the 3 x 3
  neighbourhood, the parent (band one scale coarser, MATLAB bicubic ``imresize(.., 2)``) and
  the 5 other orientations at the same position, ``C = E[y y']`` (non-centred, negative
  eigenvalues clipped with the variance kept, MATLAB ``pinv``).  As in the release,
  ``N = 9 + has_parent`` (not the 15 columns actually used), the outer ring of coefficients is
  dropped, a guard band of ``16 / 2^(scale-1)`` coefficients is cut off and each band is made
  zero-mean.  The release's parent test ``nband < Nband - Nor`` gives a parent to orientations
  1-5 of the finest scale only (orientation 6 and the coarse scale have none); reproduced.
* SSIM ``cs`` (f32-f43, f74-f88): ``ssim_index_new`` defaults -- 11 x 11 Gaussian window
  (sigma 1.5), ``'valid'`` filtering, ``C2 = (0.03 * 255)^2`` (the constant assumes 8-bit
  amplitudes and is applied to subbands unchanged, as in the release); the value is
  ``mean((2 s12 + C2) / (s1^2 + s2^2 + C2))``.  The filtering is single precision
  (``CS_DTYPE``; the bands are zero-mean, so ``E[x^2] - mu^2`` does not cancel; OpenCV's
  symmetric-kernel path, which adds the two taps at equal distance before weighting them):
  these 27 features differ from double precision by < 3e-8 relative; everything upstream of a
  GGD shape lookup stays double.

Feature order (``divine_feature_extract.m``):

* f1-f12: variance of each normalised subband (scale 1 orientations 1-6, then scale 2);
* f13-f24: GGD shape of each subband (moment matching, nearest point of ``0.2:0.001:10``);
* f25-f30: GGD shape of the two scales of each orientation pooled; f31: shape of all twelve
  subbands pooled -- centred with the mean of the last orientation pair, a slip of the release
  that we keep (the subbands are zero-mean, so it hardly matters);
* f32-f43: ``cs`` between each (unnormalised) band, bicubically resized to full size, and the
  high-pass residual;
* f44-f73: for each finest-scale normalised band, the correlation ``rho(d)`` of its 100-bin
  joint histogram with the 8 neighbours at distance ``d = 1, 5, ..., 25`` (horizontal, vertical
  and diagonal offsets of ``d`` pixels), fitted by a cubic polynomial: 4 coefficients (highest
  power first) and the squared fitting error;
* f74-f88: ``cs`` between every pair of finest-scale normalised orientation bands.

Speed (``bench/bench_speed.py --clock cpu``; about 0.13 s per 512 x 384 image on one core at
load average 2 on the 2-core development machine; profile: normalisation 45 %, the 27 ``cs``
features 25 %, pyramid 11 %, spatial correlation 7 %, bicubic upsampling 4 %):

* the pyramid's masks are cached per image size, recast for real transforms: each band is one
  ``irfft2`` of a half spectrum (:func:`_half_masks`), equal to the complex transform up to
  rounding;
* the divisive normalisation fills the neighbourhood vectors of all six bands of a scale
  block by block (4096 pixels) into one cached buffer: per band one product of its parent
  and 3 x 3 shifts against all rows, the centres of the scale against each other once (they
  are shared), then ``z`` per block with the duplicate row left out (the matrix products run
  at 35-45 GFLOP/s on one core: this step is bound by its ~400 MFLOP per image);
* ``rho(d)`` of the spatial correlation is computed from exact integer sums of the bin
  indices (one dot product per offset, read as float32 and summed in chunks small enough to
  stay exact), which equals the 100 x 100 joint-histogram formula;
* each plane's SSIM mean and variance are filtered once for all its pairs, into per-thread
  work arrays (fresh arrays cost ~3700 page faults per image).

Version 3 moved the features by rounding only: the variances f1-f12 by < 2e-11 relative, the
GGD shapes not at all, the spatial-correlation fits by < 3e-14, the ``cs`` features by
< 2e-9 (the symmetric float32 filter), on the 17 test images of the speed work.  Version 4
sums each ``cs`` map by float64 column sums (:func:`_mean_f32`; ``cv2.sumElems`` of float32
data depends on the data's alignment, so the ``cs`` features varied between runs by 1 ulp):
the ``cs`` features moved by < 4e-16 relative, nothing else moved (the 21 synth golden images
and the 10 TID2013 calibration images).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import factorial

import cv2
import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy import fft as sfft
from scipy.linalg.blas import dgemm

from ._ggd import ggd_table
from ._scratch import scratch
from ._threads import single_threaded_blas
from .extraction import register_extractor
from .imageio import ImageError, check_min_size, check_not_constant, rgb_to_gray
from .matlab import filter2_valid_separable, gaussian_1d, imresize

__all__ = [
    "extract",
    "FEATURE_NAMES",
    "steerable_pyramid_freq",
    "normalise_subbands",
    "parent_flags",
    "ssim_cs",
    "spatial_correlation",
    "spatial_correlation_features",
    "MIN_SIZE",
]

N_SCALES = 2
N_ORIENT = 6
GUARDBAND = 16
BLOCK = 3
GAMMA_GRID = (0.2, 10.0, 0.001)
HIST_BINS = 100
DISTANCES = tuple(range(1, 26, 4))        # 1:4:25 (find_spatial_hist_fast.m)
#: precision of the SSIM ``cs`` features (f32-f43, f74-f88); see :class:`_CsPlane`
CS_DTYPE = np.float32
#: Finest normalised band is ``H - 2 - 2*16`` tall; the spatial histogram needs offsets of 25.
MIN_SIZE = 2 * GUARDBAND + (BLOCK - 1) + DISTANCES[-1] + 1


def _names() -> tuple[str, ...]:
    bands = [f"s{s}o{o}" for s in (1, 2) for o in range(1, N_ORIENT + 1)]
    names = [f"var_{b}" for b in bands] + [f"shape_{b}" for b in bands]
    names += [f"shape_o{o}_s12" for o in range(1, N_ORIENT + 1)] + ["shape_all"]
    names += [f"cs_hp_{b}" for b in bands]
    names += [f"spcorr_s1o{o}_{t}" for o in range(1, N_ORIENT + 1) for t in ("p3", "p2", "p1", "p0", "err")]
    names += [f"cs_s1o{i}_s1o{j}" for i, j in combinations(range(1, N_ORIENT + 1), 2)]
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _names()


# --------------------------------------------------------------------------- steerable pyramid
def _rcos(width: float = 1.0, position: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """matlabPyrTools ``rcosFn(width, position, [0 1])``: raised-cosine lookup table."""
    sz = 256
    x = np.pi * np.arange(-sz - 1, 2) / (2 * sz)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[-1] = y[-2]
    return position + (2 * width / np.pi) * (x + np.pi / 4), y


def _point_op(values: np.ndarray, lut_x: np.ndarray, lut_y: np.ndarray) -> np.ndarray:
    """``pointOp``: linear interpolation in an equi-spaced table.

    The radial tables of ``rcosFn`` repeat their end values and the angle table covers every
    angle used, so ``np.interp``'s clamping equals the MEX's linear extrapolation.
    """
    return np.interp(values.ravel(), lut_x, lut_y).reshape(values.shape)


@lru_cache(maxsize=4)
def _pyramid_masks(shape: tuple[int, int], height: int, order: int) -> tuple:
    """The image-independent parts of ``buildSFpyr`` for one image size, computed once.

    Returns ``(hi0, lo0, levels)``: the residual high-pass and low-pass masks and, per level,
    ``(band masks, crop, lo)``.  A band mask is ``anglemask * himask`` moved to the
    unshifted (``ifftshift``) frequency layout; ``crop`` selects the centred low-pass
    spectrum of the next level (in the shifted layout) and ``lo`` is its low-pass mask.
    """
    dims = np.array(shape)
    ctr = np.ceil((dims + 0.5) / 2).astype(int)                      # 1-based centre
    xr = (np.arange(1, dims[1] + 1) - ctr[1]) / (dims[1] / 2.0)
    yr = (np.arange(1, dims[0] + 1) - ctr[0]) / (dims[0] / 2.0)
    xramp, yramp = np.meshgrid(xr, yr)
    angle = np.arctan2(yramp, xramp)
    log_rad = np.sqrt(xramp ** 2 + yramp ** 2)
    log_rad[ctr[0] - 1, ctr[1] - 1] = log_rad[ctr[0] - 1, ctr[1] - 2]
    log_rad = np.log2(log_rad)

    xrcos, yrcos = _rcos(1.0, -0.5)
    yrcos = np.sqrt(yrcos)
    yircos = np.sqrt(1.0 - yrcos ** 2)
    hi0 = np.fft.ifftshift(_point_op(log_rad, xrcos, yrcos))
    lo0 = _point_op(log_rad, xrcos, yircos)

    nb = order + 1
    lutsize = 1024
    xcosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    const = (2.0 ** (2 * order)) * (factorial(order) ** 2) / (nb * factorial(2 * order))
    ycosn = np.sqrt(const) * np.cos(xcosn) ** order

    levels = []
    for _ in range(height):
        log_rad = log_rad + 1.0
        himask = _point_op(log_rad, xrcos, yrcos)
        masks = [np.fft.ifftshift(_point_op(angle, xcosn + np.pi * b / nb, ycosn) * himask) for b in range(nb)]
        d = np.array(log_rad.shape)
        c = np.ceil((d + 0.5) / 2).astype(int)
        lodims = np.ceil((d - 0.5) / 2).astype(int)
        loctr = np.ceil((lodims + 0.5) / 2).astype(int)
        lo0c = c - loctr
        sl = (slice(lo0c[0], lo0c[0] + lodims[0]), slice(lo0c[1], lo0c[1] + lodims[1]))
        log_rad, angle = log_rad[sl], angle[sl]
        levels.append((masks, sl, _point_op(log_rad, xrcos, yircos)))
    for arr in [hi0, lo0] + [m for lev in levels for m in lev[0]] + [lev[2] for lev in levels]:
        arr.setflags(write=False)
    return hi0, lo0, levels


def _negate(a: np.ndarray) -> np.ndarray:
    """``a(-k)`` of an unshifted 2-D spectrum: ``out[r, c] = a[-r mod H, -c mod W]``."""
    return np.roll(a[::-1, ::-1], 1, axis=(0, 1))


def _half_gather(shape: tuple[int, int], sub: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the next level's half spectrum lies in this level's (``rfft2`` layouts).

    ``buildSFpyr`` crops the centred ``sub`` low frequencies of the ``shape`` spectrum; in
    the ``rfft2`` layout the sub-grid's row ``i`` (frequency ``fftfreq`` times its size) is row
    ``f mod H`` here and column ``j`` is column ``j`` -- except an even width's Nyquist column,
    whose frequency ``-W'/2`` is stored as the conjugate of ``(-f, +W'/2)``.  Returns
    ``(rows, cols, conj_rows, conj_cols)`` (the last two empty without such a column).
    """
    h, w = sub
    f = np.rint(np.fft.fftfreq(h) * h).astype(np.int64)
    rows = np.mod(f, shape[0])
    cols = np.arange(w // 2 + 1)
    if w % 2 == 0:
        return rows, cols[:-1], np.mod(-f, shape[0]), cols[-1:]
    return rows, cols, rows, cols[:0]


@lru_cache(maxsize=4)
def _half_masks(shape: tuple[int, int], height: int, order: int) -> tuple:
    """:func:`_pyramid_masks` recast for real transforms, computed once per image size.

    ``real(ifft2(X))`` is ``irfft2`` of the Hermitian part of ``X``.  The low-pass chain
    ``L`` applied to an image spectrum is Hermitian (radial masks), so a band
    ``real(phase * ifft2(L * M))`` is ``irfft2(L * A)`` with ``A(k) = (phase M(k) +
    conj(phase) M(-k)) / 2``.  Returns ``(hi0, levels)``, per level ``(shape, gather, masks)``:
    the half-spectrum high-pass mask, and per level its size, where its spectrum lies in the
    previous level's (:func:`_half_gather`; ``None`` at the first level) and each band's
    ``A`` times the level's accumulated low-pass masks.
    """
    hi0, lo0, levels = _pyramid_masks(shape, height, order)
    phase = (-1j) ** order
    half = shape[1] // 2 + 1
    hi0h = ((hi0 + _negate(hi0)) / 2)[:, :half]
    lowpass = np.fft.ifftshift(lo0)[:, :half]            # accumulated low-pass, this level's half layout
    cur: tuple[int, int] = shape
    gather: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    out: list[tuple[tuple[int, int], tuple | None, list[np.ndarray]]] = []
    for masks, _, lo in levels:
        band_masks = []
        for m in masks:
            a = (phase * m + np.conj(phase) * _negate(m)) / 2
            band_masks.append(np.ascontiguousarray(a[:, :cur[1] // 2 + 1] * lowpass))
        out.append((cur, gather, band_masks))
        nxt = lo.shape
        gather = _half_gather(cur, nxt)
        rows, cols, crow, ccol = gather
        lowpass = np.concatenate([lowpass[np.ix_(rows, cols)], lowpass[np.ix_(crow, ccol)]], axis=1)
        lowpass = lowpass * np.fft.ifftshift(lo)[:, :nxt[1] // 2 + 1]
        cur = nxt
    for arr in [hi0h] + [m for lev in out for m in lev[2]]:
        arr.setflags(write=False)
    return hi0h, out


def steerable_pyramid_freq(image: np.ndarray, height: int = N_SCALES, order: int = N_ORIENT - 1
                           ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """``buildSFpyr(image, height, order)``: ``(highpass_residual, bands[scale][orientation])``.

    The low-pass residual is not returned (DIIVINE does not use it).  A band is
    ``real(ifft2(phase * B))`` with ``phase = (-i)^order`` and ``B`` the masked spectrum; it is
    computed as one real inverse transform of a half spectrum (:func:`_half_masks`, cached per
    image size), equal to the complex transform up to rounding.
    """
    im = np.asarray(image, dtype=np.float64)
    hi0h, levels = _half_masks(im.shape, height, order)
    spectrum = sfft.rfft2(im)
    hp = sfft.irfft2(spectrum * hi0h, s=im.shape)
    bands: list[list[np.ndarray]] = []
    for shape, gather, masks in levels:
        if gather is not None:
            rows, cols, crow, ccol = gather
            spectrum = np.concatenate([spectrum[np.ix_(rows, cols)], np.conj(spectrum[np.ix_(crow, ccol)])], axis=1)
        bands.append([sfft.irfft2(np.multiply(spectrum, m), s=shape, overwrite_x=True) for m in masks])
    return hp, bands


# ------------------------------------------------------------------- divisive normalisation
_BLOCK_PIXELS = 4096      # pixels per block of the neighbourhood vectors (16 x 4096 floats: 512 kB)


def _neighbourhood_rows(n_orient: int) -> int:
    """Rows of the per-block buffer: a parent slot, the 3 x 3 shifts of one band (row-major,
    the centre at row 5) and the centres of all ``n_orient`` bands of the scale."""
    return 1 + BLOCK * BLOCK + n_orient


def _band_index(orient: int, has_parent: bool, n_orient: int) -> list[int]:
    """Buffer rows of the release's neighbourhood vector of band ``orient``, in its order: the
    3 x 3 neighbours (``[-1 0 1]`` row offsets outer), the parent, the other orientations."""
    shifts = list(range(1, 1 + BLOCK * BLOCK))
    centres = [1 + BLOCK * BLOCK + o for o in range(n_orient) if o != orient]
    return shifts + ([0] if has_parent else []) + centres


class _BlockFiller:
    """Fills the ``rows x cols`` pixel blocks of one scale's neighbourhood vectors into a
    reused buffer: row 0 the parent, rows 1-9 the 3 x 3 shifts of one band, then the centre of
    every band (shared by the bands of the scale, filled once per block)."""

    def __init__(self, level: list[np.ndarray], parents: list[np.ndarray | None]):
        self.level, self.parents = level, parents
        self.n_orient = len(level)
        self.n_rows = _neighbourhood_rows(self.n_orient)
        nsy, nsx = level[0].shape
        self.nv, self.nh = nsy - (BLOCK - 1), nsx - (BLOCK - 1)
        self.buf = scratch("diivine_y", (self.n_rows * (_BLOCK_PIXELS + nsx),))
        # shifts[o][dy, dx, r, c] = level[o][r + dy, c + dx]: the 3 x 3 neighbours of interior pixel (r, c)
        self.shifts = [as_strided(b, shape=(BLOCK, BLOCK, self.nv, self.nh), strides=b.strides * 2, writeable=False)
                       for b in level]

    def block(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """The buffer viewed as a C-contiguous ``n_rows x (r1 - r0) x (c1 - c0)`` block, centres
        filled."""
        shape = (self.n_rows, r1 - r0, c1 - c0)
        y3 = self.buf[:shape[0] * shape[1] * shape[2]].reshape(shape)
        L = (BLOCK - 1) // 2
        for o, band in enumerate(self.level):
            y3[1 + BLOCK * BLOCK + o] = band[r0 + L:r1 + L, c0 + L:c1 + L]
        return y3

    def band(self, y3: np.ndarray, orient: int, r0: int, c0: int) -> None:
        """Fill the parent slot and the 3 x 3 shifts of band ``orient`` into the block ``y3``."""
        _, rows, cols = y3.shape
        np.copyto(y3[1:1 + BLOCK * BLOCK].reshape(BLOCK, BLOCK, rows, cols),
                  self.shifts[orient][:, :, r0:r0 + rows, c0:c0 + cols])
        parent = self.parents[orient]
        if parent is not None:
            L = (BLOCK - 1) // 2
            y3[0] = parent[r0 + L:r0 + L + rows, c0 + L:c0 + L + cols]


def _row_blocks(r0: int, r1: int, cols: int) -> list[tuple[int, int]]:
    rows = max(1, _BLOCK_PIXELS // max(cols, 1))
    return [(a, min(r1, a + rows)) for a in range(r0, r1, rows)]


def _normalise_scale(level: list[np.ndarray], scale: int, flags: list[bool],
                     parents: list[np.ndarray | None]) -> list[np.ndarray]:
    """``norm_sender_normalized`` for the bands of one scale (see :func:`normalise_subbands`).

    ``C = Y Y' / N`` of every band is accumulated block by block from one buffer: the 3 x 3
    shifts and parent of the band against all rows (one product per band), the centres of the
    scale against each other once (they are shared by all its bands); then ``z`` block by block.
    """
    fill = _BlockFiller(level, parents)
    n_or, n_rows, nv, nh = fill.n_orient, fill.n_rows, fill.nv, fill.nh
    own = 1 + BLOCK * BLOCK                              # rows 0..9: parent and shifts of one band
    first = [0 if flags[o] else 1 for o in range(n_or)]
    grams = [np.zeros((own - first[o], n_rows - first[o])) for o in range(n_or)]
    g_cc = np.zeros((n_or, n_or))
    for r0, r1 in _row_blocks(0, nv, nh):
        y3 = fill.block(r0, r1, 0, nh)
        y = y3.reshape(n_rows, -1)
        cc = y[own:]
        g_cc += dgemm(1.0, cc.T, cc.T, trans_a=True)    # gemm (numpy would pick the slower syrk)
        for o in range(n_or):
            fill.band(y3, o, r0, 0)
            yo = y[first[o]:]
            grams[o] += yo[:own - first[o]] @ yo.T
    N_pix = nv * nh
    gb = GUARDBAND // 2 ** scale
    kv, kh = nv - 2 * gb, nh - 2 * gb                  # the pixels kept after the guard band
    P_buf = []
    for o in range(n_or):
        f0 = first[o]
        full = np.zeros((n_rows, n_rows))
        full[f0:own, f0:] = grams[o]
        full[own:, f0:own] = grams[o][:, own - f0:].T
        full[own:, own:] = g_cc
        idx = _band_index(o, flags[o], n_or)
        C = full[np.ix_(idx, idx)]
        C /= N_pix
        P = _pinv_clipped(C)
        # z pass: rows f0 .. n_rows-2 of the buffer, the last band's centre moved into row own + o
        last = own + n_or - 1
        rel = np.array([own + o if i == last else i for i in idx]) - f0
        pb = np.zeros((n_rows - 1 - f0, n_rows - 1 - f0))
        pb[np.ix_(rel, rel)] = P
        P_buf.append(pb)
    L = (BLOCK - 1) // 2
    # z, then g = (centre - mean) / sqrt(z / N) block by block while the centres are in cache
    mean = np.array([cv2.sumElems(b[L:L + nv, L:L + nh])[0] / N_pix for b in level])[:, None]
    n_neigh = np.array([BLOCK * BLOCK + int(f) for f in flags], dtype=np.float64)[:, None]   # the release's N
    g = np.empty((n_or, kv, kh))
    work = scratch("diivine_w", (n_rows * (_BLOCK_PIXELS + nh),))
    zbuf = scratch("diivine_z", (n_or * (_BLOCK_PIXELS + nh),))
    for r0, r1 in _row_blocks(gb, nv - gb, kh):
        y3 = fill.block(r0, r1, gb, nh - gb)
        y = y3.reshape(n_rows, -1)
        n = y.shape[1]
        z = zbuf[:n_or * n].reshape(n_or, n)
        for o in range(n_or):
            fill.band(y3, o, r0, gb)
            f0 = first[o]
            yo = y[f0:n_rows - 1]                                      # without a duplicate row
            if o != n_or - 1:
                y[own + o] = y[n_rows - 1]
            w = np.matmul(P_buf[o], yo, out=work[:yo.shape[0] * n].reshape(yo.shape[0], n))
            np.einsum("ij,ij->j", w, yo, out=z[o])                     # y' P y
            if o != n_or - 1:
                y[own + o] = y[1 + (BLOCK * BLOCK) // 2]               # this band's centre back
        z /= n_neigh
        np.sqrt(z, out=z)
        gk = g[:, r0 - gb:r1 - gb].reshape(n_or, n)
        np.subtract(y[own:], mean, out=gk)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(gk, z, out=gk)
        if not z.all():
            gk[z == 0] = 0.0
    out = []
    for o in range(n_or):
        g[o] -= g[o].mean()
        out.append(g[o])
    return out


def _pinv_clipped(C: np.ndarray) -> np.ndarray:
    """``pinv`` of ``C`` after the release's eigenvalue clipping (negative eigenvalues set to
    zero, the others rescaled to keep the trace), MATLAB ``pinv`` tolerance."""
    lam, Q = np.linalg.eigh(C)
    pos = lam * (lam > 0)
    spos = pos.sum()
    lam = pos * lam.sum() / (spos + (spos == 0))
    C = (Q * lam) @ Q.T
    return np.linalg.pinv(C, rtol=max(C.shape) * np.finfo(float).eps)


def parent_flags() -> list[bool]:
    """Which of the 12 bands get a parent in ``norm_sender_normalized`` (scale-major order).

    The release tests ``nband < Nband - Nor`` with ``nband`` the 1-based pyramid index
    (1 = high-pass residual) and ``Nband = size(pind, 1) - 1 = 13``: bands 2-6 qualify, i.e.
    finest-scale orientations 1-5 -- not orientation 6, although its parent exists.
    """
    n_bands_total = N_SCALES * N_ORIENT + 1
    return [s * N_ORIENT + o + 2 < n_bands_total - N_ORIENT
            for s in range(N_SCALES) for o in range(N_ORIENT)]


@single_threaded_blas
def normalise_subbands(bands: list[list[np.ndarray]], upsampled: list[np.ndarray] | None = None
                       ) -> list[np.ndarray]:
    """``norm_sender_normalized``: the 12 normalised 2-D subbands, scale-major order.

    Each band coefficient is divided by ``z = sqrt(y' C^-1 y / N)`` (module docstring).  The
    ``15 x N`` matrix ``Y`` of neighbourhood vectors is never built whole: it is filled block by
    block (a few rows of pixels) in a reused buffer, once to accumulate ``C`` and once more
    for ``z`` over the pixels that survive the guard band.

    ``upsampled``: optionally ``imresize(bands[1][o], 2)`` for each orientation, computed
    once by the caller (the parents here, and the ``cs`` features reuse them).
    """
    flags = parent_flags()
    out: list[np.ndarray] = []
    for s in range(N_SCALES):
        level = bands[s]
        nsy, nsx = level[0].shape
        parents: list[np.ndarray | None] = []
        for o in range(N_ORIENT):
            if not flags[s * N_ORIENT + o]:
                parents.append(None)
                continue
            up = upsampled[o] if upsampled is not None and s + 1 < N_SCALES else \
                imresize(bands[s + 1][o], 2.0, method="bicubic")
            parents.append(up[:nsy, :nsx])
        out += _normalise_scale(level, s, flags[s * N_ORIENT:(s + 1) * N_ORIENT], parents)
    return out


# ------------------------------------------------------------------------------------- SSIM cs
_WIN = gaussian_1d(11, 1.5)              # fspecial('gaussian', 11, 1.5), separable factor
_WIN32 = _WIN.astype(np.float32)
_R = _WIN.size // 2
_C2 = (0.03 * 255.0) ** 2


def _filter_full(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``filter2(fspecial('gaussian', 11, 1.5), x)`` at every pixel (the border rows and columns
    are garbage: only ``[5:-5, 5:-5]``, MATLAB's ``'valid'`` part, is used), in ``x``'s precision.

    float32: OpenCV's symmetric-kernel path (centred anchor), which adds the two taps at equal
    distance before weighting them; float64: MATLAB's tap order (:func:`filter2_valid_separable`).
    """
    if x.dtype == np.float32:
        return cv2.sepFilter2D(x, cv2.CV_32F, _WIN32, _WIN32, dst=out, borderType=cv2.BORDER_CONSTANT)
    if out is None:
        out = np.zeros_like(x)
    else:
        out.fill(0.0)
    out[_R:x.shape[0] - _R, _R:x.shape[1] - _R] = filter2_valid_separable(x, _WIN, _WIN)
    return out


#: larger SSIM-cs planes are not kept in per-thread work arrays between images (see :class:`_CsPlane`)
_CS_SCRATCH_MAX_PIXELS = 1 << 20


class _CsPlane:
    """A plane's local mean and local variance under the SSIM window, computed once and
    reused for every pair the plane is in (DIIVINE pairs the high-pass residual with 12
    bands and each finest normalised band with 5 others).

    ``dtype=np.float32`` filters in single precision (what :func:`extract` uses: the bands
    are zero-mean, so ``E[x^2] - mu^2`` does not cancel, and the ``cs`` features move by
    less than 1e-6 relative to float64); the mean of the ``cs`` map is accumulated in float64.
    The arrays are full size; only their ``'valid'`` part ``[5:-5, 5:-5]`` is meaningful.

    ``buffer``: the name of a per-thread work array (:func:`~features._scratch.scratch`) to
    hold the three planes instead of fresh arrays (the planes are valid until the next plane
    of that name is made on this thread); fresh memory costs page faults, several thousand per
    image in :func:`extract`.  The work arrays are kept for the next image, so planes of more
    than :data:`_CS_SCRATCH_MAX_PIXELS` get fresh arrays (at most 27 planes of 4 MiB held per
    thread; 21 MB for a 512 x 384 image).
    """

    __slots__ = ("x", "mu", "var")

    def __init__(self, x: np.ndarray, dtype: type = np.float64, buffer: str | None = None):
        dtype = np.dtype(dtype)
        if buffer is None or x.size > _CS_SCRATCH_MAX_PIXELS:
            self.x = np.ascontiguousarray(x, dtype=dtype)
            self.mu = self.var = None
        else:
            self.x, self.mu, self.var = scratch(buffer, (3,) + x.shape, dtype)
            np.copyto(self.x, x, casting="same_kind")                     # the same rounding as astype
        self.mu = _filter_full(self.x, self.mu)
        sq = cv2.multiply(self.x, self.x, dst=scratch(f"diivine_sq{dtype}", self.x.shape, dtype))
        self.var = _filter_full(sq, self.var)
        self.var -= cv2.multiply(self.mu, self.mu, dst=sq)


def _cs_pair(a: _CsPlane, b: _CsPlane, c2: float = _C2) -> float:
    """``mean((2 s_ab + C2) / (s_a^2 + s_b^2 + C2))`` from cached planes (``ssim_index_new``'s ``mcs``)."""
    dt = a.x.dtype
    prod = cv2.multiply(a.x, b.x, dst=scratch(f"diivine_sq{dt}", a.x.shape, dt))
    s_ab = _filter_full(prod, scratch(f"diivine_sab{dt}", a.x.shape, dt) if a.x.size <= _CS_SCRATCH_MAX_PIXELS else None)
    mu_ab = cv2.multiply(a.mu, b.mu, dst=prod)
    num = cv2.addWeighted(s_ab, 2.0, mu_ab, -2.0, c2, dst=s_ab)           # 2 s_ab + C2
    den = cv2.addWeighted(a.var, 1.0, b.var, 1.0, c2, dst=prod)           # s_a^2 + s_b^2 + C2
    cs = cv2.divide(num, den, dst=num)[_R:num.shape[0] - _R, _R:num.shape[1] - _R]
    return _mean_f32(cs)


def _mean_f32(x: np.ndarray) -> float:
    """Mean of a float32 plane accumulated in float64, the same wherever the plane lies in memory.

    Column sums down the rows (each a sequence of float64 additions in row order, whatever the
    vector lanes), then their sum.  ``cv2.sumElems`` of float32 data is not: its result depends
    on the address's alignment (~1e-16 relative), so it varied between runs of one image.
    """
    cols = cv2.reduce(x, 0, cv2.REDUCE_SUM, dtype=cv2.CV_64F)
    return float(cols.sum()) / x.size


def ssim_cs(a: np.ndarray, b: np.ndarray, k2: float = 0.03, dynamic_range: float = 255.0,
            dtype: type = np.float64) -> float:
    """Mean contrast-structure term of ``ssim_index_new(a, b)`` (``mcs``); ``dtype`` of the filtering."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or min(a.shape) < len(_WIN):
        raise ValueError(f"ssim_cs needs two equal arrays of at least 11 x 11, got {a.shape} and {b.shape}")
    return _cs_pair(_CsPlane(a, dtype), _CsPlane(b, dtype), (k2 * dynamic_range) ** 2)


# ------------------------------------------------------------------- spatial correlation
def _exact_dot32(a: np.ndarray, b: np.ndarray, chunk: int) -> int:
    """``sum a * b`` of two float32 vectors of small integers, exactly: the products are summed
    in float32 over chunks of ``chunk`` elements (one batched BLAS call) and the chunks'
    sums in Python integers.  Exact when ``chunk * max|a b| <= 2^24``: every partial sum of a
    chunk, in whatever order BLAS adds, is then an integer that float32 represents."""
    m = a.size // chunk
    whole = m * chunk
    total = 0
    if m:
        part = np.matmul(a[:whole].reshape(m, 1, chunk), b[:whole].reshape(m, chunk, 1))
        total = int(part.sum(dtype=np.float64))                     # < 2^53: exact
    if whole < a.size:
        total += int(np.dot(a[whole:], b[whole:]))
    return total


def _lag_products(q: np.ndarray, dy: int, dx: int, q32: np.ndarray | None = None, chunk: int = 0) -> float:
    """``sum q[r, c] * q[r + dy, c + dx]`` over the pairs inside the array (``dy >= 0``).

    One dot product of the flattened array with itself shifted by ``dy * W + dx``, minus the
    pairs that wrap from one row into the next.  ``q`` holds small integers, so every partial
    sum is an integer below 2^53 and the result is exact in any summation order.  With
    ``q32`` (``q`` in float32) and ``chunk``, the long dot product reads the float32 copy
    (half the memory traffic) and is summed exactly by :func:`_exact_dot32`.
    """
    H, W = q.shape
    k = dy * W + dx
    if dx >= 0:
        lo, hi = 0, (H - dy) * W - dx
        wrap_a, wrap_b = q[:H - dy - 1, W - dx:], q[dy + 1:, :dx]
    else:
        lo, hi = -dx, (H - dy) * W
        wrap_a, wrap_b = q[1:H - dy, :-dx], q[dy:H - 1, W + dx:]
    if q32 is not None:
        flat32 = q32.ravel()
        total = float(_exact_dot32(flat32[lo:hi], flat32[lo + k:hi + k], chunk))
    else:
        flat = q.ravel()
        total = float(np.dot(flat[lo:hi], flat[lo + k:hi + k]))
    if wrap_a.size:
        total -= float(np.einsum("ij,ij->", wrap_a, wrap_b))
    return total


def _window_sum(integral: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> float:
    return float(integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0])


@single_threaded_blas
def spatial_correlation(band: np.ndarray, distances: tuple[int, ...] = DISTANCES,
                        nbins: int = HIST_BINS) -> np.ndarray:
    """``rho(d)`` of ``find_spatial_hist_fast``: correlation of the joint histogram of each
    coefficient with its 8 neighbours at offsets ``(0,±d), (±d,0), (±d,±d)``.

    Values are quantised to the centres of ``hist(x, 100)`` (equal bins over ``[min, max]``);
    the correlation is computed on the bin centres.  That is the correlation of the pairs'
    bin indices ``i, j`` (the centres are ``lo + w (i + 1/2)``, an affine map), and the
    histogram is symmetric (each offset comes with its opposite), so with ``n`` pairs in one
    direction, ``S = sum i j``, ``T = sum (i + j)`` and ``Q = sum (i^2 + j^2)``::

        rho = (E[ij] - E[i]^2) / (E[i^2] - E[i]^2) = (4 n S - T^2) / (2 n Q - T^2)

    (the release centres ``y`` with the mean of ``x`` as well; the two are equal here).
    ``S``, ``T``, ``Q`` are exact integers (:func:`_lag_products`, integral images), so ``rho``
    is the correctly rounded value of the histogram formula.
    """
    x = np.asarray(band, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        raise ValueError("spatial_correlation needs a non-constant band")
    width = (hi - lo) / nbins
    q = np.subtract(x, lo)
    q /= width
    np.floor(q, out=q)
    np.clip(q, 0, nbins - 1, out=q)                          # bin indices 0 .. nbins-1 (exact)
    H, W = q.shape
    isum, isq = cv2.integral2(q, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
    # The lag products are summed on the bin indices centred at h (|q - h| <= nbins / 2), in
    # float32 chunks small enough to be exact: sum q_a q_b = sum c_a c_b + h T - h^2 n.
    h = nbins // 2
    chunk = (1 << 24) // max(1, max(h, nbins - 1 - h)) ** 2
    q -= h
    q32 = q.astype(np.float32) if chunk >= 1024 else None
    out = []
    for d in distances:
        n = s = t = sq = 0
        # offsets (0,d), (d,0), (d,d), (d,-d); their opposites give the same pairs reversed
        for dy, dx in ((0, d), (d, 0), (d, d), (d, -d)):
            if abs(dy) >= H or abs(dx) >= W:
                continue
            a = (0, H - dy, max(0, -dx), W - max(0, dx))           # first members' window
            b = (dy, H, max(0, dx), W - max(0, -dx))               # second members'
            tt = round(_window_sum(isum, *a) + _window_sum(isum, *b))
            nn = (H - dy) * (W - abs(dx))
            s += round(_lag_products(q, dy, dx, q32, chunk)) + h * tt - h * h * nn
            n += nn
            t += tt
            sq += round(_window_sum(isq, *a) + _window_sum(isq, *b))
        if n == 0:
            raise ValueError(f"spatial_correlation: no pixel pairs at distance {d} in a {H}x{W} band")
        num, den = 4 * n * s - t * t, 2 * n * sq - t * t
        out.append(num / den if den else float("nan"))
    return np.asarray(out)


def spatial_correlation_features(band: np.ndarray) -> np.ndarray:
    """Cubic fit of ``rho(d)`` over ``d = 1:4:25``: ``[p3, p2, p1, p0, squared error]``."""
    rho = spatial_correlation(band)
    d = np.asarray(DISTANCES, dtype=np.float64)
    pp = np.polyfit(d, rho, 3)
    err = float(np.sum((np.polyval(pp, d) - rho) ** 2))
    return np.append(pp, err)


# ------------------------------------------------------------------------------------ extract
def _shape(t: np.ndarray, mu: float | None = None) -> float:
    """DIIVINE's GGD shape: ``var / mean|t - mu|^2`` nearest on ``0.2:0.001:10``."""
    return _shape_from(*_dev_sums([t], t.mean() if mu is None else mu))


def _dev_sums(parts: list[np.ndarray], mu: float) -> tuple[float, float, int]:
    """``sum((t - mu)^2)``, ``sum(|t - mu|)`` and the count over several arrays taken together
    (the concatenation of ``divine_feature_extract.m`` without building it)."""
    sq = ab = 0.0
    n = 0
    for t in parts:
        d = np.subtract(t.ravel(), mu, out=scratch("diivine_dev", (t.size,)))
        sq += float(np.dot(d, d))
        ab += cv2.norm(d, cv2.NORM_L1)
        n += t.size
    return sq, ab, n


def _shape_from(sq: float, ab: float, n: int) -> float:
    return float(ggd_table(*GAMMA_GRID).nearest((sq / n) / (ab / n) ** 2))


@single_threaded_blas
def extract(image: np.ndarray) -> np.ndarray:
    """The 88 DIIVINE features (order of :data:`FEATURE_NAMES` = the release's f1-f88).

    ``image``: RGB or grey array, converted with MATLAB ``rgb2gray``.  Raises
    :class:`~features.imageio.ImageError` for a constant image or one smaller than
    ``MIN_SIZE`` (60) pixels on a side.
    """
    grey = rgb_to_gray(image)
    check_min_size(grey, MIN_SIZE, what="DIIVINE minimum (guard bands plus 25-pixel correlation offsets)")
    check_not_constant(grey)
    hp, bands = steerable_pyramid_freq(grey)
    coarse_up = [imresize(b, 2.0, method="bicubic") for b in bands[1]]     # parents and cs inputs
    sub = normalise_subbands(bands, coarse_up)
    flat = [s.ravel() for s in sub]

    f: list[float] = []
    sums = [_dev_sums([t], t.mean()) for t in flat]
    f += [sq / n for sq, _, n in sums]                                        # f1-f12: variances
    f += [_shape_from(*v) for v in sums]                                      # f13-f24
    totals = [float(t.sum()) for t in flat]
    last_mu = 0.0
    for o in range(N_ORIENT):                                                  # f25-f30
        pair = [flat[o], flat[o + N_ORIENT]]
        last_mu = (totals[o] + totals[o + N_ORIENT]) / (pair[0].size + pair[1].size)
        f.append(_shape_from(*_dev_sums(pair, last_mu)))
    f.append(_shape_from(*_dev_sums(flat, last_mu)))                          # f31 (the release's mu)
    hp_plane = _CsPlane(hp, CS_DTYPE, "diivine_cs_hp")
    for s in range(N_SCALES):                                                  # f32-f43
        for o in range(N_ORIENT):
            b = bands[s][o]
            if b.shape == hp.shape:
                up = b
            elif s == 1 and coarse_up[o].shape == hp.shape:
                up = coarse_up[o]                                      # imresize(b, 2) == imresize(b, hp.shape)
            else:
                up = imresize(b, hp.shape, method="bicubic")
            f.append(_cs_pair(_CsPlane(up, CS_DTYPE, "diivine_cs_band"), hp_plane))
    try:
        for o in range(N_ORIENT):                                              # f44-f73
            f += spatial_correlation_features(sub[o]).tolist()
    except ValueError as exc:
        raise ImageError(None, f"DIIVINE spatial correlation failed: {exc}") from None
    planes = [_CsPlane(sub[o], CS_DTYPE, f"diivine_cs_sub{o}") for o in range(N_ORIENT)]
    for i, j in combinations(range(N_ORIENT), 2):                              # f74-f88
        f.append(_cs_pair(planes[i], planes[j]))
    out = np.asarray(f, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = np.flatnonzero(~np.isfinite(out))[:5].tolist()
        raise ImageError(None, f"DIIVINE features not finite (indices {bad}); degenerate image content")
    return out


# 2: the SSIM cs features (f32-f43, f74-f88) filtered in float32 (moved < 3e-8 relative);
# 3: real-FFT pyramid, regrouped normalisation products, exact-integer spatial correlation and
#    OpenCV's symmetric float32 Gaussian (see the module docstring for what moved);
# 4: the mean of each cs map summed by columns in float64 (cv2.sumElems of float32 depended on
#    the data's alignment, so the cs features varied between runs): cs moved < 4e-16 relative
VERSION = "4"

register_extractor(
    "diivine",
    extract,
    version=VERSION,
    params={},
    paper="Moorthy & Bovik: Blind image quality assessment: from natural scene statistics to "
          "perceptual quality, IEEE TIP 20(12):3350-3364, 2011",
    reference="LIVE DIIVINE MATLAB release (divine_feature_extract.m, norm_sender_normalized.m)",
    label="DIIVINE",
    svr_kernel="rbf",
    description="88 steerable-pyramid NSS features; one SVR on all of them (no distortion identification stage)",
)
