"""Server settings from the environment: a whole number, or the default and a note saying what was wrong.

    value, note = positive_int(os.environ, "FFVIZ_MAX_RUNS", 100, unit="keeping the newest 100 runs", example=200)
"""

from __future__ import annotations

from collections.abc import Mapping


def positive_int(environ: Mapping[str, str], name: str, default: int, *, unit: str, example: int
                 ) -> tuple[int, str | None]:
    """(the value of $name, None) when it is a whole number of at least 1; (default, None) when it is unset;
    (default, a note naming the bad value, what holds instead and what to set) otherwise. ``unit`` says what the
    default means ("training 2 runs at a time")."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default, None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        return default, (f"{name}={raw!r} is not a whole number of at least 1; {unit}. Set it to, say, {example} and "
                         f"restart the app.")
    return value, None
