"""`benchmarks/depth.py`: which runs it plans for each budget (the training runs stubbed out)."""

import pytest

from benchmarks import budget_training, depth


def _plan(monkeypatch, *argv) -> tuple[list[tuple], dict]:
    """Runs `depth.main(argv)` with stand-ins for the training runs and the plot; returns the runs
    asked for, as (K, reversible, budget), and what would have been written."""
    runs, written = [], {}

    def run(config, changes, work_dir, eval_every, **budget):
        runs.append((changes["steps_per_level"], changes["reversible_gradients"], budget))
        return dict(test_bits_per_dim=2.0, steps=10, peak_rss_gb=1.0)

    def plot_and_emit(benchmark, output, records, draw, **fields):
        written.update(output=output, records=records, **fields)

    monkeypatch.setattr(budget_training, "run", run)
    monkeypatch.setattr(budget_training, "plot_and_emit", plot_and_emit)
    depth.main(list(argv))
    return runs, written


def test_both_budgets_run_every_depth(monkeypatch):
    runs, written = _plan(monkeypatch, "--depths", "4,8", "--reversible-depths", "16")
    plan = [(4, False), (8, False), (16, True)]
    assert runs == [(k, r, {"steps": 300}) for k, r in plan] + [
        (k, r, {"minutes": 3.0}) for k, r in plan
    ]
    assert written["budgets"] == {"steps": 300, "minutes": 3.0}
    assert written["output"] == "depth.json"


@pytest.mark.parametrize(
    "argv, budgets",
    [
        (("--steps", "0", "--minutes", "2"), {"minutes": 2.0}),
        (("--minutes", "0", "--steps", "50"), {"steps": 50}),
    ],
)
def test_a_zero_budget_is_left_out(monkeypatch, argv, budgets):
    runs, written = _plan(monkeypatch, "--depths", "4", "--reversible-depths", "", *argv)
    assert runs == [(4, False, budgets)]
    assert written["budgets"] == budgets
    assert [r["budget_kind"] for r in written["records"]] == list(budgets)


def test_no_budget_at_all_is_refused(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _plan(monkeypatch, "--steps", "0", "--minutes", "0")
    assert "leave nothing to run" in capsys.readouterr().err


def test_a_negative_budget_is_refused_before_any_run(monkeypatch, capsys):
    runs = []
    monkeypatch.setattr(budget_training, "run", lambda *a, **k: runs.append(a))
    with pytest.raises(SystemExit):
        depth.main(["--steps", "-5"])
    assert "--steps -5" in capsys.readouterr().err
    assert runs == []
