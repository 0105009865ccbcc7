import pandas as pd

from depthlab.cell import Cell, ascending, largest


def test_the_largest_cell_has_the_largest_budget_then_the_most_rows_the_whole_split_counting_most():
    assert largest([Cell(800, None), Cell(6000, 4000), Cell(6000, 40000)]) == Cell(6000, 40000)
    assert largest([Cell(6000, 40000), Cell(6000, None), Cell(800, None)]) == Cell(6000, None)


def test_cells_ascend_by_budget_then_size_the_whole_split_first_and_read_as_labels():
    cells = [Cell(30, 400), Cell(15, None), Cell(30, 200), Cell(15, 200), Cell(30, 400)]
    assert ascending(cells) == [Cell(15, None), Cell(15, 200), Cell(30, 200), Cell(30, 400)]
    assert [c.label for c in ascending(cells)[:2]] == ["15 steps, every row", "15 steps, 200 rows"]


def test_a_cell_is_one_value_in_a_frame_so_runs_are_selected_by_it():
    runs = pd.DataFrame({"cell": [Cell(15, 200), Cell(30, 200), Cell(15, 200)], "seed": [0, 0, 1]})
    assert list(runs[runs.cell == Cell(15, 200)].seed) == [0, 1]
