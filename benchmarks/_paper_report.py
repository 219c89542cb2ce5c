"""The paper benchmark's report: the Markdown table and the figures, from a run's CSVs.

``paper_table.md`` holds the trained networks, the accuracy drop and the
relative error per method and keep ratio, CoreNet++ against the
data-oblivious samplers, the budget met, the time per compression and the
agreement of ``torch.nn.utils.prune`` with ``magnitude``; the figures are
the paper's Figures 1-2, one panel per data set and network.
"""

import json
from pathlib import Path

import numpy as np

from ._common import BENCHMARKS_DIR, RESULTS_DIR
from ._paper_methods import GROUPS, OBLIVIOUS_SAMPLERS, method_group

DOCS_PAGE = BENCHMARKS_DIR.parent / "docs" / "reproducing_the_paper.md"


def report(out_dir, prefix="paper"):
    """Write the Markdown table and the figures from the CSVs of a run."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = pd.read_csv(out_dir / f"{prefix}.csv")
    networks = pd.read_csv(out_dir / f"{prefix}_networks.csv")
    timing = pd.read_csv(out_dir / f"{prefix}_timing.csv")
    try:
        agreement = pd.read_csv(out_dir / f"{prefix}_agreement.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        agreement = pd.DataFrame()
    run_info = json.loads((out_dir / f"{prefix}_run.json").read_text())
    for metric in ("accuracy_drop", "relative_error"):
        plot_grid(results, metric, out_dir / f"{prefix}_{metric}.png")
    table = markdown_report(results, networks, timing, agreement, run_info)
    (out_dir / f"{prefix}_table.md").write_text(table)
    if prefix == "paper" and out_dir.resolve() == RESULTS_DIR.resolve():
        include_in_docs(table, f"{prefix}_table.md")


def include_in_docs(table, name, page=DOCS_PAGE):
    """Copy ``table`` into the docs page between its include markers.

    The page holds ``<!-- BEGIN name -->`` and ``<!-- END name -->``; plain
    Markdown has no include directive, so the benchmark writes the table in.
    Returns whether the page was updated.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if not page.exists():
        return False
    text = page.read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{table.strip()}\n{end}{tail}")
    return True


def plot_grid(results, metric, path):
    """One panel per data set and network, as the paper's Figures 1-2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_corenet import plot_compression_curve

    datasets = list(dict.fromkeys(results["dataset"]))
    networks = list(dict.fromkeys(results["network"]))
    figure, axes = plt.subplots(
        len(datasets), len(networks), figsize=(4.6 * len(networks), 3.6 * len(datasets)), squeeze=False
    )
    styles = {
        "CoreNet (paper)": dict(linewidth=2.0, linestyle="-"),
        "Baselines (paper)": dict(linewidth=1.2, linestyle="-"),
        # drawn as crosses on top of the line it should agree with
        "Outside reference": dict(linestyle="none", marker="x", markersize=6),
        "Beyond the paper": dict(linewidth=1.8, linestyle="-."),
    }
    methods = list(dict.fromkeys(results["method"]))
    for row, dataset in enumerate(datasets):
        for col, network in enumerate(networks):
            part = results[(results["dataset"] == dataset) & (results["network"] == network)]
            ax = axes[row, col]
            plot_compression_curve(
                part, metric, methods=[m for m in methods if m in set(part["method"])], ax=ax,
                log_y=metric == "relative_error", title=f"{dataset}, {network}",
            )
            for line in ax.lines:
                line.set(**styles[method_group(line.get_label())])
            ax.get_legend().remove()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    ncol = min(len(labels), max(2, int(4.6 * len(networks) / 1.4)), 6)
    legend_rows = -(-len(labels) // ncol)
    figure.legend(handles, labels, loc="lower center", ncol=ncol, fontsize="small")
    figure.tight_layout(rect=(0, 0.3 * legend_rows / (3.6 * len(datasets)) + 0.01, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _cell(values, scale):
    mean, std = scale * values.mean(), scale * values.std()
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def _method_rows(methods):
    """Methods in table order, with the group each starts."""
    ordered = []
    for group in GROUPS:
        members = [m for m in methods if method_group(m) == group]
        for i, method in enumerate(members):
            ordered.append((group if i == 0 else "", method))
    return ordered


def _metric_table(results, metric, ratios, scale, digits_note):
    lines = []
    for dataset in dict.fromkeys(results["dataset"]):
        part = results[results["dataset"] == dataset]
        lines.append(f"**{dataset}** ({digits_note}; mean ± std over networks × trials)\n")
        header = "| group | method | " + " | ".join(f"{100 * r:g}%" for r in ratios) + " |"
        lines += [header, "|" + "---|" * (len(ratios) + 2)]
        for group, method in _method_rows(list(dict.fromkeys(part["method"]))):
            cells = []
            for ratio in ratios:
                values = part[(part["method"] == method) & np.isclose(part["keep_ratio"], ratio)][metric]
                cells.append(_cell(values.to_numpy(), scale) if len(values) else "")
            lines.append(f"| {group} | {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def must_hold(results, ratios=(0.1, 0.2, 0.3)):
    """CoreNet++ vs the data-oblivious samplers: mean accuracy drop per cell."""
    rows = []
    present = [m for m in OBLIVIOUS_SAMPLERS if m in set(results["method"])]
    if "corenet++" not in set(results["method"]) or not present:
        return rows
    for (dataset, network), part in results.groupby(["dataset", "network"], sort=False):
        means = part.groupby(["method", "keep_ratio"])["accuracy_drop"].mean()
        for ratio in ratios:
            matches = [r for r in means.index.get_level_values(1).unique() if np.isclose(r, ratio)]
            if not matches:
                continue
            ratio_key = matches[0]
            ours = means[("corenet++", ratio_key)]
            best_other = min(present, key=lambda m: means[(m, ratio_key)])
            rows.append({
                "dataset": dataset, "network": network, "keep_ratio": ratio,
                "corenet++": ours, "best_oblivious": best_other,
                "best_oblivious_drop": means[(best_other, ratio_key)],
                "holds": bool(all(ours < means[(m, ratio_key)] for m in present)),
            })
    return rows


def markdown_report(results, networks, timing, agreement, run_info):
    """The Markdown file the docs page includes."""
    config = run_info["config"]
    ratios = sorted(set(results["keep_ratio"]))
    lines = [
        "<!-- generated by benchmarks/paper.py; do not edit by hand -->",
        f"Command: `{run_info['command']}`; wall time {run_info['wall_time_s'] / 60:.1f} min "
        f"on {run_info['machine']} ({run_info['jobs']} worker processes).",
        f"Trials: {config['n_trials']} per sampling method (deterministic methods run once); "
        f"calibration points: {config['calibration_size']} training images; test points: "
        f"{'all' if config['n_test'] is None else config['n_test']} test images.",
        "",
        "### Trained networks",
        "",
        "| data set | network | parameters | test accuracy | training time (s) |",
        "|---|---|---|---|---|",
    ]
    for row in networks.itertuples():
        lines.append(f"| {row.dataset} | {row.network} ({row.hidden}) | {row.n_params:,} | "
                     f"{100 * row.test_accuracy:.2f}% | {row.train_time:.0f} |")
    lines += ["", "### Accuracy drop (percentage points, lower is better)", ""]
    lines += _metric_table(results, "accuracy_drop", ratios, 100, "percentage points")
    lines += ["### Relative error of the output (ℓ1, lower is better)", ""]
    lines += _metric_table(results, "relative_error", ratios, 1, "relative ℓ1 error")

    checks = must_hold(results)
    if checks:
        lines += ["### CoreNet++ against the data-oblivious samplers",
                  "",
                  "Mean accuracy drop (percentage points) of CoreNet++ and of the best of "
                  f"{', '.join(m for m in OBLIVIOUS_SAMPLERS if m in set(results['method']))}.",
                  "",
                  "| data set | network | keep ratio | CoreNet++ | best oblivious sampler | lower? |",
                  "|---|---|---|---|---|---|"]
        for row in checks:
            lines.append(
                f"| {row['dataset']} | {row['network']} | {100 * row['keep_ratio']:g}% | "
                f"{100 * row['corenet++']:.2f} | {row['best_oblivious']}: "
                f"{100 * row['best_oblivious_drop']:.2f} | {'yes' if row['holds'] else '**no**'} |"
            )
        lines.append("")

    budget = results.assign(
        deviation=(results["kept_fraction"] - results["keep_ratio"]).abs() / results["keep_ratio"]
    )
    worst = budget.groupby("method", sort=False)["deviation"].max()
    lines += ["### Budget met", "",
              "Largest relative deviation of the realised kept fraction from the requested one.",
              "", "| method | max deviation |", "|---|---|"]
    lines += [f"| {method} | {100 * value:.3f}% |" for method, value in worst.items()]
    lines.append("")

    per_network = timing.pivot_table(index="method", columns="network", values="seconds", sort=False)
    lines += ["### Time per compression (s)", "",
              "One `fit` + `transform` at 10% kept, nothing cached, mean over data sets "
              "(worker processes use one thread each).", "",
              "| method | " + " | ".join(per_network.columns) + " |",
              "|---|" + "---|" * len(per_network.columns)]
    for method, row in per_network.iterrows():
        lines.append(f"| {method} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    lines.append("")

    if len(agreement):
        total = int(agreement["different_entries"].sum())
        lines += ["### torch.nn.utils.prune against magnitude", "",
                  f"Over {len(agreement)} network × keep-ratio pairs, the kept entries of "
                  "`prune.global_unstructured(..., L1Unstructured)` and `method=\"magnitude\"` "
                  f"differ in {total} places in total (ties between equal magnitudes "
                  "can be broken differently).", ""]
    return "\n".join(lines) + "\n"
