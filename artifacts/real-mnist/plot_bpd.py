#!/usr/bin/env python3
"""Held-out bits/dim of the general models per epoch of training, as an SVG (no plotting library).

Run from artifacts/real-mnist:  python3 plot_bpd.py > general-bpd.svg
Reads runs/<run>/history.json: each run's per-epoch evaluation on 1,024 held-out images of the
general set (validation split), written by `hierglow train` / `hierglow finetune`. A chain of
runs (an epoch continued by `finetune --from` the previous run) counts its epochs in order.
"""
import json
import os
import sys

CHAINS = [
    ("small (K 8, hidden 64)", ["general-mix-small", "general-mix-small-e2", "general-mix-small-e3", "general-mix-small-e4"]),
    ("medium (K 16, hidden 128)", ["general-mix-medium"]),
    ("medium, first run (machine lost in epoch 2)", ["general-mix-medium-first"]),
]


def points(runs):
    """(epoch, bpd) after each completed epoch of the chain, from the runs that exist."""
    out = []
    for run in runs:
        path = os.path.join("runs", run, "history.json")
        if not os.path.exists(path):
            break
        history = json.load(open(path))
        for e in history["evaluations"]:
            if e["epoch"] >= 0:
                out.append((len(out) + 1, e["metrics"]["evalBpd"]))
    return out


def svg(series):
    width, height, left, right, top, bottom = 760, 320, 60, 330, 20, 45
    all_points = [p for _, ps in series for p in ps]
    if not all_points:
        sys.exit("no runs/*/history.json with per-epoch evaluations here")
    max_epoch = max(4, max(e for e, _ in all_points))
    lo = min(b for _, b in all_points)
    hi = max(b for _, b in all_points)
    lo, hi = lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1)
    x = lambda e: left + (e - 1) / max(1, max_epoch - 1) * (width - left - right)
    y = lambda b: top + (hi - b) / (hi - lo) * (height - top - bottom)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">epochs of the general model on the 200,000-image mixture set</text>',
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" transform="rotate(-90 14 {(top + height - bottom) / 2})">held-out bits/dim</text>',
    ]
    for e in range(1, max_epoch + 1):
        parts.append(f'<text x="{x(e):.1f}" y="{height - bottom + 16}" text-anchor="middle">{e}</text>')
    steps = 5
    for i in range(steps + 1):
        b = lo + (hi - lo) * i / steps
        parts.append(f'<text x="{left - 6}" y="{y(b) + 4:.1f}" text-anchor="end">{b:.2f}</text>')
        parts.append(f'<line x1="{left}" y1="{y(b):.1f}" x2="{width - right}" y2="{y(b):.1f}" stroke="#ddd"/>')
    colours = ["#1f77b4", "#d62728", "#2ca02c"]
    for i, (label, ps) in enumerate(series):
        c = colours[i % len(colours)]
        if ps:
            parts.append(
                '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
                    c, " ".join(f"{x(e):.1f},{y(b):.1f}" for e, b in ps)
                )
            )
            for e, b in ps:
                parts.append(f'<circle cx="{x(e):.1f}" cy="{y(b):.1f}" r="3" fill="{c}"/>')
                parts.append(f'<text x="{x(e) + 5:.1f}" y="{y(b) - 6:.1f}" font-size="10" fill="{c}">{b:.3f}</text>')
        ly = top + 16 + 18 * i
        parts.append(f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 32}" y2="{ly - 4}" stroke="{c}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 38}" y="{ly}">{label}{"" if ps else " (no epoch yet)"}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


if __name__ == "__main__":
    print(svg([(label, points(runs)) for label, runs in CHAINS]))
