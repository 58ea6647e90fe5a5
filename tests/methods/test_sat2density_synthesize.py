"""Sat2Density through ``crossview synthesize``: geometry files, light transfer on CVACT-format
inputs, trajectories, the HTML page; the synthesize_outputs hook; geometry scores."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data.fixtures import make_cvusa_fixture, sky_mask
from typer.testing import CliRunner

from crossview.cli import app
from crossview.data.inputs import ground_map, model_input
from crossview.data.layouts import load_layout
from crossview.errors import ConfigError, InputFileError
from crossview.geometry.volume import render_satellite_depth
from crossview.inference import geometry_scores, synthesize_files
from crossview.methods import create_method
from crossview.training.checkpoint import save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_browser.py
from _browser import assert_page_ok  # noqa: E402

SMALL = {"ground_hw": [16, 64], "aerial_size": 32, "density_slices": 5, "samples": 16,
         "crop_sizes": [16, 8], "style_dims": 8, "style_hidden": 16, "style_feature_dims": 16,
         "disc_filters": 8, "density_filters": 4, "render_filters": 4}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    method = create_method("sat2density", "tiny", **SMALL).eval()
    with torch.no_grad():  # a light that visibly changes the untrained model's output
        for layer in method.render_net.style:
            layer.weight.mul_(200.0)
    path = tmp_path_factory.mktemp("ckpt") / "s2d.pt"
    save_checkpoint(path, method)
    return method, path


def _cvact_inputs(root: Path, pano_hw: tuple[int, int]) -> tuple[list[Path], Path, Path]:
    """Two tiles (CVACT's 1200 px JPEG, a 256 px PNG) and a CVACT-format panorama + mask."""
    rng = np.random.default_rng(0)
    tiles = []
    for name, side, suffix in (("a_satView_polish", 1200, ".jpg"), ("b_satView_polish", 256,
                                                                      ".png")):
        path = root / "satview_correct" / f"{name}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((side, side), Image.Resampling.BILINEAR).save(path)
        tiles.append(path)
    pano = root / "streetview" / "p_grdView.jpg"
    pano.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((*pano_hw, 3), np.uint8)
    img[: pano_hw[0] // 2] = (40, 90, 220)  # a blue sky above, grey ground below
    img[pano_hw[0] // 2:] = (120, 120, 120)
    Image.fromarray(img).save(pano)
    mask = root / "pano_sky_mask" / "p_grdView.png"
    sky_mask(mask, pano_hw, rng)
    return tiles, pano, mask


def test_synthesize_outputs_are_the_rendered_geometry(model):
    method, _ = model
    aerial = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = method.synthesize_outputs(aerial, camera_height_m=1.5)
        ref = method.render(aerial, camera_height_m=1.5)
    assert set(outputs) == {"", "depth", "depth.npy", "opacity", "satellite_depth",
                            "satellite_depth.npy"}
    torch.testing.assert_close(outputs[""], ref.panorama)
    torch.testing.assert_close(outputs["depth.npy"], ref.depth)
    torch.testing.assert_close(outputs["opacity"], ref.opacity)
    top = render_satellite_depth(ref.density, 30.0, 8.0, 16)
    torch.testing.assert_close(outputs["satellite_depth.npy"], top.depth)
    assert outputs["depth"].shape == (2, 3, 16, 64) and outputs["satellite_depth"].shape == (
        2, 3, 32, 32)
    assert float(ref.opacity.std()) > 0.01  # the geometry is not trivial


def test_render_path_equals_render_from_each_camera(model):
    method, _ = model
    aerial = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    offsets = torch.tensor([[0.0, 0.0], [5.0, -3.0], [-10.0, 12.0]], dtype=torch.float64)
    with torch.no_grad():
        chunks = list(method.render_path(aerial, offsets, camera_height_m=1.0, chunk=2))
        assert [len(c.panorama) for c in chunks] == [2, 1]
        frames = torch.cat([c.panorama for c in chunks])
        depth = torch.cat([c.depth for c in chunks])
        for k, offset in enumerate(offsets):
            one = method.render(aerial, camera_height_m=1.0, camera_offset_m=offset)
            torch.testing.assert_close(frames[k], one.panorama[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(depth[k], one.depth[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("pano_hw", [(832, 1664), (256, 512)])
def test_cli_on_cvact_format_inputs_with_light_transfer(model, tmp_path, pano_hw):
    method, ckpt = model
    tiles, pano, mask = _cvact_inputs(tmp_path / "CVACT", pano_hw)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["synthesize", "--run", str(ckpt), *map(str, tiles), "--out",
                                   str(out), "--illumination", str(pano), "--height", "1.5"])
    assert res.exit_code == 0, res.output
    spec = method.input_spec
    light = (model_input(pano, spec, "ground", band_crop=False)[None],
             ground_map(mask, "sky", spec, band_crop=False)[None])  # the mask found beside it
    for tile in tiles:
        aerial = model_input(tile, spec, "aerial")[None]
        with torch.no_grad():
            lit = method.render(aerial, light, camera_height_m=1.5)
            plain = method.synthesize(aerial, camera_height_m=1.5)
        written = np.asarray(Image.open(out / f"{tile.stem}.png"), dtype=np.float32) / 255
        expected = lit.panorama[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(written, expected, atol=1 / 255 + 1e-6)
        assert float((lit.panorama - plain).abs().max()) > 0.01  # the light changed it
        depth = np.load(out / f"{tile.stem}_depth.npy")
        assert depth.shape == (16, 64) and depth.dtype == np.float32
        np.testing.assert_allclose(depth, lit.depth[0, 0].numpy(), atol=1e-4)
        for name in ("depth", "opacity", "satellite_depth"):
            assert Image.open(out / f"{tile.stem}_{name}.png").size[0] in (64, 32)
        assert np.load(out / f"{tile.stem}_satellite_depth.npy").shape == (32, 32)


def test_cli_light_needs_a_sky_mask(model, tmp_path):
    _, ckpt = model
    tiles, pano, mask = _cvact_inputs(tmp_path / "CVACT", (64, 128))
    moved = tmp_path / "elsewhere.jpg"
    pano.rename(moved)
    args = ["synthesize", "--run", str(ckpt), str(tiles[1]), "--out", str(tmp_path / "o"),
            "--illumination", str(moved)]
    res = CliRunner().invoke(app, args)  # the CLI's main prints these in one line, exit 2
    message = str(res.exception)
    assert isinstance(res.exception, InputFileError) and "\n" not in message
    assert "--sky-mask" in message and "pano_sky_mask" in message
    res = CliRunner().invoke(app, [*args, "--sky-mask", str(mask)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, [*args[:-1], "sunny"])
    assert isinstance(res.exception, InputFileError)
    assert "illumination source not found" in str(res.exception)


def test_cli_trajectory_videos_and_html_page(model, tmp_path):
    import imageio_ffmpeg

    _, ckpt = model
    tiles, pano, _ = _cvact_inputs(tmp_path / "CVACT", (64, 128))
    odd = tiles[1].with_name("b <b>&'#x.png")  # escaped in the page, quoted in the links
    tiles[1].rename(odd)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["synthesize", "--run", str(ckpt), str(tiles[0]), str(odd),
                                   "--out", str(out), "--illumination", str(pano),
                                   "--trajectory", "0,0;100,50;250,250", "--units", "px",
                                   "--frames", "6", "--fps", "6", "--html"])
    assert res.exit_code == 0, res.output
    for tile in (tiles[0], odd):
        mp4 = out / f"{tile.stem}_trajectory.mp4"
        frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(mp4))
        assert frames == 6 and seconds == pytest.approx(1.0, abs=0.2)
        gif = Image.open(out / f"{tile.stem}_trajectory.gif")
        assert gif.n_frames == 6 and gif.size[0] % 16 == 0 and gif.size[1] == 128
        assert Image.open(out / f"{tile.stem}_path.png").size == (128, 128)
    html = (out / "index.html").read_text()
    assert "<b>&" not in html and "b &lt;b&gt;&amp;" in html
    assert "b%20%3Cb%3E%26%27%23x.png" in html  # the output file, URL-quoted
    # samples: 2 x (input + 4 images); grid: the source + 2 tiles x 3 lights; videos: 2 x 2
    assert_page_ok(out / "index.html", tmp_path, min_images=2 * 5 + 1 + 6 + 4)


def test_methods_without_options_refuse_them(tmp_path):
    cde = create_method("cde", "tiny")
    make_cvusa_fixture(tmp_path, n_train=1, n_val=0, tile_px=64)
    tile = next((tmp_path / "bingmap" / "19").iterdir())
    with pytest.raises(ConfigError, match="does not take the synthesis option"):
        synthesize_files(cde, [tile], tmp_path / "o", illumination="mean")


def test_geometry_scores_flat_world_against_its_analytic_depth(tmp_path):
    """A flat world seen from 2 m: range h / sin(-elevation) below the horizon where the ray
    meets the ground within the tile, sky elsewhere (what the volume can hold). The flat-ground
    baseline finds it; geometry_scores reads the truth through the layout's extras."""
    from crossview.geometry.rays import equirect_ray_directions

    method = create_method("sat2density", "tiny", **{**SMALL, "density_slices": 33,
                                                      "max_height_m": 1.0, "samples": 96}).eval()
    root = make_cvusa_fixture(tmp_path, n_train=0, n_val=3, tile_px=32, pano_hw=(16, 64))
    dirs = equirect_ray_directions(16, 64, 180.0, torch.float64)
    down = -dirs[..., 2]
    horizontal = torch.linalg.norm(dirs[..., :2], dim=-1)
    dist = 2.0 / down.clamp(min=1e-9)
    reach = (dist * horizontal * dirs[..., :2].abs().amax(-1) / horizontal.clamp(min=1e-9))
    hits = (down > 0) & (reach < 15.0 - 0.5)
    depth = torch.where(hits, dist, torch.zeros_like(dist)).float().numpy()
    table = load_layout("cvusa", root)
    for pair in table.pairs:
        np.save(tmp_path / f"{pair.id}_depth.npy", depth)
        Image.fromarray(np.where(hits.numpy(), 0, 255).astype(np.uint8)).save(
            tmp_path / f"{pair.id}_sky.png")
        pair.extras.update(depth=tmp_path / f"{pair.id}_depth.npy",
                           sky=tmp_path / f"{pair.id}_sky.png")
    res = geometry_scores(method, table, ["val"], batch_size=2)["val"]
    flat = res["flat_ground"]
    assert flat["count"] == 3 and flat["depth_pixels"] == 3 * int(hits.sum())
    assert flat["abs_rel_median"] < 0.05 and flat["miou"] > 0.9
    with pytest.raises(ConfigError, match="true depth and sky"):
        geometry_scores(method, load_layout("cvusa", root), ["val"])


def test_eval_synthesis_reports_geometry_on_the_world(model, tmp_path):
    """``crossview eval --synthesis`` adds the geometry table on data with true depth and sky."""
    from crossview.training.steps import evaluate_synthesis
    from crossview.world import make_world

    _, ckpt = model
    world = make_world(tmp_path / "w", "cvact", pairs=6, seed=0, tile_px=32, pano_hw=(16, 64),
                       tile_m=30.0, val_fraction=0.5)
    result = evaluate_synthesis(ckpt, f"cvact:{world}", ["val"], which="last", batch_size=4)
    geo = result["geometry"]["val"]
    assert set(geo) == {"generator", "flat_ground"} and geo["flat_ground"]["count"] == 3
    assert 0 <= geo["flat_ground"]["miou"] <= 1 and geo["generator"]["depth_pixels"] > 0
