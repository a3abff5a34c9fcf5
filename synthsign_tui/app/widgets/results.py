"""Result renderables: the confusion matrix and per-class probability bars."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from synthsign_tui import display as fmt


def confusion_table(classes: list[str], matrix: list[list[int]]) -> Table:
    """Rows: true class; columns: predicted class; the diagonal in green; recall per row."""
    table = Table(
        title="Confusion matrix (rows: true, columns: predicted)", title_justify="left", expand=False
    )
    table.add_column("true \\ pred", style="bold")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("recall", justify="right")
    for i, name in enumerate(classes):
        row = matrix[i] if i < len(matrix) else []
        cells = []
        for j, count in enumerate(row):
            style = "bold green" if i == j else ("red" if count else "dim")
            cells.append(Text(str(count), style=style))
        total = sum(row)
        recall = row[i] / total if total and i < len(row) else None
        table.add_row(name, *cells, fmt.pct(recall))
    return table


def probability_bars(probabilities: dict[str, float], width: int = 20) -> Text:
    text = Text()
    best = max(probabilities.values(), default=0)
    name_width = max((len(k) for k in probabilities), default=0)
    for name, p in sorted(probabilities.items(), key=lambda kv: -kv[1]):
        filled = int(round(p * width))
        style = "bold green" if p == best else "cyan"
        text.append(f"{name:<{name_width}} ")
        text.append("█" * filled, style=style)
        text.append("░" * (width - filled), style="dim")
        text.append(f" {p:6.1%}\n")
    return text
