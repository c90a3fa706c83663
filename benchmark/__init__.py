"""iqabench: a reproducible classical-versus-deep benchmark for image quality assessment."""
__version__ = "0.1.0"
