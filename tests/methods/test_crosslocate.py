"""CrossLocate's architecture, aggregation, query scaling and triplet mining (SPECS.md §8)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from crossview.data.inputs import InputSpec, model_input, photo_canvas, photo_content_width
from crossview.errors import ConfigError
from crossview.losses.triplet import triplet_loss
from crossview.methods import create_method
from crossview.methods.crosslocate import (
    depth8_to_metres,
    hardest_negatives,
    max_of_normalized,
    pairwise_far,
    vgg_features,
)

# VGG16 conv1_1 ... conv5_3 (Simonyan & Zisserman, configuration D): (in, out) channels.
VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]


def test_paper_branch_is_vgg16_conv1_1_to_conv5_3_without_the_last_relu() -> None:
    with torch.device("meta"):
        method = create_method("crosslocate", "paper", pretrained="none")
    layers = list(method.branch.features)
    convs = [(m.in_channels, m.out_channels) for m in layers if isinstance(m, nn.Conv2d)]
    assert convs == VGG16_CONVS
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in layers
               if isinstance(m, nn.Conv2d))
    assert sum(isinstance(m, nn.MaxPool2d) for m in layers) == 4  # no pool5
    assert isinstance(layers[-1], nn.Conv2d)  # conv5_3, no ReLU after it
    assert sum(isinstance(m, nn.ReLU) for m in layers) == 12
    # timm's vgg16 holds the same tensors under the same names (pretrained weights copy).
    import timm

    with torch.device("meta"):
        full = timm.create_model("vgg16", pretrained=False).state_dict()
    for key, value in method.branch.state_dict().items():
        assert full[key].shape == value.shape, key


def test_paper_descriptor_is_512_d_at_500_px_on_the_meta_device() -> None:
    with torch.device("meta"):
        method = create_method("crosslocate", "paper", pretrained="none").eval()
        x = torch.empty(2, 3, 500, 500)
        features = method.branch.features(x)
        assert tuple(features.shape) == (2, 512, 31, 31)  # 500 / 16, floored by the 4 pools
        assert tuple(method.encode_ground(x).shape) == (2, 512)
        assert tuple(method.encode_aerial(x).shape) == (2, 512)
    assert method.descriptor_dim == 512
    spec = method.input_spec
    assert spec.ground_hw == (500, 500) and spec.aerial_size == 500 and spec.photo_fov_deg == 60


def test_features_can_be_negative_without_the_last_relu() -> None:
    torch.manual_seed(0)
    feats = vgg_features((4, 4), (1, 1))(torch.rand(2, 3, 8, 8))
    assert (feats < 0).any()


def test_per_position_l2_then_max_pool_then_l2_by_hand() -> None:
    # Two positions, two channels: (3, 4) -> (0.6, 0.8); (-1, 0) -> (-1, 0): max (0.6, 0.8).
    f = torch.tensor([[3.0, -1.0], [4.0, 0.0]]).view(1, 2, 1, 2)
    torch.testing.assert_close(max_of_normalized(f), torch.tensor([[0.6, 0.8]]))
    # (1, 0) and (0, 2) -> (1, 0), (0, 1): max (1, 1), L2 -> (0.7071, 0.7071). A channel that is
    # negative everywhere stays negative: (-3, -1, 0) and (-1, -2, 0) -> max (-1/sqrt 5 ...).
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(1, 2, 1, 2)
    torch.testing.assert_close(max_of_normalized(f), torch.full((1, 2), 1 / math.sqrt(2)))
    f = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]], [[-3.0, -1.0]]]])  # (1, 3, 1, 2)
    p1 = torch.tensor([1.0, 0.0, -3.0]) / math.sqrt(10)
    p2 = torch.tensor([0.0, 2.0, -1.0]) / math.sqrt(5)
    expected = torch.maximum(p1, p2)
    torch.testing.assert_close(max_of_normalized(f)[0], expected / expected.norm())


# --- queries scaled by their own FOV ---------------------------------------------------------
SPEC = InputSpec(ground_hw=(500, 500), aerial_size=500, photo_fov_deg=60.0)


def test_photo_content_width_matches_the_database_scale() -> None:
    half = math.radians(15), math.radians(30)
    assert photo_content_width(30.0, SPEC) == pytest.approx(500 * math.tan(half[0]) /
                                                            math.tan(half[1]))  # 232.05 px
    assert photo_content_width(60.0, SPEC) == pytest.approx(500.0)
    degrees = InputSpec((500, 500), 500, photo_fov_deg=60.0, photo_scaling="degrees")
    assert photo_content_width(30.0, degrees) == pytest.approx(250.0)
    fit = InputSpec((500, 500), 500, photo_fov_deg=60.0, photo_scaling="fit")
    assert photo_content_width(30.0, fit) == photo_content_width(None, SPEC) == 500.0
    with pytest.raises(ConfigError, match="photo FOV"):
        photo_content_width(200.0, SPEC)


def test_photo_canvas_centres_the_scaled_photo_on_the_mean() -> None:
    photo = Image.new("RGB", (400, 300), (200, 10, 30))
    canvas = photo_canvas(photo, SPEC, 30.0)
    assert canvas.shape == (500, 500, 3)
    cols = np.flatnonzero((canvas[250] == (200, 10, 30)).all(axis=1))
    rows = np.flatnonzero((canvas[:, 250] == (200, 10, 30)).all(axis=1))
    assert cols.size == 232 and cols[0] == (500 - 232) // 2  # 232.05 px wide
    assert rows.size == 174  # aspect kept: 232 * 3 / 4
    fill = np.round(255 * np.array(SPEC.mean)).astype(np.uint8)
    assert (canvas[0, 0] == fill).all() and (canvas[250, 0] == fill).all()
    wide = photo_canvas(photo, SPEC, 90.0)  # 866 px of content: cropped to the canvas width
    assert (wide[250] == (200, 10, 30)).all()


def test_the_same_pixels_in_training_and_locate(tmp_path: Path) -> None:
    from crossview.data.datasets import PairDataset
    from crossview.data.table import Pair, PairTable, Reference

    rng = np.random.default_rng(0)
    photo, view = tmp_path / "q.jpg", tmp_path / "v.png"
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(photo)
    Image.fromarray(rng.integers(0, 255, (50, 50), dtype=np.uint8)).save(view)
    method = create_method("crosslocate", "tiny", ground_hw=[48, 48], aerial_size=48)
    table = PairTable("crosslocate", tmp_path, [Pair("q", photo, "train", (0,), fov_deg=41.0)],
                      [Reference("v", view)])
    sample = PairDataset(table, method.input_spec)[0]
    expected = model_input(photo, method.input_spec, "ground", fov_deg=41.0, band_crop=False)
    torch.testing.assert_close(sample["ground"], expected, rtol=0, atol=0)
    content = round(photo_content_width(41.0, method.input_spec))  # 31 of 48 columns
    fill = torch.tensor([round(255 * m) / 255 for m in method.input_spec.mean])
    assert content < 48 and torch.allclose(sample["ground"][:, 24, 0], fill)  # padded edge
    grey = model_input(view, method.input_spec, "aerial")
    assert grey.shape == (3, 48, 48) and torch.equal(grey[0], grey[2])  # replicated channels


# --- triplets: positives, negatives, loss ----------------------------------------------------
def test_negatives_are_farther_than_the_threshold() -> None:
    utm = torch.tensor([[0.0, 0.0], [1500.0, 0.0], [2500.0, 0.0], [float("nan"), 0.0]],
                       dtype=torch.float64)
    far = pairwise_far(utm, 2000.0)
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 0]],
                            dtype=torch.bool)
    assert torch.equal(far, expected)


def test_hardest_negatives_are_the_nearest_far_views() -> None:
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    database = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.8, 0.6], [-1.0, 0.0]])
    far = torch.tensor([[0, 0, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    neg, valid = hardest_negatives(query, database, far, 3)
    # Query 0 may use rows 2 (distance^2 0.8) and 3 (4.0): nearest first; query 1 only row 0.
    torch.testing.assert_close(neg[0, :2], database[[2, 3]])
    torch.testing.assert_close(neg[1, :1], database[[0]])
    assert valid.tolist() == [[True, True, False], [True, False, False]]


def test_triplet_loss_with_valid_mask_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.6, 0.8]])                       # ||a - p||^2 = 0.8
    n = torch.tensor([[[0.0, 1.0], [0.8, 0.6], [1.0, 0.0]]])  # 2.0, 0.4, 0.0
    # max(0, 0.8 - d + 0.1): 0, 0.5, 0.9; the third negative is masked out.
    valid = torch.tensor([[True, True, False]])
    assert triplet_loss(a, p, n, 0.1, valid=valid).item() == pytest.approx(0.5)
    assert triplet_loss(a, p, n, 0.1).item() == pytest.approx(1.4)
    assert triplet_loss(a, p, n, 0.1, "mean", valid=valid).item() == pytest.approx(0.25)


def test_training_step_is_the_triplet_loss_of_mined_negatives() -> None:
    torch.manual_seed(0)
    method = create_method("crosslocate", "tiny", ground_hw=[32, 32], aerial_size=32,
                           negatives=2)
    batch = {"ground": torch.rand(4, 3, 32, 32), "aerial": torch.rand(4, 3, 32, 32),
             "utm": torch.tensor([[0.0, 0], [500.0, 0], [3000.0, 0], [6000.0, 0]],
                                 dtype=torch.float64)}
    method.eval()
    with torch.no_grad():
        loss = method.training_step(batch, 0)["total"]
        q, d = method.encode_ground(batch["ground"]), method.encode_aerial(batch["aerial"])
    expected = 0.0
    for i in range(4):
        far = [j for j in range(4) if abs(batch["utm"][i, 0] - batch["utm"][j, 0]) > 2000]
        dist = sorted(float(((q[i] - d[j]) ** 2).sum()) for j in far)[:2]
        d_pos = float(((q[i] - d[i]) ** 2).sum())
        expected += sum(max(0.0, d_pos - dn + 0.1) for dn in dist)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_positives_within_20_m_and_15_deg_come_from_the_layout(tmp_path: Path) -> None:
    from tests.data.fixtures import make_crosslocate_fixture

    from crossview.data.layouts import load_layout
    from crossview.data.layouts.crosslocate import yaw_difference_deg

    table = load_layout("crosslocate", make_crosslocate_fixture(tmp_path, positions=2))
    for pair in table.pairs:
        for r in pair.references:
            ref = table.references[r]
            assert pair.extras["positive_distance_m"] <= 20.0
            assert yaw_difference_deg(ref.extras["yaw_deg"], pair.yaw_deg) <= 15.0


def test_depth_inputs_and_config_checks() -> None:
    from crossview.dem.encoding import decode_depth8, depth_to_uint8

    metres = np.array([0.0, 12.0, 850.0, 40_000.0])
    eight = depth_to_uint8(metres).astype(np.float32)
    torch.testing.assert_close(depth8_to_metres(torch.from_numpy(eight / 255.0)),
                               torch.from_numpy(decode_depth8(eight)), rtol=1e-5, atol=1e-3)
    assert np.allclose(decode_depth8(eight)[1:], metres[1:], rtol=0.02)
    method = create_method("crosslocate", "tiny", ground_hw=[32, 32], aerial_size=32,
                           depth_input="metres", depth_scale_m=1000.0)
    views = torch.from_numpy(np.stack([eight.reshape(2, 2)] * 3) / 255.0)[None].float()
    torch.testing.assert_close(method.database_input(views)[0, 0].flatten(),
                               torch.from_numpy(decode_depth8(eight) / 1000.0), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ConfigError, match="canvas width"):
        create_method("crosslocate", "tiny", ground_hw=[32, 48], aerial_size=32)
    with pytest.raises(ConfigError, match="VGG16 layout"):
        create_method("crosslocate", "tiny", pretrained="/no/such.pth")


def test_training_data_of_another_modality_is_refused(tmp_path: Path) -> None:
    from crossview.data.table import PairTable

    method = create_method("crosslocate", "tiny")
    table = PairTable("crosslocate", tmp_path, [], [], extras={"modality": "silhouettes"})
    with pytest.raises(ConfigError, match="modality is 'silhouettes'"):
        method.check_training_data(table)


