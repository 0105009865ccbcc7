import pytest


def test_the_own_model_benchmark_times_its_five_arms_and_reports_both_targets(prepared, tiny_params):
    """A few steps of each arm, one round: the figures are those of a run, each ratio against its own baseline."""
    from benchmarks.own_model import TARGETS, report, run

    params = tiny_params.model_copy(update={"tracking": tiny_params.tracking.model_copy(update={"enabled": False})})
    results = run(params, prepared, steps=10, repeats=1)
    for path, target in TARGETS.items():
        row = results[path]
        assert row["target"] == target and row["ms_per_seed_step"] > 0 and row["baseline_ms_per_step"] > 0
        assert row["ratio"] == pytest.approx(row["ms_per_seed_step"] / row["baseline_ms_per_step"])
        assert row["ratio_interval"] == (row["ratio"], row["ratio"])  # one round: its only ratio
    assert results["per_seed"]["bare_network_ms_per_step"] > 0 and results["per_seed"]["bare_network_ratio"] > 0
    lines = report(results)
    assert len(lines) == 4 and all(("PASS" in line) != ("MISS" in line) for line in lines[1:3])
    assert "a plain loop of the bare network" in lines[3]
