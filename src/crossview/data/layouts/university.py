"""University-1652 (Zheng et al. 2020): drone, street and satellite views of 1652 buildings.

Layout (class = building id, a folder name such as ``0839``)::

    train/{drone,street,satellite,google}/<class>/<image>
    test/{query,gallery}_{drone,street,satellite}/<class>/<image>

Tasks (option ``task``):

- ``drone2sat`` (default): queries ``test/query_drone``, gallery ``test/gallery_satellite``;
- ``sat2drone``: queries ``test/query_satellite``, gallery ``test/gallery_drone``;
- ``street2sat``: queries ``test/query_street``, gallery ``test/gallery_satellite``.

Training pairs are ``train/drone`` (``train/street`` for street2sat) images with their building's
``train/satellite`` image. A pair's references are *every* gallery image of its class (all count as
correct for AP, SPECS.md §4), so ``Pair.references`` has the first in name order as "positive";
gallery images of other classes are distractors (``Reference.split="test"`` keeps them in the
gallery). Class ``-1`` (junk) is never a positive. ``Pair.ground`` is always the *query* image:
for ``sat2drone`` it is a satellite image; ``table.extras["query_view"]`` and
``["reference_view"]`` say which view each side is, so evaluation can pick the encoders.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from crossview.config import Config
from crossview.data.layouts._common import Problems
from crossview.data.layouts._registry import Layout, register_layout
from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import InputFileError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
TASKS = {  # task -> (train query view, test query folder, test gallery folder, views)
    "drone2sat": ("drone", "query_drone", "gallery_satellite", ("drone", "satellite")),
    "sat2drone": ("drone", "query_satellite", "gallery_drone", ("satellite", "drone")),
    "street2sat": ("street", "query_street", "gallery_satellite", ("street", "satellite")),
}


def _class_images(folder: Path, problems: Problems) -> list[tuple[int, Path]]:
    """``(class_id, image)`` of ``folder/<class>/<image>``, sorted; bad names are malformed."""
    if not folder.is_dir():
        raise InputFileError(folder, "folder not found (expected the University-1652 layout)")
    out = []
    for cls_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            cls = int(cls_dir.name)
        except ValueError:
            problems.bad(cls_dir, "class folder name is not a building number")
            continue
        images = sorted(p for p in cls_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            problems.bad(cls_dir, "no images")
        out += [(cls, img) for img in images]
    return out


def _rel_id(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def read_university(root: Path, problems: Problems, task: str = "drone2sat") -> PairTable:
    """Read University-1652 at ``root`` for ``task`` (drone2sat, sat2drone, street2sat)."""
    train_view, query_dir, gallery_dir, (query_view, ref_view) = TASKS[task]
    refs: list[Reference] = []
    pairs: list[Pair] = []
    for split, ref_folder, query_folder in (
        ("train", root / "train" / "satellite", root / "train" / train_view),
        ("test", root / "test" / gallery_dir, root / "test" / query_dir),
    ):
        by_class: dict[int, list[int]] = defaultdict(list)
        for cls, path in _class_images(ref_folder, problems):
            if cls >= 0:
                by_class[cls].append(len(refs))
            refs.append(Reference(id=_rel_id(path, root), path=path, class_id=cls, split=split))
        for cls, path in _class_images(query_folder, problems):
            if cls < 0:  # junk queries are removed (SPECS.md §4)
                continue
            if cls not in by_class:
                problems.bad(path, f"class {cls:04d} has no image in {problems.rel(ref_folder)}")
                continue
            pairs.append(
                Pair(
                    id=_rel_id(path, root),
                    ground=path,
                    split=split,
                    references=tuple(by_class[cls]),
                    class_id=cls,
                )
            )
    extras = {
        "task": task,
        "query_view": query_view,
        "reference_view": ref_view,
        "train_views": (train_view, "satellite"),
    }
    return PairTable("university1652", root, pairs, refs, extras=extras)


@dataclasses.dataclass
class UniversityOptions(Config):
    """Options of the ``university1652`` layout."""

    task: Literal["drone2sat", "sat2drone", "street2sat"] = "drone2sat"
    """Query and gallery views: drone -> satellite, satellite -> drone or street -> satellite."""


@register_layout
class University1652(Layout[UniversityOptions]):
    """University-1652: drone, street and satellite views of 1652 buildings, scored by class."""

    name = "university1652"
    options_class = UniversityOptions
    protocol = "university"
    aliases = {"university-1652": {}}

    def read(self, root: Path, problems: Problems, options: UniversityOptions) -> PairTable:
        """See :func:`read_university`."""
        return read_university(root, problems, options.task)

    def check_details(self, root: Path, options: UniversityOptions) -> dict[str, Any]:
        """Test queries and gallery images (and their buildings) of every task."""
        return {"tasks": task_counts(root)}


def task_counts(root: Path) -> dict[str, dict[str, int]]:
    """Per task, the test queries (junk class -1 removed) and gallery images, and buildings.

    University-1652 as released: drone2sat 37,855 drone queries against 951 satellite images
    (701 buildings with queries + 250 distractors); sat2drone 701 satellite queries against
    51,355 drone images.
    """
    out = {}
    for task, (_, query_dir, gallery_dir, _) in TASKS.items():
        scratch = Problems(root)
        counts: dict[str, int] = {}
        for side, folder in (("queries", query_dir), ("gallery", gallery_dir)):
            try:
                images = _class_images(root / "test" / folder, scratch)
            except InputFileError:
                images = []
            kept = [c for c, _ in images if side == "gallery" or c >= 0]
            counts[side] = len(kept)
            counts[f"{side}_buildings"] = len(set(kept))
        out[task] = counts
    return out
