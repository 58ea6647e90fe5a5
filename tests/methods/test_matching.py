"""DSM matching: the FFT correlation against a brute-force loop, headings, peaks, the SAFA mode."""

import math

import pytest
import torch

from crossview.losses.ranking import soft_margin_from_distances, weighted_soft_margin_loss
from crossview.methods.matching import (
    GroundMap,
    feature_validity,
    flatten_normalized,
    match_maps,
    polar_correlation,
    refine_peak,
    scores_at_heading,
    shift_to_heading,
)
from crossview.methods.registry import create_method


def brute_force(g, v, a):
    """Cosine of the masked query with the aerial crop it overlaps, every shift, by loops."""
    q, c, h, w = g.shape
    out = torch.zeros(q, a.shape[0], w, dtype=torch.float64)
    for i in range(q):
        gq = (g[i] * v[i]).double()
        for n in range(a.shape[0]):
            for s in range(w):
                shifted = torch.roll(a[n].double(), -s, dims=-1)  # shifted[j] = a[(j + s) % w]
                crop = shifted * v[i].double()
                out[i, n, s] = (gq * shifted).sum() / (gq.norm() * crop.norm())
    return out


def test_correlation_matches_brute_force_with_masks():
    gen = torch.Generator().manual_seed(1)
    g = torch.randn(3, 4, 2, 12, generator=gen)
    a = torch.randn(5, 4, 2, 12, generator=gen)
    v = torch.ones(3, 1, 2, 12)
    v[1, ..., 3:9] = 0  # a 180-degree view
    v[2, :, 0, :] = 0  # a photo that misses the top row
    v[2, ..., 10:] = 0
    got = polar_correlation(GroundMap(g * v, v), a)
    assert got.shape == (3, 5, 12)
    assert torch.allclose(got.double(), brute_force(g, v, a), atol=1e-5)


def test_heading_of_a_rolled_map_and_scale_invariance():
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(6, 8, 3, 20, generator=gen)
    # The camera looks at bearing 90 deg: its map is the aerial map rolled left by W/4 columns.
    g = torch.roll(a[4:5], -5, dims=-1)
    valid = torch.ones(1, 1, 3, 20)
    scores, heading = match_maps(GroundMap(g, valid), a * 3.0)
    assert int(scores[0].argmax()) == 4
    assert scores[0, 4].item() == pytest.approx(1.0, abs=1e-5)
    assert heading[0, 4].item() == pytest.approx(90.0, abs=1e-3)
    # At shift 0, a 360-degree query's score is the dot product of the flattened maps.
    corr = polar_correlation(GroundMap(g, valid), a)
    dots = flatten_normalized(g) @ flatten_normalized(a).T
    assert torch.allclose(corr[..., 0], dots, atol=1e-5)
    assert torch.allclose(scores_at_heading(GroundMap(g, valid), a, 90.0), corr[..., 5], atol=1e-6)


def test_refine_peak_recovers_a_parabola_vertex():
    w = 16
    j = torch.arange(w, dtype=torch.float64)
    for vertex in (3.3, 7.0, 15.8):
        d = torch.remainder(j - vertex + w / 2, w) - w / 2  # circular distance
        best, pos = refine_peak(-(d**2)[None])
        assert pos.item() == pytest.approx(vertex % w, abs=1e-6)
    assert shift_to_heading(4.0, 16) == pytest.approx(90.0)


def test_feature_validity_majority_of_cell():
    unseen = torch.zeros(1, 1, 8, 16, dtype=torch.bool)
    unseen[..., :, :6] = True  # columns 0-5 unseen: cells of 4 px -> cell 0 all, cell 1 half
    valid = feature_validity(unseen, (2, 4))
    assert valid[0, 0, 0].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_soft_margin_from_distances_equals_descriptor_loss():
    gen = torch.Generator().manual_seed(3)
    sat = torch.nn.functional.normalize(torch.randn(6, 10, generator=gen), dim=1)
    grd = torch.nn.functional.normalize(torch.randn(6, 10, generator=gen), dim=1)
    dist = 2.0 - 2.0 * sat @ grd.T
    for ratio in (1.0, 0.3):
        assert soft_margin_from_distances(dist, hard_ratio=ratio).item() == pytest.approx(
            weighted_soft_margin_loss(sat, grd, hard_ratio=ratio).item(), rel=1e-6)


def test_safa_dsm_mode_contract():
    method = create_method("safa", "tiny_photo").eval()
    assert method.can_match and not create_method("safa", "tiny").can_match
    c, h, w = method.match_shape
    assert method.descriptor_dim == c * h * w
    ground = torch.rand(2, 3, 32, 128)
    ground[1, :, :, :96] = torch.tensor(method.input_spec.pad_rgb).view(3, 1, 1)  # 90 deg seen
    with torch.no_grad():
        gmap = method.ground_features(ground)
        assert gmap.valid[0].all() and gmap.valid[1, 0, :, : 96 // 8].sum() == 0
        assert gmap.valid[1, 0, :, 96 // 8:].all()
        # encode_* are the flattened maps: their dot product is the correlation at heading 0.
        corr = polar_correlation(gmap, method.aerial_features(torch.rand(3, 3, 64, 64)))
    assert corr.shape == (2, 3, w)
    batch = {"ground": torch.rand(4, 3, 32, 128), "aerial": torch.rand(4, 3, 64, 64)}
    method.train()
    loss = method.training_step(batch, 0)["total"]
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in method.parameters())


def test_cde_dsm_phases_train_their_own_networks():
    method = create_method("cde", "tiny", matching="dsm")
    assert method.can_match and method.safa_street is None
    batch = {"ground": torch.rand(3, 3, 32, 176), "aerial": torch.rand(3, 3, 64, 64)}
    for phase, trained, frozen in (("G", method.generator, method.street_encoder),
                                   ("R", method.street_encoder, method.generator)):
        method.zero_grad(set_to_none=True)
        method.training_step(batch, 0, phase)["total"].backward()
        assert all(p.grad is not None for p in trained.parameters())
        assert all(p.grad is None for p in frozen.parameters())
