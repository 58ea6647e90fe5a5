"""Synthesis metrics against scikit-image and hand computations; LPIPS from local files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from crossview.data.table import Pair, PairTable, Reference
from crossview.errors import ConfigError, CrossviewError, InputFileError
from crossview.evaluation import synthesis as S
from crossview.geometry.polar import polar_transform
from crossview.inference import synthesis_scores
from crossview.io import image_to_tensor
from crossview.methods import create_method


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 24, 40, generator=g)
    smooth = torch.nn.functional.avg_pool2d(target, 3, 1, 1)
    pred = (smooth + 0.1 * torch.randn(3, 3, 24, 40, generator=g)).clamp(0, 1)
    return pred, target


def _np(x: torch.Tensor, i: int) -> np.ndarray:
    return x[i].permute(1, 2, 0).double().numpy()


def test_psnr_matches_skimage(pair):
    pred, target = pair
    ours = S.psnr(pred, target)
    for i in range(3):
        want = peak_signal_noise_ratio(_np(target, i), _np(pred, i), data_range=1.0)
        assert ours[i].item() == pytest.approx(want, rel=1e-9)
    # X-Fork: the same images in [-1, 1] with peak 1
    want = peak_signal_noise_ratio(_np(target, 0) * 2 - 1, _np(pred, 0) * 2 - 1, data_range=1.0)
    assert S.psnr(pred, target, "xfork")[0].item() == pytest.approx(want, rel=1e-9)


def test_ssim_matches_skimage(pair):
    pred, target = pair
    ours = S.ssim(pred, target)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    for i in range(3):
        want = structural_similarity(_np(target, i), _np(pred, i), channel_axis=2, **kw)
        assert ours[i].item() == pytest.approx(want, abs=1e-9)
    luma = np.array([0.299, 0.587, 0.114])
    want = structural_similarity(_np(target, 1) @ luma, _np(pred, 1) @ luma, **kw)
    assert S.ssim(pred, target, "xfork")[1].item() == pytest.approx(want, abs=1e-9)


def test_sharpness_difference_and_rmse_by_hand(pair):
    pred, target = pair
    p, t = _np(pred, 2), _np(target, 2)
    h, w, _ = p.shape
    total, n = 0.0, 0
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            for c in range(3):
                gt = abs(t[i + 1, j, c] - t[i, j, c]) + abs(t[i, j + 1, c] - t[i, j, c])
                gp = abs(p[i + 1, j, c] - p[i, j, c]) + abs(p[i, j + 1, c] - p[i, j, c])
                total, n = total + abs(gt - gp), n + 1
    assert n == (h - 2) * (w - 2) * 3
    assert S.sharpness_difference(pred, target)[2].item() == pytest.approx(
        10 * math.log10(n / total), rel=1e-9
    )
    want_rmse = math.sqrt(((255 * p - 255 * t) ** 2).mean())
    assert S.rmse(pred, target)[2].item() == pytest.approx(want_rmse, rel=1e-9)


def test_identical_images_and_bad_input(pair):
    _, target = pair
    assert (
        torch.isinf(S.psnr(target, target)).all()
        and torch.isinf(S.sharpness_difference(target, target)).all()
    )
    assert torch.allclose(S.ssim(target, target), torch.ones(3, dtype=torch.float64))
    assert (S.rmse(target, target) == 0).all()
    with pytest.raises(CrossviewError, match="equal shape"):
        S.psnr(target, target[:, :, :-1])
    bad = target.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(CrossviewError, match="NaN"):
        S.ssim(bad, target)
    with pytest.raises(CrossviewError, match="smaller"):
        S.ssim(target[..., :8], target[..., :8])
    with pytest.raises(ConfigError, match="convention"):
        S.psnr(target, target, "pix2pix")  # type: ignore[arg-type]


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_lpips_from_local_files(tmp_path, net):
    torch.manual_seed(0)
    # A torchvision-style state_dict: random features plus a classifier key (accepted, unused).
    backbone = {
        f"features.{k}": torch.randn_like(v) * 0.1
        for k, v in S.LPIPS(net).features.state_dict().items()
    }
    backbone["classifier.1.weight"] = torch.zeros(4, 4)
    channels = [64, 192, 384, 256, 256] if net == "alex" else [64, 128, 256, 384, 384, 512, 512]
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(channels)}
    torch.save(backbone, tmp_path / "backbone.pth")
    torch.save(linear, tmp_path / "lin.pth")
    model = S.load_lpips(net, tmp_path / "backbone.pth", tmp_path / "lin.pth")
    assert torch.equal(model.features[0].weight, backbone["features.0.weight"])
    a, b = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    d_ab, d_ba = S.lpips(a, b, model), S.lpips(b, a, model)
    assert torch.allclose(d_ab, d_ba) and (d_ab > 0).all()
    assert torch.allclose(S.lpips(a, a, model), torch.zeros(2, dtype=torch.float64))
    near = (a + 0.02 * torch.randn_like(a)).clamp(0, 1)
    assert (S.lpips(a, near, model) < d_ab).all()
    # first tap by hand: unit-normalised features, squared difference, linear weights, mean
    model.taps = model.taps[:1]
    fa, fb = (
        model.features[:2](((a * 2 - 1) - model.shift) / model.scale),
        model.features[:2](((b * 2 - 1) - model.shift) / model.scale),
    )
    fa, fb = (
        fa / (fa.norm(dim=1, keepdim=True) + 1e-10),
        fb / (fb.norm(dim=1, keepdim=True) + 1e-10),
    )
    want = ((fa - fb) ** 2 * linear["lin0.model.1.weight"]).sum(1).mean(dim=(1, 2))
    assert torch.allclose(S.lpips(a, b, model).float(), want, rtol=1e-4)


def test_lpips_weights_must_match(tmp_path):
    linear = {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate([64, 192, 384, 256])
    }
    torch.save(
        {f"features.{k}": v for k, v in S.LPIPS("alex").features.state_dict().items()},
        tmp_path / "alex.pth",
    )
    torch.save(linear, tmp_path / "lin.pth")
    with pytest.raises(ConfigError, match=r"lin4\.model\.1\.weight"):
        S.load_lpips("alex", tmp_path / "alex.pth", tmp_path / "lin.pth")
    with pytest.raises(ConfigError, match=r"features\.0\.weight"):
        S.load_lpips("squeeze", tmp_path / "alex.pth", tmp_path / "lin.pth")
    with pytest.raises(InputFileError, match="not found"):
        S.load_lpips("alex", tmp_path / "missing.pth", tmp_path / "lin.pth")
    with pytest.raises(ConfigError, match="local weights"):
        S.lpips(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def _table(tmp_path, n: int = 3) -> PairTable:
    rng = np.random.default_rng(0)
    pairs, refs = [], []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 220, 3), dtype=np.uint8)).save(
            tmp_path / f"g{i}.png"
        )
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(
            tmp_path / f"a{i}.png"
        )
        refs.append(Reference(id=f"a{i}", path=tmp_path / f"a{i}.png"))
        pairs.append(
            Pair(
                id=f"g{i}",
                ground=tmp_path / f"g{i}.png",
                split="val" if i else "train",
                references=(i,),
            )
        )
    return PairTable(layout="test", root=tmp_path, pairs=pairs, references=refs)


def test_evaluate_synthesis_per_split(tmp_path):
    method = create_method("cde", "tiny")
    table = _table(tmp_path)
    results = synthesis_scores(method, table, batch_size=2, device="cpu")
    assert set(results) == {"train", "val"}
    assert set(results["val"]) == {"generator", "polar_baseline"}
    assert results["val"]["generator"]["count"] == 2
    assert set(results["val"]["generator"]) == {"psnr", "ssim", "sd", "rmse", "count"}
    assert all(math.isfinite(v) for m in results["val"].values() for v in m.values())
    # Independently: PIL area (BOX) resize of the 40x220 panoramas, bilinear of the 80x80 tiles.
    ground = torch.stack([
        image_to_tensor(Image.open(tmp_path / f"g{i}.png").convert("RGB").resize(
            (176, 32), Image.Resampling.BOX)) for i in (1, 2)
    ])
    tiles = torch.stack([
        image_to_tensor(Image.open(tmp_path / f"a{i}.png").convert("RGB").resize(
            (64, 64), Image.Resampling.BILINEAR)) for i in (1, 2)
    ])
    with torch.no_grad():
        pred = method.eval().synthesize(tiles)
    got = results["val"]["generator"]
    assert got["psnr"] == pytest.approx(S.psnr(pred, ground).mean().item(), rel=1e-4)
    assert got["ssim"] == pytest.approx(S.ssim(pred, ground).mean().item(), rel=1e-4)
    base = results["val"]["polar_baseline"]
    polar = polar_transform(tiles, 32, 176)
    assert base["rmse"] == pytest.approx(S.rmse(polar, ground).mean().item(), rel=1e-4)
    limited = synthesis_scores(method, table, ["val"], limit=1, device="cpu")["val"]
    assert limited["generator"]["count"] == 1
    for bad, message in (({"splits": ["test"]}, "not in the data"), ({"splits": []}, "no split"),
                         ({"limit": 0}, "limit"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ConfigError, match=message):
            synthesis_scores(method, table, device="cpu", **bad)
    (tmp_path / "g2.png").write_bytes(b"not an image")
    with pytest.raises(InputFileError, match="g2.png"):
        synthesis_scores(method, table.select("val"), device="cpu")


def test_meter_means_equal_direct_metrics_over_batches():
    g = torch.Generator().manual_seed(1)
    preds = torch.rand(4, 3, 32, 176, generator=g)
    targets = torch.rand(4, 3, 32, 176, generator=g)
    meter = S.SynthesisMeter()
    for i in (0, 2):  # two batches of two
        meter.update("a", preds[i:i + 2], targets[i:i + 2])
    meter.update("b", targets[:1], targets[:1])  # identical images: infinite PSNR is kept
    result = meter.means()
    assert result["a"]["count"] == 4 and result["b"]["count"] == 1
    assert result["a"]["ssim"] == pytest.approx(S.ssim(preds, targets).mean().item(), rel=1e-6)
    assert result["a"]["psnr"] == pytest.approx(S.psnr(preds, targets).mean().item(), rel=1e-6)
    assert result["b"]["psnr"] == float("inf")
    with pytest.raises(CrossviewError, match="no samples"):
        S.SynthesisMeter().means()
