"""Target 4: the time of a no-op `dvc repro`."""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks.common import median_of, verdict
from benchmarks.project import dvc, tiny_project

TARGET_S = 2.0


def run(repeats: int) -> dict[str, Any]:
    """Target 4: a tiny copy of the project, reproduced once; then no-op repros."""
    project = tiny_project()
    try:
        dvc(project, "repro")
        noop = median_of(lambda: dvc(project, "repro")[-1][0], repeats)
        return {"noop_repro_s": noop}
    finally:
        shutil.rmtree(project, ignore_errors=True)


def report(n: dict[str, Any]) -> list[str]:
    return [
        f"4. no-op dvc repro {n['noop_repro_s']:.2f}s (target < {TARGET_S}s)  {verdict(n['noop_repro_s'] < TARGET_S)}"
    ]
