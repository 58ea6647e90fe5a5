"""The GeoIndex on object storage: an S3-compatible server (moto) started by the test."""

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from crossview.errors import CrossviewError
from crossview.index.geoindex import GeoIndex

DIM = 8
BUCKET = "crossview-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3-compatible endpoint (moto in server mode) with an empty bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _options(endpoint):
    return {
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "aws_region": "us-east-1",
        "aws_endpoint": endpoint,
        "allow_http": "true",
    }


def _rows(n):
    return {
        "tile_id": [f"t{i:04d}" for i in range(n)],
        "path": [f"s3://{BUCKET}/tiles/t{i:04d}.png" for i in range(n)],
        "lat": list(40 + 1e-4 * np.arange(n)),
        "lon": [-105.0] * n,
        "utm_e": [0.0] * n,
        "utm_n": [0.0] * n,
        "utm_zone": ["13T"] * n,
        "ground_resolution_m": [0.5] * n,
    }


def test_build_search_and_reopen_on_s3(s3_endpoint, monkeypatch):
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((300, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    uri = f"s3://{BUCKET}/region/index"
    index = GeoIndex.create(uri, "safa", "e" * 64, DIM, storage_options=_options(s3_endpoint))
    index.add(_rows(300), vecs)
    index.create_ann(num_partitions=1)
    queries = vecs[:3] + 0.01
    expected = np.argsort(-(queries @ vecs.T), axis=1)[:, :5]
    # Reopened through the environment variables instead of explicit options.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT": s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(key, value)
    again = GeoIndex.open(uri)
    assert again.uri == uri and len(again) == 300 and again.info.method == "safa"
    assert again.ann_type == "IVF_SQ"
    for exact in (True, False):
        got = again.search(queries, k=5, exact=exact)
        assert [[c.tile_id for c in hits] for hits in got] == [
            [f"t{i:04d}" for i in row] for row in expected
        ]
    with pytest.raises(CrossviewError, match="no crossview index"):
        GeoIndex.open(f"s3://{BUCKET}/elsewhere")
