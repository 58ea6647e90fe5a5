"""``crossview geo`` commands: outputs against independent NumPy references, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crossview.geometry.panorama import perspective_from_equirect

DEM_RGB = Path("/work/shared/data/dem/rmnp-rgb.tif")


def numpy_polar(tile: np.ndarray, height: int, width: int) -> np.ndarray:
    """Vectorised float64 bilinear evaluation of DESIGN.md's polar formula; tile (S, S, C)."""
    size = tile.shape[0]
    i = np.arange(height, dtype=np.float64)[:, None]
    j = np.arange(width, dtype=np.float64)[None, :]
    radius = size / 2 / height * (height - 1 - i)
    row = size / 2 + radius * np.cos(2 * np.pi * j / width)
    col = size / 2 - radius * np.sin(2 * np.pi * j / width)
    r0, c0 = np.floor(row).astype(int), np.floor(col).astype(int)
    out = np.zeros((height, width, tile.shape[2]))
    for dr in (0, 1):
        for dc in (0, 1):
            rr, cc = r0 + dr, c0 + dc
            weight = (1 - np.abs(row - rr)) * (1 - np.abs(col - cc))
            inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)  # outside taps count 0
            taps = tile[np.clip(rr, 0, size - 1), np.clip(cc, 0, size - 1)]
            out += (weight * inside)[..., None] * taps
    return out


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def save_rgb(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def test_polar_750_tile_matches_formula(tmp_path):
    # The "done when" check, through the installed entry point: a real Landsat crop, 750x750.
    import rasterio

    with rasterio.open(DEM_RGB) as ds:
        rgb = ds.read()[:, :373, 50:423].transpose(1, 2, 0)
    tile = np.asarray(Image.fromarray(rgb).resize((750, 750), Image.Resampling.BICUBIC))
    src = save_rgb(tmp_path / "tile.png", tile)
    out = tmp_path / "x.npy"
    proc = subprocess.run([sys.executable, "-m", "crossview", "geo", "polar", str(src),
                           "--height", "112", "--width", "616", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    polar = np.load(out)
    assert polar.shape == (112, 616, 3) and polar.dtype == np.float32
    ref = numpy_polar(tile.astype(np.float64) / 255.0, 112, 616)
    assert np.abs(polar - ref).max() <= 1e-5


def test_polar_folder_to_folder_png_and_npy(tmp_path, run_cli):
    rng = np.random.default_rng(0)
    folder = tmp_path / "tiles"
    folder.mkdir()
    tiles = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(3)]
    for k, t in enumerate(tiles):
        save_rgb(folder / f"t{k}.png", t)
    (folder / "notes.txt").write_text("not an image")
    code, out, _ = run_cli("geo", "polar", str(folder), "--height", "8",
                           "--width", "24", "--out", str(tmp_path / "png"))
    assert code == 0 and "wrote 3" in out
    code, _, _ = run_cli("geo", "polar", str(folder), "--height", "8",
                         "--width", "24", "--out", str(tmp_path / "npy"), "--format", "npy")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["t0.png", "t1.png", "t2.png"]
    for k, t in enumerate(tiles):
        ref = numpy_polar(t / 255.0, 8, 24)
        arr = np.load(tmp_path / "npy" / f"t{k}.npy")
        assert np.abs(arr - ref).max() <= 1e-5
        png = np.asarray(Image.open(tmp_path / "png" / f"t{k}.png"))
        assert png.shape == (8, 24, 3) and png.dtype == np.uint8
        assert np.abs(png.astype(float) - np.round(ref * 255)).max() <= 1


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        ("truncated", ["--out", "y.png"], "cannot decode image"),
        ("nonsquare", ["--out", "y.png"], "must be square"),
        ("good", ["--height", "0", "--out", "y.png"], "--height: expected a positive integer"),
        ("good", ["--width", "0", "--out", "y.png"], "--width"),
        ("good", ["--out", "y.gif"], "--out"),
        ("missing", ["--out", "y.png"], "file not found"),
    ],
)
def test_polar_errors_are_one_line(tmp_path, monkeypatch, run_cli, make, args, message):
    rng = np.random.default_rng(1)
    path = tmp_path / f"{make}.png"
    if make == "nonsquare":
        save_rgb(path, rng.integers(0, 256, (16, 12, 3), dtype=np.uint8))
    elif make in ("good", "truncated"):
        save_rgb(path, rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        if make == "truncated":
            path.write_bytes(path.read_bytes()[:120])
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("geo", "polar", str(path), *args)
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and message in lines[0]
    if make != "good":
        assert str(path) in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "y.png").exists()


def test_perspective_command(tmp_path, run_cli):
    rng = np.random.default_rng(2)
    pano = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    src = save_rgb(tmp_path / "pano.png", pano)
    out = tmp_path / "view.npy"
    code, _, _ = run_cli("geo", "perspective", str(src), "--yaw", "30",
                         "--pitch", "-10", "--fov", "75", "--size", "12x20", "--out", str(out))
    assert code == 0
    view = np.load(out)
    pano_t = torch.from_numpy(pano).permute(2, 0, 1).unsqueeze(0).float() / 255
    expected = perspective_from_equirect(pano_t, 30.0, -10.0, 75.0, (12, 20))[0]
    assert view.shape == (12, 20, 3)
    assert np.allclose(view, expected.permute(1, 2, 0).numpy(), atol=1e-6)
    for size in ("0", "12x", "axb", "1x2x3"):
        code, _, err = run_cli("geo", "perspective", str(src), "--size", size,
                               "--out", str(tmp_path / "v.png"))
        assert code == 2 and len(error_lines(err)) == 1 and "--size" in err
