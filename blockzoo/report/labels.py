"""Label placement: block@position names beside their points, overlapping as little as possible; and
dodging: markers that would sit on (nearly) the same spot are drawn side by side, so none hides another."""
from __future__ import annotations

import numpy as np
from matplotlib.container import Container
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

DODGE_SPACING = 9.0  # points between the centres of dodged markers (the scatter markers are 7-7.5 points wide)

_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1),
               (1, 0.5), (1, -0.5), (-1, 0.5), (-1, -0.5), (0.5, 1), (-0.5, 1), (0.5, -1), (-0.5, -1))
_RADII = (7, 12, 18, 26, 36, 48, 62)  # points


def step_vertices(xs, ys) -> np.ndarray:
    """Vertices of the where="post" step line through (xs, ys)."""
    vertices = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if i:
            vertices.append((x, ys[i - 1]))
        vertices.append((x, y))
    return np.asarray(vertices, dtype=float).reshape(-1, 2)


def freeze_layout(fig: Figure, ax=None) -> None:
    """Run the constrained layout once and keep its positions (and ax's limits), so that display coordinates
    computed from here on hold in the saved figure."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    if ax is not None:
        ax.set_xlim(ax.get_xlim())
        ax.set_ylim(ax.get_ylim())


def dodge_offsets(ax, points_xy, spacing: float = DODGE_SPACING) -> np.ndarray:
    """Offsets, in points, that spread apart markers closer than `spacing` points on screen.

    Such markers form a group, laid out in a row centred on the group's mean, left to right in the order of
    their x (then of their index); a row that comes near another marker or row takes it in, until no two
    markers are that close. A point alone keeps (0, 0). Needs the final layout and limits (freeze_layout)."""
    to_px = ax.figure.dpi / 72.0
    pixels = ax.transData.transform(np.asarray(points_xy, dtype=float).reshape(-1, 2))
    gap = spacing * to_px
    group = list(range(len(pixels)))  # union-find: a group, once joined, stays together

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    placed = pixels.copy()
    for _ in range(len(pixels)):
        joined = False
        for i in range(len(pixels)):
            for j in range(i):
                # 0.98: the neighbours in a row are exactly `gap` apart
                if root(i) != root(j) and np.hypot(*(placed[i] - placed[j])) < gap * 0.98:
                    group[root(i)] = root(j)
                    joined = True
        if not joined:
            break
        for leader in {root(i) for i in range(len(pixels))}:
            members = sorted((i for i in range(len(pixels)) if root(i) == leader), key=lambda i: (pixels[i, 0], i))
            centre = pixels[members].mean(axis=0)
            for k, i in enumerate(members):
                placed[i] = centre + ((k - (len(members) - 1) / 2) * gap, 0.0)
    return np.nan_to_num((placed - pixels) / to_px)


def dodge(fig: Figure, ax, points_xy, artists) -> np.ndarray:
    """Freeze the layout, then move the artists of each point (artists[i]: a list of artists or containers,
    e.g. its marker and error bars) by its dodge_offsets. Returns the offsets, in points."""
    freeze_layout(fig, ax)
    offsets = dodge_offsets(ax, points_xy)
    for (dx, dy), group in zip(offsets, artists, strict=True):
        if dx or dy:
            for artist in group:
                for part in artist.get_children() if isinstance(artist, Container) else [artist]:
                    part.set_transform(shifted(fig, ax, dx, dy))
    return offsets


def mark_beside(fig: Figure, ax, points_xy, offsets, which, at: tuple[float, float], style: dict) -> None:
    """A small mark (style: Line2D keywords) `at` (dx, dy) points from each point where `which` is True, after
    dodging (offsets: dodge's), so that it sits beside its own marker and leaves its colour and shape visible."""
    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    for i in np.flatnonzero(np.asarray(which, dtype=bool)):
        dx, dy = np.asarray(offsets[i], dtype=float) + at
        ax.plot(*points_xy[i], transform=shifted(fig, ax, dx, dy), zorder=5, clip_on=False, **style)


def shifted(fig: Figure, ax, dx: float, dy: float):
    """The data transform of ax moved by (dx, dy) points on screen."""
    return ax.transData + ScaledTranslation(dx / 72.0, dy / 72.0, fig.dpi_scale_trans)


def _overlap(a: tuple, b: tuple) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(fig: Figure, ax, xs, ys, texts, points_xy, segments=(), fontsize: float = 7.5, *,
                 shifts=None, point_shifts=None) -> None:
    """Annotate (xs[i], ys[i]) with texts[i], each offset chosen greedily so that the label overlaps as
    little as possible other labels, the plotted points (points_xy), lines through the data (segments:
    polylines in data coordinates, e.g. error bars and the frontier) and the axes edges, and sits nearer
    its own point than any other. shifts / point_shifts: where the labelled points / all points were dodged
    to, in points (dodge). The layout is frozen first so that display coordinates hold."""
    if not len(texts):
        return
    freeze_layout(fig)
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    box = ax.get_window_extent(renderer)
    frame = (box.x0, box.y0, box.x1, box.y1)
    marker = 5 * to_px
    points = ax.transData.transform(np.asarray(points_xy, dtype=float).reshape(-1, 2))
    shifts = np.zeros((len(texts), 2)) if shifts is None else np.asarray(shifts, dtype=float)
    if point_shifts is not None:
        points = points + np.asarray(point_shifts, dtype=float) * to_px
    obstacles = [(px - marker, py - marker, px + marker, py + marker) for px, py in points]
    for polyline in segments:
        vertices = ax.transData.transform(np.asarray(polyline, dtype=float).reshape(-1, 2))
        for (x0, y0), (x1, y1) in zip(vertices[:-1], vertices[1:], strict=True):
            steps = max(1, int(np.hypot(x1 - x0, y1 - y0) / (3 * to_px)))
            for t in np.linspace(0, 1, steps + 1):
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                obstacles.append((px - 1.5 * to_px, py - 1.5 * to_px, px + 1.5 * to_px, py + 1.5 * to_px))
    obstacles = np.asarray(obstacles, dtype=float).reshape(-1, 4)
    anchors = ax.transData.transform(np.column_stack([xs, ys]).astype(float)) + shifts * to_px
    sizes = []
    for text in texts:
        probe = ax.text(0, 0, text, fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width, extent.height))
        probe.remove()

    def distance(rect: tuple, px: float, py: float) -> float:
        return float(np.hypot(max(rect[0] - px, 0, px - rect[2]), max(rect[1] - py, 0, py - rect[3])))

    placed: list[tuple] = []
    leaders: list[tuple] = []
    # the most crowded labels first: they have the fewest good places
    crowd = [int((np.hypot(*(points - anchors[i]).T) < 60 * to_px).sum()) for i in range(len(texts))]
    for i in sorted(range(len(texts)), key=lambda k: -crowd[k]):
        (ax_px, ay_px), (w, h) = anchors[i], sizes[i]
        other_points = points[np.abs(points - anchors[i]).sum(axis=1) > 0.5]
        best = None
        for radius in _RADII:
            for dx, dy in _DIRECTIONS:
                ox, oy = dx * radius * to_px, dy * radius * to_px
                # aligned like the annotation below: left/bottom edge at the offset for a full step, centred otherwise
                x0 = ax_px + ox - w * (0.0 if dx >= 1 else 1.0 if dx <= -1 else 0.5)
                y0 = ay_px + oy - h * (0.0 if dy >= 1 else 1.0 if dy <= -1 else 0.5)
                rect = (x0 - 1, y0 - 1, x0 + w + 1, y0 + h + 1)
                cost = 50 * ((w + 2) * (h + 2) - _overlap(rect, frame))
                cost += 20 * sum(_overlap(rect, other) for other in placed)
                cost += 6 * _overlap_many(rect, obstacles)
                # a label must read as its own point's: nearer to it than to any other point
                own = distance(rect, ax_px, ay_px)
                if len(other_points):
                    nearest = float(np.hypot(
                        np.clip(np.maximum(rect[0] - other_points[:, 0], other_points[:, 0] - rect[2]), 0, None),
                        np.clip(np.maximum(rect[1] - other_points[:, 1], other_points[:, 1] - rect[3]), 0, None),
                    ).min())
                    if nearest < own + 8 * to_px:
                        cost += 400 * (own + 8 * to_px - nearest) * to_px
                # the leader line should cross no other label
                lead = (ax_px + ox * 0.3, ay_px + oy * 0.3, ax_px + ox, ay_px + oy)
                cost += 30 * sum(_segment_hits(lead, other) for other in placed)
                cost += 30 * sum(_crosses(lead, other) for other in leaders)
                cost += radius * to_px * 3.0 + (2.0 if dy == 0 or dx == 0 else 0) * to_px
                if best is None or cost < best[0]:
                    best = (cost, rect, dx, dy, radius, lead)
        _, rect, dx, dy, radius, lead = best
        placed.append(rect)
        leaders.append(lead)
        ha = "left" if dx >= 1 else "right" if dx <= -1 else "center"
        va = "bottom" if dy >= 1 else "top" if dy <= -1 else "center"
        arrow = {"arrowstyle": "-", "color": "#555555", "lw": 0.7, "shrinkA": 1, "shrinkB": 5}
        ax.annotate(texts[i], (xs[i], ys[i]), xycoords=shifted(fig, ax, *shifts[i]),
                    xytext=(dx * radius, dy * radius), textcoords="offset points", ha=ha, va=va,
                    fontsize=fontsize, arrowprops=arrow, zorder=6, gid=f"label:{texts[i]}",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})


def _overlap_many(rect: tuple, boxes: np.ndarray) -> float:
    """Summed overlap area of a rectangle with each of an (n, 4) array of boxes (x0, y0, x1, y1)."""
    w = np.minimum(rect[2], boxes[:, 2]) - np.maximum(rect[0], boxes[:, 0])
    h = np.minimum(rect[3], boxes[:, 3]) - np.maximum(rect[1], boxes[:, 1])
    return float((np.clip(w, 0, None) * np.clip(h, 0, None)).sum())


def _segment_hits(segment: tuple, rect: tuple) -> float:
    """How much of a segment (x0, y0, x1, y1) runs inside a rectangle, in samples of 10."""
    x0, y0, x1, y1 = segment
    return sum(rect[0] <= x0 + t * (x1 - x0) <= rect[2] and rect[1] <= y0 + t * (y1 - y0) <= rect[3]
               for t in np.linspace(0, 1, 10)) * 10.0


def _crosses(a: tuple, b: tuple) -> float:
    def orient(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))
    p1, p2, q1, q2 = a[:2], a[2:], b[:2], b[2:]
    return 100.0 if orient(p1, p2, q1) * orient(p1, p2, q2) < 0 and orient(q1, q2, p1) * orient(q1, q2, p2) < 0 else 0.0
