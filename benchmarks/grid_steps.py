"""Would a shorter lr grid choose the same lr? From a finished study's MLflow store: every grid run's
validation accuracy history, the lr each configuration would choose at the evaluation at or before a share
of its steps, against the one it chose at the end (the same rule: best mean over the selection seeds, a tie
to the smaller lr). Run after `make run`: `python -m benchmarks.grid_steps [mlflow.db]`.

It reads the store with sqlite3 rather than MLflow's client: one query per metric table instead of a
history request per run (there are hundreds).
"""

from __future__ import annotations

import sqlite3
import sys
from collections import defaultdict

SHARES = (1 / 2, 1 / 3)


def grid_histories(database: str) -> dict[tuple[str, str, int], dict[float, list[list[tuple[int, float]]]]]:
    """Per configuration (dataset, family, depth): per lr, each selection seed's (step, val_acc) history."""
    store = sqlite3.connect(database)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for run, key, value in store.execute(
        "select run_uuid, key, value from tags where key in ('phase', 'family', 'depth', 'dataset', 'lr')"
    ):
        tags[run][key] = value
    history: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for run, step, value in store.execute("select run_uuid, step, value from metrics where key = 'val_acc'"):
        history[run].append((step, value))
    grids: dict = defaultdict(lambda: defaultdict(list))
    for run, tag in tags.items():
        if tag.get("phase") == "grid" and run in history:
            grids[tag["dataset"], tag["family"], int(tag["depth"])][float(tag["lr"])].append(sorted(history[run]))
    return grids


def choice(grid: dict[float, list[list[tuple[int, float]]]], share: float) -> tuple[float, dict[float, float]]:
    """The lr chosen from each run's last evaluation at or before `share` of its steps, and every lr's score."""
    scores = {}
    for lr, runs in grid.items():
        last = [[value for step, value in run if step <= share * run[-1][0]][-1] for run in runs]
        scores[lr] = sum(last) / len(last)
    return max(scores, key=lambda lr: (scores[lr], -lr)), scores


def main() -> None:
    grids = grid_histories(sys.argv[1] if len(sys.argv) > 1 else "mlflow.db")
    print(f"{len(grids)} configurations with an lr grid")
    for share in SHARES:
        other = []
        for configuration, grid in sorted(grids.items()):
            full, scores = choice(grid, 1.0)
            early, _ = choice(grid, share)
            if early != full:
                other.append((configuration, full, early, scores[full] - scores[early]))
        ties = sum(loss == 0 for *_, loss in other)
        line = f"at {share:.2f} of the steps: another lr in {len(other)} of {len(grids)} ({ties} tied at full length)"
        if other:
            configuration, *_, loss = max(other, key=lambda row: row[-1])
            line += f"; the worst costs {100 * loss:.1f} validation points ({'/'.join(map(str, configuration))})"
        print(line)


if __name__ == "__main__":
    main()
