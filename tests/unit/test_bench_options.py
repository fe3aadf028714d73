"""`checkout bench` options: a bad value is one InvalidInput naming the flag."""

from __future__ import annotations

import pytest

from engine.bench.runner import BenchOptions
from engine.errors import InvalidInput


def test_defaults_are_valid() -> None:
    BenchOptions().validate()
    BenchOptions(rate=2.5, programs=("empty",), warmup=0).validate()


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (BenchOptions(orders=0), "--orders"),
        (BenchOptions(concurrency=0), "--concurrency"),
        (BenchOptions(rate=0), "--rate"),
        (BenchOptions(rounds=0), "--rounds"),
        (BenchOptions(warmup=-1), "--warmup"),
        (BenchOptions(programs=("checkout", "fast")), "unknown fast"),
        (BenchOptions(programs=()), "--programs"),
        (BenchOptions(programs=("empty", "empty")), "each program once"),
        (BenchOptions(latency_at_half=True, rate=5), "leave out --rate"),
        (BenchOptions(latency_at_half=True, programs=("minimal",)), "include it"),
    ],
)
def test_bad_options_name_the_flag(options: BenchOptions, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        options.validate()
