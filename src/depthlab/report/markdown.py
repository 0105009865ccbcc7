"""The report as Markdown: the protocol, the verdicts at a glance, each claim with its evidence and plots, the
learning rates and every configuration; and as HTML."""

from __future__ import annotations

import re

import pandas as pd

from depthlab import claims, reference
from depthlab.claims.statistics import failed
from depthlab.claims.study import KEYS
from depthlab.claims.text import percent
from depthlab.families import family_of
from depthlab.params import Params, TrainParams
from depthlab.report import optimisation
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
    runs: pd.DataFrame,
    grid: pd.DataFrame,
    verdicts: list[claims.Claim],
    references: pd.DataFrame,
    settings: claims.Settings,
    budget_and_size: list[str] | None = None,
) -> str:
    """The report; `budget_and_size`, where budget or size is an axis, the section of verdicts per cell (its
    lines), after the reference table."""
    machine = settings.hardware_summary
    train, report = params.train, params.report
    confidence = f"{100 * report.confidence:g}%"
    stated = [c for c in verdicts if c.verdict not in (claims.INCONCLUSIVE, "untested")]
    lines = [
        "# What does depth buy a neural network? Measured answers",
        "",
        f"Measured on: **{machine}**.",
        f"Protocol: {len(train.seeds)} seeds per configuration, {_cell_protocol(train)}, batch {train.batch_size}, "
        f"Adam, weight decay {train.weight_decay}, shuffled batches: {str(train.shuffle).lower()}. "
        + _lr_protocol(train),
        f"Datasets: {', '.join(f'{d} ({params.data.kind(d)})' for d in params.data.datasets)}.",
        *_own_families(params, table),
        f"Statistics: a configuration's accuracy varies with its seeds and with the test examples it happens to "
        f"be scored on (Bouthillier et al. 2021), so the study is replicated {report.resamples} times, drawing "
        "each configuration's seeds and each dataset's test examples again (one draw of examples for every "
        "configuration of a dataset, so comparisons stay paired by example). An interval is the "
        f"{confidence} percentile interval over the replicates; a difference is tested against zero by the "
        "replicates' own spread (the bootstrap's null distribution), each claim's tests adjusted together "
        f"(Benjamini-Hochberg), counting at adjusted p < {1 - report.confidence:.2g}. "
        f"A seed failed (collapsed) when its accuracy is closer to chance, the majority class's share of the test "
        f"split, than to its configuration's median seed, or below chance + {report.collapse_margin:g} x "
        "(1 - chance).",
        f"A verdict's probability is the share of replicates whose own verdict, by the same rule on the same "
        f"tests, it is; a verdict is stated where at least {100 * report.verdict_agreement:g}% of them agree, "
        f'else it reads "{claims.INCONCLUSIVE}" with its candidates and the test it turns on. Claims 1 and 3 '
        "rest on training time, measured once per configuration (its seeds share their ensemble's time): they "
        "are not resampled. "
        f"**{len(stated)} of {len(verdicts)} verdicts are stated.**",
        "",
        "## Verdicts",
        "",
        f"| # | claim | verdict | probability | effect [{confidence} CI, seeds and test examples] | at a fixed lr "
        "| why |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {c.number} | {c.statement} | {shown_verdict(c)} | {claims.stated_share(c)} | {c.effect} | "
            f"{re.split(r':| [(]', c.lr_sensitivity)[0]} | {_why(c)} |"
            for c in verdicts
        ),
        "",
    ]
    if not references.empty:
        lines += ["## MNIST-1D reference (Greydanus & Kobak)", "", references.to_markdown(index=False), ""]
        differences = reference.protocol_differences(params)
        if differences:
            lines += ["Not the reference protocol (run `make reference` for it): " + "; ".join(differences) + ".", ""]
    lines += budget_and_size or []
    for claim in verdicts:
        lines += [
            f"## Claim {claim.number}: {claim.statement}",
            "",
            f"**Verdict: {claim.verdict}** ({claims.stated_share(claim)}) - {_why(claim)}",
            "",
            *(
                [f"Replicates of the study: {claim.shares.text()} (as measured: {claim.shares.measured}).", ""]
                if claim.shares
                else []
            ),
            *([f"What would settle it: {claim.settle}.", ""] if claim.settle else []),
            f"Effect: {claim.effect}.",
            "",
            f"Learning rate: {claim.lr_sensitivity}.",
            "",
        ]
        lines += [as_markdown(claim.evidence), ""]
        lines += [f"![{plot}](plots/{plot})" for plot in _plots(claim)] + [""]
    lines += optimisation.section(runs, report.confidence)
    if not grid.empty:
        lines += [
            "## Learning rates",
            "",
            f"Each configuration's lr grid on its selection seeds ({_seeds(params.train.selection.seeds)}) and "
            f"{_selection_steps(params.train)} steps: mean validation and test accuracy in percent at "
            "every lr; the chosen lr had the best validation accuracy.",
            "",
            lr_table(grid, settings).to_markdown(index=False),
            "",
        ]
    shown = table.rename(columns=SUMMARY_COLUMNS)[list(SUMMARY_COLUMNS.values())]
    lines += ["## Every configuration", "", shown.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def _own_families(params: Params, table: pd.DataFrame) -> list[str]:
    """A line naming the user's families (named by import path), and one per family whose depth argument
    changes nothing: the same parameter count at every depth it trained on a dataset, so its depths are likely
    one network, and what the claims say about its depth says nothing about depth."""
    own = {name: getattr(params.models, name) for name in params.families if family_of(params.models, name).imported}
    if not own:
        return []
    lines = [
        "Families of your own: "
        + ", ".join(f"{name} ({config.class_path}, {config.article_type})" for name, config in own.items())
        + "."
    ]
    for (family, dataset), rows in table[table.family.isin(list(own))].groupby(["family", "dataset"]):
        counts = rows.param_count.unique()
        if rows.depth.nunique() > 1 and len(counts) == 1:
            lines.append(
                f"**{family}'s depth changes nothing on {dataset}**: {own[family].class_path} has "
                f"{int(counts[0]):,} parameters at every depth ({own[family].depth_arg} = "
                f"{', '.join(str(int(d)) for d in sorted(rows.depth))}); its depths are likely one network, and "
                f"what the claims say about {family}'s depth says nothing about depth. Check that the constructor "
                f"uses {own[family].depth_arg}."
            )
    return lines


def shown_verdict(claim: claims.Claim) -> str:
    """Bold where stated; an inconclusive or untested verdict is not a finding, so it is not bold."""
    return claim.verdict if claim.verdict in (claims.INCONCLUSIVE, "untested") else f"**{claim.verdict}**"


def _why(claim: claims.Claim) -> str:
    """The finding; for an inconclusive verdict, the measured one's finding, labelled as such."""
    if claim.verdict == claims.INCONCLUSIVE and claim.shares:
        return f"as measured ({claim.shares.measured}): {claim.finding}"
    return claim.finding


def _lr_protocol(train: TrainParams) -> str:
    if len(train.grid) == 1:
        return f"Learning rate {train.grid[0]:g} for every configuration."
    return (
        f"Learning rate: each configuration takes, from the grid {', '.join(f'{lr:g}' for lr in train.grid)}, "
        f"the one with the best mean validation accuracy over its selection seeds ({_seeds(train.selection.seeds)}), "
        f"trained {_selection_steps(train)} steps at every lr. They are not among the reported seeds, so the lr "
        "is never chosen on the runs the verdicts rest on, and the test split is never used to choose; every "
        "reported seed then trains at the chosen lr. The chosen lr of each configuration is in the table at the end."
    )


def _cell_protocol(train: TrainParams) -> str:
    """The budget (and training rows, where not the whole split) the main verdicts rest on."""
    cell = train.main_cell
    if not train.swept:
        return f"{cell.steps} steps" + ("" if cell.rows is None else f", {cell.rows} training rows")
    return f"{cell.label} (the largest cell of budget and size; every cell: section Budget and size)"


def _selection_steps(train: TrainParams) -> str:
    cell = train.main_cell
    steps = train.selection_steps(cell)
    return str(steps) if train.selection.max_steps is not None else f"its cell's own budget ({steps} here)"


def _seeds(seeds: list[int]) -> str:
    return ", ".join(str(seed) for seed in seeds)


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
            accuracies = at.test_accuracy.to_numpy(float)
            gone = int(failed(accuracies, float(at.chance.iloc[0]), settings.collapse_margin).sum())
            val, test = (percent(at[column].astype(float).mean()) for column in ("val_accuracy", "test_accuracy"))
            shown = f"{val} / {test}"
            row[f"lr {lr:g}: val / test %"] = shown + (f", {gone} of {len(accuracies)} failed" if gone else "")
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
