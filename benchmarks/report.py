"""Tables, the results file and the chart, all made from the results dict.

The results dict is what ``benchmarks.json`` holds; see ``run.py`` for how it is
built.  Each comparison in it has its contenders' samples (one per round) for
every metric, their medians, the ratio of each contender's median to the
baseline's (the first contender, Tornado), and the targets with whether they
were met.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON_NAME = "benchmarks.json"
MARKDOWN_NAME = "benchmarks-results.md"
CHART_NAME = "benchmarks.png"


def number(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        # Whole numbers (counts, an exit status) without decimals.
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def size_text(size: float) -> str:
    """A size in bytes as "1 GiB", "16 MiB", "100 KiB" (or bytes)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size:g} bytes"


def ratio_text(value: float | None) -> str:
    """Such as "2.35×"; "–" where the comparison gives no ratio."""
    return "–" if value is None else f"{value:.2f}×"


def comparison_title(comparison: dict[str, Any]) -> str:
    return f"{comparison['number']}. {comparison['name']}"


def comparison_table(comparison: dict[str, Any]) -> list[str]:
    """The markdown table of one comparison, with its targets."""
    metric = comparison["metric"]
    extras = comparison["extra_metrics"]
    baseline = comparison["baseline"]
    header = ["contender", "median", "unit", "min–max", f"ratio to {baseline}"]
    header += [f"median {extra}" for extra in extras]
    header.append("target")
    lines = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(["---", "--:", "---", "--:", "--:"] + ["--:"] * len(extras))
        + "|---|",
    ]
    for contender in comparison["contenders"]:
        samples = contender["samples"][metric]
        targets = [
            f"{target['text']}: {target['achieved_text']}, "
            + ("met" if target["met"] else "**not met**")
            for target in comparison["targets"]
            if target["contender"] == contender["label"]
        ]
        row = [
            contender["label"],
            number(contender["median"][metric]),
            metric,
            f"{number(min(samples))}–{number(max(samples))}",
            ratio_text(contender["ratio"]),
        ]
        # A contender may lack an extra metric (Granian's CPU time).
        row += [
            number(contender["median"][extra]) if extra in contender["median"] else "–"
            for extra in extras
        ]
        row.append("; ".join(targets))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def rounds_text(rounds: int) -> str:
    return "One round" if rounds == 1 else f"Median of {rounds} rounds"


def comparison_markdown(comparison: dict[str, Any], level: int) -> list[str]:
    direction = (
        "higher is better" if comparison["higher_is_better"] else "lower is better"
    )
    return [
        "#" * level + " " + comparison_title(comparison),
        "",
        f"{comparison['how']} {rounds_text(comparison['rounds'])}; "
        f"{comparison['metric']}, {direction}.",
        "",
        *comparison_table(comparison),
        "",
    ]


def targets_summary(results: dict[str, Any]) -> list[str]:
    lines = [
        "| comparison | target | achieved | met |",
        "|---|---|--:|---|",
    ]
    for comparison in results["comparisons"]:
        for target in comparison["targets"]:
            lines.append(
                f"| {comparison_title(comparison)} | {target['contender']} "
                f"{target['text']} | {target['achieved_text']} | "
                + ("met" if target["met"] else "**not met**")
                + " |"
            )
    return lines


def settings_extra(settings: dict[str, Any]) -> str:
    """The churn and drain settings, which results files written before
    those comparisons existed do not have."""
    text = ""
    if "churn_cycles" in settings:
        text += f", {settings['churn_cycles']:,} short connections of each kind"
    if "drain" in settings:
        text += f", {settings['drain']['requests']} requests in flight at SIGTERM"
    return text


def markdown(results: dict[str, Any]) -> str:
    """The results file: a page of its own (title level 1), which
    docs/benchmarks.md includes one heading level down."""
    settings = results["settings"]
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks`; do not edit by hand.",
        "",
        f"- Date: {results['date']}",
        f"- Command: `{results['command']}`",
        f"- Settings: {settings['rounds']} rounds of {settings['seconds']} s "
        f"(wrk), {settings['gets']} GETs, a "
        f"{size_text(settings['stream_bytes'])} download, "
        f"{settings['idle_connections']} idle connections"
        + settings_extra(settings)
        + (" (smoke mode)" if settings["smoke"] else ""),
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['kernel']}; "
        + (
            "server or client under test pinned to CPU 0, load on CPU 1"
            if machine["pinned"]
            else "**not pinned** (taskset or a second CPU missing)"
        ),
        f"- Total time: {results['duration_seconds'] / 60:.1f} min",
        "",
        "| software | version |",
        "|---|---|",
        *(f"| {name} | {version} |" for name, version in results["versions"].items()),
        "",
        "## Targets",
        "",
        *targets_summary(results),
        "",
    ]
    for comparison in results["comparisons"]:
        lines += comparison_markdown(comparison, 2)
    if results["incidents"]:
        lines += ["## Incidents", ""]
        lines += [f"- {incident}" for incident in results["incidents"]]
        lines.append("")
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    """One panel per comparison: each contender's ratio to the baseline (or
    its median, where a target is an absolute number), with target lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comparisons = results["comparisons"]
    columns = 2 if len(comparisons) > 1 else 1
    rows = (len(comparisons) + columns - 1) // columns
    fig, axes = plt.subplots(
        rows, columns, figsize=(7 * columns, 3 * rows), squeeze=False
    )
    for ax in axes.flat[len(comparisons) :]:
        ax.set_visible(False)
    for ax, comparison in zip(axes.flat, comparisons, strict=False):
        metric = comparison["metric"]
        absolute = comparison["chart"] == "median" or any(
            c["ratio"] is None for c in comparison["contenders"]
        )
        labels = [c["label"] for c in comparison["contenders"]]
        values = [
            c["median"][metric] if absolute else c["ratio"]
            for c in comparison["contenders"]
        ]
        positions = list(range(len(labels)))[::-1]
        colors = [
            "#c44e52" if label.startswith("tornado_compat") else "#8c8c8c"
            for label in labels
        ]
        ax.barh(positions, values, color=colors)
        ax.set_yticks(positions, labels)
        top = max(values)
        bottom = min(0.0, *values)
        for position, value, contender in zip(
            positions, values, comparison["contenders"], strict=True
        ):
            text = f"{number(contender['median'][metric])} {metric}"
            for extra in comparison["extra_metrics"]:
                if "RSS" in extra and not absolute:
                    # "peak RSS (MiB)" -> "peak RSS 27.3 MiB"
                    name, _, unit = extra.partition(" (")
                    value_text = number(contender["median"][extra])
                    text += f", {name} {value_text} {unit.rstrip(')')}"
            if not absolute:
                text = f"{ratio_text(value)} ({text})"
            ax.text(value, position, " " + text, va="center", fontsize=8)
        line_colors = iter(["#4c72b0", "#dd8452", "#55a868", "#8172b3"])
        for target in comparison["targets"]:
            line = target.get("chart_line")
            if line is None:
                continue
            top = max(top, line)
            ax.axvline(
                line,
                color=next(line_colors),
                linestyle="--",
                linewidth=1.2,
                label=f"target: {target['contender']} {target['text']}",
            )
        lines = len(ax.get_legend_handles_labels()[0])
        if lines:
            # Room above the bars for the legend.
            ax.set_ylim(-0.6, len(labels) - 0.4 + 0.32 * len(labels) * lines / 2)
            ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
        # A comparison may have no bar above zero (no request cut, no growth).
        top = top if top > 0 else 1.0
        ax.set_xlim(bottom * 1.45, top * 1.45)
        ax.set_xlabel(metric if absolute else f"× {comparison['baseline']}")
        ax.set_title(comparison_title(comparison), fontsize=10, loc="left")
    fig.suptitle(
        f"tornado_compat benchmarks, {results['date'][:10]} "
        f"({'smoke mode' if results['settings']['smoke'] else 'medians'})",
        fontsize=11,
    )
    # tight_layout leaves the suptitle out of its sums: keep its height
    # (about half an inch) above the first row of panels.
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.5 / fig.get_figheight()))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(results: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / JSON_NAME
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path = directory / MARKDOWN_NAME
    markdown_path.write_text(markdown(results))
    chart_path = directory / CHART_NAME
    chart(results, chart_path)
    return [json_path, markdown_path, chart_path]


def main() -> None:
    """``python -m benchmarks.report [RESULTS.json]``: write the markdown file
    and the chart again from a results file (docs/_static's by default)."""
    import sys

    from benchmarks.tools import ROOT

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/_static" / JSON_NAME
    results = json.loads(path.read_text())
    (path.parent / MARKDOWN_NAME).write_text(markdown(results))
    chart(results, path.parent / CHART_NAME)


if __name__ == "__main__":
    main()
