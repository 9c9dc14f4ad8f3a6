"""Checks of a drawn figure read back from matplotlib's artists, shared by the figure tests: every text on the
canvas, every marked point inside its axes, no two placed labels overlapping."""
from __future__ import annotations


def boxes(fig, artists) -> list:
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


def texts(fig) -> list:
    """Every visible text with something written: the figure's, the axes' (labels, ticks, titles), the legends'."""
    found = list(fig.texts)
    for ax in fig.axes:
        found += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        for ticks, labels, (low, high) in ((ax.get_xticks(), ax.get_xticklabels(), sorted(ax.get_xlim())),
                                           (ax.get_yticks(), ax.get_yticklabels(), sorted(ax.get_ylim()))):
            found += [label for tick, label in zip(ticks, labels, strict=True) if low <= tick <= high]  # drawn ones
        found += [*ax.get_legend().get_texts(), ax.get_legend().get_title()] if ax.get_legend() else []
    for legend in fig.legends:
        found += [*legend.get_texts(), legend.get_title()]
    return [t for t in found if t.get_visible() and t.get_text().strip()]


def assert_texts_on_canvas(fig) -> None:
    fig.canvas.draw()
    canvas = fig.bbox
    drawn = texts(fig)
    for text, box in zip(drawn, boxes(fig, drawn), strict=True):
        assert canvas.x0 - 1 <= box.x0 and box.x1 <= canvas.x1 + 1, f"{text.get_text()!r} runs off the canvas"
        assert canvas.y0 - 1 <= box.y0 and box.y1 <= canvas.y1 + 1, f"{text.get_text()!r} runs off the canvas"


def marked(ax, prefix: str) -> list:
    """The artists of ax whose gid starts with `prefix` (e.g. 'cell:'), the points a figure draws."""
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


def assert_inside_axes(fig, ax, artists) -> None:
    frame = ax.get_window_extent()
    for artist, box in zip(artists, boxes(fig, artists), strict=True):
        inside = (frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1
                  and frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1)
        assert inside, f"{artist.get_gid()} is drawn outside the axes"


def placed_labels(ax) -> list:
    return [t for t in ax.texts if (t.get_gid() or "").startswith("label:")]


def assert_labels_apart(fig, ax) -> None:
    labels = placed_labels(ax)
    placed = boxes(fig, labels)
    for i, a in enumerate(placed):
        for j in range(i):
            assert not a.overlaps(placed[j]), f"{labels[i].get_text()!r} overlaps {labels[j].get_text()!r}"
