"""The report as Markdown: the protocol, the verdicts at a glance, each claim with its evidence and plots, the
learning rates and every configuration; and as HTML."""

from __future__ import annotations

import re

import pandas as pd

from depthlab import claims, reference
from depthlab.claims.statistics import collapse
from depthlab.claims.study import KEYS
from depthlab.claims.text import percent
from depthlab.params import Params, TrainParams
from depthlab.report.evidence import as_markdown
from depthlab.report.plots import CLAIM_PLOTS

SUMMARY_COLUMNS = {
    "dataset": "dataset",
    "family": "family",
    "depth": "depth",
    "lr": "lr",
    "param_count": "parameters",
    "seeds": "seeds",
    "accuracy": "test accuracy",
    "accuracy_low": "CI low",
    "accuracy_high": "CI high",
    "accuracy_std": "std",
    "collapsed": "collapsed",
    "diverged": "diverged",
    "train_time_s": "train time s",
    "train_samples_per_s": "train samples/s",
    "inference_samples_per_s": "inference samples/s",
}


def document(
    params: Params,
    table: pd.DataFrame,
    grid: pd.DataFrame,
    verdicts: list[claims.Claim],
    references: pd.DataFrame,
    study: claims.Settings,
    halves: str,
) -> str:
    machine = study.hardware_summary
    train, report = params.train, params.report
    confidence = f"{100 * report.confidence:g}%"
    agree = [c for c in verdicts if c.halves is not None and c.verdict != claims.UNSTABLE]
    as_all = [c for c in agree if c.halves[0] == c.measured_verdict]
    lines = [
        "# What does depth buy a neural network? Measured answers",
        "",
        f"Measured on: **{machine}**.",
        f"Protocol: {len(train.seeds)} seeds per configuration, {train.max_steps} steps, batch {train.batch_size}, "
        f"Adam, weight decay {train.weight_decay}, shuffled batches: {str(train.shuffle).lower()}. "
        + _lr_protocol(train),
        f"Datasets: {', '.join(f'{d} ({params.data.kind(d)})' for d in params.data.datasets)}.",
        f"Statistics: means over seeds with {confidence} bootstrap intervals (BCa); two configurations compared "
        "by a permutation test of the difference in means, which is the effect, with its bootstrap interval; trends "
        "with depth by Spearman's rho; spread by a permutation test of the difference in standard deviations; "
        "collapse rates by Fisher's exact test. Each claim's tests are adjusted together "
        f"for multiple comparisons (Benjamini-Hochberg) and count at adjusted p < {1 - report.confidence:.2g}. "
        f"A seed has collapsed when its accuracy is within {100 * report.collapse_margin:g} points of the majority "
        f"class's share of the test split; its rate has an exact binomial interval.",
        f"Stability: every verdict is recomputed on two disjoint halves of the seeds ({halves}); a verdict they "
        f'do not agree on reads "{claims.UNSTABLE}". '
        + (
            f"**{len(agree)}/{len(verdicts)} claims agree between the halves**, {len(as_all)} of them with the "
            "verdict over all seeds (where both halves differ from it, half the seeds lack the power to show it)."
            if any(c.halves for c in verdicts)
            else ""
        ),
        "",
        "## Verdicts",
        "",
        "| # | claim | verdict | effect [95% CI] | halves | at a fixed lr | why |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {c.number} | {c.statement} | **{c.verdict}** | {c.effect} | {_halves(c)} | "
            f"{re.split(r':| [(]', c.lr_sensitivity)[0]} | {c.finding} |"
            for c in verdicts
        ),
        "",
    ]
    if not references.empty:
        lines += ["## MNIST-1D reference (Greydanus & Kobak)", "", references.to_markdown(index=False), ""]
        differences = reference.protocol_differences(params)
        if differences:
            lines += ["Not the reference protocol (run `make reference` for it): " + "; ".join(differences) + ".", ""]
    for claim in verdicts:
        lines += [
            f"## Claim {claim.number}: {claim.statement}",
            "",
            f"**Verdict: {claim.verdict}** - {claim.finding}",
            "",
            f"Effect: {claim.effect}.",
            "",
            f"Split-half check: {_halves(claim)}.",
            "",
            f"Learning rate: {claim.lr_sensitivity}.",
            "",
        ]
        lines += [as_markdown(claim.evidence), ""]
        lines += [f"![{plot}](plots/{plot})" for plot in _plots(claim)] + [""]
    if not grid.empty:
        lines += [
            "## Learning rates",
            "",
            f"Each configuration's lr grid on its first {params.train.selection.seeds} "
            f"seeds and {params.train.selection.max_steps} steps: mean validation and test accuracy in percent at "
            "every lr; the chosen lr had the best validation accuracy.",
            "",
            lr_table(grid, study).to_markdown(index=False),
            "",
        ]
    shown = table.rename(columns=SUMMARY_COLUMNS)[list(SUMMARY_COLUMNS.values())]
    lines += ["## Every configuration", "", shown.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def _lr_protocol(train: TrainParams) -> str:
    if len(train.grid) == 1:
        return f"Learning rate {train.grid[0]:g} for every configuration."
    reused = train.selection.max_steps == train.max_steps
    return (
        f"Learning rate: each configuration takes, from the grid {', '.join(f'{lr:g}' for lr in train.grid)}, "
        f"the one with the best mean validation accuracy over its first {train.selection.seeds} seeds trained "
        f"{train.selection.max_steps} steps at every lr (the test split is never used to choose)"
        + (
            f"; those seeds at the chosen lr are reported with the other {len(train.seeds) - train.selection.seeds}."
            if reused
            else "; every seed is then trained at the chosen lr and reported."
        )
        + " The chosen lr of each configuration is in the table at the end."
    )


def _halves(claim: claims.Claim) -> str:
    if claim.halves is None:
        return "not checked (too few seeds)"
    first, second = claim.halves
    if first == second == claim.measured_verdict:
        return f"agree ({first})"
    if first == second:
        return f"agree with each other ({first}), not with all seeds"
    return f"disagree ({first} / {second}; all seeds: {claim.measured_verdict})"


def _plots(claim: claims.Claim) -> tuple[str, ...]:
    """The plots of the claim's figures; an untested claim has nothing measured to show."""
    return () if claim.verdict == "untested" else CLAIM_PLOTS.get(claim.number, ())


def lr_table(grid: pd.DataFrame, settings: claims.Settings) -> pd.DataFrame:
    """Per configuration of the lr grid: the chosen lr, and at each lr the mean validation and test accuracy
    of the grid's seeds with their collapses."""
    rows = []
    for (dataset, family, depth), group in grid.groupby(KEYS):
        row = {
            "dataset": dataset,
            "family": family,
            "depth": int(depth),
            "chosen lr": f"{group[group.selected].lr.iloc[0]:g}" if group.selected.any() else "n/a",
        }
        for lr, at in group.groupby("lr"):
            gone = collapse(at.test_accuracy, float(at.chance.iloc[0]), settings.collapse_margin, settings.confidence)
            val, test = (percent(at[column].astype(float).mean()) for column in ("val_accuracy", "test_accuracy"))
            shown = f"{val} / {test}"
            row[f"lr {lr:g}: val / test %"] = shown + (
                f", {gone.collapsed} of {gone.seeds} collapsed" if gone.collapsed else ""
            )
        rows.append(row)
    return pd.DataFrame(rows)


def html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    return f"<!doctype html><meta charset='utf-8'><title>depthlab claims</title><style>{style}</style>\n{body}"
