"""Memory is estimated before a model is built, and a model that would not fit is refused
with one line naming its size and the memory available."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer import solve
from optimizer.coverage import compute_reach
from optimizer.errors import InputError, TooLargeError
from optimizer.instance import FacilityType, SitingInstance
from optimizer.memory import (
    LIMIT_ENV,
    available_memory,
    check_memory,
    count_pairs,
    estimate_memory,
    parse_size,
)
from scenarios.loader import build_instance
from scenarios.spec import load_scenario

TINY = Path(__file__).parent / "data" / "tiny" / "scenario.toml"


def _city(n: int, m: int, radius: float, seed: int = 0) -> SitingInstance:
    rng = np.random.default_rng(seed)
    return SitingInstance(
        types=(FacilityType("park", radius_m=radius), FacilityType("canteen", radius_m=radius / 2)),
        demand_ids=np.arange(n).astype(str).astype(object),
        demand_xy=rng.uniform(0, 10000, (n, 2)),
        population=rng.integers(1, 100, (n, 2)).astype(float),
        site_ids=np.arange(m).astype(str).astype(object),
        site_xy=rng.uniform(0, 10000, (m, 2)),
        site_cost=rng.choice([1.0, 2.0], (m, 2)), budget=10.0,
    )


@pytest.mark.parametrize("sites", [300, 6000])
def test_pair_count_matches_the_pairs_built(sites: int) -> None:
    instance = _city(20000, sites, 400.0)
    counted, exact = count_pairs(instance)
    built = len(compute_reach(instance).demand)
    assert exact == (sites <= 2000)
    if exact:
        assert counted == built
    else:  # a sample of 2,000 of the 6,000 sites, scaled up
        assert counted == pytest.approx(built, rel=0.05)


def test_pairs_from_a_distance_table_are_counted_exactly() -> None:
    instance = build_instance(load_scenario(TINY))
    assert count_pairs(instance) == (len(compute_reach(instance).demand), True)


def test_a_model_too_large_is_refused_before_it_is_built(monkeypatch) -> None:
    instance = _city(20000, 600, 400.0)
    estimate = estimate_memory(instance)
    monkeypatch.setenv(LIMIT_ENV, str(estimate.bytes // 2))
    with pytest.raises(TooLargeError) as caught:
        solve(instance, time_limit_s=5.0)
    message = str(caught.value)
    assert "\n" not in message and "too large for this machine" in message
    assert f"{estimate.pairs:,} unit-site pairs within 400 m" in message
    assert "20,000 units and 600 sites" in message and "MiB is available" in message
    monkeypatch.setenv(LIMIT_ENV, str(estimate.bytes * 2))
    assert solve(instance, time_limit_s=5.0).has_solution  # the same model, room enough


def test_the_cli_refuses_in_one_line_with_exit_code_two(monkeypatch, tmp_path, capsys) -> None:
    from scenarios.cli import main

    monkeypatch.setenv(LIMIT_ENV, "1MB")
    assert main(["solve", str(TINY), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too large for this machine" in err[0]
    assert "Traceback" not in err[0]
    assert not (tmp_path / "run" / "summary.json").exists()


def test_sizes_and_a_bad_limit() -> None:
    assert parse_size("4GiB") == 4 * 2**30
    assert parse_size("500 MB") == 500_000_000
    assert parse_size("1.5g") == 1_500_000_000
    assert parse_size("1024") == 1024
    with pytest.raises(ValueError, match="not a memory size"):
        parse_size("lots")


def test_a_bad_limit_setting_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.setenv(LIMIT_ENV, "four gigs")
    with pytest.raises(InputError, match=f"{LIMIT_ENV}: not a memory size: 'four gigs'"):
        available_memory()
    monkeypatch.delenv(LIMIT_ENV)
    room = available_memory()
    assert room is None or room > 0
    assert check_memory(_city(100, 10, 300.0)).bytes > 0  # small models always pass
