import re

from mlflow import MlflowClient

from depthlab import tracking
from depthlab.evaluation import evaluate_family
from depthlab.records import TrainedRuns
from depthlab.report import write_report
from depthlab.training import train_family
from tests.helpers.params import make_params


def test_report_answers_every_claim_with_plots_and_a_run(tmp_path, tiny_params, trained, prepared):
    evaluations = tmp_path / "eval"
    evaluate_family(
        tiny_params, "mlp", {"mnist1d": prepared}, trained.parent, tmp_path / "metrics", evaluations / "mlp"
    )
    table = write_report(tiny_params, evaluations, tmp_path / "reports")
    assert list(table["depth"]) == [0, 1] and set(table.columns) >= {
        "accuracy",
        "accuracy_low",
        "accuracy_high",
        "collapsed",
    }
    assert (
        (table.accuracy_low >= 0)
        & (table.accuracy_low <= table.accuracy)
        & (table.accuracy <= table.accuracy_high)
        & (table.accuracy_high <= 1)
    ).all()
    claims_md = (tmp_path / "reports" / "claims.md").read_text()
    for number in range(1, 8):
        assert f"## Claim {number}:" in claims_md
    assert "| probability | effect [95% CI, seeds and test examples] |" in claims_md
    assert "Replicates of the study:" in claims_md.split("## Claim 2:")[1]
    assert "Learning rate: not checked: train.lr has one value." in claims_md
    curves = (tmp_path / "reports" / "accuracy_by_depth.csv").read_text().splitlines()
    assert curves[0] == "dataset,family,depth,test_accuracy,ci_low,ci_high,collapsed,seeds" and len(curves) == 3
    assert "Measured on:" in claims_md and "| logistic |" in claims_md  # mlp-d0 on mnist1d is the reference logistic
    assert "<table>" in (tmp_path / "reports" / "claims.html").read_text()
    for plot in ("accuracy_vs_depth", "train_time_vs_depth", "throughput_vs_depth", "seed_spread_vs_depth", "pareto"):
        assert (tmp_path / "reports" / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracking.experiment_name("study"))
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    assert run.info.run_name == "report" and run.data.tags["best_model"].startswith("mnist1d/mlp-d")
    assert run.data.tags["claim_1"] in {"supported", "refuted", "depends", "not supported", "untested"}
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} >= {"report/claims.md", "report/plots"}


def test_a_grid_report_gives_each_configuration_its_chosen_lr_and_each_claim_its_fixed_lr_line(tmp_path, prepared):
    params = make_params(
        train={"seeds": [0, 1, 2, 3], "lr": [0.001, 0.03], "selection": {"seeds": [100, 101], "max_steps": 30}}
    )
    train_family(params, "mlp", {"mnist1d": prepared}, tmp_path / "models")
    evaluate_family(
        params, "mlp", {"mnist1d": prepared}, tmp_path / "models", tmp_path / "metrics", tmp_path / "eval" / "mlp"
    )
    table = write_report(params, tmp_path / "eval", tmp_path / "reports")
    trained = TrainedRuns.read(tmp_path / "models" / "mnist1d" / "runs.json").runs
    chosen = {run.depth: run.lr for run in trained if run.selected}  # the lr each configuration's grid chose
    assert {row.depth: row.lr for row in table.itertuples()} == chosen and list(table.seeds) == [4, 4]
    claims_md = (tmp_path / "reports" / "claims.md").read_text()
    assert "from the grid 0.001, 0.03, the one with the best mean validation accuracy over its selection seeds " in (
        claims_md
    )
    for number in (2, 4, 5, 6):  # two seeds against two can never differ significantly: the report says so
        section = claims_md.split(f"## Claim {number}:")[1].split("## Claim")[0]
        assert "Learning rate: cannot be judged on the lr grid's 2 seeds per configuration" in section
    lrs = claims_md.split("## Learning rates")[1].split("## Every configuration")[0]
    assert (
        re.search(r"chosen lr +\| +lr 0.001: val / test %", lrs)
        and len([r for r in lrs.splitlines() if "| mnist1d" in r]) == 2
    )
    assert "not checked: the lr does not change how long a step takes" in claims_md.split("## Claim 1:")[1]
