"""Report of the capacity cliff: ``make_report(analysis, runs, log, config, plot_dir)`` writes the plots and
returns the markdown (size table, claimed vs measured, threshold fits, success by depth, comparisons with the
largest model, audit, verdict, plots). See docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report
from exp.families.capacity_cliff.analysis import CLAIM, is_cliff, pct, span_text
from exp.families.capacity_cliff.report_audit import audit_text, budget_text

LABELS = {
  'exact': 'exact success',
  'success': 'permissive success',
  'token_acc': 'per-token accuracy',
  'predicted': 'acc^L (predicted exact)',
}


def _mean_ci(d) -> str:
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d['ci95']
  if lo is None or hi is None:
    return report.fmt(d['mean'])
  m, h = report.fmt_same([d['mean'], (hi - lo) / 2])
  return f'{m} ± {h}'


def _fit_row(label, f, cliff_decades):
  if not f:
    return [label] + ['–'] * 8
  c, (clo, chi) = f['center'], f['center_ci95']
  cs = report.fmt_same([c, clo, chi])
  ws = report.fmt_same([f['width_10_90'], *f['width_ci95']])
  params = (
    f'{10**c:.0f} [{10**clo:.0f}, {10**chi:.0f}]'
    if None not in (c, clo, chi)
    else (f'{10**c:.0f}' if c is not None else '–')
  )
  cliff = is_cliff(f, cliff_decades)
  return [
    label,
    f'{cs[0]} [{cs[1]}, {cs[2]}]',
    params,
    f'{ws[0]} [{ws[1]}, {ws[2]}]',
    report.fmt(f['lower']),
    report.fmt(f['upper']),
    report.fmt(f['aic']),
    report.fmt(f['linear']['aic']),
    '–' if cliff is None else ('yes' if cliff else 'no'),
  ]


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  widths = an['widths']
  lines = _intro(an, config) + _size_table(an) + _claimed_vs_measured(an) + _threshold_fits(an, config)
  lines += _by_depth(an, config) + _comparisons(an)
  lines += ['## Audit', '', audit_text(an) + budget_text(an, log, widths), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']
  paths = _plots(an, log, config, plot_dir)
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _intro(an: dict, config) -> list[str]:
  widths = an['widths']
  lines = [
    '# Capacity cliff on structured output (Dyck-2 completion)',
    '',
    f'Claim: {an["headline"]["claim"]}.',
    '',
    f'{len(an["seeds"])} seeds × {len(widths)} model sizes (width-masked GRU, widths {widths[0]}…{widths[-1]} '
    f'of {config.max_hidden}, all in one compiled program), {config.num_steps} Adam steps of batch '
    f'{config.batch_size}, prefixes up to length {config.max_len} and depth {config.max_depth} '
    f'(p_open {config.p_open}); evaluated on {config.eval_batch} held-out prefixes per seed with greedy '
    'decoding. Exact success = the unique minimal closing sequence + EOS; permissive = any well-formed '
    'completion ending at balance; per-token accuracy is teacher-forced over the closing tokens + EOS '
    '(the smooth metric); acc^L = per-token accuracy to the power of the mean target length (what exact '
    'success would be if token errors were independent). Cells: mean ± 95% CI half-width over seeds.',
    '',
  ]
  if an['n_diverged']:
    lines += [
      f'**{an["n_diverged"]} of {an["n_runs"]} runs diverged** (non-finite values); they are counted '
      'per width below and left out of every mean and fit.',
      '',
    ]
  return lines


def _size_table(an: dict) -> list[str]:
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
        _mean_ci(d['exact']),
        _mean_ci(d['success']),
        _mean_ci(d['token_acc']),
        _mean_ci(d['predicted']),
        f'{c["n_ok"]} ({c["n_diverged"]})',
      ]
    )
  return [report.markdown_table(header, rows), '']


def _claimed_vs_measured(an: dict) -> list[str]:
  widths, pw = an['widths'], an['per_width']
  fe = an['fits'].get('exact')
  lines = ['## Claimed vs measured', '']
  lo_w, hi_w = pw[str(widths[0])], pw[str(widths[-1])]
  lines += [
    report.markdown_table(
      ['', 'claimed', 'ours: 4PL asymptote', 'ours: observed'],
      [
        [
          'success below the threshold',
          pct(CLAIM['below']),
          pct(fe['lower']) if fe else '–',
          f'{pct(lo_w["describe"]["exact"]["mean"])} (w={widths[0]}, {lo_w["params"]} params)',
        ],
        [
          'success above the threshold',
          pct(CLAIM['above']),
          pct(fe['upper']) if fe else '–',
          f'{pct(hi_w["describe"]["exact"]["mean"])} (w={widths[-1]}, {hi_w["params"]} params)',
        ],
        [
          f'span from {pct(CLAIM["below"])} to {pct(CLAIM["above"])} success',
          'a threshold',
          f'{report.fmt(fe["width_10_90"])} decades (4PL 10–90% width)' if fe else '–',
          span_text(an),
        ],
      ],
    ),
    '',
  ]
  return lines


def _threshold_fits(an: dict, config) -> list[str]:
  fits, cd = an['fits'], an['cliff_decades']
  lines = [
    '## Threshold fits (4-parameter logistic in log10 active params)',
    '',
    f'Per-run points; 95% CIs from {config.n_boot} bootstrap resamples of the runs (exact success and '
    f'per-token accuracy; the other rows are point fits). "Cliff" = 10–90% width < {cd} decade and the '
    'logistic beats a straight line in log10 params by ΔAIC > 2.',
    '',
  ]
  frows = [_fit_row(LABELS[m], fits.get(m), cd) for m in ('exact', 'token_acc', 'success', 'predicted')]
  lines += [
    report.markdown_table(
      [
        'metric',
        'center log10 params [CI]',
        'center params [CI]',
        '10–90% width, decades [CI]',
        'lower',
        'upper',
        'AIC 4PL',
        'AIC linear',
        'cliff',
      ],
      frows,
    ),
    '',
  ]
  return lines


def _by_depth(an: dict, config) -> list[str]:
  widths, pw = an['widths'], an['per_width']
  lines = ['## Exact success by prefix depth', '']
  md = config.max_depth
  drows = []
  for w in widths:
    c = pw[str(w)]
    drows.append([str(w), str(c['params'])] + [_mean_ci(c['by_depth'][d]) for d in range(md)])
  df = an['depth_fits']
  drows.append(
    ['4PL center', 'params']
    + [
      f'{10 ** df[str(d + 1)]["center"]:.0f}'
      if df.get(str(d + 1)) and df[str(d + 1)]['center'] is not None
      else '–'
      for d in range(md)
    ]
  )
  lines += [report.markdown_table(['width', 'params'] + [f'depth {d + 1}' for d in range(md)], drows), '']
  return lines


def _comparisons(an: dict) -> list[str]:
  lines = ['## Each size vs the largest (exact success, paired by seed)', '']
  if an['comparisons']:
    rows_c = [(c['label'], c['cmp']) for c in an['comparisons']]
    holm_p = [c['holm_p'] for c in an['comparisons']]
    lines += [report.comparison_table(rows_c, holm=holm_p), '']
    for c in an['comparisons']:
      lines.append('- ' + report.verdict(c['label'], c['cmp'], holm_p=c['holm_p']))
    lines.append('')
  else:
    lines += ['Only one width: nothing to compare.', '']
  return lines


def _plots(an: dict, log, config, plot_dir: str) -> list[str]:
  """Writes cliff.png, success_by_depth.png and loss.png (when there is something to draw); their paths."""
  widths, pw, fits = an['widths'], an['per_width'], an['fits']
  paths = []
  series = {}
  for m in ('exact', 'token_acc'):
    x, y = [], []
    for w in widths:
      for v in pw[str(w)]['values'][m]:
        if v is not None:
          x.append(pw[str(w)]['log10_params'])
          y.append(v)
    series[LABELS[m]] = {'x': np.array(x), 'y': np.array(y), 'fit': fits.get(m)}
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
  return paths


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
