"""``index build``: embed aerial tiles in batches into a GeoIndex; resumable and shardable.

Resume: tile ids already in the table are skipped, and each batch is appended in one LanceDB
commit, so an interrupted build continues where it stopped without duplicate rows.

Shards (torchrun): rank ``k`` of ``world_size`` embeds tiles ``k, k + world_size, ...`` into its
own table ``INDEX/_shards/rank<k>``; once every rank is done, rank 0 merges the shards into
``INDEX`` (again skipping ids already present) and removes them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from crossview.data.inputs import aerial_pixels, pixels_to_batch
from crossview.errors import ConfigError, CrossviewError
from crossview.index.geoindex import GeoIndex
from crossview.index.tiles import TileRecord, read_tiles_csv
from crossview.inference import encode_images
from crossview.progress import track

logger = logging.getLogger(__name__)


def read_tile_source(spec: str, options: Sequence[str] | None = None) -> list[TileRecord]:
    """Tiles from ``FOLDER`` (a ``tiles.csv`` folder or synthetic world) or ``LAYOUT:ROOT``.

    ``options`` are the layout's ``key=value`` options (``--data-opt``). Paths in the returned
    records are absolute, so the index can find the images later.
    """
    if ":" in spec and not Path(spec).exists() and not _looks_like_windows_path(spec):
        from crossview.data.layouts import DataSpec

        return table_tiles(DataSpec.parse(spec, options).load())
    if options:
        raise ConfigError(f"--data-opt applies to LAYOUT:ROOT tiles, not to the folder {spec}")
    folder = Path(spec)
    records = read_tiles_csv(folder)
    return [TileRecord(**{**r.__dict__, "path": str((folder / r.path).resolve())}) for r in records]


def table_tiles(table: Any) -> list[TileRecord]:
    """Tile records of a dataset's aerial references (a :class:`PairTable` already loaded)."""
    return [_reference_record(ref) for ref in table.references]


def _looks_like_windows_path(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"


def _reference_record(ref: Any) -> TileRecord:
    if ref.extras.get("channels"):
        raise CrossviewError(f"reference {ref.id} is a stack of channel files (modality=multi); "
                             "index DEM views with `crossview dem index`")
    missing = [f for f in ("lat", "lon", "utm_e", "utm_n", "utm_zone") if getattr(ref, f) is None]
    if missing:
        raise CrossviewError(
            f"reference {ref.id} ({ref.path}) lacks coordinates {missing}; cannot index it"
        )
    return TileRecord(
        tile_id=str(ref.id),
        path=str(Path(ref.path).resolve()),
        lat=ref.lat,
        lon=ref.lon,
        utm_e=ref.utm_e,
        utm_n=ref.utm_n,
        utm_zone=ref.utm_zone,
        ground_resolution_m=float(ref.ground_resolution_m or float("nan")),
    )


def shard_uri(out: str, rank: int) -> str:
    """Where rank ``rank`` writes its shard."""
    return f"{str(out).rstrip('/')}/_shards/rank{rank}"


def index_tiles(
    tiles: Sequence[TileRecord],
    out: str,
    method: Any,
    method_name: str,
    checkpoint_sha256: str,
    batch_size: int = 32,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
    max_batches: int | None = None,
    checkpoint_path: str = "",
    load: Callable[[Sequence[Any]], torch.Tensor] | None = None,
    extra_columns: Sequence[str] = (),
    source: Mapping[str, Any] | None = None,
) -> GeoIndex:
    """Embed ``tiles`` with ``method.encode_aerial`` into the index at ``out`` (or its shard).

    Args:
        tiles: Tiles to index (absolute paths).
        out: Index URI.
        method: The loaded method.
        method_name: Its registry name (recorded in the index).
        checkpoint_sha256: Its checkpoint checksum (recorded in the index).
        batch_size: Tiles per forward pass and per table commit.
        rank: This process's rank (torchrun); with ``world_size > 1`` it writes a shard.
        world_size: Number of processes.
        device: Torch device (default :func:`crossview.device.get_device`).
        max_batches: Stop after this many batches (used to test interruption).
        checkpoint_path: Recorded in the index so ``locate`` can load the model by itself.
        load: Turns a batch of records into the ``(B, 3, S, S)`` model input (default: each
            record's image file through the input path); views rendered on the fly
            (:mod:`crossview.index.terrain`) pass their renderer.
        extra_columns: Extra float columns of the rows, read from the records' attributes.
        source: What the rows are views of (:class:`~crossview.index.geoindex.IndexInfo`).

    Returns:
        The index (or shard) written to.

    """
    from crossview.device import get_device

    if not tiles:
        raise CrossviewError("no tiles to index")
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in [0, {world_size})")
    if len({t.tile_id for t in tiles}) != len(tiles):
        raise CrossviewError("tile ids are not unique")
    device = device or get_device()
    method = method.to(device).eval()
    uri = out if world_size == 1 else shard_uri(out, rank)

    def create() -> GeoIndex:
        return GeoIndex.create(uri, method_name, checkpoint_sha256, method.descriptor_dim,
                               exist_ok=True, checkpoint_path=checkpoint_path,
                               extra_columns=extra_columns, source=source)

    # A new index is created with its first batch: an input error in that batch (a corrupt
    # tile) leaves no empty index behind that `locate` would take for a finished one.
    index: GeoIndex | None = create() if _index_exists(uri) else None
    done = index.tile_ids() if index is not None else set()
    if world_size > 1:
        # A sharded re-run after a completed (or partly merged) build: tiles already in the
        # final table need no shard row (the merge would drop them as duplicates anyway).
        done |= _merged_ids(out, method_name, checkpoint_sha256)
    todo = [t for i, t in enumerate(tiles) if i % world_size == rank and t.tile_id not in done]
    if done:
        logger.info("%s: %d tiles already indexed, %d to go", uri, len(done), len(todo))
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    spec = method.input_spec
    for b, batch in enumerate(track(batches, "embedding tiles")):
        if max_batches is not None and b >= max_batches:
            break
        # The one input path and the one encoder call: the pixels and precision of training/eval.
        if load is None:
            images = pixels_to_batch([aerial_pixels(t.path, spec) for t in batch])
        else:
            images = load(batch)
        with torch.inference_mode():
            desc = encode_images(method, "aerial", images, device, [t.tile_id for t in batch])
        index = index if index is not None else create()
        index.add({c: [getattr(t, c) for t in batch] for c in index.row_columns}, desc)
    return index if index is not None else create()


def _index_exists(uri: str) -> bool:
    """Whether a crossview index is at ``uri`` (an existing foreign table still errors later)."""
    try:
        GeoIndex.open(uri)
    except CrossviewError as err:
        return "no crossview index here" not in str(err)
    return True


def _merged_ids(out: str, method_name: str, checkpoint_sha256: str) -> set[str]:
    """Tile ids already in the final index at ``out`` (empty when there is none yet)."""
    try:
        final = GeoIndex.open(out)
    except CrossviewError:
        return set()
    final.check_compatible(method_name, checkpoint_sha256)
    return final.tile_ids()


def merge_shards(out: str, world_size: int, remove: bool = True) -> GeoIndex:
    """Rank 0's merge: append every shard's rows to ``out`` (skipping present ids), then delete.

    Raises:
        CrossviewError: a shard is missing or was built with another model.

    """
    head = GeoIndex.open(shard_uri(out, 0)).info
    final = GeoIndex.create(
        out,
        head.method,
        head.checkpoint_sha256,
        head.dim,
        exist_ok=True,
        checkpoint_path=head.checkpoint_path,
        extra_columns=head.extra_columns,
        source=head.source,
    )
    present = final.tile_ids()
    for rank in range(world_size):
        shard = GeoIndex.open(shard_uri(out, rank))
        final.check_compatible(shard.info.method, shard.info.checkpoint_sha256)
        n = len(shard)
        if n == 0:
            continue
        columns = final.row_columns
        table = shard._table.search().limit(n).select([*columns, "vector"]).to_arrow()
        keep = [i for i, tid in enumerate(table["tile_id"].to_pylist()) if tid not in present]
        table = table.take(keep)
        vectors = table["vector"].combine_chunks().flatten().to_numpy().reshape(len(keep), -1)
        final.add({c: table[c].to_pylist() for c in columns}, vectors)
        present.update(table["tile_id"].to_pylist())
    if remove and "://" not in out:
        shutil.rmtree(Path(out) / "_shards", ignore_errors=True)
    return final


def build_index(run: str | Path, tiles: str | Sequence[TileRecord], out: str,
                batch_size: int = 32, which: str = "best",
                device: torch.device | None = None,
                data_options: Sequence[str] | None = None) -> GeoIndex:
    """Embed aerial tiles with a trained run into the GeoIndex at ``out`` (``index build`` command).

    Resumes an interrupted build; under torchrun each rank embeds its share into a shard and rank
    0 merges them once all are done.

    Args:
        run: Training run directory or checkpoint file.
        tiles: ``LAYOUT:ROOT`` (its references), a tiles folder (``tiles.csv``), or records.
        out: Index location (folder or LanceDB URI).
        batch_size: Tiles per forward pass and per table commit.
        which: Checkpoint of a run directory: ``best`` or ``last``.
        device: Torch device (default :func:`crossview.device.get_device`).
        data_options: Layout options of a ``LAYOUT:ROOT`` tile source.

    Returns:
        The index (on every rank, after the merge).

    """
    from crossview.training.checkpoint import load_run

    rank, world_size = dist_context()
    model = load_run(run, which)
    records = read_tile_source(tiles, data_options) if isinstance(tiles, str) else list(tiles)
    index = index_tiles(records, out, model.method, model.method_name, model.checkpoint_sha256,
                        batch_size=batch_size, rank=rank, world_size=world_size, device=device,
                        checkpoint_path=str(Path(model.checkpoint_path).resolve()))
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()  # every shard is complete before rank 0 merges
        if rank == 0:
            merge_shards(out, world_size)
        dist.barrier()
        dist.destroy_process_group()  # a clean exit (no leaked gloo/NCCL group warnings)
        index = GeoIndex.open(out)
    return index


def dist_context() -> tuple[int, int]:
    """``(rank, world_size)`` from torchrun's environment, initialising the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return rank, world_size
