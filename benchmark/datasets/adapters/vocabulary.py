"""The canonical distortion-type vocabulary shared by every dataset adapter.

Records carry ``dist_type`` labels from this vocabulary, so "shared distortion types"
subsets (train on A, test on B restricted to the types both contain) compare like with
like across databases.  Each adapter has a ``DISTORTION_NAMES`` dict mapping its native
type id (number or folder/tag name) to a canonical name.

Rules followed when two databases get the same name: both release papers name the same
kind of operation (e.g. TID2013 #10 "JPEG compression", KADID-10k #10 "JPEG", CSIQ
"jpeg", LIVE ``jpeg``).  Variants that a paper keeps apart stay apart (KADID-10k's two
saturation models, LIVE's ``fastfading`` versus TID2013's JPEG 2000 transmission errors).
The synthetic distortions of :mod:`benchmark.datasets.distortions` use the same names
(``jpeg``, ``jpeg2000``, ``white_noise``, ``gaussian_blur``, ``contrast``, ``pink_noise``,
``saturation``, ``impulse_noise``, ``quantisation``).

Multiply distorted images (LIVE-MD) are labelled with their stages joined by ``+`` in the
order applied, e.g. ``gaussian_blur+jpeg``.  Authentically distorted images have no type
(``""``).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["CANONICAL_TYPES", "COMBINE", "is_canonical", "check_mapping", "combine", "types_in"]

COMBINE = "+"

#: canonical name -> description (with the native names it covers)
CANONICAL_TYPES: dict[str, str] = {
    # compression
    "jpeg": "JPEG compression (LIVE jpeg, CSIQ jpeg, TID #10, KADID #10, LIVE-MD jpeg)",
    "jpeg2000": "JPEG 2000 compression (LIVE jp2k, CSIQ jpeg 2000, TID #11, KADID #9)",
    "jpeg_transmission_errors": "JPEG transmission errors (TID #12)",
    "jpeg2000_transmission_errors": "JPEG 2000 transmission errors (TID #13)",
    "fast_fading": "JPEG 2000 stream sent over a simulated Rayleigh fast-fading channel (LIVE fastfading)",
    "noisy_compression": "lossy compression of noisy images (TID2013 #21)",
    # noise
    "white_noise": "additive white Gaussian noise (LIVE wn, CSIQ noise/AWGN, TID #1, KADID #11, LIVE-MD noise)",
    "color_noise": "additive noise stronger in the colour components than in luminance (TID #2, KADID #12)",
    "pink_noise": "additive pink (1/f) Gaussian noise (CSIQ fnoise)",
    "correlated_noise": "spatially correlated noise (TID #3)",
    "masked_noise": "masked noise (TID #4)",
    "high_frequency_noise": "high-frequency noise (TID #5)",
    "impulse_noise": "impulse (salt-and-pepper) noise (TID #6, KADID #13)",
    "quantisation": "quantisation of intensities (TID #7 quantization noise, KADID #22 quantization)",
    "multiplicative_noise": "multiplicative Gaussian noise (TID2013 #19, KADID #14)",
    "comfort_noise": "comfort noise (TID2013 #20)",
    "denoising": "residual of image denoising (TID #9, KADID #15 denoise)",
    # blur and sharpness
    "gaussian_blur": "Gaussian blur (LIVE gblur, CSIQ blur, TID #8, KADID #1, LIVE-MD blur)",
    "lens_blur": "lens (disc) blur (KADID #2)",
    "motion_blur": "motion blur (KADID #3)",
    "sharpen": "over-sharpening (KADID #24 high sharpen)",
    # colour
    "color_diffusion": "colour diffusion (KADID #4)",
    "color_shift": "colour shift (KADID #5)",
    "color_quantization": "colour quantisation, TID2013 #22 with dither (KADID #6)",
    "saturation": "change of colour saturation (TID #18 change of color saturation, KADID #7 color saturation 1)",
    "saturation_2": "KADID-10k #8 'color saturation 2', the database's second saturation model",
    "chromatic_aberration": "chromatic aberrations (TID2013 #23)",
    # luminance and contrast
    "contrast": "contrast change (CSIQ contrast, TID #17, KADID #25)",
    "mean_shift": "mean (intensity) shift (TID #16, KADID #18)",
    "brighten": "brightening (KADID #16)",
    "darken": "darkening (KADID #17)",
    # spatial
    "non_eccentricity_pattern": "non-eccentricity pattern noise (TID #14, KADID #20 non-eccentricity patch)",
    "block_distortion": "local block-wise distortions of different intensity (TID #15, KADID #23 color block)",
    "jitter": "pixel jitter (KADID #19)",
    "pixelate": "pixelation (KADID #21)",
    "sparse_sampling": "sparse sampling and reconstruction (TID2013 #24)",
}


def is_canonical(name: str) -> bool:
    """True for a vocabulary name or a ``+``-joined chain of them (multiply distorted)."""
    parts = name.split(COMBINE)
    return bool(name) and all(p in CANONICAL_TYPES for p in parts)


def combine(*names: str) -> str:
    """The label of several distortions applied in this order (``gaussian_blur+jpeg``)."""
    for n in names:
        if n not in CANONICAL_TYPES:
            raise KeyError(f"{n!r} is not a canonical distortion type")
    return COMBINE.join(names)


def check_mapping(mapping: Mapping[Any, str], owner: str = "") -> None:
    """Raise ``ValueError`` if a ``DISTORTION_NAMES`` dict uses a name outside the vocabulary."""
    bad = sorted({v for v in mapping.values() if not is_canonical(v)})
    if bad:
        raise ValueError(f"{owner or 'mapping'}: distortion names outside the vocabulary: {bad}")


def types_in(mappings: Iterable[Mapping[object, str]]) -> set[str]:
    """Every canonical single-distortion name used by the given mappings."""
    out: set[str] = set()
    for m in mappings:
        for v in m.values():
            out.update(v.split(COMBINE))
    return out
