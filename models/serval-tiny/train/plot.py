"""Draws log.csv's loss curve (training loss and held-out loss per
language, in nats per token, against tokens seen) as an SVG, with no plotting
library. A phase's closing row (learning rate 0, no training loss) followed by
more rows marks where the next phase began: a dashed line."""

import csv
import sys

W, H, L, B, T, R = 640, 360, 60, 40, 20, 130
COLORS = {"train_loss": "#444", "heldout_go": "#0a7", "heldout_python": "#36c", "heldout_typescript": "#c63"}


def main(log_path, out_path):
    rows = list(csv.DictReader(open(log_path)))
    series = {k: [] for k in COLORS}
    for r in rows:
        for k in COLORS:
            if r.get(k):
                series[k].append((int(r["tokens"]), float(r[k])))
    phases = [int(r["tokens"]) for r in rows[:-1] if r["lr"] in ("0", "0.0") and not r["train_loss"]]
    pts = [p for s in series.values() for p in s]
    x1 = max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    y0, y1 = int(y0), int(y1) + 1

    def sx(x):
        return L + (W - L - R) * x / x1

    def sy(y):
        return T + (H - T - B) * (y1 - y) / (y1 - y0)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for y in range(y0, y1 + 1):
        out.append(f'<line x1="{L}" y1="{sy(y):.1f}" x2="{W-R}" y2="{sy(y):.1f}" stroke="#ddd"/>'
                   f'<text x="{L-6}" y="{sy(y)+4:.1f}" text-anchor="end">{y}</text>')
    for i in range(0, 6):
        x = x1 * i / 5
        out.append(f'<text x="{sx(x):.1f}" y="{H-B+16}" text-anchor="middle">{x/1e6:.2f}M</text>')
    out.append(f'<text x="{(L+W-R)/2}" y="{H-6}" text-anchor="middle">tokens seen</text>')
    out.append(f'<text x="14" y="{(T+H-B)/2}" transform="rotate(-90 14 {(T+H-B)/2})" text-anchor="middle">loss (nats/token)</text>')
    for x in phases:
        out.append(f'<line x1="{sx(x):.1f}" y1="{T}" x2="{sx(x):.1f}" y2="{H-B}" stroke="#999" stroke-dasharray="4 3"/>'
                   f'<text x="{sx(x)+4:.1f}" y="{T+12}" fill="#666">phase 2</text>')
    for i, (k, s) in enumerate(series.items()):
        if not s:
            continue
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s)
        out.append(f'<polyline fill="none" stroke="{COLORS[k]}" stroke-width="1.5" points="{d}"/>')
        out.append(f'<text x="{W-R+8}" y="{T+14+16*i}" fill="{COLORS[k]}">{k.replace("_", " ")}</text>')
    out.append("</svg>")
    open(out_path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
