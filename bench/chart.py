#!/usr/bin/env python3
"""Draw the benchmark ratios as an SVG dot plot (standard library only).

usage: chart.py medians.tsv out.svg

Two panels side by side, one row per workload configuration: relative wall
time and relative peak RSS, each peer's median divided by malloc-x's median,
on a log scale. malloc-x is the line at 1; a dot right of it is a peer that
is slower (or uses more memory) than malloc-x, left of it a peer that is
better. Values outside the axis are drawn as arrows at the edge with their
value written next to them.
"""

import math
import sys

REFERENCE = "malloc-x"
COLORS = {"glibc": "#1f77b4", "mimalloc": "#2ca02c", "jemalloc": "#d62728",
          "tcmalloc": "#9467bd"}
FALLBACK = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
LO, HI = 0.125, 8.0  # axis limits: 8x better .. 8x worse

ROW_H = 18
LABEL_W = 230
PANEL_W = 330
GAP = 30
TOP = 70
BOTTOM = 40


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def x_of(panel_x, value):
    v = min(max(value, LO), HI)
    frac = (math.log(v) - math.log(LO)) / (math.log(HI) - math.log(LO))
    return panel_x + frac * PANEL_W


def main():
    rows = read(sys.argv[1])
    configs = []
    for r in rows:
        k = (r["label"], r["threads"])
        if k not in configs:
            configs.append(k)
    peers = []
    for r in rows:
        if r["allocator"] != REFERENCE and r["allocator"] not in peers:
            peers.append(r["allocator"])
    color = {}
    for i, p in enumerate(peers):
        color[p] = COLORS.get(p, FALLBACK[i % len(FALLBACK)])
    value = {}
    for r in rows:
        k = (r["label"], r["threads"])
        value[(k, r["allocator"], "time")] = float(r["time_ratio"])
        value[(k, r["allocator"], "rss")] = float(r["rss_ratio"])

    height = TOP + ROW_H * len(configs) + BOTTOM
    width = LABEL_W + 2 * PANEL_W + GAP + 20
    svg = []
    a = svg.append
    a('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
      'font-family="sans-serif" font-size="11">' % (width, height))
    a('<rect width="100%" height="100%" fill="white"/>')
    a('<text x="10" y="18" font-size="14" font-weight="bold">Peers relative to malloc-x '
      '(median peer / median malloc-x, log scale; right of 1 = worse than malloc-x)</text>')

    # Legend.
    lx = 10
    for p in peers:
        a('<circle cx="%d" cy="34" r="4" fill="%s"/>' % (lx + 4, color[p]))
        a('<text x="%d" y="38">%s</text>' % (lx + 12, esc(p)))
        lx += 20 + 7 * len(p) + 20

    # Row stripes first, so the grid lines and dots are drawn over them.
    for i in range(len(configs)):
        if i % 2 == 0:
            a('<rect x="0" y="%d" width="%d" height="%d" fill="#f6f6f6"/>'
              % (TOP + ROW_H * i, width, ROW_H))

    panels = [("time", "relative wall time", LABEL_W),
              ("rss", "relative peak RSS", LABEL_W + PANEL_W + GAP)]
    ticks = [0.125, 0.25, 0.5, 1, 2, 4, 8]
    y0 = TOP
    y1 = TOP + ROW_H * len(configs)
    for metric, title, px in panels:
        a('<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>'
          % (px + PANEL_W / 2, TOP - 12, title))
        for t in ticks:
            x = x_of(px, t)
            stroke = "#444" if t == 1 else "#ddd"
            a('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (x, y0, x, y1, stroke))
            a('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>'
              % (x, y1 + 14, ("%g" % t)))
        a('<text x="%d" y="%d" text-anchor="middle" fill="#555">peer / malloc-x</text>'
          % (px + PANEL_W / 2, y1 + 30))

    for i, k in enumerate(configs):
        y = TOP + ROW_H * i + ROW_H / 2
        label = k[0] if k[1] == "-" else "%s, %s thr" % k
        a('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (LABEL_W - 8, y + 4, esc(label)))
        for metric, _, px in panels:
            for j, p in enumerate(peers):
                v = value.get((k, p, metric))
                if v is None or v != v or v <= 0:
                    continue
                # Small vertical offsets keep coincident dots visible.
                dy = (j - (len(peers) - 1) / 2) * 3
                x = x_of(px, v)
                if v < LO or v > HI:
                    sign = -1 if v < LO else 1
                    a('<path d="M%.1f %.1f l%d -4 l0 8 z" fill="%s"/>'
                      % (x, y + dy, -6 * sign, color[p]))
                    a('<text x="%.1f" y="%.1f" font-size="9" fill="%s" text-anchor="%s">%.1f</text>'
                      % (x - 8 * sign, y + dy + 3, color[p], "end" if sign > 0 else "start", v))
                else:
                    a('<circle cx="%.1f" cy="%.1f" r="4" fill="%s" fill-opacity="0.85">'
                      '<title>%s %s: %.2f</title></circle>' % (x, y + dy, color[p], esc(p), metric, v))
    a("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
