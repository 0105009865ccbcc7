from depthlab.bench import interleaved


def test_interleaved_rotates_the_order_and_keeps_results_in_measure_order():
    calls = []

    def measure(name, value):
        return lambda: calls.append(name) or value

    rounds = interleaved([measure("a", 1.0), measure("b", 2.0), measure("c", 3.0)], 4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert rounds == [[1.0, 2.0, 3.0]] * 4
