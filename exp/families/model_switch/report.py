"""The markdown report of the model-switch family (docs/families/model_switch.md): the option table,
claimed vs measured, the ratio against every training attempt, the paired comparisons, the audit, the
verdict and two plots."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report

from .analysis import short
from .program import as_tuple, candidate_names

# The write-up's numbers (the claim; inputs to the report, never results).
CLAIM = {
  'train_roi_range': (-0.5, 0.2),
  'switch_gain': 19.0,
  'switch_roi': 3.8,
  'roi_ratio': 38.0,
  'size_ratio': 4.5,
}


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
  if r['frac_den_le_0']:
    extra = f' (training ROI ≤ 0 in {report.fmt(100 * r["frac_den_le_0"])}% of resamples' + (
      '; unbounded)' if unbounded else ')'
    )
  return f'{report.fmt(r["ratio"])}× {ci}{extra}'


def _intro(an: dict, config) -> list[str]:
  lines = [
    '# Model switching vs continued training: return on investment',
    '',
    f'Claim: {an["headline"]["claim"]}.',
    '',
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
    'here (as in the write-up) — see the audit. Cells: mean [95% CI].',
    '',
  ]
  if an['n_diverged']:
    lines += [f'**{an["n_diverged"]} runs diverged**; they are counted and left out of every mean.', '']
  return lines


def _option_table(an: dict) -> list[str]:
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
  return [report.markdown_table(header, rows), '']


def _claimed_rows(an: dict) -> list[list[str]]:
  t, bs, r = an['options'], an['best_switch'], an['ratios']
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  crow = []
  if cont:
    crow.append(
      [
        'ROI of training attempts',
        f'{CLAIM["train_roi_range"][0]:+}…{CLAIM["train_roi_range"][1]:+} %/min',
        f'{report.fmt(min(t[k]["roi_gflop"]["mean"] for k in cont))}…'
        f'{report.fmt(max(t[k]["roi_gflop"]["mean"] for k in cont))} pts/GFLOP; '
        f'{report.fmt(min(t[k]["roi_100steps"]["mean"] for k in cont))}…'
        f'{report.fmt(max(t[k]["roi_100steps"]["mean"] for k in cont))} pts/100 steps',
      ]
    )
  if bs:
    crow.append(
      [
        'gain of the model switch',
        f'+{CLAIM["switch_gain"]:g} points',
        f'{_ci(t[bs]["delta"])} points ({short(t[bs])})',
      ]
    )
    crow.append(
      [
        'ROI of the model switch',
        f'+{CLAIM["switch_roi"]:g} %/min',
        f'{_ci(t[bs]["roi_gflop"])} pts/GFLOP; {_ci(t[bs]["roi_100steps"])} pts/100 steps',
      ]
    )
  for key, name in (('gflop', 'pts/GFLOP'), ('100steps', 'pts/100 steps')):
    if key in r:
      crow.append([f'ROI ratio switch / training ({name})', f'{CLAIM["roi_ratio"]:g}×', _ratio_text(r[key])])
  size = an['comparisons']['size']
  if size:
    c = max(size, key=lambda c: (c['cmp']['mean_diff'] > 0, c['size_ratio']))
    crow.append(
      [
        'a smaller model beat a larger one',
        f'{CLAIM["size_ratio"]:g}× larger',
        f'{short(t[c["a"]])} − {short(t[c["b"]])} ({report.fmt(c["size_ratio"])}× larger): '
        f'{_ci({"mean": c["cmp"]["mean_diff"], "ci95": c["cmp"]["mean_diff_ci95"]})} points, '
        f'Holm p {report.fmt_p(c["holm_p"])}',
      ]
    )
  return crow


def _claimed_vs_measured(an: dict, config) -> list[str]:
  t, bc, bs = an['options'], an['best_continue'], an['best_switch']
  lines = ['## Claimed vs measured', '']
  lines += [report.markdown_table(['quantity', 'claimed', 'ours'], _claimed_rows(an)), '']
  lines += [
    f'Best options by mean ROI (chosen after seeing the data, as a practitioner would): '
    f'{short(t[bc]) if bc else "–"} among the training attempts, {short(t[bs]) if bs else "–"} among the '
    f'switches. Ratios: ratio of mean ROIs, percentile bootstrap over seeds ({config.n_boot} paired '
    'resamples).',
    '',
  ]
  return lines


def _ratios_by_continue(an: dict) -> list[str]:
  t, bs = an['options'], an['best_switch']
  rbc = an.get('ratios_by_continue') or {}
  if not (rbc and bs):
    return []
  rrows = [
    [
      short(t[k]),
      _ci(t[k]['delta']),
      _ci(t[k]['roi_gflop']),
      _ratio_text(rbc[k]['gflop']),
      _ratio_text(rbc[k]['100steps']),
    ]
    for k in rbc
  ]
  return [
    f'## The ratio depends on the denominator: {short(t[bs])} against every training attempt',
    '',
    report.markdown_table(
      ['training attempt', 'Δ points', 'ROI pts/GFLOP', 'ROI ratio (FLOPs)', 'ROI ratio (steps)'], rrows
    ),
    '',
  ]


def _comparison_sections(an: dict) -> list[str]:
  t = an['options']
  titles = {
    'roi': 'Switch vs the best continue option: ROI (pts/GFLOP), paired by seed',
    'gain': 'Switch vs the longest continue option: Δ points, paired by seed',
    'size': 'Smaller vs larger candidates at the same budget: Δ points, paired by seed',
  }
  lines = []
  for fam in ('roi', 'gain', 'size'):
    cs = an['comparisons'][fam]
    if not cs:
      continue
    lines += [
      f'## {titles[fam]}',
      '',
      report.comparison_table([(c['label'], c['cmp']) for c in cs], holm=[c['holm_p'] for c in cs]),
      '',
    ]
    for c in cs:
      lines.append(
        '- '
        + report.verdict(c['label'], c['cmp'], holm_p=c['holm_p'], names=(short(t[c['a']]), short(t[c['b']])))
      )
    lines.append('')
  return lines


def _plots(an: dict, config, plot_dir: str) -> list[str]:
  """Δ per option (per-seed strip), and Δ vs cost (the investment curve); returns the plot paths."""
  t, order = an['options'], an['order']
  paths = []
  groups = {short(t[k]): t[k]['delta_values'] for k in order}
  paths.append(
    plots.strip_plot(
      f'{plot_dir}/gain_by_option.png',
      groups,
      'Accuracy gain over the decision point, per seed',
      'Δ accuracy (points)',
    )
  )
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
  return paths


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  lines = _intro(an, config) + _option_table(an)
  lines += _claimed_vs_measured(an, config)
  lines += _ratios_by_continue(an)
  lines += _comparison_sections(an)
  lines += ['## Audit', '', _audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']
  paths = _plots(an, config, plot_dir)
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------------
# Audit


def _audit_ratio(an: dict) -> list[str]:
  """How uncertain the headline ratio is: its denominator's CI, the bootstrap, the widest ratio CI."""
  t, r, bc = an['options'], an['ratios'], an['best_continue']
  out = []
  d = t[bc]['delta']
  lo, hi = d['ci95']
  out.append(f"The ratio's denominator is the training gain of {short(t[bc])}: {_ci(d)} points. ")
  frac = r['gflop']['frac_den_le_0'] or 0.0
  if lo is not None and lo <= 0:
    out.append(
      'Its CI reaches 0, so the ratio has no finite upper bound in principle: in '
      f'{report.fmt(100 * frac)}% of bootstrap resamples the training ROI is ≤ 0 (ratio ∞ or negative)'
      + (
        '; the CI below is finite only because that is under 2.5%. '
        if r['gflop']['ci95'][1] is not None
        else ', so the CI below is unbounded. '
      )
      + 'An "N× ROI" figure with such a denominator is one draw from a very wide interval. '
    )
  elif lo is not None and hi is not None and lo > 0:
    out.append(
      f'Its CI excludes 0 but spans a factor {report.fmt(hi / lo)} (upper/lower), and the ratio inherits '
      'that spread. '
    )
  rr = r['gflop']
  out.append(f'Bootstrap: the ratio is {_ratio_text(rr)}. ')
  spans = [
    (v['gflop']['ci95'][1] / v['gflop']['ci95'][0], k)
    for k, v in (an.get('ratios_by_continue') or {}).items()
    if v['gflop']['ci95'][0] and v['gflop']['ci95'][1] and v['gflop']['ci95'][0] > 0
  ]
  if spans:
    f, k = max(spans)
    out.append(
      f'The widest ratio CI (against {short(t[k])}, whose gain is {_ci(t[k]["delta"])} points) spans a '
      f'factor {report.fmt(f)}: a ratio of two noisy gains is far less certain than either gain. '
    )
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  neg = [k for k in cont if t[k]['delta']['ci95'][0] is not None and t[k]['delta']['ci95'][0] <= 0]
  if neg:
    out.append(
      f'Continue options whose gain CI includes 0 or less: {", ".join(short(t[k]) for k in neg)}; '
      'a ratio with any of them in the denominator is unstable. '
    )
  return out


def _audit_accounting(an: dict) -> list[str]:
  """Charging the zoo's pretraining, counting steps, and which training attempt is the denominator."""
  t, r, bs = an['options'], an['ratios'], an['best_switch']
  out = []
  if 'gflop_with_pretrain' in r and bs:
    o = t[bs]
    out.append(
      f"Accounting: the write-up's switch cost ({short(o)}: {report.fmt(o['gflop'])} GFLOP of fine-tuning) "
      f'leaves out the compute that made the zoo model; charging its pretraining '
      f'({report.fmt(o["gflop_with_pretrain"] - o["gflop"])} GFLOP) gives ROI '
      f'{_ci(o["roi_gflop_with_pretrain"])} pts/GFLOP and a ratio of {_ratio_text(r["gflop_with_pretrain"])}'
      + (
        '; per FLOP spent in total, continuing the first choice then has the higher ROI. '
        if r['gflop_with_pretrain']['ci95'][1] is not None and r['gflop_with_pretrain']['ci95'][1] < 1
        else '. '
      )
      + f'Counting steps instead of FLOPs (overhead-bound hardware): ratio {_ratio_text(r["100steps"])} '
      f'without and {_ratio_text(r["100steps_with_pretrain"])} with the pretraining steps. '
    )
  rbc = an.get('ratios_by_continue') or {}
  vals = [(v['gflop']['ratio'], k) for k, v in rbc.items() if v['gflop']['ratio'] is not None]
  if len(vals) > 1:
    lo_r, hi_r = min(vals), max(vals)
    out.append(
      f'The same switch is {report.fmt(lo_r[0])}× better than {short(t[lo_r[1]])} but '
      f'{report.fmt(hi_r[0])}× better than {short(t[hi_r[1]])} (FLOPs): once the first choice sits near '
      'its ceiling, a training attempt\'s ROI falls as 1/cost, so a single "N× ROI" mostly reflects which '
      'attempt is put in the denominator. '
    )
  return out


def _audit_ceiling(an: dict, config) -> list[str]:
  """The ceiling ROI hides, which candidates produce the effect, and the claim's premise."""
  t, bs = an['options'], an['best_switch']
  out = []
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  if bs and cont:
    best_gain = max(cont, key=lambda k: t[k]['delta']['mean'])
    out.append(
      f'ROI also hides the ceiling: the best any training attempt gained was '
      f'{report.fmt(t[best_gain]["delta"]["mean"])} points ({short(t[best_gain])}), the best switch '
      f'{report.fmt(max(t[k]["delta"]["mean"] for k in an["order"] if t[k]["arm"] == "switch"))} points. '
    )
  # which candidates produce the effect?
  sw = [k for k in an['order'] if t[k]['arm'] == 'switch']
  if sw:
    big = max(as_tuple(config.switch_steps))
    at = sorted([k for k in sw if t[k]['steps'] == big], key=lambda k: -t[k]['delta']['mean'])
    top = at[0]
    beaten_bigger = [k for k in at[1:] if t[k]['params'] > t[top]['params']]
    out.append(
      f'At the largest fine-tuning budget ({big} steps) the candidates rank '
      + ', '.join(
        f'{t[k]["candidate"]} ({t[k]["params"]} params) {report.fmt(t[k]["delta"]["mean"])}' for k in at
      )
      + ' points'
      + (
        f': the smaller {t[top]["candidate"]} is ahead of larger candidates, so the recipe, not the '
        'size, puts it first (the size table says which of these gaps are significant). '
        if beaten_bigger
        else '. '
      )
    )
  pre = an['pretrain']
  if pre['first_acc']['mean'] is not None and cont:
    longest = max(cont, key=lambda k: t[k]['steps'])
    out.append(
      f'Premise: the first choice (linear) reached {report.fmt(pre["first_acc"]["mean"])}% by the decision '
      f'point and {report.fmt(t[longest]["acc"]["mean"])}% after {short(t[longest])} '
      f'({report.fmt(t[longest]["delta"]["mean"])} points): it sits near its own ceiling on this teacher, '
      'which is the situation the claim describes ("baseline accuracy is poor"); with a first choice far '
      'from its ceiling, continued training would earn more.'
    )
  return out


def _audit_text(an: dict, config) -> str:
  out = []
  if an['best_continue'] and 'gflop' in an['ratios']:
    out += _audit_ratio(an)
  out += _audit_accounting(an)
  out += _audit_ceiling(an, config)
  return ''.join(out)
