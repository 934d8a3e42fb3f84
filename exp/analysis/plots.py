"""Report figures: PNG files drawn with matplotlib's Agg backend.

Every function takes the data and an output path, writes the PNG atomically (temp file + rename, parent
directory created), closes its figure and returns the path as a str. Arrays follow the seed-axis-first
convention. NaN/inf values are ignored point by point (a diverged run drops out of a mean, it does not
blank the plot); dicts that went through JSON may hold None for nan, which is handled too. Empty inputs
give a figure that says "no data" instead of raising.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
from scipy import stats as _sps  # noqa: E402

from exp.analysis.report import _num, fmt, fmt_same  # noqa: E402  (report imports no plotting code)
from exp.core.workdir import write_atomic  # noqa: E402

__all__ = [
  'curves_with_bands',
  'strip_plot',
  'loglog_fit',
  'threshold_plot',
  'forest_plot',
  'mean_ci95',
  'save_figure',
]

DPI = 150
_MISSING = '–'


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _arr(x: Any) -> np.ndarray:
  """Any array-like (lists with None included) as a float ndarray with None → nan."""
  if x is None:
    return np.zeros(0)
  if np.isscalar(x):
    return np.asarray([_num(x)], dtype=float)
  try:
    return np.asarray(x, dtype=float)
  except (TypeError, ValueError):
    obj = np.asarray(x, dtype=object)
    return np.vectorize(_num, otypes=[float])(obj) if obj.size else np.zeros(obj.shape)


def _f(x: Any, digits: int = 3) -> str:
  return fmt(x, digits)


def mean_ci95(values: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Mean, t-based 95% CI half-width and count of finite values along `axis` (seeds first).

  Non-finite entries are ignored; the half-width is nan where fewer than 2 values remain and the mean is
  nan where none does. No RuntimeWarnings for empty slices.
  """
  v = _arr(values)
  if v.ndim == 0:
    v = v[None]
  ok = np.isfinite(v)
  n = ok.sum(axis=axis)
  z = np.where(ok, v, 0.0)
  with np.errstate(invalid='ignore', divide='ignore'):
    mean = z.sum(axis=axis) / n
    dev = np.where(ok, v - np.expand_dims(mean, axis), 0.0)
    sd = np.sqrt((dev**2).sum(axis=axis) / (n - 1))
    tcrit = _sps.t.ppf(0.975, np.maximum(n - 1, 1))
    half = np.where(n >= 2, tcrit * sd / np.sqrt(n), np.nan)
  mean = np.where(n >= 1, mean, np.nan)
  return mean, half, n


def save_figure(fig: Any, path: str | os.PathLike) -> str:
  """Save `fig` as PNG to `path` atomically (exp.core.workdir.write_atomic) and close it."""
  try:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI, bbox_inches='tight')
    return write_atomic(path, buf.getvalue())
  finally:
    plt.close(fig)


def _no_data(ax: Any) -> None:
  ax.text(0.5, 0.5, 'no data', ha='center', va='center', transform=ax.transAxes, color='0.5', fontsize=12)


def _colors(n: int) -> list:
  cycle = plt.rcParams['axes.prop_cycle'].by_key().get('color', ['C0'])
  return [cycle[i % len(cycle)] for i in range(n)]


def _finish(ax: Any, title: str, xlabel: str | None, ylabel: str | None, legend: bool = True) -> None:
  ax.set_title(title)
  if xlabel is not None:
    ax.set_xlabel(xlabel)
  if ylabel is not None:
    ax.set_ylabel(ylabel)
  ax.grid(True, alpha=0.3, which='major')
  if legend and ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=8, frameon=False)


def _log_ok(v: np.ndarray, log: bool) -> np.ndarray:
  """Mask of values drawable on the axis: finite, and positive on a log axis."""
  m = np.isfinite(v)
  return m & (v > 0) if log else m


# ---------------------------------------------------------------------------------------------------------
# Plots


def curves_with_bands(
  path: str | os.PathLike,
  steps: Any,
  curves: Mapping[str, Any],
  title: str,
  xlabel: str,
  ylabel: str,
  logx: bool = False,
  logy: bool = False,
) -> str:
  """Learning curves: mean over seeds with a t-based 95% band.

  steps: (points,) x values shared by all curves, or {label: (points,)}. curves: {label: array (seeds,
  points)} (a 1-D array is one seed). NaN is ignored per point; a point with one finite seed gets no band.
  """
  fig, ax = plt.subplots(figsize=(6.4, 4.2))
  drawn = False
  for color, (label, y) in zip(_colors(len(curves)), curves.items()):
    y = _arr(y)
    if y.ndim == 1:
      y = y[None, :]
    x = _arr(steps[label] if isinstance(steps, Mapping) else steps).ravel()
    if y.size == 0 or x.size == 0:
      continue
    if x.size != y.shape[1]:
      raise ValueError(f'curves_with_bands: {label!r} has {y.shape[1]} points but steps has {x.size}')
    mean, half, n = mean_ci95(y, axis=0)
    lo, hi = mean - half, mean + half
    ok = _log_ok(x, logx) & _log_ok(mean, logy)
    if not ok.any():
      continue
    ax.plot(x[ok], mean[ok], color=color, lw=1.8, label=f'{label} (n={y.shape[0]})')
    band = ok & np.isfinite(half)
    if logy:
      lo = np.where(lo > 0, lo, np.nan)
    if band.any():
      ax.fill_between(x, lo, hi, where=band, color=color, alpha=0.22, lw=0, interpolate=False)
    drawn = True
  if logx:
    ax.set_xscale('log')
  if logy:
    ax.set_yscale('log')
  if not drawn:
    _no_data(ax)
  _finish(ax, title, xlabel, ylabel)
  return save_figure(fig, path)


def strip_plot(
  path: str | os.PathLike, groups: Mapping[str, Any], title: str, ylabel: str, logy: bool = False
) -> str:
  """Per-seed values per group: jittered points plus mean ± 95% CI (t-based) as a bar beside them.

  groups: {label: 1-D per-seed values}. Non-finite values (and non-positive ones on a log axis) are not
  drawn; the tick label says how many were left out.
  """
  fig, ax = plt.subplots(figsize=(max(3.6, 1.3 * len(groups) + 1.6), 4.2))
  rng = np.random.default_rng(0)
  ticks, drawn = [], False
  for i, (color, (label, vals)) in enumerate(zip(_colors(len(groups)), groups.items())):
    v = _arr(vals).ravel()
    ok = _log_ok(v, logy)
    shown = v[ok]
    left_out = int(v.size - shown.size)
    tick = f'{label}\n(n={shown.size}' + (f', {left_out} not shown)' if left_out else ')')
    ticks.append(tick)
    if shown.size:
      ax.scatter(
        i - 0.08 + rng.uniform(-0.12, 0.12, shown.size),
        shown,
        s=18,
        color=color,
        alpha=0.7,
        edgecolors='none',
        zorder=2,
      )
      mean, half, _ = mean_ci95(np.where(np.isfinite(v), v, np.nan))
      mean, half = float(mean), float(half)
      if math.isfinite(mean) and (not logy or mean > 0):
        yerr = None if not math.isfinite(half) else [[min(half, mean * 0.999) if logy else half], [half]]
        ax.errorbar(i + 0.22, mean, yerr=yerr, fmt='o', color='black', ms=5, capsize=4, lw=1.4, zorder=3)
      drawn = True
  ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
  ax.set_xlim(-0.6, max(len(ticks) - 0.4, 0.6))
  if logy:
    ax.set_yscale('log')
  if not drawn:
    _no_data(ax)
  _finish(ax, title, None, ylabel, legend=False)
  ax.text(
    0.99,
    0.01,
    'black: mean ± 95% CI',
    transform=ax.transAxes,
    ha='right',
    va='bottom',
    fontsize=7,
    color='0.4',
  )
  return save_figure(fig, path)


def loglog_fit(
  path: str | os.PathLike, series: Mapping[str, Mapping[str, Any]], title: str, xlabel: str, ylabel: str
) -> str:
  """Power-law scaling on log–log axes.

  series: {label: {"x": per-seed x, "y": per-seed y, "fit": exp.stats.power_law dict or None,
  "censored_x": optional x of censored runs, "censored_y": the budget (scalar or per run)}}. Draws the
  per-seed points (slightly jittered in x), the line y = prefactor·x^exponent over the data's x range with
  "exponent [CI], R²" in the legend, and censored runs as hollow markers at the budget.
  """
  fig, ax = plt.subplots(figsize=(6.4, 4.4))
  rng = np.random.default_rng(0)
  drawn, budget_drawn = False, False
  for color, (label, s) in zip(_colors(len(series)), series.items()):
    s = s if isinstance(s, Mapping) else {}
    x, y = _arr(s.get('x')).ravel(), _arr(s.get('y')).ravel()
    m = min(x.size, y.size)
    x, y = x[:m], y[:m]
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    xs = [x[ok]]
    if ok.any():
      ax.scatter(
        x[ok] * np.exp(rng.uniform(-0.04, 0.04, ok.sum())),
        y[ok],
        s=16,
        color=color,
        alpha=0.65,
        edgecolors='none',
        zorder=2,
      )
      drawn = True
    cx = _arr(s.get('censored_x')).ravel()
    if cx.size:
      cy = _arr(s.get('censored_y')).ravel()
      cy = np.broadcast_to(cy, cx.shape) if cy.size in (1, cx.size) else np.full(cx.shape, np.nan)
      cok = (cx > 0) & (cy > 0) & np.isfinite(cx) & np.isfinite(cy)
      if cok.any():
        ax.scatter(
          cx[cok] * np.exp(rng.uniform(-0.04, 0.04, cok.sum())),
          cy[cok],
          s=30,
          facecolors='none',
          edgecolors=color,
          lw=1.2,
          zorder=2,
          label=f'{label}: censored ({int(cok.sum())})',
        )
        if not budget_drawn:
          for b in np.unique(cy[cok]):
            ax.axhline(b, color='0.5', ls=':', lw=1, zorder=1)
          budget_drawn = True
        xs.append(cx[cok])
        drawn = True
    fit = s.get('fit') if isinstance(s.get('fit'), Mapping) else None
    k, a = _num(fit.get('exponent')) if fit else math.nan, _num(fit.get('prefactor')) if fit else math.nan
    allx = np.concatenate(xs)
    if fit and math.isfinite(k) and math.isfinite(a) and a > 0 and allx.size:
      lo_x, hi_x = allx.min(), allx.max()
      if hi_x == lo_x:
        lo_x, hi_x = lo_x / 1.5, hi_x * 1.5
      gx = np.geomspace(lo_x, hi_x, 100)
      ci = fit.get('exponent_ci95')
      ci = ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else [None, None]
      ks = fmt_same([k, ci[0], ci[1]])
      txt = f'{label}: y ∝ x^{ks[0]} [{ks[1]}, {ks[2]}], R² {_f(fit.get("r2"))}'
      ax.plot(gx, a * gx**k, color=color, lw=1.8, label=txt, zorder=3)
      drawn = True
    elif ok.any():
      ax.plot([], [], color=color, lw=1.8, label=f'{label}: no fit')
  ax.set_xscale('log')
  ax.set_yscale('log')
  if not drawn:
    _no_data(ax)
  _finish(ax, title, xlabel, ylabel)
  return save_figure(fig, path)


def _logistic(x: np.ndarray, fit: Mapping[str, Any], decreasing: bool = False) -> np.ndarray | None:
  """The fitted curve on `x`; scale 0 (perfectly separated data) is a step at the center, rising unless
  `decreasing` (the data's direction, which a zero scale cannot carry)."""
  c, s = _num(fit.get('center')), _num(fit.get('scale'))
  lo, up = _num(fit.get('lower')), _num(fit.get('upper'))
  lo = 0.0 if math.isnan(lo) else lo
  up = 1.0 if math.isnan(up) else up
  if not (math.isfinite(c) and math.isfinite(s)):
    return None
  if s == 0:
    step = np.where(x > c, 1.0, np.where(x < c, 0.0, 0.5))
    return lo + (up - lo) * (1.0 - step if decreasing else step)
  with np.errstate(over='ignore'):
    return lo + (up - lo) / (1.0 + np.exp(-(x - c) / s))


def threshold_plot(
  path: str | os.PathLike, series: Mapping[str, Mapping[str, Any]], title: str, xlabel: str, ylabel: str
) -> str:
  """Threshold (logistic) fits.

  series: {label: {"x": per-run x (the fit's units, e.g. log10 lr), "y": per-run outcome (0/1 or
  continuous), "fit": exp.stats.logistic_threshold dict or None}}. Draws the points (jittered in y when
  binary), the curve lower + (upper − lower)/(1 + exp(−(x − center)/scale)), the center as a vertical
  line and its 95% CI as a shaded span; the legend gives center [CI] and the 10–90% width. A zero scale
  (perfect separation) is drawn as a step at the center.
  """
  fig, ax = plt.subplots(figsize=(6.4, 4.4))
  rng = np.random.default_rng(0)
  drawn = False
  for color, (label, s) in zip(_colors(len(series)), series.items()):
    s = s if isinstance(s, Mapping) else {}
    x, y = _arr(s.get('x')).ravel(), _arr(s.get('y')).ravel()
    m = min(x.size, y.size)
    x, y = x[:m], y[:m]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
      binary = np.isin(y[ok], (0.0, 1.0)).all()
      jit = rng.uniform(-0.035, 0.035, ok.sum()) if binary else 0.0
      ax.scatter(x[ok], y[ok] + jit, s=14, color=color, alpha=0.5, edgecolors='none', zorder=2)
      drawn = True
    fit = s.get('fit') if isinstance(s.get('fit'), Mapping) else None
    if fit is None:
      if ok.any():
        ax.plot([], [], color=color, label=f'{label}: no fit')
      continue
    c = _num(fit.get('center'))
    ci = fit.get('center_ci95')
    ci = [_num(v) for v in ci] if isinstance(ci, (list, tuple)) and len(ci) == 2 else [math.nan] * 2
    span = [
      v
      for v in (x[ok].min() if ok.any() else math.nan, x[ok].max() if ok.any() else math.nan, c, *ci)
      if math.isfinite(v)
    ]
    if span:
      lo_x, hi_x = min(span), max(span)
      pad = 0.05 * (hi_x - lo_x) if hi_x > lo_x else 1.0
      gx = np.linspace(lo_x - pad, hi_x + pad, 300)
      left, right = y[ok][x[ok] < c], y[ok][x[ok] > c]
      decreasing = bool(left.size and right.size and right.mean() < left.mean())
      gy = _logistic(gx, fit, decreasing)
      cs = fmt_same([c, *ci])
      label_txt = f'{label}: center {cs[0]} [{cs[1]}, {cs[2]}], width {_f(fit.get("width_10_90"))}'
      if gy is not None:
        ax.plot(gx, gy, color=color, lw=1.8, label=label_txt, zorder=3)
      else:
        ax.plot([], [], color=color, label=label_txt)
      drawn = True
    if math.isfinite(c):
      ax.axvline(c, color=color, ls='--', lw=1.2, zorder=1)
    if all(math.isfinite(v) for v in ci):
      ax.axvspan(min(ci), max(ci), color=color, alpha=0.12, lw=0, zorder=0)
  if not drawn:
    _no_data(ax)
  _finish(ax, title, xlabel, ylabel)
  return save_figure(fig, path)


def forest_plot(
  path: str | os.PathLike,
  rows: Sequence[tuple[str, Any, Any]],
  title: str,
  xlabel: str = "Hedges' g (95% CI)",
) -> str:
  """Effect sizes as a forest plot: one row per (label, g, [lo, hi]), first row on top, a zero line and
  the |g| < 0.2 (negligible) band shaded; the value and CI are printed on the right of each row."""
  rows = list(rows)
  fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.45 * max(len(rows), 1)))
  ax.axvspan(-0.2, 0.2, color='0.9', lw=0, zorder=0)
  ax.axvline(0, color='0.3', lw=1, zorder=1)
  ys, labels, extent_lo, extent_hi = [], [], [], []
  for i, (label, g, ci) in enumerate(rows):
    y = len(rows) - 1 - i
    ys.append(y)
    g = _num(g)
    lo, hi = (
      (_num(ci[0]), _num(ci[1]))
      if isinstance(ci, (list, tuple, np.ndarray)) and len(ci) == 2
      else (math.nan, math.nan)
    )
    labels.append(str(label))
    if math.isfinite(g):
      xerr = [[g - lo], [hi - g]] if math.isfinite(lo) and math.isfinite(hi) else None
      ax.errorbar(g, y, xerr=xerr, fmt='s', color='C0', ms=6, capsize=3, lw=1.6, zorder=3)
    finite = [v for v in (g, lo, hi) if math.isfinite(v)]
    extent_lo += finite
    extent_hi += finite
    gs = fmt_same([g, lo, hi])
    txt = f'{gs[0]} [{gs[1]}, {gs[2]}]' if math.isfinite(g) else f'{_MISSING} (n/a)'
    ax.text(1.01, y, txt, transform=ax.get_yaxis_transform(), va='center', fontsize=8)
  lo_lim, hi_lim = min(extent_lo + [-0.3]), max(extent_hi + [0.3])
  pad = 0.06 * (hi_lim - lo_lim)
  ax.set_xlim(lo_lim - pad, hi_lim + pad)
  ax.set_yticks(ys, labels, fontsize=9)
  ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
  if not rows:
    _no_data(ax)
  ax.set_title(title)
  ax.set_xlabel(xlabel)
  ax.grid(True, axis='x', alpha=0.3)
  return save_figure(fig, path)


def halfwidth_by_seeds(path: str | os.PathLike, series: Mapping[str, Mapping[str, Any]], title: str) -> str:
  """ "Is ten enough?": the mean 95% CI half-width of each headline effect when only k seeds are used,
  against k (series: {label: stats.ci_halfwidth_by_seeds(...) dict}), each curve divided by its value at
  all n seeds so effects on different scales share one axis; 1/√k is drawn for reference."""
  fig, ax = plt.subplots(figsize=(6.4, 4.0))
  drawn = False
  for i, (label, s) in enumerate(series.items()):
    k, hw = np.asarray(s.get('k', []), float), _arr(s.get('halfwidth', []))
    if k.size < 2 or not np.isfinite(hw[-1]) or hw[-1] <= 0:
      continue
    ax.plot(k, hw / hw[-1], 'o-', color=_colors(len(series))[i], label=label, ms=4)
    drawn = True
  if drawn:
    ks = np.linspace(3, max(max(s.get('k', [3])) for s in series.values()), 50)
    ax.plot(ks, np.sqrt(ks[-1] / ks), ':', color='0.4', label='∝ 1/√k')
  else:
    _no_data(ax)
  _finish(ax, title, 'seeds used (k)', 'CI half-width / half-width at all seeds', legend=drawn)
  return save_figure(fig, path)
