import numpy as np

from benchmarks.common import interleaved, median_interval


def test_interleaved_rotates_the_order_and_keeps_results_in_measure_order():
    calls = []

    def measure(name, value):
        return lambda: calls.append(name) or value

    rounds = interleaved([measure("a", 1.0), measure("b", 2.0), measure("c", 3.0)], 4)
    assert calls == list("abcbcacababc")
    assert rounds == [[1.0, 2.0, 3.0]] * 4


def test_the_median_interval_covers_the_true_median_as_often_as_it_claims_and_no_more_widely_than_needed():
    rng = np.random.default_rng(0)
    samples = rng.lognormal(0.0, 0.5, size=(4000, 12))  # true median 1.0, skewed like ratios of times
    covered = np.mean([low <= 1.0 <= high for low, high in map(median_interval, samples.tolist())])
    assert 0.95 <= covered <= 0.975  # exact coverage for 12 values: 1 - 2 * P(Binomial(12, 1/2) <= 2) = 0.961
    assert median_interval(list(range(12))) == (2, 9)
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few for 95%: the whole range


def test_a_grid_read_early_can_choose_another_lr_than_at_its_end():
    from benchmarks.grid_steps import choice

    grid = {  # lr 0.01 learns fast and stalls; lr 0.001 overtakes it late
        0.001: [[(100, 0.5), (400, 0.7), (800, 0.95)]],
        0.01: [[(100, 0.8), (400, 0.9), (800, 0.91)]],
    }
    assert choice(grid, 1.0)[0] == 0.001 and choice(grid, 0.5)[0] == 0.01
    assert choice({0.001: [[(800, 0.9)]], 0.01: [[(800, 0.9)]]}, 1.0)[0] == 0.001  # a tie: the smaller lr
