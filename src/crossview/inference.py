"""Running a model on images: descriptors and synthesized views for every command.

The trainer, ``eval``, ``embed``, ``index build``, ``locate`` and ``synthesize`` run models here.
Every forward pass outside training goes through :func:`encode_images` (one autocast policy,
:func:`crossview.device.inference_autocast`, and one check of the output). Descriptors come out as
L2-normalised float32 rows ``(N, D)`` in dataset order (DESIGN.md "Tensors"). A
:class:`~crossview.data.table.PairTable` is wrapped in the data package's ``GroundDataset`` /
``ReferenceDataset`` with the method's own ``input_spec``; any dataset whose samples are dicts
with an ``image`` (or ``ground`` / ``aerial``) tensor works too.

Images are read by the one input path (:mod:`crossview.data.inputs`), so descriptors of one image
never depend on the command that embedded it. ``fast_decode=True`` decodes JPEGs at least twice
the input size at a reduced DCT scale, which at small input sizes (the ``tiny`` presets) makes
reading an image about 1.7x faster; pixels then differ slightly from the full decode (about 1/255
on average, :func:`crossview.io.read_image`).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler

from crossview.data.inputs import InputSpec
from crossview.device import get_device, inference_autocast
from crossview.errors import ConfigError, CrossviewError
from crossview.io import plain
from crossview.methods.base import Method
from crossview.progress import track

logger = logging.getLogger(__name__)


def _as_dataset(
    method: Method, data: Any, view: str, fov_deg: float | None = None, fast_decode: bool = False
) -> Dataset:
    """Wrap a PairTable into the ground/reference dataset of ``method``'s input spec."""
    from crossview.data.table import PairTable

    if not isinstance(data, PairTable):
        if fov_deg is not None:
            raise ConfigError("fov_deg needs a PairTable (or build GroundDataset(fov_deg=...))")
        return data
    from crossview.data.datasets import GroundDataset, ReferenceDataset

    spec = method.input_spec
    if view == "ground":
        return GroundDataset(data, spec, fov_deg=fov_deg, fast_decode=fast_decode)
    return ReferenceDataset(data, spec, fast_decode=fast_decode)


def _image_of(sample: dict[str, Any], view: str) -> Tensor:
    for key in ("image", view):
        if key in sample:
            return sample[key]
    raise ConfigError(f"{view} dataset samples have no 'image' or {view!r} key: {sorted(sample)}")


class _BatchReader(Dataset):
    """Index a dataset with ``read_batch`` by lists of indices (one fetch per batch)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __getitem__(self, indices: list[int]) -> dict[str, Any]:
        return self.dataset.read_batch(indices)


def _as_is(batch: Any) -> Any:
    return batch


def _batches(dataset: Dataset, batch_size: int, num_workers: int, pin: bool) -> Iterable[Any]:
    """Batches of ``dataset`` in order: whole-batch reads where the dataset has ``read_batch``."""
    if not hasattr(dataset, "read_batch"):
        return DataLoader(dataset, batch_size=batch_size, shuffle=False,
                          num_workers=num_workers, pin_memory=pin)
    # Images stacked as uint8 and converted once per batch (inputs.pixels_to_batch).
    order = BatchSampler(SequentialSampler(range(len(dataset))),  # type: ignore[arg-type]
                         batch_size, drop_last=False)
    # collate_fn: the batch is ready; the default conversion would walk every id.
    return DataLoader(_BatchReader(dataset), batch_size=None, sampler=order,
                      num_workers=num_workers, pin_memory=pin, collate_fn=_as_is)


def encode_images(method: Method, view: str, images: Tensor, device: torch.device,
                  ids: Sequence[Any] | None = None) -> np.ndarray:
    """``method.encode_<view>`` of an image batch ``(B, 3, H, W)``: float32 numpy ``(B, D)``.

    Runs under the one inference autocast policy; the caller sets eval mode and no-grad.

    Raises:
        CrossviewError: the encoder returned another shape, or NaN/inf (a broken checkpoint).

    """
    encode = getattr(method, f"encode_{view}")
    images = images.to(device, non_blocking=True)
    with inference_autocast(device):
        out = encode(images)
    desc = out.float().cpu().numpy()
    if desc.ndim != 2 or desc.shape[0] != images.shape[0]:
        raise CrossviewError(f"{view} encoder returned shape {desc.shape}, expected (B, D)")
    if not np.isfinite(desc).all():
        where = f" (batch ids {list(ids)[:4]})" if ids is not None else ""
        raise CrossviewError(f"{view} descriptors contain NaN/inf{where}")
    return desc


def _to_device(method: Method, device: torch.device) -> None:
    """Move ``method`` to ``device`` unless it is there (``Module.to`` walks every tensor)."""
    tensors = [*method.parameters(), *method.buffers()]
    if any(t.device != device for t in tensors):
        method.to(device)


@contextlib.contextmanager
def eval_mode(method: Method) -> Iterator[None]:
    """Eval mode for the duration, restoring the modules that were training."""
    # By flag: Module.eval() and the restoring train() each cost ~1 ms of __setattr__ walks per
    # call, which shows when the trainer embeds small validation sets every epoch.
    training = [m for m in method.modules() if m.training]
    for module in training:
        module.training = False
    try:
        yield
    finally:
        for module in training:
            module.training = True


@torch.inference_mode()
def _embed(
    method: Method,
    dataset: Dataset,
    view: str,
    batch_size: int,
    device: torch.device,
    num_workers: int,
) -> np.ndarray:
    """``method.encode_<view>`` over ``dataset`` in batches; returns float32 ``(N, D)``."""
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
    loader = _batches(dataset, batch_size, num_workers, pin=device.type == "cuda")
    chunks: list[np.ndarray] = []
    with eval_mode(method):
        total = math.ceil(len(dataset) / batch_size)  # type: ignore[arg-type]
        for batch in track(loader, f"embedding {view}", total=total):
            ids = batch.get("id", batch.get("index"))
            chunks.append(encode_images(method, view, _image_of(batch, view), device, ids))
    if not chunks:
        return np.zeros((0, int(method.descriptor_dim)), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def embed_ground(
    method: Method,
    dataset_or_table: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    fov_deg: float | None = None,
    num_workers: int = 0,
    fast_decode: bool = False,
) -> np.ndarray:
    """Descriptors of the ground images: float32 ``(N, D)``, one row per pair, in table order.

    Args:
        method: A :class:`~crossview.methods.base.Method` (moved to ``device``; eval mode during
            the call, its training flag restored after).
        dataset_or_table: A ``PairTable`` (wrapped in ``GroundDataset``) or a dataset of dicts.
        batch_size: Images per forward pass.
        device: Device; ``None`` uses :func:`crossview.device.get_device`.
        fov_deg: Limited horizontal field of view: panoramas are cropped to ``fov_deg`` columns
            at a seeded random (unknown) shift per image (``GroundDataset``; tables only).
        num_workers: DataLoader workers. 0 (default) was fastest on 2 CPU cores at the ``tiny``
            input sizes: a worker process competes with the forward for the same cores.
        fast_decode: Reduced-scale JPEG decoding (module docstring; tables only: a dataset
            passed in keeps its own setting).

    """
    device = get_device(device)
    _to_device(method, device)
    dataset = _as_dataset(method, dataset_or_table, "ground", fov_deg, fast_decode)
    return _embed(method, dataset, "ground", batch_size, device, num_workers)


def embed_aerial(
    method: Method,
    dataset_or_table: Any,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    fast_decode: bool = False,
) -> np.ndarray:
    """Descriptors of the aerial references: float32 ``(M, D)`` in ``table.references`` order.

    Args:
        method: A :class:`~crossview.methods.base.Method`.
        dataset_or_table: A ``PairTable`` (wrapped in ``ReferenceDataset``) or a dataset of dicts.
        batch_size: Tiles per forward pass.
        device: Device; ``None`` uses :func:`crossview.device.get_device`.
        num_workers: DataLoader workers (see :func:`embed_ground`).
        fast_decode: Reduced-scale JPEG decoding (module docstring; tables only).

    """
    device = get_device(device)
    _to_device(method, device)
    dataset = _as_dataset(method, dataset_or_table, "aerial", fast_decode=fast_decode)
    return _embed(method, dataset, "aerial", batch_size, device, num_workers)


def synthesize_files(
    method: Method,
    tiles: Sequence[str | Path],
    out: str | Path,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    source_vfov_deg: float | None = None,
    **options: Any,
) -> list[Path]:
    """Synthesize ``out/<stem>.png`` for every input image; every input is read before any work.

    Inputs are of the method's ``synthesis_source`` view (tiles for aerial -> ground methods,
    panoramas for ground -> aerial ones; ``source_vfov_deg`` is a panorama's vertical span) and
    are read by the one input path (:func:`crossview.data.inputs.model_input`, as in training);
    non-square tiles and unreadable files raise :class:`~crossview.errors.InputFileError`
    naming the file. By-products a method returns from ``synthesize_outputs`` (e.g. ``seg``)
    are written beside each view as ``out/<stem>_<name>.png`` (``.npy`` keys as float32 arrays,
    ``out/<stem>_<name>``). ``options`` are forwarded to ``synthesize_outputs`` (the method's
    own options, e.g. Sat2Density's ``illumination`` and ``camera_height_m``).
    """
    from crossview.data.inputs import model_input
    from crossview.errors import InputFileError
    from crossview.io import save_image

    if batch_size < 1:
        raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
    paths = [Path(t) for t in tiles]
    stems = [t.stem for t in paths]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InputFileError(paths[stems.index(dup)], f"two tiles share the output name {dup}.png")
    _check_options(method, options)
    spec = method.input_spec
    view = method.synthesis_source
    images = [model_input(path, spec, view, source_vfov_deg=source_vfov_deg) for path in paths]
    device = get_device(device)
    _to_device(method, device)
    written = []
    with eval_mode(method), torch.inference_mode():
        for start in track(range(0, len(images), batch_size), "synthesize"):
            batch = torch.stack(images[start:start + batch_size]).to(device)
            with inference_autocast(device):
                outputs = method.synthesize_outputs(batch, **options)
            for name, views in _checked_outputs(method, outputs, len(batch)).items():
                array = name.endswith(".npy")
                suffix = f"_{name}" if array else (f"_{name}.png" if name else ".png")
                for k, image in enumerate(views.float().cpu()):
                    image = image[0] if image.shape[0] == 1 else image  # grey: H x W
                    written.append(save_image(image, Path(out) / f"{stems[start + k]}{suffix}"))
    return written


def _check_options(method: Method, options: dict[str, Any]) -> None:
    """One-line error for options ``method.synthesize_outputs`` does not take."""
    import inspect

    if not options:
        return
    params = inspect.signature(method.synthesize_outputs).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return  # the method checks them itself
    names = {p.name for p in params}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ConfigError(f"method {method.name!r} does not take the synthesis option(s) "
                          f"{unknown}")


def _checked_outputs(method: Method, outputs: Any, batch: int) -> dict[str, Tensor]:
    """``synthesize_outputs`` as promised: the ``""`` view first, safe names, ``(B, 1|3, H, W)``.

    ``.npy`` keys hold any ``(B, ...)`` values.
    """
    import re

    if not isinstance(outputs, dict) or "" not in outputs:
        raise CrossviewError(f"method {method.name!r}: synthesize_outputs must return a dict with "
                             "the synthesized view under key ''")
    for name, images in outputs.items():
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_.-]*", name)):
            raise CrossviewError(f"method {method.name!r}: synthesize_outputs key {name!r} is not "
                                 "a file-name-safe string (letters, digits, _ . -)")
        array = name.endswith(".npy")
        if not (isinstance(images, Tensor) and images.ndim == 4 and images.shape[0] == batch
                and (array or images.shape[1] in (1, 3))):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise CrossviewError(f"method {method.name!r}: synthesize_outputs[{name!r}] must be a "
                                 f"({batch}, 1|3, H, W) batch, got {shape}")
    return {"": outputs[""], **{k: v for k, v in outputs.items() if k}}


def synthesize_trajectory(
    method: Method,
    tile: str | Path,
    out: str | Path,
    path: str | Sequence[tuple[float, float]] = "diagonal",
    frames: int = 48,
    fps: float = 12.0,
    units: str = "m",
    device: str | torch.device | None = None,
    **options: Any,
) -> list[Path]:
    """Render a tile's panoramas along a camera path into ``<stem>_trajectory.mp4`` and ``.gif``.

    Each frame shows the tile with the path and the camera's position, the panorama and its
    colour-mapped depth side by side; ``<stem>_path.png`` is the tile with the path. The method
    must render from any point of the tile (``render_path``, e.g. ``sat2density``); ``options``
    (``illumination``, ``camera_height_m``) are forwarded to it.

    Args:
        method: A method with ``render_path`` and ``config.tile_size_m``.
        tile: North-up tile file (read by the one input path).
        out: Output folder.
        path: ``diagonal``, ``circle``, waypoints ``"x,y;x,y;..."`` or pairs
            (:func:`crossview.geometry.trajectory.camera_path`).
        frames: Panoramas along the path.
        fps: Frames per second of the videos.
        units: Waypoints in metres from the tile centre (``m``) or tile-image pixels (``px``).
        device: Where to run.
        **options: The method's rendering options.

    Returns:
        The MP4, the GIF and the path image.

    """
    from crossview.data.inputs import model_input
    from crossview.geometry.trajectory import camera_path, metres_to_pixels
    from crossview.io import read_image, save_image
    from crossview.reports.depth import colour_depth
    from crossview.reports.video import compose_frame, draw_path, write_gif, write_mp4

    render_path = getattr(method, "render_path", None)
    if render_path is None:
        raise ConfigError(f"method {method.name!r} does not render views along a path")
    tile = Path(tile)
    size_m = float(method.config.tile_size_m)  # type: ignore[attr-defined]
    original = read_image(tile)
    offsets = camera_path(path, size_m, frames, units,  # type: ignore[arg-type]
                          (original.height, original.width))
    aerial = model_input(tile, method.input_spec, "aerial")[None]
    height = max(128, method.input_spec.ground_hw[0])
    shown = np.asarray(original.resize((height, height)))
    path_px = metres_to_pixels(offsets, (height, height), size_m)
    dev = get_device(device)
    _to_device(method, dev)
    video: list[np.ndarray] = []
    with eval_mode(method), torch.inference_mode():
        chunks = render_path(aerial.to(dev), torch.from_numpy(offsets).to(dev), **options)
        for chunk in track(chunks, f"trajectory {tile.stem}",
                           total=math.ceil(len(offsets) / 8)):
            depth = colour_depth(chunk.depth.float(), method.depth_range_m,  # type: ignore
                                 chunk.opacity.float())
            for pano, dep in zip(chunk.panorama.float().cpu(), depth.cpu(), strict=True):
                k = len(video)
                video.append(compose_frame([draw_path(shown, path_px, k), _uint8(pano),
                                            _uint8(dep)]))
    out = Path(out)
    stem = tile.stem
    return [write_mp4(video, out / f"{stem}_trajectory.mp4", fps),
            write_gif(video, out / f"{stem}_trajectory.gif", fps),
            save_image(draw_path(shown, path_px), out / f"{stem}_path.png")]


def _uint8(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``H x W x 3`` uint8."""
    from crossview.io import tensor_to_uint8

    return tensor_to_uint8(image)


def polar_baseline(spec: InputSpec, source: str = "aerial") -> Callable[[Tensor], Tensor]:
    """The geometric baseline of a synthesis direction, as a predictor of the other view.

    Aerial -> ground: the polar-transformed tile (CDE Table 4, "I_ps vs I_g"). Ground -> aerial:
    the panorama's lower half mapped back over the tile (the inverse polar transform).
    """
    from crossview.geometry.polar import polar_to_overhead, polar_transform

    def to_ground(aerial: Tensor) -> Tensor:
        return polar_transform(aerial, spec.ground_hw[0], spec.ground_hw[1])

    def to_aerial(ground: Tensor) -> Tensor:
        below = ground[..., ground.shape[-2] // 2:, :]  # rows under the horizon see the ground
        return polar_to_overhead(below, spec.aerial_size)

    return to_ground if source == "aerial" else to_aerial


def synthesis_scores(
    method: Method,
    table: Any,
    splits: Iterable[str] | None = None,
    batch_size: int = 8,
    convention: str = "sat2density",
    lpips_model: Any | None = None,
    device: str | torch.device | None = None,
    limit: int | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Per-split mean synthesis metrics of ``method.synthesize`` and of the geometric baseline.

    The method's ``synthesis_source`` view is the input and the other view the target; the
    baseline is :func:`polar_baseline` of that direction (reported as ``polar_baseline``).

    The evaluation step of ``crossview eval --synthesis`` and of the trainer. Pairs are read as in
    training without augmentation (:class:`~crossview.data.datasets.PairDataset`); a missing or
    corrupt file raises :class:`~crossview.errors.InputFileError`. The polar-transformed tile (CDE
    Table 4, first row) is scored on the same pairs. The metrics are
    :class:`~crossview.evaluation.synthesis.SynthesisMeter`'s.

    Args:
        method: A method with ``can_synthesize``.
        table: The pairs (a :class:`~crossview.data.table.PairTable`).
        splits: Splits to evaluate; default every split present.
        batch_size: Images per forward pass.
        convention: ``"sat2density"`` (default) or ``"xfork"`` (SPECS.md §7).
        lpips_model: An LPIPS model (:func:`crossview.evaluation.synthesis.load_lpips`) or None.
        device: Where to run (default :func:`crossview.device.get_device`).
        limit: Evaluate at most this many pairs per split (the first ones, in table order).

    Returns:
        ``{split: {"generator": m, "polar_baseline": m}}`` with
        ``m = {"psnr", "ssim", "sd", "rmse", ["lpips"], "count"}``.

    """
    from torch.utils.data import DataLoader, Subset

    from crossview.data.datasets import PairDataset
    from crossview.evaluation.synthesis import SynthesisMeter

    if not method.can_synthesize:
        raise ConfigError(f"method {method.name!r} does not synthesize views")
    if batch_size < 1:
        raise ConfigError(f"batch_size: expected >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit: expected >= 1 pairs per split, got {limit}")
    available = list(table.splits())
    chosen = list(splits) if splits is not None else available
    if not chosen:
        raise ConfigError(f"no split to evaluate (splits: {available})")
    for split in chosen:
        if split not in available:
            raise ConfigError(f"split {split!r} not in the data (splits: {available})")
    dev = get_device(device)
    _to_device(method, dev)
    if lpips_model is not None:
        lpips_model.to(dev)
    source = method.synthesis_source
    target_view = "ground" if source == "aerial" else "aerial"
    baseline = polar_baseline(method.input_spec, source)
    results = {}
    with eval_mode(method), torch.inference_mode():
        for split in chosen:
            meter = SynthesisMeter(convention, lpips_model)  # type: ignore[arg-type]
            data: Any = PairDataset(table.select(split), method.input_spec, None)
            if limit is not None and limit < len(data):
                data = Subset(data, range(limit))
            loader = DataLoader(data, batch_size=batch_size, shuffle=False)
            for batch in track(loader, f"synthesis eval ({split})",
                               total=math.ceil(len(data) / batch_size)):
                inputs = batch[source].to(dev)
                target = batch[target_view].to(dev)
                with inference_autocast(dev):
                    generated = method.synthesize(inputs)
                meter.update("generator", generated, target)
                meter.update("polar_baseline", baseline(inputs), target)
            results[split] = meter.means()
    return results


def geometry_scores(
    method: Method,
    table: Any,
    splits: Iterable[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    limit: int | None = None,
    max_depth_m: float = 50.0,
    threshold: float = 0.5,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Depth error and sky IoU of a method's rendered panoramas, and of a flat-ground baseline.

    For methods that render depth and opacity (``render_geometry(aerial, flat_ground)``, e.g.
    ``sat2density``) on pairs with true depth and sky maps (the synthetic world's
    ``crossview_gt``); metrics of :class:`crossview.evaluation.geometry.GeometryMeter`.

    Returns:
        ``{split: {"generator": m, "flat_ground": m}}``.

    """
    import dataclasses

    from torch.utils.data import DataLoader, Subset

    from crossview.data.datasets import PairDataset, available_extras
    from crossview.evaluation.geometry import GeometryMeter

    render = getattr(method, "render_geometry", None)
    if render is None:
        raise ConfigError(f"method {method.name!r} does not render depth and opacity")
    if limit is not None and limit < 1:
        raise ConfigError(f"limit: expected >= 1 pairs per split, got {limit}")
    spec = dataclasses.replace(method.input_spec, extras=("sky", "depth"))
    if available_extras(table, spec.extras) != ["sky", "depth"]:
        raise ConfigError(f"{table.layout} {table.root}: geometry scores need the true depth and "
                          "sky of every panorama (the synthetic world's crossview_gt)")
    available = list(table.splits())
    chosen = list(splits) if splits is not None else available
    dev = get_device(device)
    _to_device(method, dev)
    results = {}
    with eval_mode(method), torch.inference_mode():
        for split in chosen:
            if split not in available:
                raise ConfigError(f"split {split!r} not in the data (splits: {available})")
            meter = GeometryMeter(max_depth_m, threshold)
            data: Any = PairDataset(table.select(split), spec, None)
            if limit is not None and limit < len(data):
                data = Subset(data, range(limit))
            loader = DataLoader(data, batch_size=batch_size, shuffle=False)
            for batch in track(loader, f"geometry eval ({split})",
                               total=math.ceil(len(data) / batch_size)):
                aerial = batch["aerial"].to(dev)
                for name, flat in (("generator", False), ("flat_ground", True)):
                    depth, opacity = render(aerial, flat_ground=flat)
                    meter.update(name, depth.float(), opacity.float(), batch["depth"],
                                 batch["sky"])
            results[split] = meter.results()
    return results


def retrieval_metrics(
    method: Method,
    table: Any,
    protocol: str | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    fov_deg: float | None = None,
    datasets: tuple[Dataset, Dataset] | None = None,
    variants: bool = True,
    conventions: dict[str, dict[str, Any]] | None = None,
    num_workers: int = 0,
) -> dict[str, Any]:
    """Embed ``table`` with ``method`` and score it under its protocol (the one evaluator step).

    Args:
        method: A method that retrieves.
        table: The evaluated pairs (one split).
        protocol: Evaluation protocol (default: the layout's).
        batch_size: Images per forward pass.
        device: Where to run.
        fov_deg: Limited query FOV (DSM protocol): random unknown shifts, padded to full width.
        datasets: ``(ground, aerial)`` datasets to read instead of ``table`` (e.g. the trainer's
            cached ones); rows must align with ``table``.
        variants: Also score each of ``method.retrieval_variants()`` (e.g. the stages of a staged
            method) under ``result["variants"][name]``.
        conventions: Protocol options by protocol name (a run's ``train.eval_conventions``:
            the R@1% rule, CVACT_test scoring ...); those of the protocol used apply.
        num_workers: DataLoader workers reading the images (the trainer's on CUDA).

    Returns:
        ``R@1``/``R@5``/``R@10``/``R@1%`` (query -> gallery, percent), ``protocol``, the
        protocol's full result under ``details``, the options used under ``convention``, and
        ``variants`` when the method has any. Tables whose queries are aerial images
        (University-1652 ``sat2drone``: ``table.extras["query_view"] == "satellite"``) are
        encoded with the aerial encoder for the queries and the ground one for the gallery.

    """
    from crossview.evaluation import default_protocol, evaluate_protocol
    from crossview.evaluation.results import headline

    if not method.can_retrieve:
        raise ConfigError(f"method {method.name!r} has no retrieval branch to evaluate")
    if datasets is not None and fov_deg is not None:
        raise ConfigError("fov_deg applies to a table; build GroundDataset(fov_deg=...) instead")
    ground, aerial = datasets or (table, table)
    name = protocol or default_protocol(table)
    options = dict((conventions or {}).get(name, {}))
    aerial_queries = _aerial_queries(table)  # (cached ``datasets`` are then not used)

    def score() -> dict[str, Any]:
        if aerial_queries:  # queries are tiles: aerial encoder; the gallery: the ground one
            q, r = _swapped_views(method, table, batch_size, device, num_workers)
        else:
            q = embed_ground(method, ground, batch_size, device, fov_deg=fov_deg,
                             num_workers=num_workers)
            r = embed_aerial(method, aerial, batch_size, device, num_workers=num_workers)
        result = plain(evaluate_protocol(q, r, table, protocol=name, **options))
        return {**headline(result), "protocol": result.get("protocol"), "convention": options,
                "details": result}

    out = score()
    variant_names = method.retrieval_variants() if variants else []
    if variant_names:
        out["variants"] = {}
        for variant in variant_names:
            with method.variant(variant):
                out["variants"][variant] = score()
    return out


def _aerial_queries(table: Any) -> bool:
    """Whether ``table``'s queries are aerial images (``extras["query_view"]``)."""
    extras = getattr(table, "extras", None) or {}
    return extras.get("query_view") in ("satellite", "aerial")


def _swapped_views(method: Method, table: Any, batch_size: int,
                   device: str | torch.device | None, num_workers: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of a table whose queries (``pairs``) are tiles and references ground views.

    Queries are read as tiles and encoded with ``encode_aerial``; references are read as ground
    images and encoded with ``encode_ground`` (University-1652 ``sat2drone``).
    """
    from crossview.data.datasets import QueryTileDataset, ReferenceGroundDataset

    dev = get_device(device)
    _to_device(method, dev)
    q = _embed(method, QueryTileDataset(table, method.input_spec), "aerial", batch_size, dev,
               num_workers)
    r = _embed(method, ReferenceGroundDataset(table, method.input_spec), "ground", batch_size,
               dev, num_workers)
    return q, r
