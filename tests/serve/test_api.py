"""``crossview serve`` through the ASGI test client: answers, limits, refusals, batching."""

from __future__ import annotations

import asyncio
import io
import re
import struct
import time
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from crossview.index.locate import results_to_json
from crossview.serve import ServeConfig, create_app


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(side: int) -> bytes:
    """A valid PNG header claiming ``side x side`` greyscale pixels, with (almost) no data."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0"))
            + _chunk(b"IEND", b""))


@pytest.fixture
def client(localizer):
    with TestClient(create_app(localizer, ServeConfig(max_upload_bytes=200_000,
                                                      max_pixels=1_000_000))) as c:
        yield c


def test_health_index_and_page(client, localizer):
    assert client.get("/health").json() == {"status": "ok", "method": "pool", "tiles": 40}
    info = client.get("/index").json()
    assert info["method"] == "pool" and info["tiles"] == 40
    assert info["checkpoint_sha256"] == "c" * 64
    # The fixture's tiles sit at 40 + 0.001 i, -105 + 0.001 i for i < 40.
    assert info["extent"] == pytest.approx({"lat_min": 40.0, "lat_max": 40.039,
                                            "lon_min": -105.0, "lon_max": -104.961})
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "/static/app.js" in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200
    # Nothing is loaded from another host (no CDN, no map service): only same-origin URLs.
    for text in (page.text, script.text, client.get("/static/style.css").text):
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
        assert not re.search(r"""(fetch|url)\(\s*["'`](https?:)?//""", text)


def test_locate_returns_the_cli_json(client, localizer, pano_paths):
    for heading in ("0", "unknown"):
        path = pano_paths[5]
        r = client.post("/locate", files={"image": (path.name, path.read_bytes(), "image/png")},
                        data={"heading": heading, "top": "3"})
        assert r.status_code == 200, r.text
        expected = results_to_json(localizer.locate([path], top_k=3, heading=heading))
        expected[0]["query"] = path.name
        got = r.json()
        assert [c["tile"] for c in got[0]["candidates"]] == [
            c["tile"] for c in expected[0]["candidates"]]
        assert got[0]["candidates"][0]["tile"] == "p05"
        for g, e in zip(got[0]["candidates"], expected[0]["candidates"], strict=True):
            assert g["score"] == pytest.approx(e["score"], abs=1e-5)
            assert g == {**e, "score": g["score"]}
        assert {k: v for k, v in got[0].items() if k != "candidates"} == {
            k: v for k, v in expected[0].items() if k != "candidates"}


def test_locate_prior_and_fields(client, pano_paths):
    path = pano_paths[20]
    r = client.post("/locate", files={"image": (path.name, path.read_bytes())},
                    data={"near": "40.0,-105.0", "radius": "500", "top": "40"})
    assert r.status_code == 200, r.text
    cands = r.json()[0]["candidates"]
    # Tiles are 0.001 deg apart along the diagonal (~140 m): 4 of them lie within 500 m.
    assert sorted(c["tile"] for c in cands) == ["p00", "p01", "p02", "p03"]
    assert all(c["distance_m"] <= 500 for c in cands)


BAD_FIELDS = [
    ({"heading": "north"}, "field 'heading'"),
    ({"top": "0"}, "field 'top'"),
    ({"top": "2.5"}, "field 'top'"),
    ({"fov": "400"}, "field 'fov'"),
    ({"fov": "nan"}, "field 'fov'"),
    ({"near": "40,-105"}, "go together"),
    ({"near": "95,0", "radius": "10"}, "field 'near'"),
    ({"near": "40;-105", "radius": "10"}, "field 'near'"),
    ({"radius": "-1", "near": "40,-105"}, "field 'radius'"),
    ({"colour": "red"}, "unknown field 'colour'"),
]


@pytest.mark.parametrize(("fields", "reason"), BAD_FIELDS, ids=[r for _, r in BAD_FIELDS])
def test_bad_fields_get_400_with_a_reason(client, pano_paths, fields, reason):
    r = client.post("/locate", files={"image": ("q.png", pano_paths[0].read_bytes())},
                    data=fields)
    assert r.status_code == 400 and reason in r.json()["error"], r.text


def _bad_uploads(pano: bytes) -> list[tuple[str, bytes, int, str]]:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 16)).save(jpeg, format="JPEG")
    return [
        ("empty", b"", 400, "empty file"),
        ("text", b"hello, this is not an image", 415, "not a JPEG, PNG or WebP"),
        ("gif", gif.getvalue(), 415, "not a JPEG, PNG or WebP"),
        ("truncated png", pano[: len(pano) // 2], 400, "cannot decode"),
        ("png magic, garbage", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 400, "cannot decode"),
        ("truncated jpeg", jpeg.getvalue()[:200], 400, "cannot decode"),
        ("bomb header", _bomb_png(30_000), 413, "limit"),
        ("bomb under PIL limit", _bomb_png(5_000), 413, "above the limit of 1,000,000"),
        ("too big to upload", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000, 413, "above the limit"),
    ]


def test_bad_uploads_get_a_4xx_and_one_line(client, pano_paths):
    for name, data, status, reason in _bad_uploads(pano_paths[0].read_bytes()):
        r = client.post("/locate", files={"image": (f"{name}.png", data, "image/png")})
        assert r.status_code == status, (name, r.status_code, r.text)
        error = r.json()["error"]
        assert reason in error and "\n" not in error, (name, error)


def test_request_shape_errors(client):
    assert client.post("/locate", data={"top": "3"}).status_code == 400
    r = client.post("/locate", content=b"not multipart",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "image" in r.json()["error"]
    assert client.get("/locate").status_code == 405
    assert client.get("/tile/not-a-tile").status_code == 404
    assert client.get("/tiles?lat=x&lon=1").status_code == 400


def test_random_bytes_never_500(client):
    rng = np.random.default_rng(0)
    prefixes = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBP"]
    for i in range(40):
        body = prefixes[i % 4] + rng.integers(0, 256, int(rng.integers(0, 3000)),
                                              dtype=np.uint8).tobytes()
        r = client.post("/locate", files={"image": ("x.bin", body)})
        assert 400 <= r.status_code < 500, (i, r.status_code, r.text)


def test_channel_and_depth_variants_are_accepted(client, pano_paths):
    rgb = np.asarray(Image.open(pano_paths[3]).convert("RGB"))
    variants = {
        "grey": Image.fromarray(rgb).convert("L"),
        "palette": Image.fromarray(rgb).convert("P"),
        "rgba": Image.fromarray(rgb).convert("RGBA"),
        "grey16": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    for name, img in variants.items():
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        r = client.post("/locate", files={"image": (f"{name}.png", buf.getvalue())})
        assert r.status_code == 200, (name, r.text)
    # 16-bit grey decodes like its 8-bit version (scaled, not clipped to white).
    g16 = client.post("/locate", files={"image": ("a.png", _png_img(variants["grey16"]))}).json()
    grey8 = Image.fromarray(rgb[..., 0])
    g8 = client.post("/locate", files={"image": ("a.png", _png_img(grey8))}).json()
    assert g16 == g8


def _png_img(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_tiles_and_thumbnails(client, pano_paths):
    rows = client.get("/tiles?lat=40.0&lon=-105.0&radius=300").json()
    assert [r["tile"] for r in rows] == ["p00", "p01", "p02"]
    # Footprint = image width (from its header) x ground resolution: 64 px x 1 m.
    assert rows[0]["footprint_m"] == pytest.approx(64.0)
    png = client.get("/tile/p07")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == Image.open(pano_paths[7]).size


def test_timeout_gets_503(localizer, pano_paths):
    slow = localizer.locate_batch

    def locate_batch(queries, **kw):
        time.sleep(1.0)
        return slow(queries, **kw)

    localizer.locate_batch = locate_batch
    with TestClient(create_app(localizer, ServeConfig(timeout_s=0.2))) as c:
        r = c.post("/locate", files={"image": ("q.png", pano_paths[0].read_bytes())})
    assert r.status_code == 503 and "timed out" in r.json()["error"]


def test_concurrent_requests_share_forward_passes(localizer, pano_paths):
    calls = []
    real = localizer.locate_batch

    def locate_batch(queries, **kw):
        calls.append(len(queries))
        time.sleep(0.3)  # a slow model: the other requests queue meanwhile
        return real(queries, **kw)

    localizer.locate_batch = locate_batch
    app = create_app(localizer, ServeConfig(max_batch=8, batch_wait_ms=20))

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            posts = [c.post("/locate", files={"image": (p.name, p.read_bytes())},
                            data={"heading": "0", "top": "1"}) for p in pano_paths[:6]]
            return await asyncio.gather(*posts)

    responses = asyncio.run(run())
    assert [r.json()[0]["candidates"][0]["tile"] for r in responses] == [
        f"p{i:02d}" for i in range(6)]
    assert sum(calls) == 6 and max(calls) > 1 and len(calls) < 6, calls
