"""Reusable synthetic distortions at five severity levels (1 = mildest, 5 = worst).

Every distortion is a typed function ``f(image, level, rng=None) -> image`` on ``H x W x 3``
``uint8`` RGB arrays (same shape and dtype out).  ``level`` is an integer in ``1..5``;
anything else raises :class:`ValueError`.  Stochastic distortions draw from ``rng``
(a :class:`numpy.random.Generator`); ``rng=None`` means ``default_rng(0)``, so every call
is deterministic.  :func:`distortion_rng` derives the generator of one
``(content, distortion, level)`` triple, which is what the ``synth`` dataset uses.
Floating-point results are rounded to the nearest integer and clipped to ``[0, 255]``.

Parameters per level (the registry :data:`DISTORTIONS` holds the same table)::

    name           parameter                              L1     L2     L3     L4     L5
    jpeg           JPEG quality (libjpeg-turbo, 4:2:0)     43     36     24      7      4
    jpeg2000       compression ratio (OpenJPEG)          16.1   32.3   45.5    125    333
    white_noise    noise s.d. (0..255), i.i.d. RGB        8.1   11.4   14.0   18.0   25.5
    gaussian_blur  kernel s.d. sigma (pixels)             0.6    1.0    1.5    2.2    3.2
    contrast       contrast factor c                     0.85   0.70   0.55   0.40   0.25
    pink_noise     noise s.d. (0..255), 1/f spectrum        6     10     15     22     32
    saturation     HSV saturation factor                 0.70   0.50   0.30   0.15   0.00
    impulse_noise  salt-and-pepper density              0.001  0.005   0.01   0.02   0.03
    quantisation   grey levels per channel                 20     16     13     10      7

Sources of the ranges: KADID-10k (Lin, Hosu, Saupe, QoMEX 2019, ``imdist_generator.m``)
for ``jpeg`` (#10, same qualities), ``jpeg2000`` (#9, ratios 16/32/45/120/400, rounded to
OpenCV's ``1000/ratio`` integer step), ``white_noise`` (#11, variances 0.001..0.01 on
``[0, 1]``, i.e. s.d. ``255 sqrt(v)``), ``saturation`` (#7, HSV S scaled; KADID's factors
0.4/0.2/0.1/0/-0.4 shifted milder, no negative factor), ``impulse_noise`` (#13, same
densities) and ``quantisation`` (#22, same level counts, but uniform bins instead of Otsu
thresholds); DBCNN's generator (Zhang et al., TCSVT 2020) for ``pink_noise`` (1/f
amplitude spectrum, ``randnd(-1)``) and ``contrast`` (compression toward mid-range).
``gaussian_blur`` uses KADID's model (#1) with sigmas scaled to 256-pixel images (KADID's
0.1..5 px on 512x384 images leave levels 1-2 invisible here).  The levels of ``pink_noise``
and ``contrast`` are ours.  Median PSNR (dB) against the pristine image, measured on the
default ``synth`` set (10 colour photos, 256 x 256; the last two rows on all 17 sources)::

    jpeg 30.1 29.6 28.5 24.2 21.9      jpeg2000 32.4 28.2 26.8 23.4 20.4
    white_noise 30.1 27.2 25.5 23.3 20.5   gaussian_blur 34.5 29.3 26.6 24.6 22.9
    contrast 27.7 21.7 18.2 15.7 13.7  pink_noise 32.6 28.2 24.9 21.6 18.7
    saturation 24.9 20.5 17.5 15.9 14.4    impulse_noise 35.2 27.9 25.0 22.1 20.1
    quantisation 36.7 34.8 32.9 30.7 27.7

PSNR falls strictly with the level for every (content, type) pair there, except
``quantisation`` on two low-range images (hubble, moon), where uniform bins of a coarser
step can happen to fit the few grey values better.

Conventions: ``gaussian_blur`` mirrors the border with the edge pixel repeated (scipy
``mode="reflect"`` = MATLAB ``imfilter(..., 'symmetric')``), kernel truncated at 3 sigma.  Luminance (``contrast``) is MATLAB
``rgb2gray`` (:func:`features.imageio.rgb_to_gray`).  The JPEG / JPEG 2000 codecs are
OpenCV's bundled libjpeg-turbo and OpenJPEG (checked offline in opencv-contrib-python-
headless 5.0); where OpenCV lacks JPEG 2000, Pillow's OpenJPEG plugin is used with the same
compression ratios (pixels then differ slightly; :func:`jpeg2000_encoder` says which).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from features.imageio import GRAY_WEIGHTS, ImageError, check_min_size

__all__ = [
    "Distortion",
    "DISTORTIONS",
    "LEVELS",
    "MIN_SIZE",
    "get_distortion",
    "apply_distortion",
    "distortion_rng",
    "parameter_table",
    "jpeg2000_encoder",
    "jpeg",
    "jpeg2000",
    "white_noise",
    "gaussian_blur",
    "contrast",
    "pink_noise",
    "saturation",
    "impulse_noise",
    "quantisation",
]

LEVELS = (1, 2, 3, 4, 5)
MIN_SIZE = 8  # smallest side accepted (the codecs and the 1/f spectrum need a few pixels)
JP2K_MIN_SIZE = 32  # OpenJPEG's default 6 resolution levels need sides >= 2**5

JPEG_QUALITY = (43, 36, 24, 7, 4)
JP2K_X1000 = (62, 31, 22, 8, 3)                     # OpenCV parameter: ratio = 1000 / value
JP2K_RATIO = tuple(1000.0 / v for v in JP2K_X1000)  # 16.1, 32.3, 45.5, 125, 333
WHITE_NOISE_SIGMA = tuple(float(255.0 * np.sqrt(v)) for v in (0.001, 0.002, 0.003, 0.005, 0.01))
BLUR_SIGMA = (0.6, 1.0, 1.5, 2.2, 3.2)
CONTRAST_FACTOR = (0.85, 0.70, 0.55, 0.40, 0.25)
PINK_NOISE_SIGMA = (6.0, 10.0, 15.0, 22.0, 32.0)
SATURATION_FACTOR = (0.70, 0.50, 0.30, 0.15, 0.0)
IMPULSE_DENSITY = (0.001, 0.005, 0.01, 0.02, 0.03)
QUANT_LEVELS = (20, 16, 13, 10, 7)

Rng = Optional[np.random.Generator]


# ----------------------------------------------------------------------------- helpers
def _check_level(level: int, name: str) -> int:
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, np.integer)):
        raise ValueError(f"{name}: level must be an integer in 1..5, got {level!r}")
    if not 1 <= int(level) <= 5:
        raise ValueError(f"{name}: level must be in 1..5, got {level}")
    return int(level)


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ImageError(None, f"{name} expects an H x W x 3 uint8 RGB array, got shape {arr.shape} "
                               f"dtype {arr.dtype} (convert with features.imageio.as_rgb_uint8)")
    check_min_size(arr, MIN_SIZE, source=None, what=f"minimum for distortion {name!r}")
    return arr


def _rng(rng: Rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    return rng


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _start(image: np.ndarray, level: int, name: str, table: tuple) -> tuple[np.ndarray, float]:
    lv = _check_level(level, name)
    return _check_image(image, name), table[lv - 1]


def distortion_rng(content: str, distortion: str, level: int, seed: int = 0) -> np.random.Generator:
    """The generator for one ``(content, distortion, level)``: stable across runs and platforms.

    Seeded with :class:`numpy.random.SeedSequence` from ``seed`` and the SHA-256 of
    ``"content/distortion/level"`` (not Python's salted ``hash``).
    """
    digest = hashlib.sha256(f"{content}/{distortion}/{int(level)}".encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


# ----------------------------------------------------------------------------- codecs
def _jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise RuntimeError("OpenCV failed to encode JPEG")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(out[:, :, ::-1])


def _jp2_opencv(rgb: np.ndarray, x1000: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jp2", np.ascontiguousarray(rgb[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, int(x1000)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode JPEG 2000")
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if out is None:
        raise RuntimeError("OpenCV failed to decode its own JPEG 2000 stream")
    return np.ascontiguousarray(out[:, :, ::-1])


def _jp2_pillow(rgb: np.ndarray, ratio: float) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[float(ratio)],
                              irreversible=True)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).copy()


_JP2_ENCODER: list[str] = []


def jpeg2000_encoder() -> str:
    """``"opencv"`` when this OpenCV build encodes JPEG 2000, else ``"pillow"`` (or raises)."""
    if not _JP2_ENCODER:
        probe = np.zeros((JP2K_MIN_SIZE, JP2K_MIN_SIZE, 3), np.uint8)
        probe[8:24, 8:24] = 200
        try:
            _jp2_opencv(probe, 100)
            _JP2_ENCODER.append("opencv")
        except Exception:
            from PIL import features as pil_features

            if not pil_features.check("jpg_2000"):
                raise RuntimeError("no JPEG 2000 encoder: neither OpenCV nor Pillow has OpenJPEG")
            _JP2_ENCODER.append("pillow")
    return _JP2_ENCODER[0]


# ----------------------------------------------------------------------------- distortions
def jpeg(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """JPEG compression (KADID-10k #10): OpenCV/libjpeg-turbo, quality 43/36/24/7/4, 4:2:0 chroma."""
    img, q = _start(image, level, "jpeg", JPEG_QUALITY)
    return _jpeg_roundtrip(img, int(q))


def jpeg2000(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """JPEG 2000 compression (KADID-10k #9): ratio ``1000 / (62, 31, 22, 8, 3)`` of 24-bit RGB."""
    img, x1000 = _start(image, level, "jpeg2000", JP2K_X1000)
    check_min_size(img, JP2K_MIN_SIZE, what="minimum for distortion 'jpeg2000' (6 wavelet levels)")
    if jpeg2000_encoder() == "opencv":
        return _jp2_opencv(img, int(x1000))
    return _jp2_pillow(img, 1000.0 / x1000)


def white_noise(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Additive white Gaussian noise, i.i.d. over pixels and RGB channels (KADID-10k #11).

    ``y = x + sigma n``, ``n ~ N(0, 1)``, ``sigma = 255 sqrt(v)``, ``v`` = 0.001, 0.002,
    0.003, 0.005, 0.01 (MATLAB ``imnoise(..., 'gaussian', 0, v)`` on ``[0, 1]``).
    """
    img, sigma = _start(image, level, "white_noise", WHITE_NOISE_SIGMA)
    noise = _rng(rng).standard_normal(img.shape)
    return _to_uint8(img + sigma * noise)


def gaussian_blur(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Gaussian blur of each channel, sigma 0.6/1.0/1.5/2.2/3.2 px (KADID-10k #1 model).

    Kernel truncated at 3 sigma; symmetric boundary (MATLAB ``imfilter(..., 'symmetric')``).
    """
    from scipy.ndimage import gaussian_filter

    img, sigma = _start(image, level, "gaussian_blur", BLUR_SIGMA)
    out = gaussian_filter(img.astype(np.float64), sigma=(sigma, sigma, 0.0), mode="reflect", truncate=3.0)
    return _to_uint8(out)


def contrast(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Contrast reduction toward the mean luminance: ``y = m + c (x - m)``.

    ``m`` is the image mean of MATLAB ``rgb2gray`` luminance, the same for all channels
    (hue kept); ``c`` = 0.85, 0.70, 0.55, 0.40, 0.25.
    """
    img, c = _start(image, level, "contrast", CONTRAST_FACTOR)
    x = img.astype(np.float64)
    m = float((x @ GRAY_WEIGHTS).mean())
    return _to_uint8(m + c * (x - m))


def _one_over_f(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Zero-mean unit-s.d. noise per channel, amplitude spectrum ``1/|f|`` (DC removed)."""
    h, w, ch = shape
    white = rng.standard_normal((ch, h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = np.inf  # zero DC
    spec = np.fft.rfft2(white, axes=(1, 2)) / f
    noise = np.fft.irfft2(spec, s=(h, w), axes=(1, 2))
    noise -= noise.mean(axis=(1, 2), keepdims=True)
    sd = noise.std(axis=(1, 2), keepdims=True)
    return np.moveaxis(noise / sd, 0, -1)


def pink_noise(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Additive 1/f ("pink") noise, independent per RGB channel, s.d. 6/10/15/22/32.

    Spectral shaping as DBCNN's ``randnd(-1)``: white Gaussian noise filtered by ``1/|f|``
    in the 2-D Fourier domain (radial frequency in cycles/pixel, DC set to 0), then
    normalised to zero mean and unit s.d. per channel and scaled by ``sigma``.
    """
    img, sigma = _start(image, level, "pink_noise", PINK_NOISE_SIGMA)
    noise = _one_over_f(img.shape, _rng(rng))
    return _to_uint8(img + sigma * noise)


def saturation(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Saturation reduction: HSV ``S`` scaled by 0.70/0.50/0.30/0.15/0 with ``H``, ``V`` kept.

    With ``V = max(R, G, B)`` fixed, scaling ``S`` by ``s`` is exactly
    ``y = V - s (V - x)`` per channel (KADID-10k #7 model); level 5 is grey (``R = G = B = V``).
    Grey input is returned unchanged.
    """
    img, s = _start(image, level, "saturation", SATURATION_FACTOR)
    x = img.astype(np.float64)
    v = x.max(axis=2, keepdims=True)
    return _to_uint8(v - s * (v - x))


def impulse_noise(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Salt-and-pepper noise of density 0.001/0.005/0.01/0.02/0.03 (KADID-10k #13).

    As MATLAB ``imnoise(..., 'salt & pepper', d)`` on an RGB array: each sample (pixel and
    channel) independently becomes 0 with probability ``d/2`` or 255 with probability ``d/2``.
    """
    img, d = _start(image, level, "impulse_noise", IMPULSE_DENSITY)
    u = _rng(rng).random(img.shape)
    out = img.copy()
    out[u < d / 2] = 0
    out[(u >= d / 2) & (u < d)] = 255
    return out


def quantisation(image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """Uniform quantisation of each channel to 20/16/13/10/7 levels (KADID-10k #22 counts).

    Bins of width ``256 / n``; each value is replaced by its bin centre (KADID places the
    thresholds by Otsu's method instead).
    """
    img, n = _start(image, level, "quantisation", QUANT_LEVELS)
    step = 256.0 / n
    idx = np.floor(img / step)
    return _to_uint8((idx + 0.5) * step - 0.5)


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Distortion:
    """One registered distortion: the function and its per-level parameter table."""

    name: str
    func: Callable[..., np.ndarray]
    parameter: str
    values: tuple[float, ...]           # parameter at levels 1..5
    title: str = ""
    reference: str = ""
    stochastic: bool = False            # draws from ``rng``
    colour_only: bool = False           # no effect on grey (R = G = B) images

    def __call__(self, image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
        return self.func(image, level, rng)

    def value(self, level: int) -> float:
        """The parameter at ``level`` (1..5)."""
        return self.values[_check_level(level, self.name) - 1]


def _reg(*items: Distortion) -> dict[str, Distortion]:
    return {d.name: d for d in items}


DISTORTIONS: dict[str, Distortion] = _reg(
    Distortion("jpeg", jpeg, "quality", JPEG_QUALITY, "JPEG compression", "KADID-10k #10"),
    Distortion("jpeg2000", jpeg2000, "compression ratio", JP2K_RATIO, "JPEG 2000 compression",
               "KADID-10k #9"),
    Distortion("white_noise", white_noise, "sigma (0..255)", WHITE_NOISE_SIGMA,
               "additive white Gaussian noise (RGB)", "KADID-10k #11", stochastic=True),
    Distortion("gaussian_blur", gaussian_blur, "sigma (pixels)", BLUR_SIGMA, "Gaussian blur", "KADID-10k #1"),
    Distortion("contrast", contrast, "contrast factor", CONTRAST_FACTOR, "contrast reduction",
               "DBCNN contrast change; TID2013 #17"),
    Distortion("pink_noise", pink_noise, "sigma (0..255)", PINK_NOISE_SIGMA, "additive 1/f (pink) noise",
               "DBCNN pink noise", stochastic=True),
    Distortion("saturation", saturation, "HSV saturation factor", SATURATION_FACTOR, "saturation reduction",
               "KADID-10k #7", colour_only=True),
    Distortion("impulse_noise", impulse_noise, "density", IMPULSE_DENSITY, "salt-and-pepper noise",
               "KADID-10k #13", stochastic=True),
    Distortion("quantisation", quantisation, "levels per channel", tuple(float(n) for n in QUANT_LEVELS),
               "uniform colour quantisation", "KADID-10k #22"),
)


def get_distortion(name: str) -> Distortion:
    try:
        return DISTORTIONS[name]
    except KeyError:
        raise KeyError(f"unknown distortion {name!r}; known: {sorted(DISTORTIONS)}") from None


def apply_distortion(name: str, image: np.ndarray, level: int, rng: Rng = None) -> np.ndarray:
    """``DISTORTIONS[name](image, level, rng)``."""
    return get_distortion(name)(image, level, rng)


def parameter_table():
    """The per-level parameters as a DataFrame (one row per distortion)."""
    import pandas as pd

    rows = [{"distortion": d.name, "parameter": d.parameter,
             **{f"level{i}": round(float(v), 4) for i, v in enumerate(d.values, 1)}, "reference": d.reference}
            for d in DISTORTIONS.values()]
    return pd.DataFrame(rows)
