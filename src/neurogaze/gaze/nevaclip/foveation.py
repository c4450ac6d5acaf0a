"""Differentiable foveation (NeVA / NevaClip, Schwinn et al. 2022, Zanca et al. 2023).

A foveated image is the sharp image inside a Gaussian fovea and a blurred copy outside it;
past fixations stay sharp through a memory map. Following the reference implementation
(github.com/dario-zanca/NevaClip, ``NeVA.py``):

- positions are normalised to [-1, 1] over the (square, cropped) model input; -1 and +1 are the
  centres of the first and last pixel (the grid is ``linspace(-1, 1, size)``);
- the fovea is ``amplitude * exp(-d**2 / sigma)`` with ``d`` the distance in those normalised
  units, so ``sigma`` is relative to the image size and is divided by directly (not by
  ``2 sigma**2``); the paper's 0.2 gives a fovea about a fifth of the image wide;
- the blurred copy is a ``kernel_size`` x ``kernel_size`` Gaussian of width ``blur_sigma``
  pixels with reflection padding;
- the mix is ``sharp + (blurred - sharp) * clamp(1 - (memory + fovea), 0, 1)``;
- after each fixation ``memory <- forgetting * memory + fovea(fixation)``.

Differences from the reference: positions here are ordered (x, y) (horizontal first); the
reference's meshgrid makes its first coordinate the vertical one. The blur runs on [0, 1]
pixels before the backbone's normalisation; the reference blurs the normalised tensor, which
is the same image because a normalised Gaussian blur commutes with a per-channel affine map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neurogaze.errors import ConfigError


def gaussian_kernel1d(kernel_size: int, sigma: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """A normalised 1-D Gaussian of odd length ``kernel_size`` (width ``sigma`` in pixels)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(None, "blur_kernel", f"an odd positive kernel size, got {kernel_size}")
    if sigma <= 0:
        raise ConfigError(None, "blur_sigma", f"a positive width in pixels, got {sigma}")
    offsets = torch.arange(kernel_size, dtype=torch.float64) - kernel_size // 2
    kernel = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return (kernel / kernel.sum()).to(dtype=dtype, device=device)


def gaussian_blur(images: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Blur (N, C, H, W) images with a separable Gaussian and reflection padding.

    Separable rows-then-columns is the same filter as the reference's 2-D outer-product window.
    """
    height, width = images.shape[-2:]
    pad = kernel_size // 2
    if pad >= min(height, width):
        raise ConfigError(
            None, "blur_kernel", f"a kernel narrower than twice the image ({height}x{width}); got {kernel_size}"
        )
    channels = images.shape[1]
    kernel = gaussian_kernel1d(kernel_size, sigma, images.dtype, images.device)
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1), groups=channels)


def normalised_grid(size: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The pixel-centre coordinates of a ``size``-pixel axis in [-1, 1]."""
    return torch.linspace(-1.0, 1.0, size, dtype=dtype, device=device)


def fovea_mask(positions: torch.Tensor, size: int, sigma: float, amplitude: float = 1.0) -> torch.Tensor:
    """Gaussian foveae (N, 1, size, size) at ``positions`` (N, 2) = (x, y) in [-1, 1]."""
    grid = normalised_grid(size, positions.dtype, positions.device)
    dx = grid.view(1, 1, size) - positions[:, 0].view(-1, 1, 1)
    dy = grid.view(1, size, 1) - positions[:, 1].view(-1, 1, 1)
    return (amplitude * torch.exp(-(dx**2 + dy**2) / sigma)).unsqueeze(1)


def foveate(
    sharp: torch.Tensor,
    blurred: torch.Tensor,
    memory: torch.Tensor,
    positions: torch.Tensor,
    sigma: float,
    amplitude: float = 1.0,
) -> torch.Tensor:
    """Sharp inside the fovea and the remembered fixations, blurred elsewhere (differentiable in positions).

    ``sharp``, ``blurred``: (N, C, S, S); ``memory``: (N, 1, S, S); ``positions``: (N, 2).
    """
    fovea = fovea_mask(positions, sharp.shape[-1], sigma, amplitude)
    blur_weight = torch.clamp(1.0 - (memory + fovea), 0.0, 1.0)
    return sharp + (blurred - sharp) * blur_weight


def update_memory(memory: torch.Tensor, positions: torch.Tensor, sigma: float, forgetting: float,
                  amplitude: float = 1.0) -> torch.Tensor:
    """``forgetting * memory + fovea(positions)``: the reference's memory of past fixations."""
    return forgetting * memory + fovea_mask(positions, memory.shape[-1], sigma, amplitude)


__all__ = ["fovea_mask", "foveate", "gaussian_blur", "gaussian_kernel1d", "normalised_grid", "update_memory"]
