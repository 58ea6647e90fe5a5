"""crossview: cross-view geo-localization and synthesis.

The public API is deliberately small; everything else lives in sub-packages.
"""

from crossview._version import __version__

__all__ = ["__version__"]
