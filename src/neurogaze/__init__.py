"""neurogaze: one reproducible pipeline for brain-encoding and human-attention models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("neurogaze")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
