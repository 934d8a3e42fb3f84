"""Report of the capacity cliff: ``make_report(analysis, runs, log, config, plot_dir)`` writes the plots and
returns the markdown through ``report.render_report``: setup prose, tables (sizes, claimed vs measured,
threshold fits, success by depth, each size vs the largest), the findings (analysis['findings'] plus the
training-budget audit check, which needs metrics.jsonl), "is ten enough?", notes and plots. No conclusion is
written here: every one is a check in findings.py. See docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from exp.analysis import plots, report, stats
from exp.families.capacity_cliff.analysis import CLAIM, MIN_FIT_WIDTHS, fit_failed, pct, span_text
from exp.families.capacity_cliff.findings import AIC_MARGIN, budget_check, loss_drops

TITLE = 'Capacity cliff on structured output (Dyck-2 completion)'
LABELS = {
  'exact': 'exact success',
  'success': 'permissive success',
  'token_acc': 'per-token accuracy',
  'predicted': 'acc^L (predicted exact)',
}


def _fit_row(label, f):
  reason = fit_failed(f)
  if reason is not None:
    return [label, f'fit failed ({reason})'] + ['–'] * 7
  c, (clo, chi) = f['center'], f['center_ci95']
  cs = report.fmt_same([c, clo, chi])
  ws = report.fmt_same([f['width_10_90'], *f['width_ci95']])
  params = f'{10**c:.0f} [{10**clo:.0f}, {10**chi:.0f}]' if None not in (clo, chi) else f'{10**c:.0f}'
  return [
    label,
    f'{cs[0]} [{cs[1]}, {cs[2]}]',
    params,
    f'{ws[0]} [{ws[1]}, {ws[2]}]',
    report.fmt(f['lower']),
    report.fmt(f['upper']),
    report.fmt(f['aic']),
    report.fmt(f['linear']['aic']),
    report.fmt(f['delta_aic']),
  ]


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  findings = copy.deepcopy(an['findings'])
  findings[0]['checks'].append(budget_check(loss_drops(log, an['widths'])))  # audit: status unchanged
  tables = [
    ('Model sizes', _size_table(an)),
    ('Claimed vs measured', _claimed_vs_measured(an)),
    ('Threshold fits (4-parameter logistic in log10 active params)', _threshold_fits(an)),
    ('Exact success by prefix depth', _by_depth(an, config)),
    ('Each size vs the largest (exact success, paired by seed)', _comparisons(an)),
  ]
  text = report.render_report(
    TITLE, _setup(an, config), tables, findings, _plots(an, log, config, plot_dir), _notes(an, config)
  )
  return text.rstrip('\n') + '\n'


def _setup(an: dict, config) -> str:
  widths = an['widths']
  text = (
    f'{len(an["seeds"])} seeds × {len(widths)} model sizes (width-masked GRU, widths {widths[0]}…{widths[-1]} '
    f'of {config.max_hidden}, all in one compiled program), {config.num_steps} Adam steps of batch '
    f'{config.batch_size}, prefixes up to length {config.max_len} and depth {config.max_depth} '
    f'(p_open {config.p_open}); evaluated on {config.eval_batch} held-out prefixes per seed with greedy '
    'decoding. Exact success = the unique minimal closing sequence + EOS; permissive = any well-formed '
    'completion ending at balance; per-token accuracy is teacher-forced over the closing tokens + EOS '
    '(the smooth metric); acc^L = per-token accuracy to the power of the mean target length (what exact '
    'success would be if token errors were independent). Cells: mean ± 95% CI half-width over seeds.'
  )
  if an['n_diverged']:
    text += (
      f'\n\n**{an["n_diverged"]} of {an["n_runs"]} runs diverged** (non-finite values); they are counted '
      'per width below and left out of every mean and fit.'
    )
  return text


def _notes(an: dict, config) -> list[str]:
  pair = an.get('pair') or {}
  return [
    'Threshold fits: a 4-parameter logistic in log10 active params, asymptotes bounded to [0, 1] (every '
    f'metric is a rate), at least {MIN_FIT_WIDTHS} distinct widths; 95% CIs from {config.n_boot} bootstrap resamples of '
    f'whole seeds (all widths of a seed share its data and initial draws), {config.n_boot_seeds} for the '
    'per-depth fits; permissive success and acc^L are point fits. ΔAIC = AIC(linear) − AIC(4PL) for a '
    f'straight line in log10 params (> {AIC_MARGIN:g}: the logistic fits better).',
    'Model-free span: where mean exact success first reaches '
    f'{pct(CLAIM["below"])} and {pct(CLAIM["above"])}, by linear interpolation between adjacent widths.',
    f'Mirage check: a paired bootstrap over seeds ({config.n_boot_seeds} resamples) of the 4PL fits to the '
    'per-width means of both metrics; its "is ten enough?" row uses per-seed 4PL widths (d_z of the '
    'paired per-seed width differences; a seed whose fit fails is left out).',
    f'Headline effect of the cliff: exact success at w={pair.get("a", "–")} minus w={pair.get("b", "–")} '
    f'({pair.get("rule", "–")}), paired by seed.',
    'The training-budget audit check reads metrics.jsonl (the relative drop of the mean training loss '
    'over the last fifth of training per width), so it appears in this report and not in results.json.',
  ]


def _size_table(an: dict) -> str:
  pw = an['per_width']
  header = [
    'width',
    'active params',
    'exact success',
    'permissive success',
    'per-token accuracy',
    'acc^L',
    'runs ok (diverged)',
  ]
  rows = []
  for w in an['widths']:
    c = pw[str(w)]
    d = c['describe']
    rows.append(
      [
        str(w),
        str(c['params']),
        report.fmt_mean_ci(d['exact']),
        report.fmt_mean_ci(d['success']),
        report.fmt_mean_ci(d['token_acc']),
        report.fmt_mean_ci(d['predicted']),
        f'{c["n_ok"]} ({c["n_diverged"]})',
      ]
    )
  return report.markdown_table(header, rows)


def _claimed_vs_measured(an: dict) -> str:
  widths, pw = an['widths'], an['per_width']
  fe = an['fits'].get('exact')
  ok = fit_failed(fe) is None
  lo_w, hi_w = pw[str(widths[0])], pw[str(widths[-1])]
  return report.markdown_table(
    ['', 'claimed', 'ours: 4PL asymptote', 'ours: observed'],
    [
      [
        'success below the threshold',
        pct(CLAIM['below']),
        pct(fe['lower']) if ok else '–',
        f'{pct(lo_w["describe"]["exact"]["mean"])} (w={widths[0]}, {lo_w["params"]} params)',
      ],
      [
        'success above the threshold',
        pct(CLAIM['above']),
        pct(fe['upper']) if ok else '–',
        f'{pct(hi_w["describe"]["exact"]["mean"])} (w={widths[-1]}, {hi_w["params"]} params)',
      ],
      [
        f'span from {pct(CLAIM["below"])} to {pct(CLAIM["above"])} success',
        'a threshold',
        f'{report.fmt(fe["width_10_90"])} decades (4PL 10–90% width)' if ok else '–',
        span_text(an),
      ],
    ],
  )


def _threshold_fits(an: dict) -> str:
  fits = an['fits']
  rows = [_fit_row(LABELS[m], fits.get(m)) for m in ('exact', 'token_acc', 'success', 'predicted')]
  header = [
    'metric',
    'center log10 params [CI]',
    'center params [CI]',
    '10–90% width, decades [CI]',
    'lower',
    'upper',
    'AIC 4PL',
    'AIC linear',
    'ΔAIC (linear − 4PL)',
  ]
  return report.markdown_table(header, rows)


def _by_depth(an: dict, config) -> str:
  widths, pw = an['widths'], an['per_width']
  md = config.max_depth
  rows = []
  for w in widths:
    c = pw[str(w)]
    rows.append([str(w), str(c['params'])] + [report.fmt_mean_ci(c['by_depth'][d]) for d in range(md)])
  centres = []
  for d in range(md):
    f = an['depth_fits'].get(str(d + 1))
    reason = fit_failed(f)
    if reason is not None:
      centres.append(f'fit failed ({reason})')
      continue
    lo, hi = f['center_ci95']
    ci = f' [{10**lo:.0f}, {10**hi:.0f}]' if None not in (lo, hi) else ' [–, –]'
    centres.append(f'{10 ** f["center"]:.0f}{ci}')
  rows.append(['4PL center [CI]', 'params'] + centres)
  return report.markdown_table(['width', 'params'] + [f'depth {d + 1}' for d in range(md)], rows)


def _comparisons(an: dict) -> str:
  """The comparison table with power at the observed paired effect and seeds for 80% power appended."""
  if not an['comparisons']:
    return 'Only one width: nothing to compare.'
  rows_c = [(c['label'], c['cmp']) for c in an['comparisons']]
  lines = report.comparison_table(rows_c, holm=[c['holm_p'] for c in an['comparisons']]).split('\n')
  lines[0] += ' d_z | power at d_z | seeds for 80% power |'
  lines[1] += '---:|---:|---:|'
  for i, c in enumerate(an['comparisons']):
    lines[2 + i] += ' ' + ' | '.join(_power_cells(c['cmp'])) + ' |'
  return '\n'.join(lines)


def _power_cells(cmp: dict) -> list[str]:
  """d_z = paired t / √n (the comparison is paired), the paired t-test's power at it, and the pairs
  (seeds) that 80% power would need."""
  p = cmp.get('paired') or {}
  t, df = p.get('t'), p.get('df')
  if t is None or df is None or not math.isfinite(t):
    return ['–', '–', '–']
  n = int(round(df)) + 1
  dz = t / math.sqrt(n)
  power = stats.power_t(abs(dz), n, None)
  return [report.fmt(dz), report.fmt(power), report.fmt_count(stats.seeds_for_power(dz, paired=True))]


def _plots(an: dict, log, config, plot_dir: str) -> list[str]:
  """Writes cliff.png, success_by_depth.png and loss.png (when there is something to draw); their paths."""
  widths, pw, fits = an['widths'], an['per_width'], an['fits']
  paths = []
  series = {}
  for m in ('exact', 'token_acc'):
    x, y = scatter_points(pw, widths, m)
    series[LABELS[m]] = {'x': x, 'y': y, 'fit': fits.get(m) if fit_failed(fits.get(m)) is None else None}
  paths.append(
    plots.threshold_plot(
      f'{plot_dir}/cliff.png',
      series,
      'Exact success vs per-token accuracy over model size',
      'log10 active parameters',
      'held-out score',
    )
  )
  paths += _depth_plot(an, config, plot_dir) + _loss_plot(an, log, plot_dir)
  hw = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if hw:
    paths.append(
      plots.halfwidth_by_seeds(f'{plot_dir}/ten_enough.png', hw, 'Is ten enough? CI half-width vs seeds')
    )
  return paths


def scatter_points(pw: dict, widths: list, metric: str) -> tuple[np.ndarray, np.ndarray]:
  """(log10 params, value) of every run with a finite value of ``metric``: diverged runs (None after the
  JSON round trip, nan before it) are left out."""
  x, y = [], []
  for w in widths:
    for v in pw[str(w)]['values'][metric]:
      if v is not None and np.isfinite(v):
        x.append(pw[str(w)]['log10_params'])
        y.append(v)
  return np.array(x, float), np.array(y, float)


def _depth_plot(an: dict, config, plot_dir: str) -> list[str]:
  widths, pw = an['widths'], an['per_width']
  xw = np.array([pw[str(w)]['log10_params'] for w in widths])
  curves = {}
  for d in range(config.max_depth):
    vals = np.array(
      [[np.nan if v[d] is None else v[d] for v in pw[str(w)]['exact_by_depth']] for w in widths], float
    ).T  # (seeds, widths)
    if np.isfinite(vals).any():
      curves[f'depth {d + 1}'] = vals
  if not curves:
    return []
  return [
    plots.curves_with_bands(
      f'{plot_dir}/success_by_depth.png',
      xw,
      curves,
      'Exact success by prefix depth (mean, 95% band over seeds)',
      'log10 active parameters',
      'exact success',
    )
  ]


def _loss_plot(an: dict, log, plot_dir: str) -> list[str]:
  widths, pw = an['widths'], an['per_width']
  lc = {}
  for w in sorted({widths[0], widths[len(widths) // 2], widths[-1]}):
    s, v = log.curves('gru', 'loss', {'width': w})
    if len(s):
      lc[f'w={w} ({pw[str(w)]["params"]} params)'] = (s, v)
  if not lc:
    return []
  return [
    plots.curves_with_bands(
      f'{plot_dir}/loss.png',
      {k: s for k, (s, _) in lc.items()},
      {k: v for k, (_, v) in lc.items()},
      'Training loss (closing tokens + EOS)',
      'step',
      'cross-entropy',
      logy=True,
    )
  ]
