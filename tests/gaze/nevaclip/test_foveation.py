"""Differentiable foveation: the blur against scipy, the fovea's formula, the sharp/blurred mix
and the memory of past fixations."""

import numpy as np
import scipy.ndimage
import torch

from neurogaze.gaze.nevaclip.foveation import fovea_mask, foveate, gaussian_blur, update_memory

SIZE = 32


def test_gaussian_blur_matches_scipy():
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = gaussian_blur(image, 7, 1.5).numpy()
    # torch "reflect" padding is scipy's "mirror"; radius 3 = int(truncate * sigma + 0.5) with truncate 2
    theirs = scipy.ndimage.gaussian_filter(image.numpy(), sigma=(0, 0, 1.5, 1.5), mode="mirror", truncate=2.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_fovea_is_exp_of_minus_squared_distance_over_sigma_in_normalised_units():
    position = torch.tensor([[0.5, -0.25]])
    mask = fovea_mask(position, SIZE, sigma=0.2)[0, 0].numpy()
    grid = np.linspace(-1, 1, SIZE)
    expected = np.exp(-((grid[None, :] - 0.5) ** 2 + (grid[:, None] + 0.25) ** 2) / 0.2)
    np.testing.assert_allclose(mask, expected, rtol=1e-5)  # rows are y, columns are x


def test_foveate_is_sharp_at_the_fovea_and_in_memory_and_blurred_far_away():
    sharp = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    blurred = gaussian_blur(sharp, 7, 1.5)
    position = torch.tensor([[-1.0, -1.0]])  # the top-left pixel centre
    out = foveate(sharp, blurred, torch.zeros(1, 1, SIZE, SIZE), position, sigma=0.01)
    assert torch.allclose(out[..., 0, 0], sharp[..., 0, 0])
    assert torch.allclose(out[..., -1, -1], blurred[..., -1, -1])
    remembered = foveate(sharp, blurred, torch.ones(1, 1, SIZE, SIZE), position, sigma=0.01)
    assert torch.allclose(remembered, sharp)


def test_memory_forgets_by_the_factor():
    memory = torch.ones(1, 1, SIZE, SIZE)
    far = torch.tensor([[50.0, 50.0]])  # a fovea that adds nothing inside the image
    assert torch.allclose(update_memory(memory, far, 0.2, forgetting=0.5), 0.5 * memory)
    assert torch.allclose(update_memory(memory, far, 0.2, forgetting=0.0), torch.zeros_like(memory))
