"""``heatmap.png``: which mistakes the class made where, as targets × diagnoses coloured by the share of the class.

Rows are the targets in course order, columns the diagnoses that at least one student got, the most
common first; a cell is the percentage of the exercise's students with that mistake in that target, written
in the cell when it is not zero. Rows and columns that would be all zero are left out, and so is ``ok``.
Drawn with matplotlib's object API on the Agg canvas (no pyplot state), with no time stamp or version in the
file, so re-runs write the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HEATMAP = "heatmap.png"
CMAP = "YlOrRd"
EMPTY = "#f2f2f2"
"""The colour of a cell no student is in, so that it does not read as a small share."""
DARK = 55
"""From this share on, the cell is dark enough for its label to be white."""


@dataclass(frozen=True)
class Grid:
    """The numbers of the heat map: ``shares[i][j]`` is row ``i`` (a target), column ``j`` (a diagnosis)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    shares: tuple[tuple[int, ...], ...]


def grid(shares: dict[tuple[str, str], int]) -> Grid:
    """The heat map's cells from ``(row, column) → share``; rows keep the order given, columns go by total share."""
    rows = tuple(dict.fromkeys(r for (r, _c), v in shares.items() if v > 0))
    totals: dict[str, int] = {}
    for (_r, column), value in shares.items():
        if value > 0:
            totals[column] = totals.get(column, 0) + value
    columns = tuple(sorted(totals, key=lambda c: -totals[c]))
    return Grid(rows, columns, tuple(tuple(shares.get((r, c), 0) for c in columns) for r in rows))


def size(cells: Grid) -> tuple[float, float]:
    """Inches that fit the labels (about 0.08 in a character at 10 pt) and cells of about 0.85 × 0.36 in."""
    label = 0.08 * max((len(r) for r in cells.rows), default=0)
    under = 0.05 * max((len(c) for c in cells.columns), default=0)  # the slanted column labels
    return max(5.2, 1.3 + label + 0.85 * len(cells.columns)), max(3.0, 1.2 + under + 0.36 * len(cells.rows))


def heatmap_png(cells: Grid, title: str) -> bytes:
    """The heat map as PNG bytes; a short note instead of the map when the class made no mistake."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size(cells), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    if not cells.rows:
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no mistakes: every graded check passed", ha="center", va="center")
    else:
        _draw(figure, axes, cells)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _draw(figure: Figure, axes: Axes, cells: Grid) -> None:
    """The coloured cells, their percentages, the labels and the colour bar."""
    import numpy
    from matplotlib import colormaps

    shares = numpy.ma.masked_equal(numpy.array(cells.shares, dtype=float), 0)
    image = axes.imshow(shares, cmap=colormaps[CMAP].with_extremes(bad=EMPTY), vmin=0, vmax=100, aspect="auto")
    axes.set_xticks(range(len(cells.columns)), labels=cells.columns, rotation=35, ha="right",
                    rotation_mode="anchor")
    axes.set_yticks(range(len(cells.rows)), labels=cells.rows)
    axes.tick_params(length=0)
    axes.set_xticks([x - 0.5 for x in range(1, len(cells.columns))], minor=True)
    axes.set_yticks([y - 0.5 for y in range(1, len(cells.rows))], minor=True)
    axes.grid(which="minor", color="white", linewidth=1.5)
    axes.tick_params(which="minor", length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    for i, row in enumerate(cells.shares):
        for j, value in enumerate(row):
            if value:
                axes.text(j, i, f"{value}%", ha="center", va="center", fontsize=9,
                          color="white" if value >= DARK else "black")
    bar = figure.colorbar(image, ax=axes, shrink=0.9, pad=0.02)
    bar.set_label("% of the class")
