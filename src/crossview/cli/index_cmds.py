"""CLI commands of the index area: ``index build|info|ann``, ``tiles make``, ``locate``.

Heavy imports stay inside the commands so that ``crossview --help`` is fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from crossview.cli import app
from crossview.cli.data_cmds import DATA_OPT_HELP

index_app = typer.Typer(
    help="Persistent GeoIndex of aerial-tile descriptors (LanceDB).", no_args_is_help=True
)
tiles_app = typer.Typer(help="Cut georeferenced imagery into north-up tiles.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(tiles_app, name="tiles")


@index_app.command("build")
def index_build(
    run: Path = typer.Option(..., "--run", help="Training run directory or checkpoint .pt."),
    tiles: str = typer.Option(
        ..., "--tiles", help="LAYOUT:ROOT (its references) or a tiles FOLDER."
    ),
    data_opt: list[str] = typer.Option([], "--data-opt", help=DATA_OPT_HELP),
    out: str = typer.Option(..., "--out", help="Index location (folder or LanceDB URI)."),
    batch_size: int = typer.Option(32, "--batch-size", help="Tiles per forward pass / commit."),
    which: str = typer.Option("best", "--which", help="Checkpoint of the run: best or last."),
) -> None:
    """Embed aerial tiles into an index; resumes, and shards over torchrun ranks.

    Under torchrun put ``--`` before ``index``: ``torchrun ... -m crossview -- index build --run
    R ...`` (torchrun would read ``--run`` as an abbreviation of its own ``--run-path``).
    """
    import os

    from crossview.index.build import build_index

    index = build_index(run, tiles, out, batch_size=batch_size, which=which,
                        data_options=data_opt)
    if int(os.environ.get("RANK", "0")) == 0:  # torchrun: rank 0 reports the merged index
        typer.echo(f"{out}: {len(index)} tiles indexed with {index.info.method} "
                   f"({index.info.checkpoint_sha256[:12]})")


@index_app.command("info")
def index_info(index: str = typer.Argument(..., help="Index location.")) -> None:
    """Print the method, checkpoint, row count and whether an ANN index exists."""
    from crossview.index.geoindex import GeoIndex

    idx = GeoIndex.open(index)
    typer.echo(
        f"index: {idx.uri}\nmethod: {idx.info.method}\ncheckpoint_sha256: "
        f"{idx.info.checkpoint_sha256}\ndim: {idx.info.dim}\nrows: {len(idx)}\n"
        f"ann: {idx.ann_type or 'none'}\ncrossview: {idx.info.crossview_version}\n"
        f"checkpoint_path: {idx.info.checkpoint_path}"
    )


@index_app.command("ann")
def index_ann(
    index: str = typer.Argument(..., help="Index location."),
    index_type: str = typer.Option(
        "IVF_SQ",
        "--type",
        help="IVF_SQ (default), IVF_FLAT, IVF_PQ, IVF_HNSW_FLAT, IVF_HNSW_SQ or IVF_HNSW_PQ.",
    ),
    partitions: int = typer.Option(0, "--partitions", help="IVF partitions (0: about sqrt(N))."),
    sub_vectors: int = typer.Option(0, "--sub-vectors", help="PQ sub-vectors (0: D/8; *_PQ)."),
    m: int = typer.Option(20, "--m", help="HNSW neighbours per node (IVF_HNSW_*)."),
    ef_construction: int = typer.Option(
        300, "--ef-construction", help="HNSW build candidate list (IVF_HNSW_*)."
    ),
) -> None:
    """Build the approximate index for ``locate --ann`` (docs/scale.md compares the types)."""
    from crossview.index.geoindex import GeoIndex

    params = GeoIndex.open(index).create_ann(
        partitions or None,
        sub_vectors or None,
        index_type=index_type.upper(),
        m=m,
        ef_construction=ef_construction,
    )
    details = ", ".join(f"{k} {v}" for k, v in params.items() if k != "index_type")
    typer.echo(f"{index}: {params['index_type']} built ({details})")


@tiles_app.command("make")
def tiles_make(
    ortho: Path = typer.Option(..., "--ortho", help="Georeferenced orthophoto GeoTIFF."),
    out: Path = typer.Option(..., "--out", help="Output folder (tiles.csv, tiles/, dsm/)."),
    tile_size: int = typer.Option(256, "--tile-size", help="Tile side in pixels."),
    stride: int = typer.Option(0, "--stride", help="Step in pixels (0: tile size)."),
    dsm: Path | None = typer.Option(None, "--dsm", help="Optional elevation GeoTIFF."),
) -> None:
    """Cut an orthophoto into north-up tiles with WGS84 and UTM centre coordinates."""
    from crossview.index.tiles import make_tiles

    records = make_tiles(ortho, out, tile_size, stride or None, dsm)
    typer.echo(f"{out}: {len(records)} tiles of {tile_size} px ({out / 'tiles.csv'})")


def _parse_near(
    near: str | None, radius: float | None
) -> tuple[tuple[float, float] | None, float | None]:
    from crossview.errors import ConfigError

    if near is None and radius is None:
        return None, None
    if near is None or radius is None:
        raise ConfigError("--near LAT,LON and --radius M must be given together")
    try:
        lat, lon = (float(v) for v in near.split(","))
    except ValueError:
        raise ConfigError(f"--near: expected LAT,LON in degrees, got {near!r}") from None
    return (lat, lon), radius


@app.command("locate")
def locate_cmd(
    images: list[Path] = typer.Argument(
        ..., help="Query images (panoramas, limited-FOV crops of panoramas, or photos)."
    ),
    index: str = typer.Option(..., "--index", help="Index location."),
    run: Path | None = typer.Option(
        None, "--run", help="Run/checkpoint (default: the checkpoint recorded in the index)."
    ),
    top: int = typer.Option(5, "--top", help="Candidates per query."),
    fov: float | None = typer.Option(
        None, "--fov", help="Horizontal field of view of the queries (deg; default: 360 for "
        "panoramas, from EXIF for photos)."
    ),
    camera: str = typer.Option(
        "auto", "--camera", help="auto (W >= 2H: panorama, else photo), panorama or pinhole."
    ),
    pitch: float = typer.Option(0.0, "--pitch", help="Pitch of photos above the horizon (deg)."),
    search: str = typer.Option(
        "auto", "--search", help="Heading search: auto, match, rolls, coarse_fine or north."
    ),
    rerank: int = typer.Option(
        50, "--rerank", help="Candidates re-scored from their tile images (0: index scores)."
    ),
    num_headings: int = typer.Option(
        32, "--num-headings", help="Headings tried by the rolls search (global descriptors)."
    ),
    heading: str = typer.Option(
        "unknown", "--heading", help="'unknown' or degrees clockwise from north."
    ),
    vfov: float | None = typer.Option(
        None, "--vfov", help="Vertical span of full panoramas (deg)."
    ),
    near: str | None = typer.Option(None, "--near", help="Prior centre LAT,LON."),
    radius: float | None = typer.Option(None, "--radius", help="Prior radius in metres."),
    ann: bool = typer.Option(
        False, "--ann", help="Use the approximate index (`index ann`) instead of exact search."
    ),
    nprobes: int = typer.Option(
        0,
        "--nprobes",
        help="IVF partitions probed with --ann (0: 50; more: higher recall, slower).",
    ),
    ef: int = typer.Option(0, "--ef", help="HNSW search list with --ann on IVF_HNSW_* (0: auto)."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write results as JSON (+ .geojson)."
    ),
    html_out: Path | None = typer.Option(None, "--html", help="Write an HTML page of the results."),
) -> None:
    """Localize images: K ranked candidates with coordinates, score and estimated heading."""
    from crossview.index.geoindex import DEFAULT_NPROBES
    from crossview.index.locate import Localizer, results_to_geojson, results_to_json
    from crossview.io import write_json_atomic, write_text_atomic

    prior, radius_m = _parse_near(near, radius)
    localizer = Localizer.from_index(index, run)
    results = localizer.locate(images, top_k=top, fov_deg=fov, heading=heading, near=prior,
                               radius_m=radius_m, vfov_deg=vfov, exact=not ann,
                               nprobes=nprobes or DEFAULT_NPROBES, ef=ef or None,
                               camera=camera, pitch_deg=pitch, search=search, rerank=rerank,
                               num_headings=num_headings)  # type: ignore[arg-type]
    doc = results_to_json(results)
    if json_out is not None:
        write_json_atomic(json_out, doc)
        write_json_atomic(json_out.with_suffix(".geojson"), results_to_geojson(results))
    if html_out is not None and localizer.is_dem_index:  # photos against DEM views
        from crossview.index.terrain import terrain_locate_page

        write_text_atomic(html_out, terrain_locate_page(doc, localizer.index,
                                                        localizer.method_name))
    elif html_out is not None:
        from crossview.reports.locate_report import locate_html

        write_text_atomic(html_out, locate_html(doc, index, localizer.method_name, prior,
                                                 radius_m))
    for result in doc:
        typer.echo(f"{result['query']}: {result['camera']}, FOV {result['fov_deg']:.1f} deg "
                   f"({result['fov_source']})", err=True)
        typer.echo(result["query"])
        for c in result["candidates"]:
            head = "" if c["heading_deg"] is None else f"  heading {c['heading_deg']:.0f}"
            typer.echo(
                f"  #{c['rank']}  {c['lat']:.6f}, {c['lon']:.6f}  score {c['score']:.3f}  "
                f"{c['tile']}{head}"
            )
