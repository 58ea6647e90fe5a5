"""The bad-input table: every command that reads user files, fed what users really feed it.

Each entry is a :class:`~harness.Case`; ``test_bad_input.py`` runs them and
``report.py --write`` records their answers in docs/robustness.md.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from harness import Case, Fixtures
from PIL import Image


def rgb_tif() -> Path:
    """The shared RMNP orthophoto (``shared/data/dem`` beside the repository)."""
    for base in Path(__file__).resolve().parents:
        path = base / "shared" / "data" / "dem" / "rmnp-rgb.tif"
        if path.is_file():
            return path
    raise FileNotFoundError("shared/data/dem/rmnp-rgb.tif not found beside the repository")


# --- inputs -----------------------------------------------------------------------------------
def _first(fx: Fixtures, sub: str) -> Path:
    return sorted((fx.world / sub).rglob("*.jpg"))[0]


def pano(fx: Fixtures) -> Path:
    return _first(fx, "streetview/panos")


def tile(fx: Fixtures) -> Path:
    return _first(fx, "bingmap")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 30_000) -> bytes:
    """A valid PNG header claiming ``side x side`` pixels, with almost no data (40 bytes)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\0")) + _png_chunk(b"IEND", b""))


def encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def variant(fx: Fixtures, d: Path, name: str, kind: str) -> Path:
    """The world's first panorama re-encoded as ``kind``."""
    rgb = Image.open(pano(fx)).convert("RGB")
    arr = np.asarray(rgb)
    if kind == "png16":
        img = Image.fromarray(arr[..., 0].astype(np.uint16) * 257)
        return write(d / name, encoded(img, "PNG"))
    if kind == "palette":
        return write(d / name, encoded(rgb.convert("P"), "PNG"))
    if kind == "grey":
        return write(d / name, encoded(rgb.convert("L"), "PNG"))
    if kind == "rgba":
        return write(d / name, encoded(rgb.convert("RGBA"), "PNG"))
    if kind == "cmyk":
        return write(d / name, encoded(rgb.convert("CMYK"), "JPEG"))
    if kind == "exif":
        # Stored sideways with orientation 6 ("rotate 90 CW to view"): upright once applied.
        exif = Image.Exif()
        exif[0x0112] = 6
        return write(d / name, encoded(rgb.transpose(Image.Transpose.ROTATE_90), "JPEG",
                                       exif=exif.tobytes()))
    if kind == "float":
        return write(d / name, encoded(Image.fromarray(arr[..., 0].astype(np.float32)), "TIFF"))
    if kind == "webp":
        return write(d / name, encoded(rgb, "WEBP"))
    if kind == "tiny":
        return write(d / name, encoded(rgb.resize((1, 1)), "PNG"))
    raise ValueError(kind)


def copy_world(d: Path, fx: Fixtures) -> Path:
    return Path(shutil.copytree(fx.world, d / "world"))


def split_csv(world: Path) -> Path:
    return world / "splits" / "train-19zl.csv"


def locate(fx: Fixtures, *images: Path | str | bytes) -> list:
    return ["locate", *images, "--index", fx.index]


# --- cases ------------------------------------------------------------------------------------
def _locate_image(name: str, data_fn) -> object:  # noqa: ANN001
    return lambda d, fx: locate(fx, write(d / name, data_fn(fx)))


def _truncated(fx: Fixtures) -> bytes:
    data = pano(fx).read_bytes()
    return data[: len(data) // 2]


def _csv_tiles(d: Path, fx: Fixtures, edit) -> list:  # noqa: ANN001
    world = copy_world(d, fx)
    csv_path = world / "crossview_gt" / "tiles.csv"
    csv_path.write_text(edit(csv_path.read_text()))
    return ["index", "build", "--run", fx.run, "--tiles", world, "--out", d / "idx"]


def _escape_first_path(text: str) -> str:
    lines = text.splitlines()
    cols = lines[1].split(",")
    cols[1] = "../../../etc/passwd"
    return "\n".join([lines[0], ",".join(cols), *lines[2:]]) + "\n"


def _world_split_edit(d: Path, fx: Fixtures, edit, command: str = "check") -> list:  # noqa: ANN001
    world = copy_world(d, fx)
    split = split_csv(world)
    split.write_text(edit(split.read_text()))
    if command == "check":
        return ["data", "check", f"cvusa:{world}"]
    if command == "train":
        return ["train", "--method", "safa", "--data", f"cvusa:{world}", "--out", d / "run",
                *TRAIN_ARGS]
    return ["embed", "--run", fx.run, "--data", f"cvusa:{world}", "--out", d / "desc.parquet"]


def _corrupt_world_image(d: Path, fx: Fixtures, command: str) -> list:
    world = copy_world(d, fx)
    # A panorama of the split the command reads (eval reads val only).
    split = "val" if command == "eval" else "train"
    ground = (world / "splits" / f"{split}-19zl.csv").read_text().splitlines()[0].split(",")[1]
    victim = world / ground
    victim.write_bytes(victim.read_bytes()[:300])
    if command == "train":
        return ["train", "--method", "safa", "--data", f"cvusa:{world}", "--out", d / "run",
                *TRAIN_ARGS]
    if command == "embed":
        return ["embed", "--run", fx.run, "--data", f"cvusa:{world}", "--out", d / "desc.parquet"]
    return ["eval", "--run", fx.run, "--data", f"cvusa:{world}", "--json", d / "m.json"]


def _npy(d: Path, name: str, arr: np.ndarray) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / name, arr)
    return d / name


def _eval_desc(d: Path, query: np.ndarray | bytes, reference: np.ndarray | bytes) -> list:
    rng = np.random.default_rng(0)
    q = (_npy(d, "q.npy", query) if isinstance(query, np.ndarray)
         else write(d / "q.npy", query))
    r = (_npy(d, "r.npy", reference) if isinstance(reference, np.ndarray)
         else write(d / "r.npy", reference))
    t = _npy(d, "t.npy", rng.permutation(8)[:6])
    return ["eval-descriptors", "--query", q, "--reference", r, "--truth", t, "--json",
            d / "out.json"]


def _desc(n: int, dim: int = 16) -> np.ndarray:
    x = np.random.default_rng(n).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _with(value: float, n: int = 6) -> np.ndarray:
    x = _desc(n)
    x[1, 3] = value
    return x


def _truncated_lance(d: Path, fx: Fixtures) -> list:
    idx = Path(shutil.copytree(fx.index, d / "idx"))
    data = sorted((idx / "tiles.lance" / "data").glob("*"))
    for f in data:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    return locate(fx, pano(fx))[:-1] + [idx]


def _dem(d: Path, data: bytes, name: str = "dem.tif", command: str = "info") -> list:
    path = write(d / name, data)
    if command == "info":
        return ["dem", "info", path]
    return ["dem", "make", "--dem", path, "--out", d / "ds", "--queries", "2"]


def _ortho(d: Path, data: bytes, name: str = "ortho.tif") -> list:
    return ["tiles", "make", "--ortho", write(d / name, data), "--out", d / "tiles",
            "--tile-size", "64"]


def _synth(d: Path, fx: Fixtures, image: Path) -> list:
    return ["synthesize", image, "--run", fx.synth_run, "--out", d / "out"]


def _folder_layout(d: Path, fx: Fixtures, header: str, row_fn) -> list:  # noqa: ANN001
    folder = d / "photos"
    folder.mkdir(parents=True)
    shutil.copy(pano(fx), folder / "a.jpg")
    (folder / "coords.csv").write_text(header + "\n" + row_fn(folder) + "\n")
    return ["data", "check", str(folder)]


TRAIN_ARGS = ["train.epochs=1", "train.batch_size=2"]
NON_UTF8 = os.fsencode("caf") + b"\xe9"  # latin-1 "café": not valid UTF-8


CASES: list[Case] = [
    # -- images (the one decoder, through `locate`) --
    Case("image-missing", "query image does not exist",
         lambda d, fx: locate(fx, d / "nope.jpg"), names="nope.jpg"),
    Case("image-empty", "query image of 0 bytes",
         lambda d, fx: locate(fx, write(d / "empty.jpg", b"")), names="empty.jpg"),
    Case("image-truncated", "JPEG cut in half",
         _locate_image("half.jpg", _truncated), names="half.jpg"),
    Case("image-corrupt", "PNG signature then garbage",
         _locate_image("junk.png", lambda fx: b"\x89PNG\r\n\x1a\n" + b"\x07" * 200),
         names="junk.png"),
    Case("image-text", "a text file named .jpg",
         _locate_image("notes.jpg", lambda fx: b"lat,lon\n1,2\n"), names="notes.jpg"),
    Case("image-directory", "a folder given as the image",
         lambda d, fx: locate(fx, (d / "folder.jpg").mkdir(parents=True) or d / "folder.jpg"),
         names="folder.jpg"),
    Case("image-bomb", "PNG header claiming 30000 x 30000 pixels (40 bytes on disk)",
         _locate_image("bomb.png", lambda fx: bomb_png()), names="bomb.png"),
    Case("image-float", "32-bit float TIFF",
         lambda d, fx: locate(fx, variant(fx, d, "float.tif", "float")), names="float.tif"),
    Case("image-16bit", "16-bit greyscale PNG (scaled to 8 bits)",
         lambda d, fx: locate(fx, variant(fx, d, "g16.png", "png16")), expect="ok"),
    Case("image-palette", "palette (P mode) PNG",
         lambda d, fx: locate(fx, variant(fx, d, "pal.png", "palette")), expect="ok"),
    Case("image-grey", "8-bit greyscale PNG (1 channel)",
         lambda d, fx: locate(fx, variant(fx, d, "grey.png", "grey")), expect="ok"),
    Case("image-rgba", "RGBA PNG (4 channels; alpha dropped)",
         lambda d, fx: locate(fx, variant(fx, d, "rgba.png", "rgba")), expect="ok"),
    Case("image-cmyk", "CMYK JPEG",
         lambda d, fx: locate(fx, variant(fx, d, "cmyk.jpg", "cmyk")), expect="ok"),
    Case("image-exif-rotated", "JPEG stored sideways with EXIF orientation 6 (applied)",
         lambda d, fx: locate(fx, variant(fx, d, "exif.jpg", "exif")), expect="ok"),
    Case("image-webp", "WebP panorama",
         lambda d, fx: locate(fx, variant(fx, d, "p.webp", "webp")), expect="ok"),
    Case("image-1px", "a 1 x 1 image read as a panorama (resized up like any other)",
         lambda d, fx: [*locate(fx, variant(fx, d, "dot.png", "tiny")), "--camera", "panorama"],
         expect="ok"),
    Case("image-non-utf8-name", "valid JPEG whose file name is not UTF-8",
         lambda d, fx: locate(fx, write(Path(os.fsdecode(os.fsencode(d) + b"/" + NON_UTF8
                                                          + b".jpg")), pano(fx).read_bytes())),
         expect="ok"),
    Case("image-non-utf8-corrupt", "corrupt image whose file name is not UTF-8",
         lambda d, fx: locate(fx, write(Path(os.fsdecode(os.fsencode(d) + b"/" + NON_UTF8
                                                          + b".jpg")), b"junk")),
         names="caf"),
    Case("image-one-bad-of-two", "two queries, the second corrupt: nothing is written",
         lambda d, fx: [*locate(fx, pano(fx), write(d / "bad.jpg", b"junk")), "--json",
                        d / "out.json"], names="bad.jpg"),
    # -- the index (LanceDB) --
    Case("index-missing", "--index names no index",
         lambda d, fx: locate(fx, pano(fx))[:-1] + [d / "none"], names="none"),
    Case("index-truncated-lance", "index whose Lance data files are cut to a third",
         _truncated_lance, names="idx"),
    Case("index-not-a-folder", "--index is a regular file",
         lambda d, fx: locate(fx, pano(fx))[:-1] + [write(d / "idx.txt", b"x")],
         names="idx.txt"),
    # -- tiles for `index build` --
    Case("tiles-csv-missing-column", "tiles.csv without its lat column",
         lambda d, fx: _csv_tiles(d, fx, lambda t: "\n".join(
             ",".join(c for i, c in enumerate(line.split(",")) if i != 2)
             for line in t.splitlines()) + "\n"), names="tiles.csv"),
    Case("tiles-csv-extra-column", "tiles.csv with an extra column (ignored)",
         lambda d, fx: _csv_tiles(d, fx, lambda t: "\n".join(
             line + (",note" if i == 0 else ",x") for i, line in enumerate(t.splitlines()))
             + "\n"), expect="ok", writes="the index it builds"),
    Case("tiles-csv-escapes-root", "tiles.csv row whose path is ../../../etc/passwd",
         lambda d, fx: _csv_tiles(d, fx, _escape_first_path), names="tiles.csv"),
    Case("tiles-csv-nan", "tiles.csv row with lat = nan",
         lambda d, fx: _csv_tiles(d, fx, lambda t: t.replace(
             t.splitlines()[1].split(",")[2], "nan", 1)), names="tiles.csv"),
    Case("tiles-csv-not-utf8", "tiles.csv with Latin-1 bytes",
         lambda d, fx: _csv_tiles(d, fx, lambda t: t) and _latin1_tiles(d, fx),
         names="tiles.csv"),
    Case("tiles-csv-empty", "tiles.csv with a header and no rows",
         lambda d, fx: _csv_tiles(d, fx, lambda t: t.splitlines()[0] + "\n"), names="tiles.csv"),
    Case("tiles-image-missing", "tiles.csv row naming a missing image",
         lambda d, fx: _csv_tiles(d, fx, lambda t: t.replace("0000003.jpg", "gone.jpg")),
         names="gone.jpg"),
    Case("tiles-image-not-square", "a 64 x 48 tile",
         lambda d, fx: _nonsquare_tiles(d, fx), names="0000003.jpg"),
    Case("run-checkpoint-truncated", "index build --run with a truncated checkpoint",
         lambda d, fx: _truncated_run(d, fx), names="last.pt"),
    Case("tiles-from-another-layout", "--tiles vigor:ROOT on a CVUSA-layout folder",
         lambda d, fx: ["index", "build", "--run", fx.run, "--tiles", f"vigor:{fx.world}",
                        "--out", d / "idx"], names="world"),
    # -- dataset layouts (train / eval / embed / data check) --
    Case("layout-another-dataset", "data check vigor:ROOT on a CVUSA-layout folder",
         lambda d, fx: ["data", "check", f"vigor:{fx.world}"], names="world"),
    Case("layout-split-missing", "CVUSA root without splits/val-19zl.csv",
         lambda d, fx: _drop_split(d, fx), names="val-19zl.csv"),
    Case("layout-split-one-column", "CVUSA split row with one column",
         lambda d, fx: _world_split_edit(d, fx, lambda t: t.split(",")[0] + "\n" + t),
         names="train-19zl.csv"),
    Case("layout-split-escapes-root", "CVUSA split row whose paths are ../../../etc/passwd",
         lambda d, fx: _world_split_edit(d, fx, lambda t: "../../../etc/passwd,"
                                         "../../../etc/hostname\n" + t), names="etc/passwd"),
    Case("layout-split-extra-column", "CVUSA split rows with an extra column (ignored)",
         lambda d, fx: _world_split_edit(d, fx, lambda t: "\n".join(
             line + ",extra" for line in t.splitlines()) + "\n"), expect="ok"),
    Case("layout-image-missing", "CVUSA split row naming a missing panorama",
         lambda d, fx: _world_split_edit(d, fx, lambda t: t.replace(
             "panos/0000001.jpg", "panos/gone.jpg")), names="gone.jpg"),
    Case("train-image-corrupt", "train on a world with one truncated panorama",
         lambda d, fx: _corrupt_world_image(d, fx, "train"), names="panos/0000001.jpg",
         writes="RUN/config.yaml and an empty TensorBoard file: the trainer starts the run "
                "before its first batch decodes; no checkpoint, and the same command resumes"),
    Case("embed-image-corrupt", "embed a world with one truncated panorama",
         lambda d, fx: _corrupt_world_image(d, fx, "embed"), names="panos/0000001.jpg"),
    Case("eval-image-corrupt", "eval on a world with one truncated panorama",
         lambda d, fx: _corrupt_world_image(d, fx, "eval"), names="panos/"),
    Case("train-split-escapes-root", "train on a split row escaping the root",
         lambda d, fx: _world_split_edit(d, fx, lambda t: "../../../etc/passwd,"
                                         "../../../etc/hostname\n" + t, "train"),
         names="etc/passwd"),
    Case("folder-csv-missing-column", "coords.csv without its image column",
         lambda d, fx: _folder_layout(d, fx, "file,lat,lon", lambda f: "a.jpg,40,-105"),
         names="coords.csv"),
    Case("folder-csv-extra-column", "coords.csv with an extra column (ignored)",
         lambda d, fx: _folder_layout(d, fx, "image,lat,lon,note",
                                      lambda f: "a.jpg,40,-105,hello"), expect="ok"),
    Case("folder-csv-escapes-root", "coords.csv image ../../etc/passwd",
         lambda d, fx: _folder_layout(d, fx, "image,lat,lon",
                                      lambda f: "../../../../etc/passwd,40,-105"),
         names="etc/passwd"),
    Case("folder-csv-bad-lat", "coords.csv lat = 123 (not a latitude)",
         lambda d, fx: _folder_layout(d, fx, "image,lat,lon", lambda f: "a.jpg,123,-105"),
         names="coords.csv"),
    # -- descriptors (`eval-descriptors`) --
    Case("descriptors-nan", "query descriptors with a NaN",
         lambda d, fx: _eval_desc(d, _with(np.nan), _desc(8)), names="q.npy"),
    Case("descriptors-inf", "reference descriptors with an Inf",
         lambda d, fx: _eval_desc(d, _desc(6), _with(np.inf, 8)), names="r.npy"),
    Case("descriptors-dims", "query 16-d, reference 8-d",
         lambda d, fx: _eval_desc(d, _desc(6), _desc(8, 8)), names="r.npy"),
    Case("descriptors-truncated", ".npy cut in half",
         lambda d, fx: _eval_desc(d, _half_npy(_desc(6)), _desc(8)), names="q.npy"),
    Case("descriptors-1d", "query descriptors of shape (96,)",
         lambda d, fx: _eval_desc(d, _desc(6).ravel(), _desc(8)), names="q.npy"),
    Case("descriptors-pickle", ".npy holding Python objects (needs pickle)",
         lambda d, fx: _eval_desc(d, np.array([{"a": 1}], dtype=object), _desc(8)),
         names="q.npy"),
    # -- orthophotos (`tiles make`) --
    Case("ortho-truncated", "GeoTIFF cut to 2 kB",
         lambda d, fx: _ortho(d, rgb_tif().read_bytes()[:2048]), names="ortho.tif"),
    Case("ortho-not-georeferenced", "a plain PNG as the orthophoto",
         lambda d, fx: _ortho(d, pano(fx).read_bytes(), "ortho.png"), names="ortho.png"),
    Case("ortho-empty", "orthophoto of 0 bytes",
         lambda d, fx: _ortho(d, b""), names="ortho.tif"),
    # -- synthesis inputs --
    Case("synthesize-corrupt", "synthesize a truncated tile",
         lambda d, fx: _synth(d, fx, write(d / "t.jpg", tile(fx).read_bytes()[:200])),
         names="t.jpg"),
    Case("synthesize-not-square", "synthesize from a 64 x 48 tile",
         lambda d, fx: _synth(d, fx, write(d / "t.png", encoded(
             Image.new("RGB", (64, 48)), "PNG"))), names="t.png"),
    Case("synthesize-retrieval-run", "synthesize with a retrieval-only run",
         lambda d, fx: ["synthesize", tile(fx), "--run", fx.run, "--out", d / "out"],
         names="run"),
    # -- DEMs --
    Case("dem-missing", "dem info on a missing file",
         lambda d, fx: ["dem", "info", d / "none.tif"], names="none.tif"),
    Case("dem-truncated", "dem info on a GeoTIFF cut to 2 kB",
         lambda d, fx: _dem(d, rgb_tif().read_bytes()[:2048]), names="dem.tif"),
    Case("dem-npz-keys", "dem info on an .npz without the height array",
         lambda d, fx: _dem(d, _npz(other=np.zeros((4, 4))), "dem.npz"), names="dem.npz"),
    Case("dem-all-nan", "dem make on an .npz DEM of NaNs",
         lambda d, fx: _dem(d, _npz(height=np.full((64, 64), np.nan),
                                    bounds=np.array([0.0, 0.0, 6400.0, 6400.0]),
                                    crs="EPSG:32613"), "nan.npz", "make"), names="nan.npz"),
]


def _latin1_tiles(d: Path, fx: Fixtures) -> list:
    csv_path = d / "world" / "crossview_gt" / "tiles.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b"16N", b"16N\xe9", 1))
    return ["index", "build", "--run", fx.run, "--tiles", d / "world", "--out", d / "idx"]


def _nonsquare_tiles(d: Path, fx: Fixtures) -> list:
    world = copy_world(d, fx)
    victim = world / "bingmap" / "19" / "0000003.jpg"
    victim.write_bytes(encoded(Image.new("RGB", (64, 48)), "JPEG"))
    return ["index", "build", "--run", fx.run, "--tiles", world, "--out", d / "idx"]


def _truncated_run(d: Path, fx: Fixtures) -> list:
    ckpt = d / "run" / "checkpoints" / "last.pt"
    data = (fx.run / "checkpoints" / "last.pt").read_bytes()
    write(ckpt, data[: len(data) // 2])
    return ["index", "build", "--run", d / "run", "--tiles", fx.world, "--out", d / "idx"]


def _drop_split(d: Path, fx: Fixtures) -> list:
    world = copy_world(d, fx)
    (world / "splits" / "val-19zl.csv").unlink()
    return ["data", "check", f"cvusa:{world}"]


def _half_npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def _npz(**arrays: object) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# --- `crossview serve` uploads (POST /locate through the ASGI app) ------------------------------
@dataclasses.dataclass(frozen=True)
class UploadCase:
    """One upload to ``POST /locate``: a refusal must be a 4xx with a one-line reason."""

    id: str
    what: str
    body: Callable[[Fixtures], bytes]
    name: str = "upload.jpg"
    fields: tuple[tuple[str, str], ...] = ()
    expect: int = 400


def _jpeg_of(fx: Fixtures, **kw: object) -> bytes:
    return encoded(Image.open(pano(fx)).convert("RGB"), "JPEG", **kw)


UPLOAD_CASES: list[UploadCase] = [
    UploadCase("serve-empty", "empty upload", lambda fx: b""),
    UploadCase("serve-text", "a text file named .jpg", lambda fx: b"lat,lon\n1,2\n", expect=415),
    UploadCase("serve-gif", "a GIF (not an accepted type)",
               lambda fx: encoded(Image.new("RGB", (8, 8)), "GIF"), expect=415),
    UploadCase("serve-truncated", "JPEG cut in half",
               lambda fx: pano(fx).read_bytes()[: pano(fx).stat().st_size // 2]),
    UploadCase("serve-bomb", "PNG header claiming 30000 x 30000 pixels",
               lambda fx: bomb_png(), name="bomb.png", expect=413),
    UploadCase("serve-bomb-under-pil", "PNG header claiming 9000 x 9000 pixels (above 64 Mpx)",
               lambda fx: bomb_png(9000), name="big.png", expect=413),
    UploadCase("serve-bad-heading", "heading = north",
               lambda fx: pano(fx).read_bytes(), fields=(("heading", "north"),)),
    UploadCase("serve-bad-prior", "near without radius",
               lambda fx: pano(fx).read_bytes(), fields=(("near", "40,-105"),)),
    UploadCase("serve-16bit", "16-bit greyscale PNG", lambda fx: encoded(Image.fromarray(
        np.asarray(Image.open(pano(fx)).convert("L")).astype(np.uint16) * 257), "PNG"),
        name="g16.png", expect=200),
    UploadCase("serve-exif", "JPEG stored sideways with EXIF orientation 6",
               lambda fx: _exif_jpeg(fx), expect=200),
    UploadCase("serve-markup-name", "a valid panorama named <img src=x onerror=alert(1)>.jpg",
               lambda fx: pano(fx).read_bytes(), name="<img src=x onerror=alert(1)>.jpg",
               expect=200),
]


def _exif_jpeg(fx: Fixtures) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb = Image.open(pano(fx)).convert("RGB")
    return encoded(rgb.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif.tobytes())
