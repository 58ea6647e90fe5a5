"""crossview: cross-view geo-localization and synthesis.

The public API is deliberately small; everything else lives in sub-packages.
"""

from crossview._version import __version__

__all__ = ["__version__"]

_METHOD_API = ("create_method", "list_methods", "register_method")
__all__ += list(_METHOD_API)


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 lazy attribute
    # Lazy: importing the methods pulls in torch and timm; ``crossview --help`` must stay fast.
    if name in _METHOD_API:
        from crossview.methods import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'crossview' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_METHOD_API))
