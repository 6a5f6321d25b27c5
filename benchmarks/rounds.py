"""How every benchmark here times and reports: rounds that alternate the
configurations, medians, and the native-vs-native spread.

A 2-core machine shared with other work drifts by more than the effects
measured, so no configuration runs all its samples in one block: each round
runs every configuration once, in a fixed order, and drift hits them all.
Each figure is the median of its rounds.  Where a figure is compared with
native, the spread of the native rounds themselves (slowest and fastest
round over their median) says how large a ratio noise alone makes."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable

from ..errors import LibsubstError


class BenchmarkError(LibsubstError):
    """The work a benchmark timed did not succeed: its figure would be wrong."""


def alternate(rounds: int, configs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """{name: [one sample per round]}: every config once per round, in order."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, run in configs.items():
            samples[name].append(run())
    return samples


def main_command(main: Callable[[], int | None]) -> None:
    """Runs a benchmark's ``main`` as a command: exits with its status, and
    says a LibsubstError (a BenchmarkError, or bad input met on the way: an
    --add that does not exist) in one line with status 2, not a traceback."""
    try:
        status = main()
    except LibsubstError as e:
        sys.stderr.write(f"libsubst: {e}\n")
        sys.exit(2)
    sys.exit(status)


def program(text: str) -> str:
    """An argparse type: an executable file, such as --baseline-python's
    (argparse then says what is wrong, in one line, before any round)."""
    if not (os.path.isfile(text) and os.access(text, os.X_OK)):
        raise argparse.ArgumentTypeError(f"{text!r} is not an executable file")
    return text


def positive(text: str) -> int:
    """An argparse type: a count of at least 1 (argparse then says what is wrong, in one line)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: list[float]) -> tuple[float, float]:
    """(fastest, slowest) round over the median: native against itself."""
    m = median(xs)
    return (min(xs) / m, max(xs) / m) if xs and m else (float("nan"), float("nan"))


def fmt_range(lo_hi: tuple[float, float]) -> str:
    return f"{lo_hi[0]:.2f}–{lo_hi[1]:.2f}"


def fmt_spread(xs: list[float]) -> str:
    return fmt_range(spread(xs))


def check(ok: bool, what: str, detail: object = "") -> None:
    """Raise BenchmarkError unless the timed work did what it should."""
    if not ok:
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise BenchmarkError(f"{what}: {text.strip()[-500:]}" if text else what)
