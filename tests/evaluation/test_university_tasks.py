"""University-1652 tasks are evaluated as defined: drone2sat queries drones against satellites,
sat2drone encodes the satellite queries with the aerial encoder and the drone gallery with the
ground one, and only the query -> gallery direction is scored (SPECS §10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.data.fixtures import make_university_fixture

from crossview.data.inputs import aerial_pixels, ground_pixels, pixels_to_batch
from crossview.data.layouts import DataSpec
from crossview.inference import retrieval_metrics
from crossview.methods import create_method


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_university_fixture(tmp_path_factory.mktemp("u1652"), n_classes=3,
                                   n_distractors=2, drone_per_class=3, hw=(24, 24))


def _recording_method():
    torch.manual_seed(0)
    # Different ground and aerial sizes: which input path an image took shows in its shape.
    method = create_method("sample4geo", "tiny", ground_hw=[32, 64], aerial_size=32).eval()
    calls: list[tuple[str, tuple[int, ...]]] = []
    for view in ("ground", "aerial"):
        encode = getattr(method, f"encode_{view}")

        def record(x, _encode=encode, _view=view):
            calls.append((_view, tuple(x.shape[1:])))
            return _encode(x)

        setattr(method, f"encode_{view}", record)
    return method, calls


def _r1_by_class(q: np.ndarray, r: np.ndarray, q_cls: list[int], r_cls: list[int]) -> float:
    best = (q @ r.T).argmax(axis=1)
    return 100.0 * float(np.mean([r_cls[b] == c for b, c in zip(best, q_cls, strict=True)]))


def test_sat2drone_uses_the_aerial_encoder_for_satellite_queries(root: Path) -> None:
    table = DataSpec.parse(f"university1652:{root}", ["task=sat2drone"]).load().select("test")
    method, calls = _recording_method()
    result = retrieval_metrics(method, table, batch_size=64, device="cpu")
    assert {v for v, shape in calls if shape == (3, 32, 32)} == {"aerial"}  # the 3 satellites
    assert {v for v, shape in calls if shape == (3, 32, 64)} == {"ground"}  # the drones
    details = result["details"]["query_to_gallery"]
    assert details["direction"] == "satellite_to_drone"
    assert (details["num_queries"], details["num_references"]) == (3, 15)  # 5 buildings x 3
    assert set(result["details"]) >= {"query_to_gallery", "task"}
    assert "aerial_to_ground" not in result["details"]
    with torch.no_grad():
        q = method.encode_aerial(pixels_to_batch([aerial_pixels(p.ground, method.input_spec)
                                                  for p in table.pairs])).numpy()
        r = method.encode_ground(pixels_to_batch([ground_pixels(x.path, method.input_spec,
                                                                band_crop=False)
                                                  for x in table.references])).numpy()
    expected = _r1_by_class(q, r, [p.class_id for p in table.pairs],
                            [x.class_id for x in table.references])
    assert result["R@1"] == pytest.approx(expected)
    assert "AP" in result


def test_drone2sat_scores_drone_queries_only(root: Path) -> None:
    table = DataSpec.parse(f"university1652:{root}", ["task=drone2sat"]).load().select("test")
    method, calls = _recording_method()
    result = retrieval_metrics(method, table, batch_size=64, device="cpu")
    details = result["details"]["query_to_gallery"]
    assert details["direction"] == "drone_to_satellite"
    # 9 drone queries against 5 satellite images (2 distractors); no reversed direction in which
    # the distractors would be queries without a match.
    assert (details["num_queries"], details["num_references"]) == (9, 5)
    assert details["num_queries_without_match"] == 0
    assert {v for v, shape in calls if shape == (3, 32, 64)} == {"ground"}
