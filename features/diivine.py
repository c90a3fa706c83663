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
  ``mean((2 s12 + C2) / (s1^2 + s2^2 + C2))``.

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
"""
from __future__ import annotations

from itertools import combinations
from math import factorial

import cv2
import numpy as np

from ._ggd import ggd_table
from .extraction import register_extractor
from .imageio import ImageError, check_min_size, check_not_constant, rgb_to_gray
from .imresize import imresize

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


def steerable_pyramid_freq(image: np.ndarray, height: int = N_SCALES, order: int = N_ORIENT - 1
                           ) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """``buildSFpyr(image, height, order)``: ``(highpass_residual, bands[scale][orientation])``.

    The low-pass residual is not returned (DIIVINE does not use it).
    """
    im = np.asarray(image, dtype=np.float64)
    dims = np.array(im.shape)
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
    imdft = np.fft.fftshift(np.fft.fft2(im))
    hi0 = np.real(np.fft.ifft2(np.fft.ifftshift(imdft * _point_op(log_rad, xrcos, yrcos))))
    lodft = imdft * _point_op(log_rad, xrcos, yircos)

    nb = order + 1
    lutsize = 1024
    xcosn = np.pi * np.arange(-(2 * lutsize + 1), lutsize + 2) / lutsize
    const = (2.0 ** (2 * order)) * (factorial(order) ** 2) / (nb * factorial(2 * order))
    ycosn = np.sqrt(const) * np.cos(xcosn) ** order
    phase = (-1j) ** order

    bands: list[list[np.ndarray]] = []
    for _ in range(height):
        log_rad = log_rad + 1.0
        himask = _point_op(log_rad, xrcos, yrcos)
        level = []
        for b in range(nb):
            anglemask = _point_op(angle, xcosn + np.pi * b / nb, ycosn)
            band = np.fft.ifft2(np.fft.ifftshift(phase * lodft * anglemask * himask))
            level.append(np.real(band))
        bands.append(level)
        d = np.array(lodft.shape)
        c = np.ceil((d + 0.5) / 2).astype(int)
        lodims = np.ceil((d - 0.5) / 2).astype(int)
        loctr = np.ceil((lodims + 0.5) / 2).astype(int)
        lo0 = c - loctr
        sl = (slice(lo0[0], lo0[0] + lodims[0]), slice(lo0[1], lo0[1] + lodims[1]))
        log_rad, angle, lodft = log_rad[sl], angle[sl], lodft[sl]
        lodft = lodft * _point_op(log_rad, xrcos, yircos)
    return hi0, bands


# ------------------------------------------------------------------- divisive normalisation
def _normalise_band(bands: list[list[np.ndarray]], scale: int, orient: int, has_parent: bool
                    ) -> np.ndarray:
    aux = bands[scale][orient]
    nsy, nsx = aux.shape
    L = (BLOCK - 1) // 2
    nv, nh = nsy - 2 * L, nsx - 2 * L
    inner = (slice(L, L + nv), slice(L, L + nh))
    n_cols = BLOCK * BLOCK + int(has_parent) + N_ORIENT - 1
    Yt = np.empty((n_cols, nv, nh))                 # neighbourhood vectors, one column per pixel
    k = 0
    for dy in range(-L, L + 1):                     # shift(aux, [dy dx]) cropped to the interior
        for dx in range(-L, L + 1):
            Yt[k] = aux[L + dy:L + dy + nv, L + dx:L + dx + nh]
            k += 1
    if has_parent:
        parent = imresize(bands[scale + 1][orient], 2.0, method="bicubic")[:nsy, :nsx]
        Yt[k] = parent[inner]
        k += 1
    for o in range(N_ORIENT):
        if o != orient:
            Yt[k] = bands[scale][o][inner]
            k += 1
    Yt = Yt.reshape(n_cols, -1)
    n_exp = Yt.shape[1]
    N = BLOCK * BLOCK + int(has_parent)        # release's neighbourhood size (ignores the 5 others)
    C = Yt @ Yt.T / n_exp
    lam, Q = np.linalg.eigh(C)
    pos = lam * (lam > 0)
    spos = pos.sum()
    lam = pos * lam.sum() / (spos + (spos == 0))
    C = (Q * lam) @ Q.T
    P = np.linalg.pinv(C, rtol=max(C.shape) * np.finfo(float).eps)
    z = np.sqrt(np.einsum("ij,ij->j", P @ Yt, Yt) / N)
    o_c = aux[inner].ravel()
    o_c = o_c - o_c.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(z != 0, o_c / z, 0.0).reshape(nv, nh)
    gb = GUARDBAND // 2 ** scale
    g = g[gb:nv - gb, gb:nh - gb]
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


def normalise_subbands(bands: list[list[np.ndarray]]) -> list[np.ndarray]:
    """``norm_sender_normalized``: the 12 normalised 2-D subbands, scale-major order."""
    flags = parent_flags()
    return [_normalise_band(bands, s, o, flags[s * N_ORIENT + o])
            for s in range(N_SCALES) for o in range(N_ORIENT)]


# ------------------------------------------------------------------------------------- SSIM cs
def _gauss1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2.0
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


_WIN = _gauss1d()


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """``filter2(fspecial('gaussian', 11, 1.5), x, 'valid')`` (separable)."""
    r = len(_WIN) // 2
    y = cv2.sepFilter2D(np.ascontiguousarray(x), cv2.CV_64F, _WIN, _WIN, borderType=cv2.BORDER_REFLECT)
    return y[r:x.shape[0] - r, r:x.shape[1] - r]


def ssim_cs(a: np.ndarray, b: np.ndarray, k2: float = 0.03, dynamic_range: float = 255.0) -> float:
    """Mean contrast-structure term of ``ssim_index_new(a, b)`` (``mcs``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or min(a.shape) < len(_WIN):
        raise ValueError(f"ssim_cs needs two equal arrays of at least 11 x 11, got {a.shape} and {b.shape}")
    c2 = (k2 * dynamic_range) ** 2
    mu_a, mu_b = _filter_valid(a), _filter_valid(b)
    s_aa = _filter_valid(a * a) - mu_a * mu_a
    s_bb = _filter_valid(b * b) - mu_b * mu_b
    s_ab = _filter_valid(a * b) - mu_a * mu_b
    return float(np.mean((2 * s_ab + c2) / (s_aa + s_bb + c2)))


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
    width = (hi - lo) / nbins
    q = np.clip(np.floor((x - lo) / width).astype(np.int64), 0, nbins - 1)
    centres = lo + width * (np.arange(nbins) + 0.5)
    H, W = q.shape
    out = []
    for d in distances:
        counts = np.zeros(nbins * nbins, dtype=np.float64)
        # offsets (0,d), (d,0), (d,d), (d,-d); their opposites give the transposed counts
        for dy, dx in ((0, d), (d, 0), (d, d), (d, -d)):
            if abs(dy) >= H or abs(dx) >= W:
                continue
            a = q[max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
            b = q[max(0, dy):H - max(0, -dy), max(0, dx):W - max(0, -dx)]
            counts += np.bincount((a * nbins + b).ravel(), minlength=nbins * nbins)
        m = counts.reshape(nbins, nbins)
        m = m + m.T
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
    m = t.mean() if mu is None else mu
    dev = t - m
    sigma_sq = np.mean(dev * dev)
    e = np.mean(np.abs(dev))
    return float(ggd_table(*GAMMA_GRID).nearest(sigma_sq / e ** 2))


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
    sub = normalise_subbands(bands)
    flat = [s.ravel() for s in sub]

    f: list[float] = []
    f += [float(np.mean((t - t.mean()) ** 2)) for t in flat]                  # f1-f12
    f += [_shape(t) for t in flat]                                            # f13-f24
    last_mu = 0.0
    for o in range(N_ORIENT):                                                  # f25-f30
        t = np.concatenate([flat[o], flat[o + N_ORIENT]])
        last_mu = float(t.mean())
        f.append(_shape(t, last_mu))
    f.append(_shape(np.concatenate(flat), last_mu))                           # f31
    for s in range(N_SCALES):                                                  # f32-f43
        for o in range(N_ORIENT):
            b = bands[s][o]
            up = b if b.shape == hp.shape else imresize(b, hp.shape, method="bicubic")
            f.append(ssim_cs(up, hp))
    try:
        for o in range(N_ORIENT):                                              # f44-f73
            f += spatial_correlation_features(sub[o]).tolist()
    except ValueError as exc:
        raise ImageError(None, f"DIIVINE spatial correlation failed: {exc}") from None
    for i, j in combinations(range(N_ORIENT), 2):                              # f74-f88
        f.append(ssim_cs(sub[i], sub[j]))
    out = np.asarray(f, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = np.flatnonzero(~np.isfinite(out))[:5].tolist()
        raise ImageError(None, f"DIIVINE features not finite (indices {bad}); degenerate image content")
    return out


register_extractor(
    "diivine",
    extract,
    version="1",
    params={},
    paper="Moorthy & Bovik: Blind image quality assessment: from natural scene statistics to "
          "perceptual quality, IEEE TIP 20(12):3350-3364, 2011",
    reference="LIVE DIIVINE MATLAB release (divine_feature_extract.m, norm_sender_normalized.m)",
)
