"""Duck-typed stand-ins for ComfyUI's model-sampling classes (float64), for the kernel tier (no ComfyUI import)."""
from __future__ import annotations

import math

import torch


class VE:
    """EPS/V/EDM noise scaling and input scaling (``sigma_data`` 1)."""
    sigma_data = 1.0
    sigma_min = property(lambda self: self.sigmas[0])
    sigma_max = property(lambda self: self.sigmas[-1])

    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        return noise * (torch.sqrt(1 + sigma ** 2) if max_denoise else sigma) + latent

    def calculate_input(self, sigma, x):
        return x / (sigma ** 2 + 1) ** 0.5


class Discrete(VE):
    """ModelSamplingDiscrete-like, built from an ᾱ table: nearest-timestep lookup, log-linear interpolation."""

    def __init__(self, alphas_cumprod):
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt()
        self.log_sigmas = self.sigmas.log()

    def timestep(self, sigma):
        return (sigma.double().log() - self.log_sigmas[:, None]).abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep):
        t = timestep.double().clamp(0, len(self.sigmas) - 1)
        lo, hi, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[lo] + w * self.log_sigmas[hi]).exp()


class EDM(VE):
    """ModelSamplingContinuousEDM-like (log-uniform σ table, timestep 0.25·log σ)."""

    def __init__(self, sigma_min=0.002, sigma_max=700.0):
        self.sigmas = torch.linspace(math.log(sigma_min), math.log(sigma_max), 1000, dtype=torch.float64).exp()

    def timestep(self, sigma):
        return 0.25 * sigma.log()

    def sigma(self, timestep):
        return (timestep / 0.25).exp()


class Flow:
    """ModelSamplingDiscreteFlow + CONST."""

    def __init__(self, shift=1.0):
        self.shift, self.multiplier = shift, 1000
        self.sigmas = self.sigma(torch.arange(1, 1001, dtype=torch.float64))

    sigma_min = property(lambda self: self.sigmas[0])
    sigma_max = property(lambda self: self.sigmas[-1])

    def _shift(self, t):
        return t if self.shift == 1 else self.shift * t / (1 + (self.shift - 1) * t)

    def timestep(self, sigma):
        return sigma * self.multiplier

    def sigma(self, timestep):
        return self._shift(timestep / self.multiplier)

    def percent_to_sigma(self, percent):
        if percent <= 0:
            return 1.0
        if percent >= 1:
            return 0.0
        return float(self._shift(torch.tensor(1.0 - percent, dtype=torch.float64)))

    def noise_scaling(self, sigma, noise, latent, max_denoise=False):
        return sigma * noise + (1 - sigma) * latent

    def calculate_input(self, sigma, x):
        return x
