"""The one device probe: which accelerator torch sees, and what `nvidia-smi` says about NVIDIA GPUs.

`cuda_available` and `default_device` import torch, so call them from a worker; `gpu_names` and `gpu_usage`
only run `nvidia-smi` (a subprocess with a timeout) and never import torch.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

DEVICES = ("cuda", "cpu")


def cuda_available() -> bool:
    """True when torch sees a usable CUDA GPU; imports torch."""
    import torch

    return bool(torch.cuda.is_available())


def default_device() -> str:
    """cuda when torch sees a GPU, else cpu; imports torch, so call it from a worker."""
    return "cuda" if cuda_available() else "cpu"


@functools.cache
def _has_nvidia_smi() -> bool:
    return shutil.which("nvidia-smi") is not None  # a PATH walk: asked once, not on every system sample


def cpu_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX flags in /proc/cpuinfo; Linux only)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _nvidia_smi(*args: str, timeout: float) -> str | None:
    if not _has_nvidia_smi():
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.cache
def gpu_names() -> tuple[str, ...]:
    """NVIDIA GPUs that `nvidia-smi -L` lists; empty without the tool or a GPU."""
    out = _nvidia_smi("-L", timeout=5) or ""
    return tuple(line.split(" (UUID")[0] for line in out.splitlines() if line.startswith("GPU "))


def gpu_usage() -> tuple[float, float, float] | None:
    """(utilisation %, memory used MiB, memory total MiB) of the first GPU from `nvidia-smi`, or None."""
    out = _nvidia_smi(
        "--query-gpu=utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits", timeout=2
    )
    try:
        util, used, total = (float(v) for v in (out or "").splitlines()[0].split(","))
    except (ValueError, IndexError):
        return None
    return util, used, total
