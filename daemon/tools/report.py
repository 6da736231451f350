"""A self-contained HTML report of a simulation: inline SVG charts, no scripts, no assets.

Per budget: rolling accuracy against items streamed and against labels spent, every policy on the
same axes as random sampling at that budget (dashed), and per-subgroup query shares beside each
subgroup's share of the stream.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from daemon.tools.backtest import BASELINE, CurvePoint, RunResult, summarize
from daemon.tools.streams import StreamInfo

_PALETTE = ("#1b6ca8", "#d1495b", "#2a9d8f", "#e9a03b", "#7b4fa6", "#5c946e", "#c05299")
_W, _H = 560, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 150, 28, 42

Series = tuple[str, Sequence[tuple[float, float]], str, bool]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + k * step for k in range(n)]


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v - round(v)) < 1e-9:
        return f"{v:.0f}"
    return f"{v:.2f}"


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str) -> str:
    """An SVG line chart: ``series`` are (name, points, colour, dashed)."""
    xs = [x for _, pts, _, _ in series for x, _ in pts]
    ys = [y for _, pts, _, _ in series for _, y in pts]
    if not xs:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="40"></svg>'
    x_lo, x_hi = 0.0, max(*xs, 1.0)
    y_lo = math.floor(min(ys) * 20) / 20
    y_hi = min(1.0, math.ceil(max(ys) * 20) / 20)
    if y_hi <= y_lo:
        y_hi = y_lo + 0.05
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y: float) -> float:
        return _TOP + ph - (y - y_lo) / (y_hi - y_lo) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
        f'<text x="{_LEFT}" y="16" class="t">{_esc(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" class="frame"/>',
    ]
    for t in _ticks(y_lo, y_hi):
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
        )
        parts.append(f'<text x="{_LEFT - 6}" y="{py(t) + 4:.1f}" class="yt">{t:.2f}</text>')
    for t in _ticks(x_lo, x_hi):
        parts.append(f'<text x="{px(t):.1f}" y="{_TOP + ph + 16}" class="xt">{_fmt(t)}</text>')
    parts.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 6}" class="xt">{_esc(x_label)}</text>')
    parts.append(
        f'<text x="14" y="{_TOP + ph / 2}" class="xt" '
        f'transform="rotate(-90 14 {_TOP + ph / 2})">{_esc(y_label)}</text>'
    )
    for k, (name, pts, colour, dashed) in enumerate(series):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dash}><title>{_esc(name)}</title></polyline>"
        )
        ly = _TOP + 12 + 18 * k
        parts.append(
            f'<line x1="{_W - _RIGHT + 10}" x2="{_W - _RIGHT + 30}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{_W - _RIGHT + 34}" y="{ly}" class="lg">{_esc(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    title: str, categories: Sequence[str], bars: Sequence[tuple[str, Sequence[float], str]]
) -> str:
    """An SVG grouped bar chart of shares in [0, 1]: ``bars`` are (name, value per category,
    colour)."""
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    top = max([1e-9, *(v for _, vals, _ in bars for v in vals)])
    y_hi = min(1.0, math.ceil(top * 10) / 10)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
        f'<text x="{_LEFT}" y="16" class="t">{_esc(title)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" class="frame"/>',
    ]
    for t in _ticks(0.0, y_hi):
        y = _TOP + ph - t / y_hi * ph
        parts.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="yt">{t:.0%}</text>')
    slot = pw / max(1, len(categories))
    width = slot * 0.8 / max(1, len(bars))
    for c, cat in enumerate(categories):
        x0 = _LEFT + c * slot + slot * 0.1
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{_TOP + ph + 16}" class="xt">{_esc(cat)}</text>'
        )
        for b, (name, values, colour) in enumerate(bars):
            v = values[c]
            h = v / y_hi * ph
            parts.append(
                f'<rect x="{x0 + b * width:.1f}" y="{_TOP + ph - h:.1f}" '
                f'width="{width * 0.9:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{_esc(name)} {_esc(cat)}: {v:.1%}</title></rect>"
            )
    for b, (name, _, colour) in enumerate(bars):
        ly = _TOP + 12 + 18 * b
        parts.append(
            f'<rect x="{_W - _RIGHT + 10}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(f'<text x="{_W - _RIGHT + 28}" y="{ly}" class="lg">{_esc(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _mean_curve(runs: Sequence[RunResult], x_of: str) -> list[tuple[float, float]]:
    """Average the curves of several seeds point by point (same stream length per seed)."""
    length = min(len(r.curve) for r in runs)
    out = []
    for k in range(length):
        pts: list[CurvePoint] = [r.curve[k] for r in runs]
        x = sum(float(getattr(p, x_of)) for p in pts) / len(pts)
        out.append((x, sum(p.accuracy for p in pts) / len(pts)))
    return out


def _colours(policies: Sequence[str]) -> dict[str, str]:
    others = [p for p in policies if p != BASELINE]
    colours = {p: _PALETTE[k % len(_PALETTE)] for k, p in enumerate(others)}
    colours[BASELINE] = "#333333"
    return colours


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1180px}
h1{font-size:20px} h2{font-size:17px;margin-top:28px} table{border-collapse:collapse}
td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:right}
th:first-child,td:first-child{text-align:left} .no{color:#b00020;font-weight:600}
svg{margin:6px 12px 6px 0} .t{font-size:13px;font-weight:600} .frame{fill:none;stroke:#999}
.grid{stroke:#eee} .xt{font-size:11px;text-anchor:middle} .yt{font-size:11px;text-anchor:end}
.lg{font-size:11px} .note{color:#555}
"""


def render(
    runs: Sequence[RunResult],
    info: StreamInfo,
    population: Mapping[str, float],
    command: str = "",
) -> str:
    """The whole report as one HTML document."""
    policies = list(dict.fromkeys(r.policy for r in runs))
    budgets = sorted({r.budget for r in runs})
    seeds = sorted({r.seed for r in runs})
    colours = _colours(policies)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>labelgate simulate: {_esc(info.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>labelgate simulate — {_esc(info.name)}</h1>",
        f'<p class="note">{_esc(info.description)}; {info.n:,} items, classes '
        f"{_esc(', '.join(info.classes))}, drift: {'yes' if info.has_drift else 'no'}; "
        f"label delay {runs[0].label_delay if runs else 0} items; seeds "
        f"{_esc(', '.join(map(str, seeds)))}; generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>",
    ]
    if command:
        out.append(f"<p><code>{_esc(command)}</code></p>")
    out.append(
        "<h2>Results (mean over seeds)</h2><table><tr><th>policy</th><th>budget</th>"
        "<th>accuracy</th><th>macro-F1</th><th>labels / items</th><th>within budget</th>"
        "<th>accuracy - random</th></tr>"
    )
    for row in summarize(runs):
        ok = "yes" if row["within_budget"] else '<span class="no">NO</span>'
        out.append(
            f"<tr><td>{_esc(row['policy'])}</td><td>{row['budget']:.2%}</td>"
            f"<td>{row['accuracy']:.4f}</td><td>{row['macro_f1']:.4f}</td>"
            f"<td>{row['label_fraction']:.2%}</td><td>{ok}</td>"
            f"<td>{row['vs_random']:+.4f}</td></tr>"
        )
    out.append("</table>")
    out.append(
        '<p class="note">Curves: prequential accuracy over the most recent 5% of the '
        "stream, averaged over seeds; random sampling at the same budget is dashed.</p>"
    )
    for budget in budgets:
        out.append(f"<h2>Budget {budget:.2%}</h2>")
        series_items: list[Series] = []
        series_labels: list[Series] = []
        for policy in policies:
            rs = [r for r in runs if r.policy == policy and r.budget == budget]
            if not rs:
                continue
            dashed = policy == BASELINE
            series_items.append((policy, _mean_curve(rs, "items"), colours[policy], dashed))
            series_labels.append((policy, _mean_curve(rs, "labels"), colours[policy], dashed))
        out.append(
            line_chart(
                f"accuracy vs items, budget {budget:.2%}",
                series_items,
                "items streamed",
                "accuracy",
            )
        )
        out.append(
            line_chart(
                f"accuracy vs labels spent, budget {budget:.2%}",
                series_labels,
                "labels spent",
                "accuracy",
            )
        )
        if population:
            groups = list(population)
            bars: list[tuple[str, Sequence[float], str]] = [
                ("stream share", [population[g] for g in groups], "#bbbbbb")
            ]
            for policy in policies:
                rs = [r for r in runs if r.policy == policy and r.budget == budget]
                if rs:
                    shares = [sum(r.query_share(g) for r in rs) / len(rs) for g in groups]
                    bars.append((policy, shares, colours[policy]))
            out.append(bar_chart(f"query share per subgroup, budget {budget:.2%}", groups, bars))
            out.append(
                "<table><tr><th>policy</th>"
                + "".join(f"<th>accuracy {_esc(g)}</th>" for g in groups)
                + "</tr>"
            )
            for policy in policies:
                rs = [r for r in runs if r.policy == policy and r.budget == budget]
                cells = "".join(
                    f"<td>{sum(r.groups[g].accuracy for r in rs if g in r.groups) / len(rs):.4f}"
                    "</td>"
                    for g in groups
                )
                out.append(f"<tr><td>{_esc(policy)}</td>{cells}</tr>")
            out.append("</table>")
        else:
            out.append(
                '<p class="note">The stream has no subgroup attributes; no per-subgroup '
                "query shares.</p>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
