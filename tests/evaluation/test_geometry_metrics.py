"""Depth error and sky IoU of rendered panoramas: known answers, pooling, bad shapes."""

from __future__ import annotations

import pytest
import torch

from crossview.errors import ConfigError
from crossview.evaluation.geometry import GeometryMeter, geometry_metrics


def _maps():
    truth = torch.tensor([[10.0, 20.0, 0.0, 60.0]]).view(1, 1, 1, 4)
    sky = torch.tensor([[0.0, 0.0, 1.0, 0.0]]).view(1, 1, 1, 4)
    return truth, sky


def test_known_answers():
    truth, sky = _maps()
    pred = torch.tensor([11.0, 15.0, 0.0, 5.0]).view(1, 1, 1, 4)  # rel errors 0.1, 0.25; 60 m out
    opacity = torch.tensor([0.9, 0.2, 0.1, 0.7]).view(1, 1, 1, 4)
    m = geometry_metrics(pred, opacity, truth, sky)
    assert m["abs_rel_median"] == pytest.approx(0.175) and m["depth_pixels"] == 2
    # Predicted ground {0, 3}; true ground {0, 1, 3}: IoU 2/3. Sky: predicted {1, 2}, true {2}.
    assert m["ground_iou"] == pytest.approx(2 / 3) and m["sky_iou"] == pytest.approx(1 / 2)
    assert m["miou"] == pytest.approx(7 / 12)
    perfect = geometry_metrics(truth, 1 - sky, truth, sky)
    assert perfect["abs_rel_median"] == 0 and perfect["miou"] == 1


def test_pooled_over_batches_and_names():
    truth, sky = _maps()
    meter = GeometryMeter()
    meter.update("a", truth * 1.5, 1 - sky, truth, sky)  # rel 0.5 on two pixels
    meter.update("a", truth, 1 - sky, truth, sky)  # rel 0 on two pixels
    meter.update("b", truth, torch.zeros_like(sky), truth, sky)
    res = meter.results()
    assert res["a"]["abs_rel_median"] == pytest.approx(0.25) and res["a"]["count"] == 2
    assert res["b"]["ground_iou"] == 0 and res["b"]["sky_iou"] == pytest.approx(1 / 4)
    assert geometry_metrics(truth, 1 - sky, truth, sky, max_depth_m=100)["depth_pixels"] == 3


def test_bad_shapes_and_options():
    truth, sky = _maps()
    with pytest.raises(ConfigError, match="opacity: expected shape"):
        geometry_metrics(truth, sky[..., :2], truth, sky)
    with pytest.raises(ConfigError, match="threshold"):
        GeometryMeter(threshold=1.5)
