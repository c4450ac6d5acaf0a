"""eccNET: visual search with eccentricity-dependent pooling (Gupta, Zhang, Wu, Wolfe & Kreiman,
NeurIPS 2021).

The model, as in the authors' released code (github.com/kreimanlab/VisualSearchAsymmetry):

* A VGG16 trunk (13 convolutions in blocks of 2, 2, 3, 3, 3) whose pooling windows grow with
  eccentricity from the current fixation. Pool layer l sees ``round(deg2px / 2**(l-1))`` px per
  degree; the released code lays its rings out in the layer's output grid with that number, so
  the fovea has a radius of about ``fovea_deg`` (4 deg) and each ring is about ``ring_deg``
  (1 deg) wide (:func:`window_sizes`); beyond the fovea the window grows linearly with the ring's
  outer radius. The paper's slopes for pool1-5 are (0, 0, 0.07, 0.16, 0.32) (3.5, 8 and 16 x
  0.02, from macaque receptive fields), with 30 px/deg, stride 2 and average pooling.
* Top-down modulation: the target cue goes through the same network (it is foveal, so its pooling
  is the ordinary one); its conv3_3, conv4_3 and conv5_3 maps, pooled to 1/32 scale, are the
  kernels of a convolution over the search image's conv3_3, conv4_3, conv5_3 maps at 1/16 scale.
  Each layer's map is min-max normalised and the maps are averaged with weights proportional to
  each layer's peak response; three rounds of difference-of-Gaussians sharpening follow (each
  experiment's own windows, ``experiments.DOG_WINDOWS``).
* Each fixation sees a square of 2 x (display + 64 px) centred on it, the display padded with
  its background (``framing``). The map is upsampled, restricted to the display's grid cells not
  yet visited (empty cells included, as the authors' model), and its argmax is the next
  fixation. Inhibition of return is by cell: the fixated cell is removed from the attention map
  and filled with the background. Search stops when the fixated cell holds the target, or after
  ``max_fixations`` (cells + 1).
* Reaction time = 252.359 ms x fixations + 376.271 ms (the paper's conversion).

Released VGG16 weights load from a local file: the authors' Keras ``vgg16_imagenet_filters.h5``
(with Keras' caffe preprocessing) or a torchvision ``vgg16`` state dict (``weights``); without
them, a VGG16-shaped network of configurable width is trained here (``train_backbone``).
:class:`EccNetConfig` and :class:`BackboneTrainingConfig` keep the paper's values as defaults; the
config schema's ``search_asymmetry.model``, ``.backbone`` and ``.backbone.training`` sections
hold the same values (a test checks it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import gaussian_filter
from torch import nn
from tqdm.auto import tqdm

import neurogaze
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError
from neurogaze.io import as_text, fingerprint, write_torch

logger = logging.getLogger(__name__)

VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_BLOCK_DEPTHS = (2, 2, 3, 3, 3)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # Keras' vgg16.preprocess_input, on 0-255
PREPROCESSING = ("imagenet", "caffe")
FRAMINGS = ("fixation_crop", "whole_display")
IMAGENET_STD = (0.229, 0.224, 0.225)
RT_SLOPE_MS = 252.359
RT_INTERCEPT_MS = 376.271


@dataclass
class EccNetConfig:
    """Architecture and search parameters. Defaults are the paper's values (full VGG16 widths);
    ``dog_sigmas``, ``dog_radii``, ``max_fixations``, ``input_mean`` and ``input_std`` are fixed
    (not in the config)."""

    widths: tuple[int, ...] = VGG16_WIDTHS
    weights: str | None = None  # a torchvision vgg16 state dict on disk; None: a checkpoint trained here
    ecc_slopes: tuple[float, ...] = (0.0, 0.0, 0.07, 0.16, 0.32)
    rf_min: int = 2
    deg2px: float = 30.0
    fovea_deg: float = 4.0
    ring_deg: float = 1.0
    pool_type: str = "avg"
    attention_layers: tuple[int, ...] = (3, 4, 5)
    dog_sigmas: tuple[float, float] = (1.0, 3.0)
    dog_radii: tuple[int, int] = (1, 2)  # the authors' 3x3 and 5x5 Gaussian windows
    dog_iterations: int = 3
    max_fixations: int | None = None  # None: number of grid cells + 1, as the authors
    input_mean: tuple[float, ...] = IMAGENET_MEAN
    input_std: tuple[float, ...] = IMAGENET_STD
    # "imagenet": RGB in [0, 1], torchvision's mean and SD (its vgg16 weights); "caffe": BGR on
    # 0-255 minus the ImageNet BGR mean (Keras' vgg16.preprocess_input), as the authors' Keras
    # weights (vgg16_imagenet_filters.h5) expect
    preprocessing: str = "imagenet"
    # "fixation_crop": each fixation's input is a square of 2 x (display + margin_px) centred on
    # the fixation, cut from the display padded with its background colour (the authors'
    # VisualSearchModel: eye_res = the display, corner_bias = 64 px), so the rings are centred on
    # the fixation and the display's edges sit on background, not on the convolutions' zero
    # padding; "whole_display": the display itself, pooled around the fixation
    framing: str = "fixation_crop"
    margin_px: int = 64

    def __post_init__(self):
        for name in ("widths", "ecc_slopes", "attention_layers", "dog_sigmas", "dog_radii", "input_mean", "input_std"):
            setattr(self, name, tuple(getattr(self, name)))
        problems = {
            "backbone.widths": (len(self.widths) == 5, "5 values (VGG16's five blocks)", self.widths),
            "model.ecc_slopes": (len(self.ecc_slopes) == 5, "5 values (one per pool layer)", self.ecc_slopes),
            "model.pool_type": (self.pool_type in ("avg", "max"), "'avg' or 'max'", self.pool_type),
            "model.preprocessing": (self.preprocessing in PREPROCESSING, f"one of {PREPROCESSING}",
                                    self.preprocessing),
            "model.framing": (self.framing in FRAMINGS, f"one of {FRAMINGS}", self.framing),
            "model.attention_layers": (set(self.attention_layers) <= {1, 2, 3, 4, 5}, "block numbers 1-5",
                                       self.attention_layers),
        }
        for key, (valid, expected, got) in problems.items():
            if not valid:
                raise ConfigError(None, f"search_asymmetry.{key}", f"expected {expected}, got {got!r}")


# ---------------------------------------------------------------------------------------------
# Eccentricity-dependent pooling
# ---------------------------------------------------------------------------------------------


def same_pool(x: torch.Tensor, size: int, stride: int = 2, mode: str = "avg") -> torch.Tensor:
    """TF-style 'same' pooling: output ceil(H/stride); padding is excluded from averages."""
    height, width = x.shape[-2:]
    out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    pad_h = max((out_h - 1) * stride + size - height, 0)
    pad_w = max((out_w - 1) * stride + size - width, 0)
    pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
    if mode == "max":
        return F.max_pool2d(F.pad(x, pads, value=-torch.inf), size, stride)
    total = F.avg_pool2d(F.pad(x, pads), size, stride)
    count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pads), size, stride)
    return total / count


def window_sizes(
    shape: tuple[int, int], fixation: tuple[float, float], slope: float, rf_min: int, deg2px: float,
    fovea_deg: float, ring_deg: float, stride: int = 2,
) -> np.ndarray:
    """Pooling window (px of the layer's input) at each output location, for a fixation given in
    the layer's input pixels (row, col), with the released code's geometry
    (``CentreDependentPooling2D``): the rings live in the layer's *output* grid but are sized
    with the layer's *input* pixels per degree, so in degrees the fovea's radius is
    ``fovea_deg`` (4) and each ring ``ring_deg`` (1) wide, twice what the parameter names say.
    In output cells: the fovea is the disc of radius ``round(fovea_deg * deg2px / 2)``, ring k
    adds ``round(ring_deg * deg2px / 2)`` to the radius, and a location at distance d with
    ``e_(k-1) <= d < e_k`` gets ``rf_min + round(slope * (2 e_k - fovea_deg * deg2px))``.
    (The released layer stops the rings at the edge of its square fixation-centred crop; this
    one keeps them growing, so they reach every display location from any fixation.)"""
    out_h, out_w = math.ceil(shape[0] / stride), math.ceil(shape[1] / stride)
    distance = np.hypot(np.arange(out_h)[:, None] - fixation[0] / stride,
                        np.arange(out_w)[None, :] - fixation[1] / stride)
    fovea_radius = round(fovea_deg * deg2px / 2)
    ring_width = round(ring_deg * deg2px / 2)
    if ring_width < 1:
        return np.full((out_h, out_w), rf_min, dtype=int)
    # ring k (1, 2, ...) holds fovea_radius + (k - 1) * ring_width <= d < fovea_radius + k * ring_width
    rings = np.where(distance < fovea_radius, 0, np.floor((distance - fovea_radius) / ring_width) + 1)
    outer = fovea_radius + rings * ring_width
    sizes = rf_min + np.round(slope * (2 * outer - fovea_deg * deg2px))
    return np.where(rings == 0, rf_min, sizes).astype(int)


def _box_means(x: torch.Tensor, sizes: np.ndarray, stride: int) -> torch.Tensor:
    """'same' average pooling with a window size per output location, from one integral image
    (cost independent of the window size); padding is excluded from each mean."""
    height, width = x.shape[-2:]
    out_h, out_w = sizes.shape
    integral = F.pad(x.double().cumsum(-2).cumsum(-1), (1, 0, 1, 0))
    pad_h = np.maximum((out_h - 1) * stride + sizes - height, 0)
    pad_w = np.maximum((out_w - 1) * stride + sizes - width, 0)
    rows = np.arange(out_h)[:, None] * stride - pad_h // 2
    cols = np.arange(out_w)[None, :] * stride - pad_w // 2
    r0, r1 = np.clip(rows, 0, height), np.clip(rows + sizes, 0, height)
    c0, c1 = np.clip(cols, 0, width), np.clip(cols + sizes, 0, width)
    index = [torch.from_numpy(a).to(x.device) for a in (r0, r1, c0, c1)]
    r0, r1, c0, c1 = index
    total = integral[..., r1, c1] - integral[..., r0, c1] - integral[..., r1, c0] + integral[..., r0, c0]
    count = ((r1 - r0) * (c1 - c0)).to(total.dtype)
    return (total / count).to(x.dtype)


def eccentric_pool(
    x: torch.Tensor, fixation: tuple[float, float], slope: float, rf_min: int, deg2px: float,
    fovea_deg: float, ring_deg: float, mode: str = "avg", stride: int = 2,
) -> torch.Tensor:
    """Pool with a window that grows with distance from ``fixation`` (layer-input pixels)."""
    sizes = window_sizes(tuple(x.shape[-2:]), fixation, slope, rf_min, deg2px, fovea_deg, ring_deg, stride)
    unique = np.unique(sizes)
    if len(unique) == 1:
        return same_pool(x, int(unique[0]), stride, mode)
    if mode == "avg":
        return _box_means(x, sizes, stride)
    out = torch.zeros(*x.shape[:-2], *sizes.shape, dtype=x.dtype, device=x.device)
    for size in unique:
        where = torch.from_numpy(sizes == size).to(x.device)
        out = torch.where(where, same_pool(x, int(size), stride, mode), out)
    return out


# ---------------------------------------------------------------------------------------------
# The VGG16-shaped trunk
# ---------------------------------------------------------------------------------------------


class VGGTrunk(nn.Module):
    """VGG16's convolutional part with torchvision's ``features.<i>`` parameter names, so a
    torchvision ``vgg16`` state dict loads as is; pooling is done by the caller."""

    def __init__(self, widths=VGG16_WIDTHS):
        super().__init__()
        layers, self.block_ends, channels = [], [], 3
        for width, depth in zip(widths, VGG16_BLOCK_DEPTHS):
            for _ in range(depth):
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2, 2))  # placeholder keeping torchvision's indices
            self.block_ends.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)
        # torchvision's VGG initialisation: without it 13 plain convolutions shrink the signal
        # layer by layer and the network neither trains nor gives usable deep features
        for layer in self.features:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def blocks(self, x: torch.Tensor, pool):
        """Yield each block's last conv output; ``pool(x, block)`` pools between blocks."""
        start = 0
        for block, end in enumerate(self.block_ends, start=1):
            for layer in self.features[start:end]:
                x = layer(x)
            yield x
            if block < len(self.block_ends):
                x = pool(x, block)
            start = end + 1


def _downsample(x: torch.Tensor, times: int, mode: str) -> torch.Tensor:
    for _ in range(times):
        x = same_pool(x, 2, 2, mode)
    return x


class EccNet(nn.Module):
    def __init__(self, config: EccNetConfig):
        super().__init__()
        self.config = config
        self.trunk = VGGTrunk(config.widths)
        self.register_buffer("mean", torch.tensor(config.input_mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.input_std).view(1, 3, 1, 1))

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """An RGB uint8 image (H, W, 3) as the trunk's input (see ``EccNetConfig.preprocessing``)."""
        tensor = torch.from_numpy(np.ascontiguousarray(image)).float().permute(2, 0, 1)[None].to(self.mean.device)
        if self.config.preprocessing == "caffe":
            bgr_mean = torch.tensor(CAFFE_BGR_MEAN, device=tensor.device).view(1, 3, 1, 1)
            return tensor.flip(1) - bgr_mean
        return (tensor / 255.0 - self.mean) / self.std

    def _eccentric(self, fixation):
        cfg = self.config

        def pool(x, block):
            scale = 2 ** (block - 1)
            # the released model's per-layer px per degree: round(30 / 2^(l-1)) = 30, 15, 8, 4, 2
            return eccentric_pool(
                x, (fixation[0] / scale, fixation[1] / scale), cfg.ecc_slopes[block - 1], cfg.rf_min,
                round(cfg.deg2px / scale), cfg.fovea_deg, cfg.ring_deg, cfg.pool_type,
            )

        return pool

    def _foveal(self, x, block):
        return same_pool(x, self.config.rf_min, 2, self.config.pool_type)

    @torch.no_grad()
    def search_features(self, image: torch.Tensor, fixation: tuple[float, float]) -> list[torch.Tensor]:
        """conv3_3, conv4_3, conv5_3 (the attention layers) at 1/16 scale, seen from ``fixation``."""
        outputs = list(self.trunk.blocks(image, self._eccentric(fixation)))
        return [_downsample(outputs[b - 1], 5 - b, self.config.pool_type) for b in self.config.attention_layers]

    @torch.no_grad()
    def target_features(self, target: torch.Tensor) -> list[torch.Tensor]:
        """The same layers for the (foveal) target cue, one pooling further (1/32 scale)."""
        outputs = list(self.trunk.blocks(target, self._foveal))
        return [_downsample(outputs[b - 1], 6 - b, self.config.pool_type) for b in self.config.attention_layers]


# ---------------------------------------------------------------------------------------------
# Top-down attention and the search loop
# ---------------------------------------------------------------------------------------------


def _pad_same(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Zero padding that keeps the size under a stride-1 convolution (the extra row/column of
    an even kernel goes after, as in TensorFlow's 'same')."""
    (kh, kw) = kernel
    return F.pad(x, ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2))


def top_down_attention(search_maps: list[torch.Tensor], target_maps: list[torch.Tensor]) -> np.ndarray:
    """Target features convolved over the search features, layer by layer; each layer's map
    min-max normalised and weighted by its peak response (weights sum to 1)."""
    maps, peaks = [], []
    for search, target in zip(search_maps, target_maps):
        response = F.conv2d(_pad_same(search, target.shape[-2:]), target)[0, 0].cpu().numpy().astype(np.float64)
        peaks.append(max(float(response.max()), 0.0))
        span = response.max() - response.min()
        maps.append((response - response.min()) / span if span > 0 else np.zeros_like(response))
    weights = np.asarray(peaks)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(maps), 1 / len(maps))
    return sum(w * m for w, m in zip(weights, maps))


def dog_from_windows(windows) -> tuple[tuple[float, float], tuple[int, int]]:
    """The authors' per-experiment ``dog_size`` [[ksize, sigma], [ksize, sigma]] (OpenCV
    GaussianBlur windows; sigma 0 means OpenCV's 0.3 ((ksize - 1) / 2 - 1) + 0.8) as the
    (sigmas, radii) of :func:`sharpen`."""
    sigmas, radii = [], []
    for size, sigma in windows:
        size = int(size)
        sigmas.append(float(sigma) if sigma > 0 else 0.3 * ((size - 1) * 0.5 - 1) + 0.8)
        radii.append((size - 1) // 2)
    return (sigmas[0], sigmas[1]), (radii[0], radii[1])


def sharpen(attention: np.ndarray, sigmas=(1.0, 3.0), radii=(1, 2), iterations: int = 3) -> np.ndarray:
    """Difference-of-Gaussians sharpening, repeated (the authors' post-processing)."""
    out = attention.astype(np.float64)
    for _ in range(iterations):
        narrow = gaussian_filter(out, sigmas[0], radius=radii[0], mode="mirror")
        wide = gaussian_filter(out, sigmas[1], radius=radii[1], mode="mirror")
        out = out + (narrow - wide)
    return out


def reaction_time_ms(n_fixations, slope: float = RT_SLOPE_MS, intercept: float = RT_INTERCEPT_MS):
    """The paper's conversion of fixation counts to reaction times (ms)."""
    return slope * np.asarray(n_fixations, dtype=float) + intercept


@dataclass
class SearchResult:
    fixations: list[tuple[float, float]] = field(default_factory=list)  # (row, col), initial one excluded
    fixated_items: list[int] = field(default_factory=list)
    found: bool = False

    @property
    def n_fixations(self) -> int:
        return len(self.fixations)


def item_mask(shape: tuple[int, int], boxes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for (r0, c0, r1, c1), kept in zip(boxes, keep):
        if kept:
            mask[max(r0, 0) : r1, max(c0, 0) : c1] = True
    return mask


def run_search(
    attention_fn, image: np.ndarray, boxes: np.ndarray, target_index: int, background: int,
    max_fixations: int, start: tuple[float, float] | None = None,
) -> SearchResult:
    """The search loop, independent of the network: ``attention_fn(image, fixation)`` returns a
    map of the image's shape. Fixations go to the attention peak among unvisited regions
    (``boxes``: a display's grid cells, empty ones included, or its items); a visited region is
    filled with the background (inhibition of return); search stops on the target's region, when
    every region is visited, or after ``max_fixations``."""
    image = image.copy()
    height, width = image.shape[:2]
    fixation = start if start is not None else ((height - 1) / 2, (width - 1) / 2)
    unvisited = np.ones(len(boxes), dtype=bool)
    result = SearchResult()
    for _ in range(max_fixations):
        if not unvisited.any():
            break
        attention = attention_fn(image, fixation)
        attention = (attention - attention.min()) * item_mask((height, width), boxes, unvisited)
        if attention.max() <= 0:  # flat map: the first unvisited item's centre, deterministically
            r0, c0, r1, c1 = boxes[np.flatnonzero(unvisited)[0]]
            row, col = (r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2
        else:
            row, col = np.unravel_index(int(np.argmax(attention)), attention.shape)
        fixation = (float(row), float(col))
        item = _item_at(boxes, row, col)
        result.fixations.append(fixation)
        result.fixated_items.append(item)
        unvisited[item] = False
        r0, c0, r1, c1 = boxes[item]
        image[max(r0, 0) : r1, max(c0, 0) : c1] = background
        if item == target_index:
            result.found = True
            break
    return result


def fixation_crop(image: np.ndarray, fixation, margin_px: int, background: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The authors' model input for one fixation: a square of side 2 x (eye_res + margin_px),
    eye_res = the display's longer side, centred on the fixation, cut from the display padded
    with ``background``; and where the display's (0, 0) lies in it (row, col)."""
    height, width = image.shape[:2]
    half = max(height, width) + int(margin_px)
    row, col = int(round(fixation[0])), int(round(fixation[1]))
    crop = np.full((2 * half, 2 * half) + image.shape[2:], background, dtype=image.dtype)
    top, left = half - row, half - col
    crop[top : top + height, left : left + width] = image
    return crop, (top, left)


def _item_at(boxes: np.ndarray, row: float, col: float) -> int:
    inside = (boxes[:, 0] <= row) & (row < boxes[:, 2]) & (boxes[:, 1] <= col) & (col < boxes[:, 3])
    return int(np.flatnonzero(inside)[0])


class EccNetSearcher:
    """eccNET on displays: ``search(image, target, boxes, target_index, background)``."""

    def __init__(self, model: EccNet, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = device

    def attention(self, image: np.ndarray, fixation, target_maps, background: int = 0, dog=None) -> np.ndarray:
        """The attention map over ``image`` (the display) seen from ``fixation`` (row, col);
        ``dog``: the experiment's (sigmas, radii) of the sharpening (None: the config's)."""
        cfg = self.model.config
        if cfg.framing == "whole_display":
            return self._attention_on(image, fixation, target_maps, dog)
        crop, (top, left) = fixation_crop(image, fixation, cfg.margin_px, background)
        centre = (crop.shape[0] // 2, crop.shape[1] // 2)
        attention = self._attention_on(crop, centre, target_maps, dog)
        height, width = image.shape[:2]
        return attention[top : top + height, left : left + width]

    def _attention_on(self, image: np.ndarray, fixation, target_maps, dog=None) -> np.ndarray:
        cfg = self.model.config
        sigmas, radii = dog or (cfg.dog_sigmas, cfg.dog_radii)
        search_maps = self.model.search_features(self.model.preprocess(image), fixation)
        attention = sharpen(top_down_attention(search_maps, target_maps), sigmas, radii, cfg.dog_iterations)
        upsampled = F.interpolate(
            torch.from_numpy(attention)[None, None], size=image.shape[:2], mode="bilinear", align_corners=False
        )
        return upsampled[0, 0].numpy()

    def search(self, image, target, boxes, target_index, background, max_fixations=None, dog=None) -> SearchResult:
        """Search ``image`` for ``target``: fixations go to the regions ``boxes`` (the display's
        grid cells, empty ones included, as the authors' model; or the items) until the region
        ``target_index`` is fixated. ``dog``: the experiment's sharpening windows
        [[ksize, sigma], [ksize, sigma]] (None: the config's)."""
        target_maps = self.model.target_features(self.model.preprocess(target))
        cap = max_fixations or self.model.config.max_fixations or len(boxes) + 1
        sharpening = dog_from_windows(dog) if dog is not None else None
        return run_search(
            lambda img, fix: self.attention(img, fix, target_maps, background, sharpening), image,
            np.asarray(boxes), target_index, background, cap,
        )


# ---------------------------------------------------------------------------------------------
# Weights: released VGG16 from a local file, or a checkpoint trained here
# ---------------------------------------------------------------------------------------------


def load_released_weights(model: EccNet, path: str | Path) -> EccNet:
    """Load a torchvision ``vgg16`` state dict (``features.*``; the classifier is ignored), or the
    authors' Keras weights (an ``.h5`` file such as ``vgg16_imagenet_filters.h5``)."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"VGG16 weights not found at {path} (nothing is downloaded; set "
                                  "search_asymmetry.backbone.weights: null to train a trunk here)")
    if path.suffix.lower() in (".h5", ".hdf5"):
        model.trunk.load_state_dict(keras_vgg16_state(path, model.trunk), strict=True)
        return model
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise DataValidationError(path, "state_dict", "torchvision vgg16 keys 'features.<i>.weight'", "none")
    try:
        model.trunk.load_state_dict(features, strict=True)
    except RuntimeError as error:
        raise DataValidationError(path, "state_dict", f"VGG16 feature shapes for widths {model.config.widths}",
                                  str(error).splitlines()[0]) from error
    return model


def keras_vgg16_state(path: str | Path, trunk: VGGTrunk) -> dict[str, torch.Tensor]:
    """The 13 convolutions of a Keras VGG16 weights file (``model.save_weights``: a group per
    layer named in the file's ``layer_names``, its ``kernel`` (kh, kw, in, out) and ``bias``) as
    the trunk's state dict, in the file's layer order. Keras convolutions are cross-correlations
    like torch's: the kernel is only transposed to (out, in, kh, kw)."""
    import h5py

    path = Path(path)
    convs = [name for name, module in trunk.features.named_children() if isinstance(module, nn.Conv2d)]
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        layer_names = [as_text(name) for name in root.attrs.get("layer_names", [])]
        pairs = []
        for layer in layer_names:
            weight_names = [as_text(name) for name in root[layer].attrs.get("weight_names", [])]
            kernels = [w for w in weight_names if w.endswith("kernel:0")]
            biases = [w for w in weight_names if w.endswith("bias:0")]
            if kernels and biases and root[layer][kernels[0]].ndim == 4:
                pairs.append((np.asarray(root[layer][kernels[0]]), np.asarray(root[layer][biases[0]])))
    if len(pairs) != len(convs):
        raise DataValidationError(path, "layer_names", f"{len(convs)} convolution layers (Keras VGG16)", len(pairs))
    state = {}
    for number, (index, (kernel, bias)) in enumerate(zip(convs, pairs), start=1):
        expected = tuple(getattr(trunk.features, index).weight.shape)
        weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).float()
        if tuple(weight.shape) != expected:
            raise DataValidationError(path, f"convolution {number} kernel", f"shape {expected} (out, in, kh, kw)",
                                      tuple(weight.shape))
        state[f"features.{index}.weight"] = weight
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(bias)).float()
    return state


def save_checkpoint(path: str | Path, model: EccNet, training: dict) -> None:
    """A self-describing checkpoint: config, state dict, neurogaze version, training record."""
    payload = {
        "config": asdict(model.config),
        "state_dict": model.trunk.state_dict(),
        "neurogaze_version": neurogaze.__version__,
        "training": training,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_torch(path, payload)


def load_checkpoint(path: str | Path, overrides: dict | None = None) -> tuple[EccNet, dict]:
    """Rebuild the model from a checkpoint; ``overrides`` change search parameters (not widths)."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"eccNET backbone checkpoint not found at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("config", "state_dict", "neurogaze_version"):
        if key not in payload:
            raise DataValidationError(path, key, "an eccNET checkpoint (config, state_dict, neurogaze_version)",
                                      "missing")
    values = dict(payload["config"])
    known = {f.name for f in fields(EccNetConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DataValidationError(path, f"config.{unknown[0]}", f"one of {sorted(known)}", "an unknown setting")
    for key, value in (overrides or {}).items():
        if key == "widths" and tuple(value) != tuple(values["widths"]):
            raise DataValidationError(path, "widths", f"the checkpoint's widths {values['widths']}", value)
        values[key] = value
    model = EccNet(EccNetConfig(**values))
    model.trunk.load_state_dict(payload["state_dict"])
    return model.eval(), payload.get("training", {})


def build_eccnet(config: EccNetConfig, checkpoint: str | Path | None = None) -> EccNet:
    """Released weights when ``config.weights`` is set, else the checkpoint trained here."""
    if config.weights:
        return load_released_weights(EccNet(config), config.weights).eval()
    if checkpoint is None:
        raise MissingWeightsError("eccNET needs either config.weights (a VGG16 state dict) or a trained checkpoint")
    overrides = {k: v for k, v in asdict(config).items() if k != "widths"}
    model, _ = load_checkpoint(checkpoint, overrides)
    if tuple(model.config.widths) != tuple(config.widths):
        raise DataValidationError(checkpoint, "widths", f"widths {config.widths} as configured", model.config.widths)
    return model


# ---------------------------------------------------------------------------------------------
# Training the backbone here: rotation prediction on natural-image crops
# ---------------------------------------------------------------------------------------------


@dataclass
class BackboneTrainingConfig:
    """Self-supervised rotation prediction (Gidaris et al. 2018): the network must tell which of
    0/90/180/270 deg a natural crop was turned by, which needs oriented edges, shapes and the
    'up' of natural scenes (light from above, ground below): the image statistics to which the
    paper attributes search asymmetry. No labels are needed, so it runs on any photographs."""

    steps: int = 400
    batch_size: int = 32
    crop: int = 64
    lr: float = 1e-3
    seed: int = 0


def natural_images(extra_dir: str | Path | None = None, max_extra: int = 200) -> tuple[list[np.ndarray], list[str]]:
    """scikit-image's bundled photographs (offline), plus up to ``max_extra`` JPEGs from a folder
    (for example OSIE's stimuli; a folder that is not there is an error). Returns RGB uint8 images
    and their names."""
    names = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right", "hubble_deep_field",
             "immunohistochemistry", "camera", "coins", "moon", "page", "grass", "gravel", "brick", "cat", "colorwheel"]
    images, used = [], []
    for name in names:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            continue
        try:
            image = np.asarray(loader())
        except (ImportError, OSError, ValueError) as error:  # one that needs pooch / a download
            logger.info("skipping skimage.data.%s: %s", name, error)
            continue
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        images.append(image[..., :3].astype(np.uint8))
        used.append(f"skimage:{name}")
    if extra_dir is not None:
        _check_image_dir(extra_dir)
        for path in sorted(Path(extra_dir).glob("*.jpg"))[:max_extra]:
            images.append(np.asarray(Image.open(path).convert("RGB")))
            used.append(f"file:{path.name}")
    return images, used


def _check_image_dir(image_dir: str | Path) -> None:
    if not Path(image_dir).is_dir():
        raise DataValidationError(image_dir, "image_dir", "a folder of JPEG training images", "no such folder")


def _rotation_batch(images, rng, batch_size, crop):
    crops, labels = [], []
    for _ in range(batch_size):
        image = images[int(rng.integers(len(images)))]
        h, w = image.shape[:2]
        step = int(rng.integers(1, max(2, min(h, w) // crop)))  # integer subsampling: several scales
        size = crop * step
        r, c = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        patch = image[r : r + size : step, c : c + size : step]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]  # a mirror keeps 'up', so the label is unchanged
        k = int(rng.integers(4))
        crops.append(np.rot90(patch, k).copy())
        labels.append(k)
    batch = torch.from_numpy(np.stack(crops)).float().permute(0, 3, 1, 2) / 255.0
    return batch, torch.tensor(labels)


def train_backbone(
    config: EccNetConfig, images: list[np.ndarray], training: BackboneTrainingConfig, progress: bool = True
) -> tuple[EccNet, dict]:
    """Train the trunk (ordinary pooling) on rotation prediction; returns the model and a record."""
    if not images:
        raise DataValidationError(None, "images", "at least one natural image to train on", 0)
    torch.manual_seed(training.seed)
    rng = np.random.default_rng(training.seed)
    model = EccNet(config)
    head = nn.Linear(config.widths[-1], 4)
    optimiser = torch.optim.Adam([*model.trunk.parameters(), *head.parameters()], lr=training.lr)
    losses, correct = [], []
    for _ in tqdm(range(training.steps), desc="eccNET backbone (rotation)", disable=not progress):
        batch, labels = _rotation_batch(images, rng, training.batch_size, training.crop)
        batch = (batch - model.mean) / model.std
        *_, last = model.trunk.blocks(batch, lambda x, b: same_pool(x, config.rf_min, 2, config.pool_type))
        logits = head(last.mean(dim=(2, 3)))
        loss = F.cross_entropy(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        correct.append(float((logits.argmax(1) == labels).float().mean()))
    tail = max(1, len(losses) // 10)
    record = {
        "objective": "rotation prediction (0/90/180/270 deg) on natural-image crops",
        "steps": training.steps, "batch_size": training.batch_size, "crop": training.crop, "lr": training.lr,
        "seed": training.seed, "final_loss": float(np.mean(losses[-tail:])),
        "final_accuracy": float(np.mean(correct[-tail:])), "chance_accuracy": 0.25,
    }
    return model.eval(), record


def backbone_key(config: EccNetConfig, training: BackboneTrainingConfig, image_dir: str | Path | None = None) -> str:
    """What a trained trunk depends on: its widths, the pooling it trains with, the training
    settings (seed included) and the extra images (their content)."""
    if image_dir is not None:
        _check_image_dir(image_dir)
    settings = {"widths": config.widths, "rf_min": config.rf_min, "pool_type": config.pool_type,
                "training": asdict(training)}
    return fingerprint(image_dir, settings=settings)


def ensure_backbone(
    checkpoint: str | Path, config: EccNetConfig, training: BackboneTrainingConfig,
    image_dir: str | Path | None = None, progress: bool = True,
) -> Path:
    """Train the backbone once and cache it: an existing checkpoint made from the same widths,
    pooling, training settings and images (:func:`backbone_key`) is reused; one made from others
    is retrained, with a log line."""
    checkpoint = Path(checkpoint)
    key = backbone_key(config, training, image_dir)
    if checkpoint.is_file():
        payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if payload.get("training", {}).get("key") == key:
            return checkpoint
        logger.info("eccNET backbone: retraining %s (made from other widths, pooling, training settings or images)",
                    checkpoint)
    images, names = natural_images(image_dir)
    model, record = train_backbone(config, images, training, progress)
    save_checkpoint(checkpoint, model, {**record, "images": names, "key": key})
    return checkpoint
