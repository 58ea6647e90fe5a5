"""Reading a layout: :func:`load_layout` (raises on any problem) and :func:`check_layout`."""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossview.config import Config
from crossview.data.layouts._common import GT_DIR, LayoutError, Problems
from crossview.data.layouts._registry import Layout, resolve_layout
from crossview.data.table import PairTable
from crossview.errors import ConfigError, CrossviewError


def layout_and_options(name: str, options: Mapping[str, Any] | Config | None
                       ) -> tuple[Layout[Any], Config]:
    """The layout object of ``name`` (or alias) and its validated typed options.

    Raises:
        ConfigError: Unknown layout or option, a bad value, or an option that contradicts the
            alias (``vigor-cross`` with ``area="same"``).

    """
    layout, fixed = resolve_layout(name)
    if isinstance(options, Config):
        given = options.to_dict() if fixed else {}
        typed = layout.parse_options(options)
    else:
        given = dict(options or {})
        typed = layout.parse_options({**fixed, **given})
    fixed_typed = layout.parse_options(fixed).to_dict() if fixed else {}
    for key in fixed:
        if key in given and typed.to_dict()[key] != fixed_typed[key]:
            raise ConfigError(
                f"layout {name!r} means {layout.name!r} with {key}={fixed[key]!r}; "
                f"got {key}={given[key]!r} (use {layout.name!r} instead)"
            )
    return layout, typed


def read_layout(layout: Layout[Any], root: Path, options: Config) -> tuple[PairTable, Problems]:
    """Run ``layout``'s reader on ``root``; returns the table and the problems found."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LayoutError(layout.name, root, "dataset root folder not found")
    problems = Problems(root)
    table = layout.read(root, problems, options)
    attach_world_maps(table)
    return table, problems


WORLD_MAPS = {"ground": {"sky": ("sky", ".png"), "depth": ("depth", ".npy"),
                         "semantics": ("semantics", ".png")},
              "aerial": {"semantics": ("tile_semantics", ".png"), "dsm": ("dsm", ".npy")}}
"""Per-sample maps of the synthetic world's ground truth: extras key -> (folder, suffix)."""


def attach_world_maps(table: PairTable) -> None:
    """Record the synthetic world's per-sample maps (sky, depth, semantics, DSM) in extras.

    A layout written by ``crossview world make`` keeps them in ``crossview_gt/<kind>/<id>``,
    keyed by the sample and tile ids of ``samples.csv`` / ``tiles.csv``; they become
    ``Pair.extras[key]`` / ``Reference.extras[key]`` paths (what
    :data:`crossview.data.inputs.EXTRAS` reads), and the class colours of the tile semantics
    ``table.extras["semantic_colours"]``. Tables without ground truth are left as they are.
    """
    gt = Path(table.root) / GT_DIR
    if not (gt / "samples.csv").is_file():
        return
    ids = {"ground": _ids_by_path(gt / "samples.csv", "id", "ground"),
           "aerial": _ids_by_path(gt / "tiles.csv", "tile_id", "path")}
    listings = {kind: {key: (folder, suffix, _listing(gt / folder))
                       for key, (folder, suffix) in maps.items()}
                for kind, maps in WORLD_MAPS.items()}
    root = Path(table.root)

    def attach(kind: str, path: Path, extras: dict[str, Any]) -> None:
        sid = ids[kind].get(_rel(path, root))
        if sid is None:
            return
        for key, (folder, suffix, names) in listings[kind].items():
            if f"{sid}{suffix}" in names:
                extras.setdefault(key, gt / folder / f"{sid}{suffix}")

    for pair in table.pairs:
        attach("ground", pair.ground, pair.extras)
    for ref in table.references:
        attach("aerial", ref.path, ref.extras)
    if listings["aerial"]["semantics"][2]:
        from crossview.world.materials import CLASS_COLOURS

        table.extras.setdefault("semantic_colours", CLASS_COLOURS.tolist())


def _ids_by_path(csv_path: Path, id_col: str, path_col: str) -> dict[str, str]:
    if not csv_path.is_file():
        return {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        return {Path(r[path_col]).as_posix(): r[id_col] for r in csv.DictReader(f)
                if r.get(id_col) and r.get(path_col)}


def _listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def load_layout(name: str, root: str | Path, **options: Any) -> PairTable:
    """Read the dataset at ``root`` in layout ``name`` into a :class:`PairTable`.

    Args:
        name: A registered layout name or alias (see :func:`list_layouts`).
        root: The dataset's root folder, as distributed.
        **options: The layout's options (``area``/``cities`` for VIGOR, ``task`` for
            University-1652, ...); strings are coerced to the option types.

    Raises:
        LayoutError: Files are missing or malformed; the one-line message names the first five.
        ConfigError: Unknown layout name or option, or a bad option value.

    """
    layout, typed = layout_and_options(name, options)
    return load_table(layout, Path(root), typed)


def load_table(layout: Layout[Any], root: Path, options: Config) -> PairTable:
    """:func:`load_layout` with a resolved layout object and typed options."""
    table, problems = read_layout(layout, root, options)
    if problems:
        raise LayoutError(layout.name, Path(root), "; ".join(problems.messages()))
    return table


@dataclasses.dataclass
class LayoutReport:
    """Result of :func:`check_layout`: counts per split and every problem found."""

    layout: str
    root: Path
    splits: dict[str, int]
    """Queries (pairs) per split."""
    references: int
    problems: list[str]
    summary: list[str]
    """One line per kind of problem (first few items and total), as ``load_layout`` would say."""
    gallery: dict[str, int] = dataclasses.field(default_factory=dict)
    """References a split's queries are searched against (``split`` equal or ``None``)."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The resolved layout options."""
    maps: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per-pair files recorded in ``Pair.extras`` (``sky`` masks, ``depth``, ``polar`` maps, ...)
    and how many pairs have each."""
    notes: list[str] = dataclasses.field(default_factory=list)
    """Facts about the data that are not problems (e.g. ids without released images)."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Layout-specific counts (University-1652: queries and gallery per task)."""

    @property
    def ok(self) -> bool:
        """Whether the layout is complete and well-formed."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (every field; ``root`` as a string)."""
        return {
            "layout": self.layout,
            "root": str(self.root),
            "options": self.options,
            "splits": self.splits,
            "gallery": self.gallery,
            "references": self.references,
            "maps": self.maps,
            "notes": self.notes,
            "problems": self.problems,
            **({"details": self.details} if self.details else {}),
        }


def check_layout(name: str, root: str | Path, deep: bool = False, **options: Any) -> LayoutReport:
    """Validate a layout without raising for missing files; counts what could be read.

    With ``deep=True`` every image header is also opened and verified with PIL (slow).

    Raises:
        ConfigError: Unknown layout name or option (the data itself is never raised about).

    """
    layout, typed = layout_and_options(name, options)
    return check_table(layout, Path(root), typed, deep)


def check_table(layout: Layout[Any], root: Path, options: Config, deep: bool = False
                ) -> LayoutReport:
    """:func:`check_layout` with a resolved layout object and typed options."""
    root = Path(root).expanduser()
    opts = options.to_dict()
    try:
        table, problems = read_layout(layout, root, options)
    except ConfigError:
        raise
    except CrossviewError as err:  # the index files themselves are unreadable
        # A LayoutError already names the layout and root, which the summary gets prefixed with.
        msg = err.problem if isinstance(err, LayoutError) else str(err)
        return LayoutReport(layout.name, root, {}, 0, [msg], [msg], {}, opts)
    if deep:
        _verify_images(table, problems)
    return LayoutReport(layout.name, root, table.split_counts(), len(table.references),
                        problems.all(), problems.messages(), gallery_counts(table), opts,
                        map_counts(table), table_notes(table),
                        layout.check_details(root, options))


def map_counts(table: PairTable) -> dict[str, int]:
    """How many pairs record each per-pair file in ``Pair.extras`` (sky masks, depth, ...)."""
    counts: dict[str, int] = {}
    for pair in table.pairs:
        for key, value in pair.extras.items():
            if isinstance(value, Path):
                counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def table_notes(table: PairTable) -> list[str]:
    """Lines about the data that are not problems (the layout's ``extras``)."""
    notes = []
    if table.extras.get("arrangement"):
        notes.append(f"arrangement: {table.extras['arrangement']}")
    if table.extras.get("unreleased"):
        notes.append(f"{table.extras['unreleased']} ids of the index have no released images "
                     "(left out)")
    return notes


def gallery_counts(table: PairTable) -> dict[str, int]:
    """Per split of the queries, how many references its gallery holds (``table.select``)."""
    counts = {s: 0 for s in table.split_counts()}
    for ref in table.references:
        for split in counts:
            if ref.split is None or ref.split == split:
                counts[split] += 1
    return counts


def _verify_images(table: PairTable, problems: Problems) -> None:
    from PIL import Image

    from crossview.progress import track

    paths = [p.ground for p in table.pairs] + [r.path for r in table.references]
    for path in track(paths, "verifying images"):
        if not problems.exists(path):
            continue
        try:
            with Image.open(path) as img:
                img.verify()
        except Exception as err:  # PIL raises many types for corrupt headers
            problems.bad(path, f"cannot decode image header: {type(err).__name__}")
