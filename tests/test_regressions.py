from depthlab.regressions import regressions


def test_regressions_compare_each_dataset_with_the_previous_run():
    assert regressions(
        {"best_accuracy.a": 0.80, "best_accuracy.b": 0.5}, {"best_accuracy.a": 0.85, "best_accuracy.b": 0.51}, 0.02
    ) == {"best_accuracy.a": "best_accuracy.a: 0.8500 -> 0.8000 (drop 0.0500 > 0.02)"}
