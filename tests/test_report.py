from mlflow import MlflowClient

from depthlab import tracking
from depthlab.outputs import write_json
from depthlab.report import write_report


def test_report_table_plots_and_run(tmp_path, tiny_params):
    metrics = tmp_path / "metrics"
    for depth, accuracy in ((0, 0.3), (1, 0.55)):
        write_json(
            metrics / f"mlp-d{depth}.json",
            {
                "family": "mlp", "depth": depth, "dataset": "unit-report", "param_count": 100 * (depth + 1),
                "seeds": 2, "test_accuracy": accuracy, "test_accuracy_std": 0.01,
                "train_time_s": 1.0 + depth, "throughput_samples_per_s": 1e6,
            },
        )
    write_json(metrics / "mlp-d9.json", {"note": "stale depth, not in the sweep"})
    table = write_report(tiny_params, metrics, tmp_path / "reports")
    assert list(table["depth"]) == [0, 1]
    markdown = (tmp_path / "reports" / "summary.md").read_text()
    assert "| mlp      |       1 |" in markdown and "Measured on:" in markdown
    for plot in ("accuracy_vs_depth.png", "train_time_vs_depth.png"):
        assert (tmp_path / "reports" / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    client = MlflowClient()
    experiment = client.get_experiment_by_name(tracking.experiment_name("unit-report"))
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "report" and run.data.tags["best_model"] == "mlp-d1"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "report")} >= {"report/summary.md", "report/plots"}
