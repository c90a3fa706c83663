"""VIF (Sheikh & Bovik 2006), wavelet-domain version of the authors' ``vifvec.m``.

The calibration values (IQA-PyTorch ResultsCalibra, "original MATLAB" row) are
``vifvec`` (steerable pyramid, vector GSM), not the pixel-domain ``vifp_mscale``.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

from ..imageio import ImageError
from ._filters import corr_dn, prepare_pair
from .registry import register_metric

__all__ = ["vif"]

M = 3                                     # GSM vector block size (M x M)
SUBBANDS = (4, 7, 10, 13, 16, 19, 22, 25)  # vifvec.m indices into ind2wtree's cell array
SIGMA_NSQ = 0.4                           # HVS noise variance
TOL = 1e-15                               # vifsub_est_M tolerance
HEIGHT, ORDER = 4, 5                      # buildSpyr(img, 4, 'sp5Filters', 'reflect1')
MIN_SIZE = 72                             # maxPyrHt: 9-tap lofilt must fit at all 4 levels


@functools.lru_cache(maxsize=1)
def _sp5_filters() -> dict[str, np.ndarray]:
    """matlabPyrTools ``sp5Filters`` (from pyrtools; imported lazily, ~1 s once per process)."""
    from pyrtools.pyramids.filters import steerable_filters

    return {k: np.asarray(v, dtype=np.float64) for k, v in steerable_filters("sp5_filters").items()}


def _subband_location(sub: int) -> tuple[int, int]:
    """(level, orientation) of ``ind2wtree`` cell ``sub`` (1-based, coarse-to-fine reversed)."""
    p = (2 + HEIGHT * (ORDER + 1)) - sub       # 0-based index in buildSpyr order (0 = hi0)
    return (p - 1) // (ORDER + 1), (p - 1) % (ORDER + 1)


def _pyramid_bands(img: np.ndarray, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """The requested oriented bands of matlabPyrTools ``buildSpyr(img, 4, 'sp5Filters', 'reflect1')``."""
    f = _sp5_filters()
    size = int(round(np.sqrt(f["bfilts"].shape[0])))
    lo = corr_dn(img, f["lo0filt"])
    out = {}
    for lev in range(HEIGHT):
        for ori in range(ORDER + 1):
            if (lev, ori) in wanted:
                filt = f["bfilts"][:, ori].reshape(size, size, order="F")   # MATLAB reshape
                out[(lev, ori)] = corr_dn(lo, filt)
        lo = corr_dn(lo, f["lofilt"], step=2)
    return out


def _crop(y: np.ndarray) -> np.ndarray:
    h, w = (np.array(y.shape) // M) * M
    return y[:h, :w]


def _distortion_channel(y: np.ndarray, yn: np.ndarray, winsize: int) -> tuple[np.ndarray, np.ndarray]:
    """``vifsub_est_M``: channel gain g and noise variance vv per M x M block (local regression)."""
    y, yn = _crop(y), _crop(yn)
    n = winsize * winsize
    start = M // 2

    def box_sum(a: np.ndarray) -> np.ndarray:
        # corrDn(a, ones(winsize), 'reflect1', [M M], [2 2]) as a mean times n
        return ndimage.uniform_filter(a, winsize, mode="mirror")[start::M, start::M] * n

    mean_x, mean_y = box_sum(y) / n, box_sum(yn) / n
    cov_xy = box_sum(y * yn) - n * mean_x * mean_y
    ss_x = np.maximum(box_sum(y * y) - n * mean_x * mean_x, 0.0)
    ss_y = np.maximum(box_sum(yn * yn) - n * mean_y * mean_y, 0.0)
    g = cov_xy / (ss_x + TOL)
    vv = (ss_y - g * cov_xy) / n
    low_x = ss_x < TOL
    g[low_x] = 0.0
    vv[low_x] = ss_y[low_x]
    low_y = ss_y < TOL
    g[low_y] = 0.0
    vv[low_y] = 0.0
    neg = g < 0
    vv[neg] = ss_y[neg]
    g[neg] = 0.0
    vv[vv <= TOL] = TOL
    return g, vv


def _reference_gsm(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``refparams_vecgsm``: the S field (per non-overlapping block) and eigenvalues of C_U."""
    y = _crop(y)
    h, w = y.shape
    # all overlapping M x M blocks as M^2-vectors -> covariance C_U (1/N normalisation)
    blocks = np.lib.stride_tricks.sliding_window_view(y, (M, M)).reshape(-1, M * M)
    centred = blocks - blocks.mean(axis=0)
    cu = centred.T @ centred / blocks.shape[0]
    # non-overlapping blocks (same vector ordering) -> s^2 = x^T C_U^-1 x / M^2
    tiles = y.reshape(h // M, M, w // M, M).transpose(0, 2, 1, 3).reshape(h // M, w // M, M * M)
    try:
        inv_cu = np.linalg.inv(cu)
    except np.linalg.LinAlgError:
        raise ImageError("<reference array>", "VIF is undefined: a reference wavelet subband has a "
                                              "singular covariance (flat or degenerate texture)") from None
    ss = np.einsum("hwi,ij,hwj->hw", tiles, inv_cu, tiles) / (M * M)
    lam = np.linalg.eigvalsh(cu)
    return ss, lam


def vif(ref: np.ndarray, dist: np.ndarray) -> float:
    """Visual information fidelity (wavelet domain, ``vifvec.m``); 1 for identical images.

    Sheikh & Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006:
    Gaussian scale mixture source model of wavelet (steerable pyramid) coefficients, gain +
    additive noise distortion channel, HVS noise sigma_n^2; VIF = distorted-image
    information / reference-image information, summed over subbands.  The ``vifvec.m``
    release differs from the paper as its header says (more subbands, a window that
    grows with the scale, subband borders dropped).

    Conventions: RGB -> MATLAB ``rgb2gray`` rounded to uint8 (as the calibration values
    use); grey input as is; range [0, 255].  matlabPyrTools ``buildSpyr`` with
    ``sp5Filters``, height 4, ``'reflect1'`` boundaries (mirror without repeating the
    edge sample); subbands ``[4 7 10 13 16 19 22 25]`` of ``ind2wtree`` (orientations 0
    and 3 of every level); ``M = 3``; ``sigma_nsq = 0.4``; window ``2^lev + 1`` with
    ``lev = ceil((sub-1)/6)``.  Not symmetric: the order (reference, distorted) matters.

    Raises :class:`~features.imageio.ImageError` for mismatched sizes, images smaller
    than 72x72 (pyramid height 4 with the 9-tap filters), or a constant (textureless)
    reference, where VIF is 0/0.
    """
    pair = prepare_pair(ref, dist, MIN_SIZE, "VIF steerable pyramid (height 4)")
    x, y = pair.luminance()
    if np.ptp(x) == 0:
        raise ImageError("<reference array>", "VIF is undefined for a constant reference image "
                                              "(no information: 0/0)")
    locations = {sub: _subband_location(sub) for sub in SUBBANDS}
    wanted = set(locations.values())
    org, dst = _pyramid_bands(x, wanted), _pyramid_bands(y, wanted)
    num = den = 0.0
    for sub in SUBBANDS:
        band = locations[sub]
        lev = int(np.ceil((sub - 1) / 6))
        winsize = 2 ** lev + 1
        g, vv = _distortion_channel(org[band], dst[band], winsize)
        ss, lam = _reference_gsm(org[band])
        off = int(np.ceil(((winsize - 1) / 2) / M))
        sl = (slice(off, g.shape[0] - off), slice(off, g.shape[1] - off))
        g, vv, ss = g[sl], vv[sl], ss[sl]
        for lj in lam:
            num += float(np.sum(np.log2(1.0 + g * g * ss * lj / (vv + SIGMA_NSQ))))
            den += float(np.sum(np.log2(1.0 + ss * lj / SIGMA_NSQ)))
    if not (np.isfinite(num) and np.isfinite(den)) or den <= 0:
        raise ImageError("<image pair>", "VIF is undefined for this pair (no reference information)")
    return float(num / den)


register_metric(
    "vif", vif, label="VIF", higher_better=True, score_range=None,
    paper="Sheikh, Bovik, 'Image information and visual quality', IEEE TIP 15(2), 2006",
    reference="Sheikh's vifvec.m (steerable pyramid, vector GSM), on rgb2gray")
