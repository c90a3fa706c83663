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
  (``CS_DTYPE``; the bands are zero-mean, so ``E[x^2] - mu^2`` does not cancel): these 27
  features differ from double precision by < 3e-8 relative; everything upstream of a GGD
  shape lookup stays double.

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

Speed: the pyramid's masks are cached per image size, the divisive normalisation builds its
``15 x N`` neighbourhood matrix block by block (never whole), each plane's SSIM mean and
variance are filtered once for all its pairs, and the joint histograms are OpenCV
``calcHist`` counts; see ``bench/bench_speed.py``.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import factorial

import cv2
import numpy as np
from scipy import fft as sfft

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


def steerable_pyramid_freq(image: np.ndarray, height: int = N_SCALES, order: int = N_ORIENT - 1
                           ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """``buildSFpyr(image, height, order)``: ``(highpass_residual, bands[scale][orientation])``.

    The low-pass residual is not returned (DIIVINE does not use it).  The masks come from
    :func:`_pyramid_masks` (cached per image size).  A band is ``real(ifft2(phase * B))``
    with ``phase = (-i)^order``; for ``order = 5`` (``phase = -i``) that is ``imag(ifft2(B))``.
    """
    im = np.asarray(image, dtype=np.float64)
    hi0, lo0, levels = _pyramid_masks(im.shape, height, order)
    phase = (-1j) ** order
    spectrum = sfft.fft2(im)                                         # unshifted
    hp = sfft.ifft2(spectrum * hi0).real
    lodft = np.fft.fftshift(spectrum) * lo0                          # shifted, as buildSFpyr
    bands: list[list[np.ndarray]] = []
    for masks, crop, lo in levels:
        lo_u = np.fft.ifftshift(lodft)
        level = []
        for mask in masks:
            band = sfft.ifft2(lo_u * mask, overwrite_x=True)
            level.append(np.ascontiguousarray(band.imag) if phase == -1j else (phase * band).real)
        bands.append(level)
        lodft = lodft[crop] * lo
    return hp, bands


# ------------------------------------------------------------------- divisive normalisation
_CHUNK_ELEMENTS = 16_384     # pixels per block of the neighbourhood matrix (15 x 16k floats: 2 MB)


def _normalise_band(bands: list[list[np.ndarray]], scale: int, orient: int, has_parent: bool,
                    parent_up: np.ndarray | None = None) -> np.ndarray:
    """One band of ``norm_sender_normalized``.

    The ``15 x N`` matrix ``Y`` of neighbourhood vectors (one column per interior pixel) is
    never built whole: it is filled block by block (rows of pixels) in a reused buffer, once
    to accumulate ``C = Y Y' / N`` and once more for ``z`` over the pixels that survive the
    guard band.
    """
    aux = bands[scale][orient]
    nsy, nsx = aux.shape
    L = (BLOCK - 1) // 2
    nv, nh = nsy - 2 * L, nsx - 2 * L
    # planes[k][r + dy, c + dx] is column k of Y at interior pixel (r, c)
    planes: list[tuple[np.ndarray, int, int]] = [(aux, L + dy, L + dx)
                                                 for dy in range(-L, L + 1) for dx in range(-L, L + 1)]
    if has_parent:
        if parent_up is None:
            parent_up = imresize(bands[scale + 1][orient], 2.0, method="bicubic")
        parent = parent_up[:nsy, :nsx]
        planes.append((parent, L, L))
    planes += [(bands[scale][o], L, L) for o in range(N_ORIENT) if o != orient]
    n_cols = len(planes)
    rows = max(1, _CHUNK_ELEMENTS // nh)
    buf = scratch("diivine_y", (n_cols, rows * nh))

    def fill(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        y = buf[:, :(r1 - r0) * (c1 - c0)]
        y3 = y.reshape(n_cols, r1 - r0, c1 - c0)
        for k, (arr, oy, ox) in enumerate(planes):
            y3[k] = arr[r0 + oy:r1 + oy, c0 + ox:c1 + ox]
        return y

    C = np.zeros((n_cols, n_cols))
    for r0 in range(0, nv, rows):
        y = fill(r0, min(nv, r0 + rows), 0, nh)
        C += y @ y.T
    C /= nv * nh
    N = BLOCK * BLOCK + int(has_parent)        # release's neighbourhood size (ignores the 5 others)
    lam, Q = np.linalg.eigh(C)
    pos = lam * (lam > 0)
    spos = pos.sum()
    lam = pos * lam.sum() / (spos + (spos == 0))
    C = (Q * lam) @ Q.T
    P = np.linalg.pinv(C, rtol=max(C.shape) * np.finfo(float).eps)
    gb = GUARDBAND // 2 ** scale
    kv, kh = nv - 2 * gb, nh - 2 * gb                  # the pixels kept after the guard band
    z = np.empty(kv * kh)
    rows_k = max(1, _CHUNK_ELEMENTS // max(kh, 1))
    for r0 in range(gb, nv - gb, rows_k):
        r1 = min(nv - gb, r0 + rows_k)
        y = fill(r0, r1, gb, nh - gb)
        z[(r0 - gb) * kh:(r1 - gb) * kh] = np.einsum("ij,ij->j", P @ y, y)
    z /= N
    np.sqrt(z, out=z)
    o_c = aux[L:L + nv, L:L + nh]
    g = o_c[gb:nv - gb, gb:nh - gb] - o_c.mean()
    g = g.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(z != 0, g / z, 0.0).reshape(kv, kh)
    return g - g.mean()


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

    ``upsampled``: optionally ``imresize(bands[1][o], 2)`` for each orientation, computed
    once by the caller (the parents here, and the ``cs`` features reuse them).
    """
    flags = parent_flags()
    return [_normalise_band(bands, s, o, flags[s * N_ORIENT + o],
                            upsampled[o] if upsampled is not None and s + 1 < N_SCALES else None)
            for s in range(N_SCALES) for o in range(N_ORIENT)]


# ------------------------------------------------------------------------------------- SSIM cs
_WIN = gaussian_1d(11, 1.5)              # fspecial('gaussian', 11, 1.5), separable factor
_WIN32 = _WIN.astype(np.float32)
_C2 = (0.03 * 255.0) ** 2


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """``filter2(fspecial('gaussian', 11, 1.5), x, 'valid')`` (separable), in ``x``'s precision."""
    if x.dtype == np.float32:
        out = cv2.sepFilter2D(x, cv2.CV_32F, _WIN32, _WIN32, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
        return out[:x.shape[0] - _WIN.size + 1, :x.shape[1] - _WIN.size + 1]
    return filter2_valid_separable(np.ascontiguousarray(x, dtype=np.float64), _WIN, _WIN)


class _CsPlane:
    """A plane's local mean and local variance under the SSIM window, computed once and
    reused for every pair the plane is in (DIIVINE pairs the high-pass residual with 12
    bands and each finest normalised band with 5 others).

    ``dtype=np.float32`` filters in single precision (what :func:`extract` uses: the bands
    are zero-mean, so ``E[x^2] - mu^2`` does not cancel, and the ``cs`` features move by
    less than 1e-6 relative to float64); the mean of the ``cs`` map is accumulated in float64.
    """

    __slots__ = ("x", "mu", "var")

    def __init__(self, x: np.ndarray, dtype: type = np.float64):
        self.x = np.ascontiguousarray(x, dtype=dtype)
        self.mu = _filter_valid(self.x)
        sq = np.multiply(self.x, self.x, out=scratch(f"diivine_sq{self.x.dtype}", self.x.shape, self.x.dtype))
        self.var = _filter_valid(sq)
        self.var -= cv2.multiply(self.mu, self.mu, dst=scratch(f"diivine_mu2{self.x.dtype}", self.mu.shape,
                                                               self.mu.dtype))


def _cs_pair(a: _CsPlane, b: _CsPlane, c2: float = _C2) -> float:
    """``mean((2 s_ab + C2) / (s_a^2 + s_b^2 + C2))`` from cached planes (``ssim_index_new``'s ``mcs``)."""
    dt = a.x.dtype
    prod = np.multiply(a.x, b.x, out=scratch(f"diivine_sq{dt}", a.x.shape, dt))
    s_ab = _filter_valid(prod)
    mu_ab = cv2.multiply(a.mu, b.mu, dst=scratch(f"diivine_mu2{dt}", a.mu.shape, dt))
    num = cv2.addWeighted(s_ab, 2.0, mu_ab, -2.0, c2, dst=s_ab)           # 2 s_ab + C2
    den = cv2.addWeighted(a.var, 1.0, b.var, 1.0, c2, dst=mu_ab)          # s_a^2 + s_b^2 + C2
    cs = cv2.divide(num, den, dst=num)
    return float(cs.sum(dtype=np.float64)) / cs.size


def ssim_cs(a: np.ndarray, b: np.ndarray, k2: float = 0.03, dynamic_range: float = 255.0,
            dtype: type = np.float64) -> float:
    """Mean contrast-structure term of ``ssim_index_new(a, b)`` (``mcs``); ``dtype`` of the filtering."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or min(a.shape) < len(_WIN):
        raise ValueError(f"ssim_cs needs two equal arrays of at least 11 x 11, got {a.shape} and {b.shape}")
    return _cs_pair(_CsPlane(a, dtype), _CsPlane(b, dtype), (k2 * dynamic_range) ** 2)


# ------------------------------------------------------------------- spatial correlation
def spatial_correlation(band: np.ndarray, distances: tuple[int, ...] = DISTANCES,
                        nbins: int = HIST_BINS) -> np.ndarray:
    """``rho(d)`` of ``find_spatial_hist_fast``: correlation of the joint histogram of each
    coefficient with its 8 neighbours at offsets ``(0,±d), (±d,0), (±d,±d)``.

    Values are quantised to the centres of ``hist(x, 100)`` (equal bins over ``[min, max]``);
    the correlation is computed on the bin centres.
    """
    x = np.asarray(band, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    if not hi > lo:
        raise ValueError("spatial_correlation needs a non-constant band")
    if nbins > 256:
        raise ValueError(f"spatial_correlation supports at most 256 bins, got {nbins}")
    width = (hi - lo) / nbins
    q = np.clip(np.floor((x - lo) / width), 0, nbins - 1).astype(np.uint8)
    centres = lo + width * (np.arange(nbins) + 0.5)
    H, W = q.shape
    out = []
    for d in distances:
        counts = np.zeros((nbins, nbins), dtype=np.float64)
        # offsets (0,d), (d,0), (d,d), (d,-d); their opposites give the transposed counts
        for dy, dx in ((0, d), (d, 0), (d, d), (d, -d)):
            if abs(dy) >= H or abs(dx) >= W:
                continue
            a = q[max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
            b = q[max(0, dy):H - max(0, -dy), max(0, dx):W - max(0, -dx)]
            # joint histogram counts[i, j] = #(a == i and b == j); exact integers (float32 < 2^24)
            counts += cv2.calcHist([a, b], [0, 1], None,
                                   [nbins, nbins], [0, nbins, 0, nbins])
        m = counts + counts.T
        total = m.sum()
        if total == 0:
            raise ValueError(f"spatial_correlation: no pixel pairs at distance {d} in a {H}x{W} band")
        m = m / total
        px, py = m.sum(axis=1), m.sum(axis=0)
        mu_x, mu_y = centres @ px, centres @ py
        var_x = ((centres - mu_x) ** 2) @ px
        var_y = ((centres - mu_x) ** 2) @ py          # the release centres y with mu_x too
        exy = centres @ m @ centres
        out.append((exy - mu_x * mu_y) / (np.sqrt(var_x) * np.sqrt(var_y)))
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
    hp_plane = _CsPlane(hp, CS_DTYPE)
    for s in range(N_SCALES):                                                  # f32-f43
        for o in range(N_ORIENT):
            b = bands[s][o]
            if b.shape == hp.shape:
                up = b
            elif s == 1 and coarse_up[o].shape == hp.shape:
                up = coarse_up[o]                                      # imresize(b, 2) == imresize(b, hp.shape)
            else:
                up = imresize(b, hp.shape, method="bicubic")
            f.append(_cs_pair(_CsPlane(up, CS_DTYPE), hp_plane))
    try:
        for o in range(N_ORIENT):                                              # f44-f73
            f += spatial_correlation_features(sub[o]).tolist()
    except ValueError as exc:
        raise ImageError(None, f"DIIVINE spatial correlation failed: {exc}") from None
    planes = [_CsPlane(sub[o], CS_DTYPE) for o in range(N_ORIENT)]
    for i, j in combinations(range(N_ORIENT), 2):                              # f74-f88
        f.append(_cs_pair(planes[i], planes[j]))
    out = np.asarray(f, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = np.flatnonzero(~np.isfinite(out))[:5].tolist()
        raise ImageError(None, f"DIIVINE features not finite (indices {bad}); degenerate image content")
    return out


VERSION = "2"          # 2: the SSIM cs features (f32-f43, f74-f88) filtered in float32 (moved < 3e-8 relative)

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
