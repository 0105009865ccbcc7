from mlflow import MlflowClient

from depthlab import tracking
from depthlab.evaluation import evaluate_family
from depthlab.report import write_report


def test_report_answers_every_claim_with_plots_and_a_run(tmp_path, tiny_params, trained, prepared):
    evaluations = tmp_path / "eval"
    evaluate_family(tiny_params, "mnist1d", "mlp", prepared, trained, tmp_path / "mlp.json", evaluations / "mnist1d" / "mlp")
    table = write_report(tiny_params, evaluations, tmp_path / "reports")
    assert list(table["depth"]) == [0, 1] and set(table.columns) >= {"accuracy", "accuracy_low", "accuracy_high", "collapsed"}
    assert ((0 <= table.accuracy_low) & (table.accuracy_low <= table.accuracy) & (table.accuracy <= table.accuracy_high)
            & (table.accuracy_high <= 1)).all()
    claims_md = (tmp_path / "reports" / "claims.md").read_text()
    for number in range(1, 8):
        assert f"## Claim {number}:" in claims_md
    assert "Split-half check: not checked (too few seeds)" in claims_md  # two seeds here; halves need four
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
