"""Faults lose nothing: SIGKILL long commands at random points, re-run them, compare.

For each scenario (a ``crossview`` command in a fresh process) the suite

1. runs it once uninterrupted, counting its fault points (``crossview._faults``): that is the
   reference output and the list of places where it can be cut;
2. for each seed, picks one point at random (among those of the scenario's kind: any loop
   item, a training step, a checkpoint write, a validation pass), runs the command again in a
   fresh folder with ``CROSSVIEW_FAULTS=kill:...`` so that it SIGKILLs itself there, and checks
   that what it left holds no partial file readable as complete: every file under its final
   name equals the reference's (or, for the index, its rows are reference rows without
   duplicates; for training, every checkpoint verifies);
3. re-runs the same command, which must finish, and compares with the reference: bitwise where
   the step is deterministic, the same rows (index) or metrics and weights within tolerance
   (training); leftover temporary files must be hidden ``.*.tmp*`` names that no reader lists.

    python tests/robustness/faults.py                 # every scenario, 3 seeds: a table
    python tests/robustness/faults.py --quick         # the make-test subset
    python tests/robustness/faults.py --write         # also rewrite docs/robustness.md

Kills use the process's own fault points, so a seed always cuts at the same place; the
SIGKILL itself is real (no cleanup handler runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SRC = REPO / "src"
sys.path.insert(0, str(HERE))
BEGIN, END = "<!-- faults table: begin -->", "<!-- faults table: end -->"
HEADER = ("| scenario | cut at (seed: point #n, of all its points) | killed | re-run | "
          "output vs uninterrupted |\n"
          "|---|---|---|---|---|")


def shared_dem_dir() -> Path:
    """``shared/data/dem`` beside the repository or one of its ancestors (CI and worktrees)."""
    for base in REPO.parents:
        folder = base / "shared" / "data" / "dem"
        if (folder / "rmnp-dem.tif").is_file():
            return folder
    raise FileNotFoundError("shared/data/dem (rmnp-dem.tif, rmnp-rgb.tif) not found")


# --- running commands ---------------------------------------------------------------------------
def env(faults: str | None = None) -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "CROSSVIEW_NO_PROGRESS": "1", "CROSSVIEW_DEVICE": "cpu", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    out.pop("CROSSVIEW_FAULTS", None)
    if faults:
        out["CROSSVIEW_FAULTS"] = faults
    return out


def run(argv: list[str], faults: str | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env(faults), capture_output=True, text=True, timeout=timeout)


def crossview(*args: Any) -> list[str]:
    return [sys.executable, "-m", "crossview", *map(str, args)]


def torchrun(*args: Any) -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node",
            "2", "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "crossview",
            "--", *map(str, args)]


# --- comparing outputs ---------------------------------------------------------------------------
def is_temp(rel: str) -> bool:
    """A temporary file of ``crossview.io.atomic_path`` (hidden, ``.tmp`` in its name)."""
    name = Path(rel).name
    return name.startswith(".") and ".tmp" in name


def files(folder: Path, skip: Callable[[str], bool] = lambda r: False) -> dict[str, bytes]:
    out = {}
    for p in sorted(folder.rglob("*")) if folder.exists() else []:
        rel = str(p.relative_to(folder))
        if p.is_file() and not is_temp(rel) and not skip(rel):
            out[rel] = p.read_bytes()
    return out


def temps(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
            and is_temp(str(p.relative_to(folder)))] if folder.exists() else []


def compare_bitwise(ref: Path, out: Path, skip: Callable[[str], bool] = lambda r: False) -> str:
    a, b = files(ref, skip), files(out, skip)
    if a.keys() != b.keys():
        return f"DIFFERENT file set: only ref {sorted(a.keys() - b.keys())[:3]}, only re-run " \
               f"{sorted(b.keys() - a.keys())[:3]}"
    differ = [k for k in a if a[k] != b[k]]
    return f"DIFFERENT bytes: {differ[:3]}" if differ else f"identical ({len(a)} files, bitwise)"


def partial_bitwise(ref: Path, out: Path, skip: Callable[[str], bool] = lambda r: False) -> str:
    """After a kill: each file under its final name must equal the reference's."""
    a, b = files(ref, skip), files(out, skip)
    extra = sorted(b.keys() - a.keys())
    differ = [k for k in b if k in a and a[k] != b[k]]
    if extra or differ:
        return f"PARTIAL files readable as complete: {(extra + differ)[:3]}"
    return ""


def index_rows(uri: Path) -> tuple[list[str], np.ndarray, list[tuple]] | None:
    from crossview.errors import CrossviewError
    from crossview.index.geoindex import COLUMNS, GeoIndex

    try:
        idx = GeoIndex.open(str(uri))
    except CrossviewError:
        return None
    n = len(idx)
    table = idx._table.search().limit(max(n, 1)).select([*COLUMNS, "vector"]).to_arrow()
    ids = table["tile_id"].to_pylist()
    vec = np.asarray(table["vector"].to_pylist(), dtype=np.float32).reshape(n, -1)
    meta = list(zip(*(table[c].to_pylist() for c in COLUMNS if c != "path"), strict=True))
    return ids, vec, meta


def compare_index(ref: Path, out: Path, partial: bool = False) -> str:
    a, b = index_rows(ref), index_rows(out)
    if b is None:
        return "" if partial else "NO index after the re-run"
    assert a is not None
    ids_a, vec_a, meta_a = a
    ids_b, vec_b, meta_b = b
    if len(set(ids_b)) != len(ids_b):
        return f"DUPLICATE rows: {len(ids_b) - len(set(ids_b))}"
    pos = {t: i for i, t in enumerate(ids_a)}
    if not set(ids_b) <= set(ids_a) or (not partial and set(ids_b) != set(ids_a)):
        return f"DIFFERENT rows: {len(ids_b)} vs {len(ids_a)}"
    order = [pos[t] for t in ids_b]
    err = float(np.abs(vec_a[order] - vec_b).max()) if ids_b else 0.0
    if [meta_a[i] for i in order] != meta_b or err > 1e-5:
        return f"DIFFERENT rows: metadata or vectors (max |diff| {err:.1e})"
    what = "partial: complete batches only" if partial else "same rows"
    return f"{what} ({len(ids_b)}, no duplicates, vectors within {max(err, 0):.0e})"


def compare_train(ref: Path, out: Path, partial: bool = False) -> str:
    import torch

    from crossview.errors import CrossviewError
    from crossview.training.checkpoint import read_checkpoint

    folder = out / "checkpoints"
    for ckpt in sorted(folder.glob("*.pt")) if folder.exists() else []:
        try:
            read_checkpoint(ckpt)
        except CrossviewError as err:
            return f"PARTIAL checkpoint readable by name: {err}"
    if partial:
        return ""
    a = read_checkpoint(ref / "checkpoints" / "last.pt")
    b = read_checkpoint(out / "checkpoints" / "last.pt")
    if a["state"]["step"] != b["state"]["step"]:
        return f"DIFFERENT step: {a['state']['step']} vs {b['state']['step']}"
    diff = max(float((a["model"][k].float() - b["model"][k].float()).abs().max())
               for k in a["model"] if torch.is_floating_point(a["model"][k]))
    ma, mb = a["state"]["last_metrics"] or {}, b["state"]["last_metrics"] or {}
    keys = [k for k in ma if isinstance(ma[k], (int, float))]
    mdiff = max((abs(ma[k] - mb.get(k, np.inf)) for k in keys), default=0.0)
    if diff > 1e-4 or mdiff > 1e-6:
        return f"DIFFERENT: weights max |diff| {diff:.1e}, metrics {mdiff:.1e}"
    kind = "bitwise" if diff == 0 else f"within {diff:.0e}"
    return f"same step {a['state']['step']}, weights {kind}, metrics equal ({', '.join(keys[:3])})"


# --- scenarios -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Scenario:
    """One command to cut: its argv for an output folder, where to cut, how to compare."""

    name: str
    argv: Callable[[Path, dict[str, Path]], list[str]]
    output: Callable[[Path], Path]
    compare: Callable[[Path, Path, bool], str]
    points: tuple[str, ...] = ("loop.", "io.write")
    """Fault-point prefixes this scenario's cuts are drawn from."""
    quick: bool = False


def _bitwise(skip: Callable[[str], bool] = lambda r: False) -> Callable[[Path, Path, bool], str]:
    def cmp(ref: Path, out: Path, partial: bool) -> str:
        return partial_bitwise(ref, out, skip) if partial else compare_bitwise(ref, out, skip)
    return cmp


def _train_argv(d: Path, inputs: dict[str, Path]) -> list[str]:
    return crossview("train", "--method", "safa", "--data", f"cvusa:{inputs['world']}",
                     "--out", d / "run", "--preset", "tiny", "train.epochs=3",
                     "train.batch_size=4", "train.embed_batch_size=8", "train.num_workers=0")


SCENARIOS = [
    Scenario("world make", lambda d, i: crossview(
        "world", "make", "--out", d / "world", "--layout", "cvusa", "--pairs", 10, "--tile-px", 64,
        "--pano-hw", "32x128", "--region-m", 400, "--seed", 3, "--workers", 1),
        lambda d: d / "world", _bitwise(), quick=True),
    Scenario("tiles make", lambda d, i: crossview(
        "tiles", "make", "--ortho", i["rgb"], "--tile-size", 64, "--stride", 48, "--out",
        d / "tiles"), lambda d: d / "tiles", _bitwise()),
    Scenario("index build", lambda d, i: crossview(
        "index", "build", "--run", i["run"], "--tiles", i["world"], "--out", d / "idx",
        "--batch-size", 3), lambda d: d / "idx", compare_index, quick=True),
    Scenario("index build (torchrun, 2 ranks)", lambda d, i: torchrun(
        "index", "build", "--run", i["run"], "--tiles", i["world"], "--out", d / "idx",
        "--batch-size", 2), lambda d: d / "idx", compare_index),
    Scenario("train: during a step", _train_argv, lambda d: d / "run", compare_train,
             points=("train.step",)),
    Scenario("train: during checkpoint writing", _train_argv, lambda d: d / "run",
             compare_train, points=("io.write.pt",)),
    Scenario("train: during evaluation", _train_argv, lambda d: d / "run", compare_train,
             points=("train.eval",)),
    Scenario("dem make", lambda d, i: crossview(
        "dem", "make", "--dem", i["dem"], "--out", d / "ds", "--grid-m", 8000, "--queries", 3,
        "--view-px", 16, "--query-hw", "12x16", "--variants", "sparse", "--modalities", "depth",
        "--workers", 1, "--set", "views_per_position=4"), lambda d: d / "ds", _bitwise()),
]


def build_inputs(root: Path) -> dict[str, Path]:
    """The world, run and DEM the scenarios read (built in-process, seconds)."""
    from crossview.methods.registry import create_method
    from crossview.training.checkpoint import save_checkpoint
    from crossview.world.make import make_world

    dem = shared_dem_dir()
    world = make_world(root / "world", "cvusa", pairs=10, seed=0, tile_px=64, pano_hw=(32, 128),
                       region_m=400.0, workers=1)
    save_checkpoint(root / "run" / "checkpoints" / "last.pt", create_method("safa", "tiny"))
    return {"world": Path(world), "run": root / "run", "rgb": dem / "rmnp-rgb.tif",
            "dem": dem / "rmnp-dem.tif"}


@dataclasses.dataclass
class Row:
    scenario: str
    cut: str
    killed: str
    rerun: str
    result: str

    @property
    def ok(self) -> bool:
        bad = ("DIFFERENT", "PARTIAL", "DUPLICATE", "NO ", "FAIL", "not killed")
        return not any(b in f"{self.killed} {self.rerun} {self.result}" for b in bad)

    def markdown(self) -> str:
        return f"| {self.scenario} | {self.cut} | {self.killed} | {self.rerun} | {self.result} |"


def reference(sc: Scenario, root: Path, inputs: dict[str, Path]) -> tuple[Path, list[str]]:
    """Uninterrupted run: its output folder and the fault points it passed."""
    d = root / "reference"
    d.mkdir(parents=True)
    counts = d / "points.txt"
    proc = run(sc.argv(d, inputs), faults=f"count:{counts}")
    if proc.returncode != 0:
        raise RuntimeError(f"{sc.name}: reference run failed: {proc.stderr[-1500:]}")
    lines = counts.read_text().splitlines() if counts.is_file() else []
    # "PID NAME": the N of a kill counts in the process that passes the point (torchrun ranks).
    return d, [ln for ln in lines if ln.split(" ", 1)[1].startswith(sc.points)]


def cut(sc: Scenario, seed: int, root: Path, inputs: dict[str, Path], ref: Path,
        points: list[str]) -> Row:
    """Kill ``sc`` at a seeded random point, check what is left, re-run, compare."""
    prefix_points = list(points)
    if not prefix_points:
        return Row(sc.name, f"{seed}: -", "FAIL: no fault point", "-", "-")
    # One random order of the points per scenario: seeds 0, 1, 2 cut at distinct points.
    order = list(range(len(prefix_points)))
    random.Random(sc.name).shuffle(order)
    choice = order[seed % len(order)]
    pid_name = prefix_points[choice]
    name = pid_name.split(" ", 1)[1]
    nth = prefix_points[: choice + 1].count(pid_name)
    d = root / f"seed{seed}"
    d.mkdir(parents=True)
    proc = run(sc.argv(d, inputs), faults=f"kill:{name}:{nth}")
    killed_ok = proc.returncode in (-9, 137) or "SIGKILL" in proc.stderr or (
        proc.returncode != 0 and "Signal 9" in proc.stderr)
    killed = "SIGKILL" if killed_ok else f"not killed (exit {proc.returncode})"
    left = sc.compare(ref / sc.output(ref).name, sc.output(d), True)
    t0 = time.perf_counter()
    again = run(sc.argv(d, inputs))
    rerun = (f"exit 0 ({time.perf_counter() - t0:.0f} s)" if again.returncode == 0
             else f"FAIL exit {again.returncode}: {again.stderr.strip().splitlines()[-1:]}")
    result = sc.compare(ref / sc.output(ref).name, sc.output(d), False)
    junk = temps(sc.output(d))
    if left:
        result = f"{left}; then {result}"
    if junk:
        result += f"; {len(junk)} hidden temp file(s) left by the kill"
    return Row(sc.name, f"{seed}: {name} #{nth} of {len(points)}", killed, rerun, result)


def run_suite(scenarios: list[Scenario], seeds: list[int], root: Path,
              log: Callable[[str], None] = print) -> list[Row]:
    inputs = build_inputs(root / "inputs")
    rows = []
    for k, sc in enumerate(scenarios):
        base = root / f"s{k}"
        ref, points = reference(sc, base, inputs)
        for seed in seeds:
            row = cut(sc, seed, base, inputs, ref, points)
            rows.append(row)
            log(row.markdown())
    return rows


def section_rows(doc: Path) -> list[str]:
    """Rows of the faults table now in ``doc`` (a partial run replaces only its scenarios)."""
    import re

    text = doc.read_text(encoding="utf-8") if doc.is_file() else ""
    match = re.search(re.escape(BEGIN) + "(.*?)" + re.escape(END), text, re.S)
    lines = (match.group(1) if match else "").splitlines()
    names = {s.name for s in SCENARIOS}
    return [ln for ln in lines if ln.startswith("| ") and ln.split(" | ")[0][2:] in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the make-test subset, seed 0")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per scenario")
    parser.add_argument("--only", default="", help="scenarios whose name contains this")
    parser.add_argument("--write", action="store_true", help="rewrite docs/robustness.md")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if (s.quick or not args.quick) and args.only in s.name]
    seeds = [0] if args.quick else list(range(args.seeds))
    with tempfile.TemporaryDirectory() as tmp:
        print(HEADER)
        rows = run_suite(scenarios, seeds, Path(tmp))
    failed = sum(not r.ok for r in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    if args.write:
        from report import DOC, write_section

        ran = {r.scenario for r in rows}
        kept = [ln for ln in section_rows(DOC) if ln.split(" | ")[0][2:] not in ran]
        order = [s.name for s in SCENARIOS]
        merged = sorted(kept + [r.markdown() for r in rows],
                        key=lambda ln: order.index(ln.split(" | ")[0][2:]))  # stable: seeds
        write_section(merged, DOC, BEGIN, END, HEADER)
        print(f"wrote {DOC}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
