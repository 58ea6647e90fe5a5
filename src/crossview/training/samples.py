"""Evaluation hook of the trainer: sample images of methods that define ``visualize``.

A method may define ``visualize(batch, max_items) -> {key: (3, H, W) tensor in [0, 1]}`` (e.g.
``cde``: tile, polar tile, synthesized and real panoramas). At each evaluation the trainer calls
it without gradients, in eval mode, on the same first validation pairs (no augmentation), and
writes ``RUN/samples/step_XXXXXXX_<key>.png`` (atomically) and a TensorBoard image
``samples/<key>``. Visualisations stay pure functions of the method (STYLE.md §14).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from crossview.data.datasets import PairDataset
from crossview.data.table import PairTable
from crossview.errors import CrossviewError
from crossview.io import save_image
from crossview.methods.base import Method

SAMPLE_ITEMS = 4
"""Validation pairs shown per evaluation."""
SAMPLES_DIR = "samples"
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def sample_batch(table: PairTable, method: Method, items: int = SAMPLE_ITEMS) -> dict[str, Any]:
    """Collate the first ``items`` pairs of ``table``, un-augmented, in ``method``'s sizes."""
    data = PairDataset(table, method.input_spec, None)
    return default_collate([data[i] for i in range(min(items, len(data)))])


def write_samples(method: Method, batch: dict[str, Any], step: int, out: str | Path,
                  writer: Any = None, items: int = SAMPLE_ITEMS) -> list[Path]:
    """Run ``method.visualize`` on ``batch`` and write its images for ``step``.

    Returns the written files (none when the method has no ``visualize``). The method's
    training flag is restored afterwards.
    """
    visualize = getattr(method, "visualize", None)
    if visualize is None or len(batch.get("ground", ())) == 0:
        return []
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            images = visualize(batch, items)
    finally:
        method.train(was_training)
    written = []
    for key, image in images.items():
        if not (isinstance(key, str) and _KEY.match(key)):
            raise CrossviewError(f"method {method.name!r}: visualize() key {key!r} is not a "
                                 "file-name-safe string (letters, digits, _ . -)")
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise CrossviewError(f"method {method.name!r}: visualize()[{key!r}] must be a "
                                 f"(3, H, W) image tensor, got {shape}")
        image = image.detach().float().clamp(0.0, 1.0).cpu()
        written.append(save_image(image, Path(out) / SAMPLES_DIR / f"step_{step:07d}_{key}.png"))
        if writer is not None:
            writer.add_image(f"{SAMPLES_DIR}/{key}", image, step)
    if writer is not None:
        writer.flush()
    return written
