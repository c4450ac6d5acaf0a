"""eccNET: eccentricity-dependent pooling, top-down attention, the search loop, weights, checkpoints,
the trunk trained here, and the config dataclasses against the schema."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurogaze.config import schema_defaults
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError
from neurogaze.gaze.search_asymmetry.eccnet import (
    BackboneTrainingConfig,
    EccNet,
    EccNetConfig,
    EccNetSearcher,
    build_eccnet,
    eccentric_pool,
    ensure_backbone,
    load_checkpoint,
    load_released_weights,
    reaction_time_ms,
    run_search,
    same_pool,
    save_checkpoint,
    sharpen,
    top_down_attention,
    train_backbone,
    window_sizes,
)

TINY = (4, 4, 4, 4, 4)


# ------------------------------------------------------------------ eccentricity-dependent pooling


def _released_window_sizes(out_shape: int, rf_min: int, slope: float, deg2px: int, fovea: float, quant: float):
    """The released CentreDependentPooling2D's masks, built as it builds them (skimage discs in
    the layer's output grid, centred on int(out_shape / 2)), turned into a window size per cell."""
    from skimage.draw import disk

    def inside(radius):
        mask = np.zeros((out_shape, out_shape), dtype=bool)
        rr, cc = disk((c, c), radius, shape=mask.shape)
        mask[rr, cc] = True
        return mask

    c = int(out_shape / 2)
    sizes = np.zeros((out_shape, out_shape), dtype=int)
    ecc = round(fovea * deg2px / 2)
    step = round(quant * deg2px / 2)
    sizes[inside(ecc)] = rf_min
    ecc += step
    while ecc < out_shape / 2:
        ring = inside(ecc) & ~inside(ecc - step)
        sizes[ring] = rf_min + round(slope * (ecc * 2 - fovea * deg2px))
        ecc += step
    return sizes, ecc - step  # cells past the last ring: the released layer's end mask


@pytest.mark.parametrize("layer", [3, 4, 5])
def test_window_sizes_follow_the_released_ring_geometry(layer):
    """Centred on the fixation, every cell within the released layer's rings gets the window the
    released masks give it; in degrees the fovea's radius is about 4 and each ring about 1 deg
    (a pool1 cell of the 30 px/deg input: 8 cells of radius 60 in the output grid = 4 deg)."""
    deg2px = round(30 / 2 ** (layer - 1))
    slope = (0.0, 0.0, 0.07, 0.16, 0.32)[layer - 1]
    size = 448 // 2 ** (layer - 1)
    out_shape = int((size + 1) / 2)
    released, last_ring = _released_window_sizes(out_shape, 2, slope, deg2px, 4.0, 1.0)
    ours = window_sizes((size, size), (size / 2, size / 2), slope, 2, deg2px, 4.0, 1.0)
    c = int(out_shape / 2)
    rows, cols = np.indices(ours.shape)
    within = np.hypot(rows - c, cols - c) < last_ring
    assert within.sum() > 50
    np.testing.assert_array_equal(ours[within], released[within])
    # the fovea's radius in degrees: output cells x stride / the layer's input px per degree
    fovea_cells = round(4.0 * deg2px / 2)
    assert fovea_cells * 2 / deg2px == pytest.approx(4.0, rel=0.15)


def test_windows_grow_half_as_fast_as_a_degree_reading_of_the_parameters():
    """8 deg from the fixation in pool5 (2 px per degree of its input, so 8 output cells): the
    released geometry puts the cell in ring 5 (a 4-cell fovea, 1-cell rings), window
    2 + round(0.32 x (2 x 9 - 8)) = 5; reading fovea_size and rf_quant as a 2 deg radius and
    0.5 deg rings of the layer's input (this module's earlier geometry) gave ring 12 and 10."""
    sizes = window_sizes((200, 200), (100, 100), slope=0.32, rf_min=2, deg2px=2, fovea_deg=4, ring_deg=1)
    assert sizes[50, 50 + 8] == 5
    assert sizes[50, 50 + 3] == 2  # inside the 4-cell fovea


def test_zero_slope_is_ordinary_pooling():
    x = torch.randn(1, 3, 16, 20)
    pooled = eccentric_pool(x, (3.0, 3.0), 0.0, 2, 5.0, 4.0, 1.0)
    torch.testing.assert_close(pooled, F.avg_pool2d(x, 2))
    torch.testing.assert_close(same_pool(x, 2, 2, "max"), F.max_pool2d(x, 2))


def test_fovea_equals_ordinary_pooling_and_periphery_matches_per_size_pooling():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 48, 48)
    fixation = (10.0, 12.0)
    pooled = eccentric_pool(x, fixation, 0.16, 2, 4.0, 4.0, 1.0)
    sizes = window_sizes((48, 48), fixation, 0.16, 2, 4.0, 4.0, 1.0)
    fovea = torch.from_numpy(sizes == 2)
    assert 0 < fovea.sum() < fovea.numel()
    torch.testing.assert_close(pooled[..., fovea], F.avg_pool2d(x, 2)[..., fovea])
    # an independent route: 'same' pooling at each window size, then pick per location
    for size in np.unique(sizes):
        where = torch.from_numpy(sizes == size)
        torch.testing.assert_close(pooled[..., where], same_pool(x, int(size), 2, "avg")[..., where])


def test_peripheral_pooling_blurs_more():
    x = torch.zeros(1, 1, 64, 64)
    x[..., ::2, :] = 1.0  # horizontal stripes: survive 2x2 pooling only as a mean, vanish under blur
    x[..., ::4, :] = 3.0
    pooled = eccentric_pool(x, (0.0, 0.0), 0.32, 2, 8.0, 4.0, 1.0)[0, 0]
    near, far = pooled[:4, :4].std(), pooled[-6:, -6:].std()
    assert far < near


# ------------------------------------------------------------------ top-down attention


def test_attention_peaks_where_search_features_match_the_target():
    search = torch.zeros(1, 3, 10, 10)
    search[0, 0, 2, 3] = 1.0  # a distractor: channel 0
    search[0, 1, 7, 6] = 1.0  # the target: channel 1
    search[0, 2, 5, 1] = 1.0
    target = torch.zeros(1, 3, 1, 1)
    target[0, 1] = 1.0
    attention = top_down_attention([search], [target])
    assert np.unravel_index(attention.argmax(), attention.shape) == (7, 6)


def test_layer_maps_are_normalised_and_weighted_by_their_peaks():
    a = torch.tensor([[[[0.0, 2.0], [1.0, 0.0]]]])
    b = torch.tensor([[[[3.0, 0.0], [0.0, 6.0]]]])
    one = torch.ones(1, 1, 1, 1)
    combined = top_down_attention([a, b], [one, one])
    expected = (2 / 8) * np.array([[0, 1], [0.5, 0]]) + (6 / 8) * np.array([[0.5, 0], [0, 1]])
    np.testing.assert_allclose(combined, expected)


def test_sharpen_keeps_the_peak():
    attention = np.zeros((20, 20))
    attention[8, 11] = 1.0
    attention[3, 3] = 0.6
    out = sharpen(attention)
    assert np.unravel_index(out.argmax(), out.shape) == (8, 11)


def _colour_passthrough_net():
    """Convolutions that copy each colour channel (ReLU keeps it, pooling averages it): the
    features are the pooled colours, so the target's colour must win."""
    config = EccNetConfig(widths=(3, 3, 3, 3, 3), input_mean=(0, 0, 0), input_std=(1, 1, 1))
    model = EccNet(config)
    with torch.no_grad():
        for layer in model.trunk.features:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.zero_()
                layer.bias.zero_()
                for c in range(3):
                    layer.weight[c, c, 1, 1] = 1.0
    return model


def _coloured_display(target_cell):
    image = np.zeros((128, 128, 3), dtype=np.uint8)
    boxes = []
    for index in range(4):
        r0, c0 = (index // 2) * 64, (index % 2) * 64
        colour = 0 if index == target_cell else 1  # red target, green distractors
        image[r0 + 20 : r0 + 44, c0 + 20 : c0 + 44, colour] = 255
        boxes.append((r0, c0, r0 + 64, c0 + 64))
    target = np.zeros((24, 24, 3), dtype=np.uint8)
    target[..., 0] = 255
    return image, target, np.array(boxes)


def test_network_attention_finds_the_planted_target_first():
    model = _colour_passthrough_net()
    searcher = EccNetSearcher(model)
    for target_cell in range(4):
        image, target, boxes = _coloured_display(target_cell)
        target_maps = model.target_features(model.preprocess(target))
        attention = searcher.attention(image, (63.5, 63.5), target_maps)
        row, col = np.unravel_index(attention.argmax(), attention.shape)
        r0, c0, r1, c1 = boxes[target_cell]
        assert r0 <= row < r1 and c0 <= col < c1
        result = searcher.search(image, target, boxes, target_cell, background=0)
        assert result.found and result.n_fixations == 1 and result.fixated_items == [target_cell]


# ------------------------------------------------------------------ search loop


def _boxes(n):
    return np.array([(0, 10 * i, 10, 10 * i + 10) for i in range(n)])


def _ranked_attention(order):
    """A fixed map whose peak inside item i is high for items early in ``order``."""

    def attention(image, fixation):
        out = np.zeros(image.shape[:2])
        for rank, item in enumerate(order):
            out[5, 10 * item + 5] = len(order) - rank
        return out

    return attention


def test_inhibition_of_return_never_refixates_and_stops_on_the_target():
    order = [3, 0, 4, 1, 2]
    image = np.full((10, 50, 3), 200, dtype=np.uint8)
    result = run_search(_ranked_attention(order), image, _boxes(5), target_index=1, background=0, max_fixations=10)
    assert result.fixated_items == [3, 0, 4, 1]
    assert result.found and result.n_fixations == 4
    assert len(set(result.fixated_items)) == len(result.fixated_items)


def test_visited_items_are_erased_from_the_display():
    seen = []

    def attention(image, fixation):
        seen.append(image[..., 0].copy())
        return _ranked_attention([0, 1, 2])(image, fixation)

    image = np.full((10, 30, 3), 200, dtype=np.uint8)
    run_search(attention, image, _boxes(3), target_index=2, background=7, max_fixations=5)
    assert (seen[1][:, :10] == 7).all() and (seen[1][:, 10:] == 200).all()
    assert (seen[2][:, :20] == 7).all()


def test_fixation_cap_ends_search_without_finding():
    image = np.zeros((10, 50, 3), dtype=np.uint8)
    result = run_search(_ranked_attention([0, 1, 2, 3, 4]), image, _boxes(5), 4, 0, max_fixations=2)
    assert not result.found and result.fixated_items == [0, 1]


def test_reaction_time_formula():
    np.testing.assert_allclose(reaction_time_ms([0, 1, 3]), [376.271, 628.63, 1133.348])


# ------------------------------------------------------------------ weights and checkpoints


def test_missing_released_weights_name_the_path(tmp_path):
    path = tmp_path / "vgg16.pth"
    with pytest.raises(MissingWeightsError, match="vgg16.pth"):
        build_eccnet(EccNetConfig(weights=str(path)))
    with pytest.raises(MissingWeightsError):
        build_eccnet(EccNetConfig(widths=TINY))


def test_torchvision_vgg16_state_dict_loads(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["D"])
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model = load_released_weights(EccNet(EccNetConfig()), path)
    torch.testing.assert_close(model.trunk.features[28].weight, features[28].weight)
    with pytest.raises(DataValidationError, match="widths"):
        load_released_weights(EccNet(EccNetConfig(widths=TINY)), path)


def test_checkpoint_round_trip_describes_itself(tmp_path):
    torch.manual_seed(1)
    model = EccNet(EccNetConfig(widths=TINY))
    path = tmp_path / "backbone.pt"
    save_checkpoint(path, model, {"steps": 0})
    payload = torch.load(path, weights_only=False)
    assert set(payload) >= {"config", "state_dict", "neurogaze_version", "training"}
    loaded = build_eccnet(EccNetConfig(widths=TINY, fovea_deg=2.0), checkpoint=path)
    assert loaded.config.fovea_deg == 2.0
    torch.testing.assert_close(loaded.trunk.features[0].weight, model.trunk.features[0].weight)
    with pytest.raises(DataValidationError, match="widths"):
        load_checkpoint(path, {"widths": (8, 8, 8, 8, 8)})


def test_config_rejects_bad_values_naming_the_key():
    with pytest.raises(ConfigError, match="search_asymmetry.model.pool_type"):
        EccNetConfig(pool_type="median")
    with pytest.raises(ConfigError, match="search_asymmetry.backbone.widths"):
        EccNetConfig(widths=(4, 4, 4))


def test_a_checkpoint_with_an_unknown_setting_names_the_file_and_key(tmp_path):
    path = tmp_path / "backbone.pt"
    save_checkpoint(path, EccNet(EccNetConfig(widths=TINY)), {"steps": 0})
    payload = torch.load(path, weights_only=False)
    payload["config"]["slopes"] = [0, 0, 0, 0, 0]
    torch.save(payload, path)
    with pytest.raises(DataValidationError, match=r"backbone.pt: field 'config.slopes'"):
        load_checkpoint(path)


def _as_config_values(values: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


def test_dataclass_defaults_are_the_schema_defaults():
    model = schema_defaults("search_asymmetry.model")
    paper = _as_config_values(dataclasses.asdict(EccNetConfig()))
    assert model == {key: paper[key] for key in model}
    backbone = schema_defaults("search_asymmetry.backbone")
    assert (backbone["widths"], backbone["weights"]) == (paper["widths"], paper["weights"])
    training = dataclasses.asdict(BackboneTrainingConfig())
    assert schema_defaults("search_asymmetry.backbone.training") == {k: v for k, v in training.items() if k != "seed"}
    assert schema_defaults("search_asymmetry")["seed"] == training["seed"]


def test_backbone_training_is_seeded_and_records_itself():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (80, 80, 3), dtype=np.uint8) for _ in range(2)]
    training = BackboneTrainingConfig(steps=2, batch_size=4, crop=32, seed=3)
    a, record = train_backbone(EccNetConfig(widths=TINY), images, training, progress=False)
    b, _ = train_backbone(EccNetConfig(widths=TINY), images, training, progress=False)
    torch.testing.assert_close(a.trunk.features[0].weight, b.trunk.features[0].weight)
    assert record["steps"] == 2 and "final_loss" in record


def test_backbone_is_trained_once_and_retrained_when_settings_or_images_change(tmp_path, caplog):
    from PIL import Image

    config = EccNetConfig(widths=TINY)
    training = BackboneTrainingConfig(steps=1, batch_size=2, crop=32)
    path = ensure_backbone(tmp_path / "b.pt", config, training, progress=False)
    stamp = path.stat().st_mtime_ns
    assert ensure_backbone(path, config, training, progress=False).stat().st_mtime_ns == stamp
    with caplog.at_level("INFO", logger="neurogaze.gaze.search_asymmetry.eccnet"):
        ensure_backbone(path, config, BackboneTrainingConfig(steps=2, batch_size=2, crop=32), progress=False)
    assert "retraining" in caplog.text
    assert torch.load(path, weights_only=False)["training"]["steps"] == 2
    # the pooling the trunk trains with and the extra images are part of the key too
    stamp = path.stat().st_mtime_ns
    ensure_backbone(path, EccNetConfig(widths=TINY, pool_type="max"), training, progress=False)
    assert path.stat().st_mtime_ns != stamp
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(images / "a.jpg")
    ensure_backbone(path, config, training, images, progress=False)
    assert "file:a.jpg" in torch.load(path, weights_only=False)["training"]["images"]
    stamp = path.stat().st_mtime_ns
    Image.fromarray(np.full((64, 64, 3), 90, dtype=np.uint8)).save(images / "a.jpg")
    ensure_backbone(path, config, training, images, progress=False)
    assert path.stat().st_mtime_ns != stamp


def test_a_missing_image_folder_names_it(tmp_path):
    with pytest.raises(DataValidationError, match="no such folder"):
        ensure_backbone(tmp_path / "b.pt", EccNetConfig(widths=TINY), BackboneTrainingConfig(steps=1),
                        tmp_path / "absent", progress=False)
    assert not (tmp_path / "b.pt").exists()


def _write_keras_vgg16(path, trunk, seed=0):
    """A Keras-layout VGG16 weights file (model.save_weights): layer groups named in the root's
    layer_names, pooling layers without weights, kernels (kh, kw, in, out)."""
    import h5py

    rng = np.random.default_rng(seed)
    convs = [m for m in trunk.features if isinstance(m, torch.nn.Conv2d)]
    names, kernels = [], []
    with h5py.File(path, "w") as handle:
        conv = 0
        for block, depth in enumerate((2, 2, 3, 3, 3), start=1):
            for layer in range(1, depth + 1):
                module = convs[conv]
                name = f"block{block}_conv{layer}"
                kernel = rng.normal(size=(3, 3, module.in_channels, module.out_channels)).astype(np.float32)
                group = handle.create_group(name).create_group(name)
                group["kernel:0"], group["bias:0"] = kernel, rng.normal(size=module.out_channels).astype(np.float32)
                handle[name].attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
                names.append(name)
                kernels.append(kernel)
                conv += 1
            pool = f"Layer{block}"
            handle.create_group(pool).attrs["weight_names"] = []
            names.append(pool)
        handle.attrs["layer_names"] = [n.encode() for n in names]
    return kernels


def test_the_authors_keras_weights_load_as_cross_correlation_kernels(tmp_path):
    config = EccNetConfig(widths=TINY)
    kernels = _write_keras_vgg16(tmp_path / "vgg16_imagenet_filters.h5", EccNet(config).trunk)
    model = load_released_weights(EccNet(config), tmp_path / "vgg16_imagenet_filters.h5")
    first = model.trunk.features[0]
    # a Keras Conv2D output at one pixel: sum over kh, kw, in of kernel * input patch (no flip)
    x = torch.randn(1, 3, 5, 5)
    keras = np.einsum("hwio,hwi->o", kernels[0], x[0, :, 1:4, 1:4].permute(1, 2, 0).numpy())
    ours = (first(x)[0, :, 2, 2] - first.bias).detach().numpy()
    np.testing.assert_allclose(ours, keras, rtol=1e-4, atol=1e-5)
    short = tmp_path / "short.h5"
    _write_keras_vgg16(short, EccNet(config).trunk)
    import h5py

    with h5py.File(short, "a") as handle:
        handle.attrs["layer_names"] = list(handle.attrs["layer_names"])[:-4]
    with pytest.raises(DataValidationError, match="short.h5.*13 convolution"):
        load_released_weights(EccNet(config), short)


def test_caffe_preprocessing_is_bgr_minus_the_imagenet_mean_on_0_255():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[..., 0], image[..., 2] = 200, 10  # red 200, blue 10
    tensor = EccNet(EccNetConfig(widths=TINY, preprocessing="caffe")).preprocess(image)
    np.testing.assert_allclose(tensor[0, :, 0, 0].numpy(), [10 - 103.939, 0 - 116.779, 200 - 123.68], rtol=1e-6)
    with pytest.raises(ConfigError, match="preprocessing"):
        EccNetConfig(preprocessing="bgr")


def test_each_fixation_sees_a_background_padded_crop_centred_on_it():
    """The authors' framing: 2 x (display + 64 px) around the fixation, background around the display."""
    from neurogaze.gaze.search_asymmetry.eccnet import fixation_crop

    image = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    crop, (top, left) = fixation_crop(image, (3.0, 15.0), margin_px=64, background=127)
    assert crop.shape == (2 * (20 + 64), 2 * (20 + 64), 3)
    np.testing.assert_array_equal(crop[crop.shape[0] // 2, crop.shape[1] // 2], image[3, 15])
    np.testing.assert_array_equal(crop[top : top + 10, left : left + 20], image)
    outside = np.ones(crop.shape[:2], dtype=bool)
    outside[top : top + 10, left : left + 20] = False
    assert (crop[outside] == 127).all()
    # from any fixation the whole display is inside the crop
    for fixation in ((0, 0), (9, 19), (0, 19)):
        _, (t, lft) = fixation_crop(image, fixation, 64, 127)
        assert t >= 64 and lft >= 64 and t + 10 <= crop.shape[0] - 64 and lft + 20 <= crop.shape[1] - 64


def test_sharpening_windows_follow_opencv_gaussian_blur():
    """The authors' dog_size pairs are OpenCV GaussianBlur windows: (ksize, sigma) -> radius
    (ksize - 1) / 2, and sigma 0 becomes 0.3 ((ksize - 1) / 2 - 1) + 0.8."""
    from neurogaze.gaze.search_asymmetry.eccnet import dog_from_windows

    assert dog_from_windows(((5, 3), (7, 5))) == ((3.0, 5.0), (2, 3))
    sigmas, radii = dog_from_windows(((3, 0), (5, 1)))
    assert sigmas == pytest.approx((0.8, 1.0)) and radii == (1, 2)
    # one OpenCV blur of an impulse: a normalised, separable Gaussian of that window (BORDER_REFLECT_101)
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((9, 9))
    impulse[4, 4] = 1.0
    blurred = gaussian_filter(impulse, 3.0, radius=2, mode="mirror")
    kernel = np.exp(-0.5 * (np.arange(-2, 3) / 3.0) ** 2)
    kernel /= kernel.sum()
    np.testing.assert_allclose(blurred[2:7, 2:7], np.outer(kernel, kernel))
