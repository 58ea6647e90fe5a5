"""Limits and batching settings of ``crossview serve`` (typed, with a docstring per field)."""

from __future__ import annotations

import dataclasses

from crossview.errors import ConfigError
from crossview.index.locate import DEFAULT_NUM_HEADINGS


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """What the service accepts and how it batches (``crossview serve`` options)."""

    max_upload_bytes: int = 32 * 1024 * 1024
    """Largest request body (the multipart upload with its fields); larger ones get 413."""
    max_pixels: int = 64_000_000
    """Largest image (width x height) decoded; checked from the header, before decoding (413)."""
    timeout_s: float = 30.0
    """Per request: time from arrival to answer (waiting for the model included); then 503."""
    max_batch: int = 8
    """Queries embedded in one forward pass when several arrive together."""
    batch_wait_ms: float = 5.0
    """How long the first query of a batch waits for others before the forward pass."""
    max_top: int = 100
    """Largest ``top`` a client may ask for."""
    num_headings: int = DEFAULT_NUM_HEADINGS
    """Rolls tried when the heading is unknown (as ``crossview locate``)."""
    exact: bool = True
    """Exact search (``False``: the index's ANN)."""

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "max_batch", "max_top", "num_headings"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"serve: {name} must be >= 1, got {getattr(self, name)}")
        if not self.timeout_s > 0 or self.batch_wait_ms < 0:
            raise ConfigError(f"serve: timeout_s must be > 0 and batch_wait_ms >= 0, got "
                              f"{self.timeout_s}, {self.batch_wait_ms}")
