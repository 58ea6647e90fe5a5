"""CLI commands of the geo area (registered on import by :mod:`crossview.cli`).

``crossview geo polar`` polar-transforms aerial tiles; ``crossview geo perspective`` renders a
pinhole view from an equirectangular panorama. Heavy imports stay inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app

geo_app = typer.Typer(help="Geometry tools: polar transforms and perspective views.",
                      no_args_is_help=True)
app.add_typer(geo_app, name="geo")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
OUTPUT_SUFFIXES = (".npy", ".png", ".jpg", ".jpeg")


def expand_inputs(inputs: list[Path]) -> tuple[list[Path], bool]:
    """Expand image files and folders into a sorted list of image files.

    Returns:
        ``(files, many)``: the files, and whether the output must be a folder (several inputs or
        a folder given).

    """
    from crossview.errors import InputFileError

    files: list[Path] = []
    many = len(inputs) > 1
    for path in inputs:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputFileError(path, f"folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
            many = True
        elif path.exists():
            files.append(path)
        else:
            raise InputFileError(path, "file not found")
    return files, many


def output_paths(files: list[Path], many: bool, out: Path, fmt: str) -> list[Path]:
    """Output path of every input: ``out`` itself, or ``out/<stem>.<fmt>`` for a folder."""
    from crossview.errors import ConfigError

    if not many:
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise ConfigError(f"--out: expected a file ending in {', '.join(OUTPUT_SUFFIXES)} "
                              f"for one input, got {str(out)!r}")
        return [out]
    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--format: expected one of npy, png, jpg, got {fmt!r}")
    if out.suffix.lower() in OUTPUT_SUFFIXES or out.is_file():
        raise ConfigError(f"--out: several inputs need an output folder, got file {str(out)!r}")
    paths = [out / (f.stem + suffix) for f in files]
    if len(set(paths)) != len(paths):
        raise ConfigError("inputs: two input images share a file name stem; outputs would collide")
    return paths


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"256"`` (square) or ``"256x320"`` (height x width) into ``(height, width)``."""
    from crossview.errors import ConfigError
    from crossview.geometry._checks import check_positive_int

    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise ConfigError(f"--size: expected N or HxW (e.g. 256 or 256x320), got {text!r}")
    return (check_positive_int(values[0], "--size height"),
            check_positive_int(values[1], "--size width"))


@geo_app.command("polar")
def polar_cmd(
    inputs: list[Path] = typer.Argument(..., help="Square north-up aerial tiles or folders."),
    height: int = typer.Option(112, "--height", help="Output rows (112 for SAFA/CDE)."),
    width: int = typer.Option(616, "--width", help="Output columns (616 for SAFA/CDE)."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Output file (.npy float32 HxWx3, .png/.jpg 8-bit) or folder."),
    fmt: str = typer.Option("png", "--format", help="Output format in a folder: npy, png, jpg."),
) -> None:
    """Polar-transform aerial tiles into panorama-aligned images (SAFA / CDE eq. 1)."""
    import torch

    from crossview.device import get_device
    from crossview.errors import ConfigError, InputFileError
    from crossview.geometry._checks import check_positive_int
    from crossview.geometry.polar import polar_transform
    from crossview.io import load_image_tensor, save_image
    from crossview.progress import track

    height, width = check_positive_int(height, "--height"), check_positive_int(width, "--width")
    files, many = expand_inputs(inputs)
    targets = output_paths(files, many, out, fmt)
    device = get_device()
    for src, dst in track(list(zip(files, targets, strict=True)), "polar transform"):
        # float64: grid_sample's float32 coordinates are off by up to ~S * 3e-8 pixels (2e-5 px
        # for a 750 px tile); files written here should match the formula to float32 precision.
        tile = load_image_tensor(src).unsqueeze(0).to(device, torch.float64)
        try:
            polar = polar_transform(tile, height, width).float()
        except ConfigError as err:  # e.g. a non-square tile: name the file, not the argument
            raise InputFileError(src, str(err)) from None
        save_image(polar[0], dst)
    typer.echo(f"wrote {len(targets)} polar image(s) to {out}")


@geo_app.command("perspective")
def perspective_cmd(
    pano: Path = typer.Argument(..., help="Equirectangular panorama (column W/2 looks north)."),
    yaw: float = typer.Option(0.0, "--yaw", help="Bearing of the view, deg clockwise from north."),
    pitch: float = typer.Option(0.0, "--pitch", help="Elevation of the view, deg."),
    fov: float = typer.Option(90.0, "--fov", help="Horizontal field of view, deg, in (0, 180)."),
    size: str = typer.Option("256", "--size", help="Output size N or HxW (height x width)."),
    vfov: float = typer.Option(180.0, "--vfov", help="Vertical field of view of the panorama."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.png, .jpg or .npy)."),
) -> None:
    """Render a pinhole (perspective) view from an equirectangular panorama."""
    from crossview.device import get_device
    from crossview.errors import ConfigError
    from crossview.geometry.panorama import perspective_from_equirect
    from crossview.io import load_image_tensor, save_image

    out_hw = parse_size(size)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--out: expected a file ending in {', '.join(OUTPUT_SUFFIXES)}, "
                          f"got {str(out)!r}")
    image = load_image_tensor(pano).unsqueeze(0).to(get_device())
    view = perspective_from_equirect(image, yaw, pitch, fov, out_hw, vfov_deg=vfov)
    save_image(view[0], out)
    typer.echo(f"wrote {out_hw[0]}x{out_hw[1]} view (yaw {yaw}, pitch {pitch}, fov {fov}) to {out}")
