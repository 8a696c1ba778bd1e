"""The "pairs" section of bench/REPORT.md, from bench/results/pairs_study.json (bench/pairs_study.py). Placeholder
until the study's tables are written."""

from __future__ import annotations


def report(rows, cells, variants) -> None:
    print(f"{len(rows)} runs")
