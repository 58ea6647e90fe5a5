"""Finding the sky mask of a street panorama file (for Sat2Density's illumination transfer).

Looked up, in order, where the datasets keep them:

1. Sat2Density's CVACT arrangement: ``<root>/streetview/<id>_grdView.<ext>`` ->
   ``<root>/pano_sky_mask/<id>_grdView.png`` (or ``.jpg``);
2. Sat2Density's CVUSA arrangement: ``<root>/streetview/panos/<id>.jpg`` ->
   ``<root>/sky_mask/<id>.png`` (or ``.jpg``);
3. Sat2Density's demo naming: ``<name>.image.png`` -> ``<name>.sky.png`` in the same folder;
4. the synthetic world: the panorama's sample in ``<root>/crossview_gt/samples.csv`` ->
   ``<root>/crossview_gt/sky/<sample id>.png``.

Masks are read by :func:`crossview.data.inputs.ground_map` (white = sky).
"""

from __future__ import annotations

import csv
from pathlib import Path

SUFFIXES = (".png", ".jpg", ".jpeg")
WHERE = ("pano_sky_mask/<id>_grdView.png beside streetview/ (CVACT), sky_mask/<id>.png beside "
         "streetview/panos/ (CVUSA), <name>.sky.png beside <name>.image.png, or the synthetic "
         "world's crossview_gt/sky/")
"""Where :func:`find_sky_mask` looks, for error messages."""


def _first(folder: Path, stem: str) -> Path | None:
    for suffix in SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def find_sky_mask(panorama: str | Path) -> Path | None:
    """The sky mask of ``panorama`` where the datasets keep them (module docstring), or None."""
    pano = Path(panorama).absolute()
    parent = pano.parent
    if parent.name == "streetview" and pano.stem.endswith("_grdView"):
        found = _first(parent.parent / "pano_sky_mask", pano.stem)
        if found:
            return found
    if parent.name == "panos" and parent.parent.name == "streetview":
        found = _first(parent.parent.parent / "sky_mask", pano.stem)
        if found:
            return found
    if pano.stem.endswith(".image"):
        found = _first(parent, pano.stem[: -len(".image")] + ".sky")
        if found:
            return found
    return _world_sky(pano)


def _world_sky(pano: Path) -> Path | None:
    """The synthetic world's mask of ``pano``: the nearest ancestor with crossview_gt."""
    for root in pano.parents:
        samples = root / "crossview_gt" / "samples.csv"
        if samples.is_file():
            rel = pano.relative_to(root).as_posix()
            with open(samples, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    if Path(row.get("ground", "")).as_posix() == rel and row.get("id"):
                        return _first(root / "crossview_gt" / "sky", row["id"])
            return None
    return None


__all__ = ["WHERE", "find_sky_mask"]
