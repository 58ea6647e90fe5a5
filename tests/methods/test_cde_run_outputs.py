"""A tiny cde run through the one trainer: sample grids at each evaluation, ``eval --synthesis``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from crossview.errors import ConfigError, CrossviewError
from crossview.evaluation import synthesis as S
from crossview.geometry.polar import polar_transform
from crossview.inference import synthesis_scores
from crossview.io import load_image_tensor
from crossview.methods import create_method
from crossview.reports.samples import write_sample_images
from crossview.training.checkpoint import load_run, save_checkpoint
from crossview.training.steps import train

HW, SIZE = (32, 176), 64  # the tiny preset's sizes: the world is rendered at them (no resizing)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crossview.world import make_world

    return Path(
        make_world(
            tmp_path_factory.mktemp("world"),
            "cvusa",
            pairs=8,
            seed=0,
            tile_px=SIZE,
            tile_m=40.0,
            region_m=300.0,
            pano_hw=HW,
            val_fraction=0.25,
        )
    )


@pytest.fixture(scope="module")
def run(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of two steps (6 train pairs, batch 3), evaluated after each epoch."""
    out = tmp_path_factory.mktemp("run") / "cde"
    overrides = {"train.batch_size": 3, "train.epochs": 2, "train.eval_every": 1}
    result = train("cde", f"cvusa:{world}", out, "tiny", overrides, device="cpu")
    assert (result.step, result.stopped) == (4, "completed")
    return out


def _pairs(world: Path, split: str) -> dict[str, torch.Tensor]:
    """Ground panoramas and their tiles of ``split``, read straight from the world's files."""
    with open(world / "crossview_gt" / "samples.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split]
    return {
        "ground": torch.stack([load_image_tensor(world / r["ground"]) for r in rows]),
        "aerial": torch.stack([load_image_tensor(world / r["aerial"]) for r in rows]),
    }


def test_sample_grids_written_at_each_evaluation(run: Path, world: Path) -> None:
    files = sorted(p.name for p in (run / "samples").iterdir())
    assert files == ["step_0000002_samples.png", "step_0000004_samples.png"]
    val = _pairs(world, "val")
    n = val["ground"].shape[0]
    assert n == 2
    # The last grid equals tile / polar / synthesis / real of the final model on the val pairs.
    method = load_run(run, which="last").method.eval()
    with torch.no_grad():
        synth = method.synthesize(val["aerial"])
    polar = polar_transform(val["aerial"], *HW)
    tile = torch.nn.functional.interpolate(
        val["aerial"], size=(HW[0], HW[0]), mode="bilinear", align_corners=False, antialias=True
    )
    tile_row = torch.zeros(n, 3, *HW)
    tile_row[..., : HW[0]] = tile
    want = torch.stack([tile_row, polar, synth, val["ground"]], 1)  # (n, rows, 3, H, W)
    want = want.permute(2, 0, 1, 3, 4).reshape(3, n * 4 * HW[0], HW[1])
    last = load_image_tensor(run / "samples" / "step_0000004_samples.png")
    assert last.shape == want.shape
    assert (last - want).abs().max() <= 1 / 255 + 1e-4
    # Same items every time: the real-panorama rows of both evaluations are identical.
    first = load_image_tensor(run / "samples" / "step_0000002_samples.png")
    rows = first.reshape(3, n, 4, *HW)
    assert torch.equal(rows[:, :, 3], last.reshape(3, n, 4, *HW)[:, :, 3])
    assert not torch.equal(rows[:, :, 2], last.reshape(3, n, 4, *HW)[:, :, 2])  # G trained
    # And TensorBoard holds one image per evaluation.
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    events.Reload()
    images = events.Images("samples/samples")
    assert [e.step for e in images] == [2, 4]
    assert (images[0].height, images[0].width) == (n * 4 * HW[0], HW[1])


def test_sample_images_reject_bad_visualize_output(tmp_path: Path) -> None:
    with pytest.raises(CrossviewError,
                       match=r"cde: visualize\(\)\['grid'\].*\(3, H, W\).*\(1, 8, 8\)"):
        write_sample_images({"grid": torch.rand(1, 8, 8)}, 3, tmp_path, owner="cde")
    with pytest.raises(CrossviewError, match="file-name-safe"):
        write_sample_images({"a/b": torch.rand(3, 8, 8)}, 3, tmp_path)
    assert not (tmp_path / "samples").exists()


def test_eval_synthesis_equals_metrics_of_synthesize(run: Path, world: Path, run_cli) -> None:
    out = run.parent / "synthesis.json"
    code = run_cli(
        "--device", "cpu", "eval", "--run", str(run), "--which", "last", "--synthesis",
        "--split", "val,train", "--batch-size", "4", "--json", str(out),
    ).code
    assert code == 0
    result = json.loads(out.read_text())
    assert result["method"] == "cde" and result["splits"] == ["val", "train"]
    assert result["convention"] == "sat2density" and result["lpips"] is None
    method = load_run(run, which="last").method.eval()
    for split in ("val", "train"):
        pairs = _pairs(world, split)
        with torch.no_grad():
            pred = method.synthesize(pairs["aerial"])
        polar = polar_transform(pairs["aerial"], *HW)
        for name, images in (("generator", pred), ("polar_baseline", polar)):
            got = result["synthesis"][split][name]
            assert got["count"] == pairs["ground"].shape[0]
            for key, fn in (("psnr", S.psnr), ("ssim", S.ssim), ("rmse", S.rmse),
                            ("sd", S.sharpness_difference)):
                want = fn(images, pairs["ground"]).mean().item()
                assert got[key] == pytest.approx(want, rel=1e-4, abs=1e-6), (split, name, key)


def test_eval_synthesis_xfork_and_lpips_from_local_files(run: Path, world: Path, tmp_path: Path,
                                                       run_cli) -> None:
    torch.manual_seed(1)
    # Random weights in the torchvision / LPIPS v0.1 file formats (no download in tests).
    backbone = {
        f"features.{k}": torch.randn_like(v) * 0.1
        for k, v in S.LPIPS("squeeze").features.state_dict().items()
    }
    channels = [64, 128, 256, 384, 384, 512, 512]
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(channels)}
    torch.save(backbone, tmp_path / "squeeze_backbone.pth")
    torch.save(linear, tmp_path / "squeeze.pth")
    out = tmp_path / "s.json"
    code = run_cli(
        "--device", "cpu", "eval", "--run", str(run), "--which", "last", "--synthesis",
        "--convention", "xfork", "--lpips-net", "squeeze",
        "--lpips-backbone", str(tmp_path / "squeeze_backbone.pth"),
        "--lpips-linear", str(tmp_path / "squeeze.pth"), "--json", str(out),
    ).code
    assert code == 0
    got = json.loads(out.read_text())["synthesis"]["val"]["generator"]
    model = S.load_lpips("squeeze", tmp_path / "squeeze_backbone.pth", tmp_path / "squeeze.pth")
    pairs = _pairs(world, "val")
    with torch.no_grad():
        pred = load_run(run, which="last").method.eval().synthesize(pairs["aerial"])
    assert got["lpips"] == pytest.approx(model(pred, pairs["ground"]).mean().item(), rel=1e-4)
    assert got["ssim"] == pytest.approx(S.ssim(pred, pairs["ground"], "xfork").mean().item(),
                                        rel=1e-4)
    assert got["psnr"] == pytest.approx(S.psnr(pred, pairs["ground"], "xfork").mean().item(),
                                        rel=1e-4)


def test_eval_synthesis_errors(run: Path, world: Path, tmp_path: Path, run_cli) -> None:
    # A model without a generator (ablation i): one line naming the checkpoint.
    ablation = create_method("cde", "tiny", synthesis=False)
    save_checkpoint(tmp_path / "abl" / "checkpoints" / "last.pt", ablation)
    args = ["eval", "--run", str(tmp_path / "abl"), "--which", "last", "--synthesis",
            "--data", f"cvusa:{world}"]
    code, _, err = run_cli("--device", "cpu", *args)
    assert code == 2
    err = err.strip()
    assert "no generator" in err and "last.pt" in err and len(err.splitlines()) == 1
    bad = [
        (["--split", "test"], "split 'test' not in the data"),
        (["--convention", "pix2pix"], "unknown synthesis-metric convention"),
        (["--lpips-backbone", str(tmp_path / "x.pth")], "both --lpips-backbone and --lpips-linear"),
        (["--fov", "90"], "apply to retrieval"),
    ]
    for extra, message in bad:
        code, _, err = run_cli("--device", "cpu", "eval", "--run", str(run), "--which", "last",
                               "--synthesis", *extra)
        assert code == 2
        err = err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    code, _, err = run_cli("--device", "cpu", "eval", "--run", str(run), "--convention", "xfork")
    assert code == 2
    assert "apply to --synthesis only" in err
    with pytest.raises(ConfigError, match="does not synthesize"):
        synthesis_scores(ablation, None)


def test_validation_metrics_include_synthesis(run: Path, world: Path) -> None:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    last = records[-1]["metrics"]
    val = _pairs(world, "val")
    method = load_run(run, which="last").method.eval()
    with torch.no_grad():
        pred = method.synthesize(val["aerial"])
    for key, fn in (("PSNR", S.psnr), ("SSIM", S.ssim), ("RMSE", S.rmse),
                    ("SD", S.sharpness_difference)):
        assert last[key] == pytest.approx(fn(pred, val["ground"]).mean().item(), rel=1e-4), key
    baseline = S.psnr(polar_transform(val["aerial"], *HW), val["ground"]).mean().item()
    assert last["synthesis"]["polar_baseline"]["psnr"] == pytest.approx(baseline, rel=1e-4)
    assert last["synthesis"]["generator"]["count"] == 2
    # A retrieval method keeps selecting best.pt by R@1.
    best = max(records, key=lambda r: r["metrics"]["R@1"])
    assert torch.load(run / "checkpoints" / "best.pt", weights_only=False)["state"]["step"] \
        == best["step"]
    curve = json.loads((run / "learning_curve.json").read_text())
    assert [p["PSNR"] for p in curve["points"]] == [r["metrics"]["PSNR"] for r in records]


def test_without_retrieval_trains_with_validation_and_best_by_psnr(
    world: Path, tmp_path: Path, run_cli
) -> None:
    out = tmp_path / "no_r"
    overrides = {"method.retrieval": False, "train.batch_size": 3, "train.epochs": 3}
    result = train("cde", f"cvusa:{world}", out, "tiny", overrides, device="cpu")
    assert result.stopped == "completed"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3
    assert all("R@1" not in r["metrics"] and r["metrics"]["PSNR"] > 0 for r in records)
    best = max(records, key=lambda r: r["metrics"]["PSNR"])
    assert result.best_metrics["PSNR"] == best["metrics"]["PSNR"]
    assert torch.load(out / "checkpoints" / "best.pt", weights_only=False)["state"]["step"] \
        == best["step"]
    # Retrieval evaluation of this run is refused in one line; synthesis evaluation works.
    code, _, err = run_cli("--device", "cpu", "eval", "--run", str(out))
    assert code == 2
    err = err.strip()
    assert "no retrieval branch" in err and "best.pt" in err and len(err.splitlines()) == 1
    assert run_cli("--device", "cpu", "eval", "--run", str(out), "--synthesis", "--json",
                   str(tmp_path / "s.json")).code == 0
    got = json.loads((tmp_path / "s.json").read_text())["synthesis"]["val"]["generator"]
    assert got["psnr"] == pytest.approx(best["metrics"]["PSNR"], rel=1e-4)


def test_best_metric_option(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "rmse"
    overrides = {"train.batch_size": 3, "train.epochs": 3, "train.best_metric": "RMSE"}
    result = train("cde", f"cvusa:{world}", out, "tiny", overrides, device="cpu")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = min(records, key=lambda r: r["metrics"]["RMSE"])  # lower is better
    assert result.best_metrics["RMSE"] == best["metrics"]["RMSE"]
    with pytest.raises(ConfigError, match="no retrieval branch"):
        train("cde", f"cvusa:{world}", tmp_path / "bad", "tiny",
              {"method.retrieval": False, "train.best_metric": "R@1"}, device="cpu")
    with pytest.raises(ConfigError, match="not evaluated by synthesis"):
        train("safa", f"cvusa:{world}", tmp_path / "bad2", "tiny",
              {"train.best_metric": "PSNR"}, device="cpu")
    with pytest.raises(ConfigError, match="best_metric"):
        train("cde", f"cvusa:{world}", tmp_path / "bad3", "tiny",
              {"train.best_metric": "FID"}, device="cpu")
