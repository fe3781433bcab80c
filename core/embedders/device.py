"""Choosing where and how precisely a model runs.

Measured on the 2-core development machine (Xeon with AMX tiles): a ViT-B-32
image tower converted to bfloat16 ran about 4x faster than fp32 and its
vectors agreed with fp32 to cosine 0.9999; `torch.autocast` on CPU did not
give that gain. So bf16 weights are the default on CPUs with AMX, fp32 on
other CPUs, fp16 autocast on CUDA. Every choice can be overridden.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from planche.core.errors import BadParameter

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(requested: str = "auto") -> str:
    import torch

    base = requested.split(":", 1)[0]
    if base not in DEVICES:
        raise BadParameter("device", requested, "auto, cpu, cuda, cuda:N or mps")
    if base == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if base == "cuda" and not torch.cuda.is_available():
        raise BadParameter("device", requested, "cpu or auto: no CUDA device is visible here")
    if base == "mps" and not torch.backends.mps.is_available():
        raise BadParameter("device", requested, "cpu or auto: MPS is not available here")
    return requested


@functools.cache
def cpu_has_bf16_tiles() -> bool:
    """True on CPUs with AMX bf16 tiles, where bf16 matrix products are fast."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags


def resolve_precision(device: str, requested: str = "auto") -> str:
    if requested not in PRECISIONS:
        raise BadParameter("precision", requested, ", ".join(PRECISIONS))
    if requested != "auto":
        if requested == "fp16" and device == "cpu":
            raise BadParameter("precision", requested, "fp32 or bf16 on the CPU")
        return requested
    if device.startswith("cuda"):
        return "fp16"
    if device == "cpu" and cpu_has_bf16_tiles():
        return "bf16"
    return "fp32"


def default_batch_size(device: str) -> int:
    # On the CPU, 32 was the best ViT-B-32 batch measured; accelerators take
    # far more, and a CUDA out-of-memory halves the batch and retries.
    if device.startswith("cuda"):
        return 256
    if device == "mps":
        return 64
    return 32


def configure_cpu_threads(reserve_one: bool = False) -> None:
    """Use every core for the model, or all but one when a UI must stay fluid."""
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores - 1) if reserve_one else cores)
