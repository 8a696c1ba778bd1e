"""Pick the compute device: ``auto`` prefers CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import torch

# CPU flags of bf16 arithmetic in hardware: AMX tiles (Intel since Sapphire Rapids) or AVX-512 BF16 (Intel Cooper
# Lake, AMD Zen 4). Without them oneDNN emulates bf16 and it is slower than float32 (bench/NOTES.md: 2.5x on Zen 3).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was asked for but Apple's MPS is not available; use device='auto' or 'cpu'")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={name!r} is not valid; choose one of auto, cpu, cuda, mps")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. 'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


@cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """Which of BF16_FLAGS this CPU has (Linux's /proc/cpuinfo; elsewhere none are claimed)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return tuple(f for f in BF16_FLAGS if f in flags)


def cpu_bf16_convs(asked: bool) -> bool:
    """Whether a CPU run's convolutions go bf16: asked for (RunConfig.bf16) and this CPU has bf16 arithmetic. One
    answer for the trainer and for the warm spare that prepares the trainer's kernels ahead of it."""
    return asked and bool(cpu_bf16_flags())
