"""Folded stacks ("a;b;c N", one line per distinct stack, root first, as
Brendan Gregg's stackcollapse tools write them) and a flame graph of them
as a self-contained SVG."""

from __future__ import annotations

from html import escape

ROW = 16
WIDTH = 1200
# Frame kinds by their label's prefix: colours a reader can tell apart.
COLOURS = (("[host]", (150, 150, 150)), ("[guest kernel]", (90, 140, 220)),
           ("[", (200, 200, 90)))


def fold(stacks) -> dict[str, int]:
    """Counts of stacks given as lists of frames, leaf first."""
    out: dict[str, int] = {}
    for frames in stacks:
        key = ";".join(reversed(frames))
        out[key] = out.get(key, 0) + 1
    return out


def write_folded(folded: dict[str, int], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for stack, n in sorted(folded.items()):
            f.write(f"{stack} {n}\n")


def _tree(folded: dict[str, int]) -> dict:
    root: dict = {"n": 0, "kids": {}}
    for stack, n in folded.items():
        node = root
        node["n"] += n
        for frame in stack.split(";"):
            node = node["kids"].setdefault(frame, {"n": 0, "kids": {}})
            node["n"] += n
    return root


def _colour(name: str, depth: int) -> str:
    for prefix, (r, g, b) in COLOURS:
        if name.startswith(prefix):
            break
    else:
        r, g, b = 230, 110 + (hash(name) % 90), 40     # the program and its libraries
    shade = (depth * 7) % 30
    return f"rgb({max(r - shade, 0)},{max(g - shade, 0)},{max(b - shade, 0)})"


def svg(folded: dict[str, int], title: str) -> str:
    tree = _tree(folded)
    total = tree["n"] or 1
    depth = [0]

    def height(node, d):
        depth[0] = max(depth[0], d)
        for kid in node["kids"].values():
            height(kid, d + 1)
    height(tree, 0)
    h = (depth[0] + 3) * ROW
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{h}" '
             f'font-family="monospace" font-size="11">',
             f'<text x="{WIDTH // 2}" y="{ROW}" text-anchor="middle" font-size="13">'
             f'{escape(title)} ({total} samples)</text>']

    def draw(node, x, d):
        for name, kid in sorted(node["kids"].items()):
            w = kid["n"] / total * (WIDTH - 20)
            y = h - (d + 1) * ROW
            if w >= 0.5:
                label = escape(name)
                pct = 100 * kid["n"] / total
                parts.append(f'<g><title>{label} ({kid["n"]} samples, {pct:.1f}%)</title>'
                             f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 1}" '
                             f'fill="{_colour(name, d)}"/>')
                chars = int(w / 7)
                if chars >= 3:
                    text = name if len(name) <= chars else name[:chars - 2] + ".."
                    parts.append(f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{escape(text)}</text>')
                parts.append("</g>")
                draw(kid, x, d + 1)
            x += w
    draw(tree, 10.0, 0)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
