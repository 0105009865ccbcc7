import pandas as pd

from depthlab.report.plots import pareto_front


def test_pareto_front():
    rows = pd.DataFrame({"train_time_s": [1, 2, 3, 4], "accuracy": [0.5, 0.4, 0.7, 0.6]})
    assert list(pareto_front(rows).index) == [0, 2]
