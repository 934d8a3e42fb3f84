"""The markdown report of the model-switch family (docs/families/model_switch.md): the option table,
claimed vs measured, the ratio against every training attempt, the paired comparisons (tables), the
findings (findings.py: every conclusion is a check), "is ten enough?" and three plots."""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import plots, report, stats

from .analysis import ALPHA, short
from .findings import CEILING_POINTS, CLAIM
from .program import candidate_names


def _ci(d, digits=3) -> str:
  if not d or d.get('mean') is None or not np.isfinite(d['mean']):
    return '–'
  lo, hi = d['ci95']
  if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
    return report.fmt(d['mean'], digits)
  m, a, b = report.fmt_same([d['mean'], lo, hi], digits)
  return f'{m} [{a}, {b}]'


def _ratio_text(r) -> str:
  lo, hi = r['ci95']
  unbounded = hi is None and lo is not None  # +inf became None in results.json
  ci = f'[{report.fmt(lo)}, {"∞" if unbounded else report.fmt(hi)}]'
  extra = ''
  frac = r.get('frac_den_le_0')
  if not r.get('n_boot'):
    extra = ' (no bootstrap: n_boot 0)'
  elif frac:
    extra = f' (training ROI ≤ 0 in {report.fmt(100 * frac)}% of resamples' + (
      '; unbounded)' if unbounded else ')'
    )
  return f'{report.fmt(r["ratio"])}× {ci}{extra}'


def _setup(an: dict, config) -> str:
  return (
    f'{len(an["seeds"])} seeds. Task: {config.num_classes}-class labels from a random teacher '
    f'argmax(B·φ(A·x)), x ~ N(0, I_{config.input_dim}), φ(h) = relu(h) + {config.teacher_neg_slope}·relu(−h). '
    f'First choice: a linear classifier trained {config.first_steps} steps (the decision point), held-out '
    f'accuracy acc0 = {_ci(an["acc0"])}%. Zoo: one-hidden-layer ReLU MLPs ({", ".join(candidate_names(config))}; '
    f"'related' = pretrained {config.zoo_pretrain_steps} steps on a {config.source_classes}-class task sharing "
    "the teacher's features, 'unrelated' = the same on fresh features, 'scratch' = not pretrained); a switch "
    'puts a fresh head on the candidate and fine-tunes all of it. Every option starts from the decision '
    f'point and sees the same data stream (batch {config.batch_size}); held-out set {config.eval_size} '
    'examples per seed. Δ = accuracy − acc0 in points, paired by seed. Cost: training FLOPs '
    "(6·batch·multiply-adds per step; GFLOP) and optimizer steps; the zoo's pretraining is not charged "
    'in the tables (as in the write-up); an audit check charges it. Cells: mean [95% CI].'
  )


def _option_table(an: dict) -> str:
  t = an['options']
  header = [
    'option',
    'params',
    'steps',
    'cost GFLOP',
    'accuracy %',
    'Δ points',
    'ROI pts/GFLOP',
    'ROI pts/100 steps',
  ]
  rows = []
  for k in an['order']:
    o = t[k]
    rows.append(
      [
        o['label'],
        str(o['params']),
        str(o['steps']),
        report.fmt(o['gflop']),
        _ci(o['acc']),
        _ci(o['delta']),
        _ci(o['roi_gflop']),
        _ci(o['roi_100steps']),
      ]
    )
  return report.markdown_table(header, rows)


WALL = 'no: %/min of wall clock vs our pts/GFLOP and pts/100 steps'
SAME = 'yes'


def _claimed_rows(an: dict) -> list[list[str]]:
  """Claimed vs ours; the last column says whether the two are in the same units."""
  t, bs, r = an['options'], an['best_switch'], an['ratios']
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  rows = []
  if cont:
    roi = [t[k]['roi_gflop']['mean'] for k in cont]
    steps = [t[k]['roi_100steps']['mean'] for k in cont]
    lo, hi = CLAIM['train_roi_range']
    rows.append(
      [
        'ROI of training attempts',
        f'{lo:+g}…{hi:+g} %/min'.replace('-', report.MINUS),
        f'{report.fmt(min(roi))}…{report.fmt(max(roi))} pts/GFLOP; '
        f'{report.fmt(min(steps))}…{report.fmt(max(steps))} pts/100 steps',
        WALL,
      ]
    )
  if bs:
    o = t[bs]
    rows.append(
      [
        'gain of the model switch',
        f'+{CLAIM["switch_gain"]:g} points',
        f'{_ci(o["delta"])} points ({short(o)})',
        SAME,
      ]
    )
    rows.append(
      [
        'ROI of the model switch',
        f'+{CLAIM["switch_roi"]:g} %/min',
        f'{_ci(o["roi_gflop"])} pts/GFLOP; {_ci(o["roi_100steps"])} pts/100 steps',
        WALL,
      ]
    )
  for key, name in (('gflop', 'pts/GFLOP'), ('100steps', 'pts/100 steps')):
    if key in r:
      rows.append(
        [
          f'ROI ratio switch / training ({name})',
          f'{CLAIM["roi_ratio"]:g}×',
          _ratio_text(r[key]),
          f'{SAME} (a ratio)',
        ]
      )
  size, i = an['comparisons']['size'], an.get('size_pick')
  if i is not None:
    c = size[i]  # the same pair the finding quotes (findings.py, one rule: analysis.size_pick)
    d = {'mean': c['cmp']['mean_diff'], 'ci95': c['cmp']['mean_diff_ci95']}
    rows.append(
      [
        'a smaller model beat a larger one',
        f'{CLAIM["size_ratio"]:g}× larger',
        f'{short(t[c["a"]])} − {short(t[c["b"]])} ({report.fmt(c["size_ratio"])}× larger): {_ci(d)} points, '
        f'Holm p (paired t) {report.fmt_p(c["holm_p"])}',
        f'{SAME} (a size ratio)',
      ]
    )
  return rows


def _ratios_by_continue(an: dict) -> str:
  t, rbc = an['options'], an.get('ratios_by_continue') or {}
  rows = [
    [
      short(t[k]),
      _ci(t[k]['delta']),
      _ci(t[k]['roi_gflop']),
      _ratio_text(v['gflop']),
      _ratio_text(v['100steps']),
    ]
    for k, v in rbc.items()
  ]
  header = ['training attempt', 'Δ points', 'ROI pts/GFLOP', 'ROI ratio (FLOPs)', 'ROI ratio (steps)']
  return report.markdown_table(header, rows) if rows else ''


CMP_HEADER = (
  'comparison',
  'Δ mean [95% CI, paired t]',
  'paired t (df)',
  'paired p',
  'Holm p (paired t)',
  'Student p',
  "Hedges' g [95% CI]",
  'power (paired, at d_z)',
  'seeds for 80% power',
)


def _power(cmp: dict) -> tuple:
  """Power of the paired t at the observed d_z = t/√n, and the pairs 80% power would need."""
  t, n = (cmp.get('paired') or {}).get('t'), cmp.get('n_a')
  if t is None or not n or not math.isfinite(t):
    return math.nan, math.nan
  dz = t / math.sqrt(n)
  return stats.power_t(abs(dz), n, None), stats.seeds_for_power(dz, paired=True)


def _cmp_table(rows: list) -> str:
  out = []
  for c in rows:
    m, pr = c['cmp'], c['cmp'].get('paired') or {}
    power, need = _power(m)
    out.append(
      [
        c['label'],
        report.fmt_ci(m.get('mean_diff'), m.get('mean_diff_ci95')),
        f'{report.fmt(pr.get("t"))} ({report.fmt_count(pr.get("df"))})',
        report.fmt_p(pr.get('p')),
        report.fmt_p(c['holm_p']),
        report.fmt_p((m.get('student') or {}).get('p')),
        report.fmt_ci(m.get('hedges_g'), m.get('hedges_g_ci95')),
        report.fmt(power),
        report.fmt_count(need),
      ]
    )
  return report.markdown_table(CMP_HEADER, out)


def _tables(an: dict) -> list[tuple[str, str]]:
  t, bs = an['options'], an['best_switch']
  titles = {
    'roi': 'Every switch vs the best training attempt by ROI: ROI (pts/GFLOP), paired by seed',
    'gain': 'Every switch vs the best training attempt by gain: Δ points, paired by seed',
    'size': 'Smaller vs larger candidates at the same budget: Δ points, paired by seed',
  }
  tables = [
    ('Options', _option_table(an)),
    (
      'Claimed vs measured',
      report.markdown_table(['quantity', 'claimed', 'ours', 'same units?'], _claimed_rows(an)),
    ),
    (
      f'ROI ratio of {short(t[bs])} against every training attempt' if bs else 'ROI ratios',
      _ratios_by_continue(an),
    ),
  ]
  tables += [
    (titles[f], _cmp_table(an['comparisons'][f])) for f in ('roi', 'gain', 'size') if an['comparisons'][f]
  ]
  return tables


def _notes(an: dict, config) -> list[str]:
  t, bc, bg, bs = an['options'], an['best_continue'], an['best_continue_gain'], an['best_switch']
  name = lambda k: short(t[k]) if k else '–'  # noqa: E731
  notes = [
    f'Best options, chosen after seeing the data as a practitioner would: {name(bc)} among the training '
    f'attempts by mean ROI (pts/GFLOP), {name(bg)} by mean gain, {name(bs)} among the switches by mean ROI.',
    f'ROI ratio: ratio of mean ROIs, percentile bootstrap over seeds ({config.n_boot} paired resamples); a '
    'resample whose training ROI is ≤ 0 counts as an unbounded ratio.',
    f'Comparisons are paired by seed; significance is the paired t (the test whose CI is shown), Holm-'
    f'corrected within each comparison table, at α = {ALPHA:g}. Student p is shown for reference only.',
    f'The premise check calls the first choice near its ceiling when the longest training attempt adds '
    f'less than {CEILING_POINTS:g} points over the shortest (paired CI below that margin).',
    "Claimed vs measured: the write-up's costs are minutes of wall clock, ours FLOPs and optimizer steps, "
    'so only the points, the ratios and the size ratio are in the same units.',
  ]
  if an['n_diverged']:
    notes.append(f'{an["n_diverged"]} runs diverged; they are counted and left out of every mean.')
  return notes


def _plots(an: dict, config, plot_dir: str) -> list[str]:
  """Δ per option (per-seed strip), Δ vs cost (the investment curve), and "is ten enough?"."""
  t, order = an['options'], an['order']
  paths = [
    plots.strip_plot(
      f'{plot_dir}/gain_by_option.png',
      {short(t[k]): t[k]['delta_values'] for k in order},
      'Accuracy gain over the decision point, per seed',
      'Δ accuracy (points)',
    )
  ]
  xs, curves = {}, {}
  series = {'continue (first choice)': [k for k in order if t[k]['arm'] == 'continue']}
  for name in candidate_names(config):
    series[f'switch to {name}'] = [k for k in order if t[k]['arm'] == 'switch' and t[k]['candidate'] == name]
  for label, keys in series.items():
    keys = sorted(keys, key=lambda k: t[k]['gflop'])
    if keys:
      xs[label] = np.array([t[k]['gflop'] for k in keys])
      curves[label] = np.array(
        [[np.nan if v is None else v for v in t[k]['delta_values']] for k in keys], float
      ).T  # (seeds, budgets)
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/gain_vs_cost.png',
        xs,
        curves,
        'Held-out gain vs compute spent after the decision point',
        'training GFLOP (log; one point per step budget)',
        'Δ accuracy (points)',
        logx=True,
      )
    )
  series = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if series:
    paths.append(
      plots.halfwidth_by_seeds(
        f'{plot_dir}/halfwidth_by_seeds.png', series, 'CI half-width of each headline effect vs seeds'
      )
    )
  return paths


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs, log
  return report.render_report(
    'Model switching vs continued training: return on investment',
    _setup(an, config),
    _tables(an),
    an['findings'],
    plots=_plots(an, config, plot_dir),
    notes=_notes(an, config),
  )
