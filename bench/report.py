"""Shared by the benchmark scripts: who measured (the machine) and where the figures go (bench/REPORT.md).

Each script owns one section of the report, between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, and
rewrites only that section, so scripts run at different times on different machines never clobber each other.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

REPORT = Path(__file__).resolve().parent / "REPORT.md"
HEADER = ("# Benchmark report\n\nEvery figure here was measured by the script named in its section, on the machine "
          "named there. Rerun a script to refresh its section.\n")


def machine_description() -> str:
    """e.g. 'Intel(R) Xeon(R) ... , 2 cores, Linux x86_64'."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}{_simd()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def _simd() -> str:
    """' (AVX2)' or ' (AVX-512, BF16)': these machines' CPUs differ in it, and oneDNN's kernels with them."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return ""
    if "avx512f" in flags:
        return (" (AVX-512" + (", BF16" if "avx512_bf16" in flags else "") + (", AMX" if "amx_bf16" in flags else "")
                + ")")
    return " (AVX2)" if "avx2" in flags else ""


def write_section(name: str, title: str, body: str, report: Path = REPORT) -> None:
    text = report.read_text() if report.exists() else HEADER
    block = f"<!-- {name}:start -->\n## {title}\n\n{body.strip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {re.escape(name)}:start -->.*?<!-- {re.escape(name)}:end -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    report.write_text(text)
