"""The Starlette application of ``crossview serve`` (routes in the module docstring of each).

- ``GET /``: the single-page UI (``static/``; no CDN, no online map service).
- ``GET /health``: ``{"status": "ok", ...}`` once the model and index are loaded.
- ``GET /index``: method, checkpoint, tile count, extent (WGS84 box of the tile centres).
- ``POST /locate``: multipart ``image`` (+ optional heading, fov, vfov, near, radius, top); the
  JSON of ``crossview locate --json`` (a list with one query).
- ``GET /tiles?lat=&lon=&radius=``: the index's tiles around a point (the map's background).
- ``GET /tile/{id}``: a tile's image as a PNG thumbnail (only tiles of the index are served).

Refusals are JSON ``{"error": "<one line>"}`` with a 4xx status (503 when the per-request time
limit runs out); a bad upload never gets a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crossview.errors import CrossviewError
from crossview.index.geoindex import bbox_where, sql_string
from crossview.index.locate import Localizer, results_to_json
from crossview.serve.batching import MicroBatcher
from crossview.serve.config import ServeConfig
from crossview.serve.uploads import UploadError, decode_upload, parse_query

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_MAP_TILES = 400
"""Most tiles ``GET /tiles`` returns (the nearest first)."""


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason.splitlines()[0] if reason else "error"}, status)


class _Service:
    """The loaded localizer, its batcher and cached index facts, shared by the routes."""

    def __init__(self, localizer: Localizer, config: ServeConfig) -> None:
        self.localizer = localizer
        self.config = config
        self.batcher = MicroBatcher(self._run, config.max_batch, config.batch_wait_ms)
        self.info = self._index_info()

    def _run(self, queries: Sequence[Any]) -> list[Any]:
        return self.localizer.locate_batch(queries, num_headings=self.config.num_headings,
                                           exact=self.config.exact)

    def _index_info(self) -> dict[str, Any]:
        index = self.localizer.index
        table = index.locations(columns=["lat", "lon"])  # one scan, no strings or vectors
        lat = table["lat"].to_numpy()
        lon = table["lon"].to_numpy()
        return {
            "uri": index.uri,
            "method": index.info.method,
            "checkpoint_sha256": index.info.checkpoint_sha256,
            "checkpoint_path": index.info.checkpoint_path,
            "dim": index.info.dim,
            "tiles": int(len(table)),
            "ann": bool(index.has_ann),
            "extent": {"lat_min": float(lat.min()), "lat_max": float(lat.max()),
                       "lon_min": float(lon.min()), "lon_max": float(lon.max())},
        }

    @functools.lru_cache(maxsize=4096)  # noqa: B019  (one service per app, lives as long)
    def tile_path(self, tile_id: str) -> str | None:
        rows = self.localizer.index.locations(f"tile_id = {sql_string(tile_id)}", limit=1)
        return str(rows["path"][0]) if len(rows) else None

    @functools.lru_cache(maxsize=65536)  # noqa: B019
    def tile_side_px(self, path: str) -> int:
        from crossview.io import image_header

        try:
            return image_header(path)[1]
        except CrossviewError:
            return 0

    @functools.lru_cache(maxsize=1024)  # noqa: B019
    def thumbnail(self, path: str) -> bytes:
        from crossview.io import read_image

        img = read_image(path)
        img.thumbnail((256, 256))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return buf.getvalue()


def create_app(localizer: Localizer, config: ServeConfig | None = None) -> Starlette:
    """The ASGI application serving ``localizer`` (routes: module docstring)."""
    config = config or ServeConfig()
    service = _Service(localizer, config)

    async def home(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "method": service.info["method"],
                             "tiles": service.info["tiles"]})

    async def index_info(request: Request) -> Response:
        return JSONResponse(service.info)

    async def locate(request: Request) -> Response:
        started = time.perf_counter()
        try:
            doc = await asyncio.wait_for(_locate(request), config.timeout_s)
        except asyncio.TimeoutError:
            return _error(503, f"timed out after {config.timeout_s:g} s; try again later")
        except UploadError as err:
            return _error(err.status, str(err))
        except CrossviewError as err:
            return _error(400, str(err))
        logger.info("locate %s in %.0f ms", doc[0]["query"], 1000 * (time.perf_counter() - started))
        return JSONResponse(doc)

    async def _locate(request: Request) -> list[dict[str, Any]]:
        body = await _read_body(request, config.max_upload_bytes)
        form_request = Request(request.scope, receive=_replay(body))
        try:
            async with form_request.form(max_files=1, max_fields=16) as form:
                upload = form.get("image")
                if not isinstance(upload, UploadFile):
                    raise UploadError(400, "no file in field 'image' (multipart/form-data)")
                data = await upload.read()
                name = Path(upload.filename or "upload").name
                fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
        except HTTPException as err:  # malformed multipart, too many parts
            raise UploadError(400, f"bad form data: {err.detail}") from None
        image = await asyncio.to_thread(decode_upload, data, name, config.max_pixels)
        query = parse_query(image, name, fields, config.max_top)
        result = await service.batcher.submit(query)
        return results_to_json([result])

    async def tiles(request: Request) -> Response:
        try:
            lat = float(request.query_params["lat"])
            lon = float(request.query_params["lon"])
            radius = float(request.query_params.get("radius", "500"))
        except (KeyError, ValueError):
            return _error(400, "expected query parameters lat, lon (degrees) and radius (m)")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and 0 < radius <= 50_000):
            return _error(400, "lat/lon out of range or radius not in (0, 50000] m")
        rows = await asyncio.to_thread(_tiles_near, service, lat, lon, radius)
        return JSONResponse(rows)

    async def tile(request: Request) -> Response:
        tile_id = request.path_params["tile_id"]
        path = await asyncio.to_thread(service.tile_path, tile_id)
        if path is None:
            return _error(404, f"no tile {tile_id!r} in the index")
        try:
            png = await asyncio.to_thread(service.thumbnail, path)
        except CrossviewError as err:
            return _error(404, str(err))
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.batcher.start()
        try:
            yield
        finally:
            await service.batcher.stop()

    routes = [
        Route("/", home),
        Route("/health", health),
        Route("/index", index_info),
        Route("/locate", locate, methods=["POST"]),
        Route("/tiles", tiles),
        Route("/tile/{tile_id:path}", tile),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error})
    app.state.service = service
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail))


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(413, f"upload of {int(declared):,} bytes is above the limit of "
                               f"{limit:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise UploadError(413, f"upload is above the limit of {limit:,} bytes")
    return bytes(body)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _tiles_near(service: _Service, lat: float, lon: float, radius_m: float) -> list[dict[str, Any]]:
    import math

    table = service.localizer.index.locations(bbox_where((lat, lon), radius_m),
                                              limit=20 * MAX_MAP_TILES)
    rows = table.to_pylist()
    rows.sort(key=lambda r: (r["lat"] - lat) ** 2 + ((r["lon"] - lon) * math.cos(
        math.radians(lat))) ** 2)
    out = []
    for r in rows[:MAX_MAP_TILES]:
        side = service.tile_side_px(r["path"])
        res = r["ground_resolution_m"]
        footprint = side * res if side and res is not None and math.isfinite(res) else None
        out.append({"tile": r["tile_id"], "lat": r["lat"], "lon": r["lon"],
                    "footprint_m": footprint})
    return out
