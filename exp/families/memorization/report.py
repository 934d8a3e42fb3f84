"""The markdown report of the memorization family: the episodes table, scaling fits, SL-vs-RL tests,
the findings (rendered from ``analysis['findings']``) and the plots. Text only formats numbers computed
in ``analysis``; every conclusion is a check in ``findings``."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report, stats

SETUP = (
  '{seeds} seeds per cell; episodes to converge (argmax = y* and π(y*) ≥ {cp}); budget {budget} episodes '
  '(censored beyond). Cells: KM median, mean ± 95% CI half-width when every seed converged, (converged/'
  'runs, diverged counted apart). SL runs at two learning rates, each its own series: the large step '
  'makes one update enough at every N, the small one shows what SL costs without it. The larger N are '
  'every N but the smallest ({larger}). Scaling: OLS of log episodes on log N over converged per-seed '
  'points, 95% bootstrap CI over seeds (censored runs are left out, and each check says how many). SL vs '
  'RL: log10 and raw episodes by t-tests where every run of both groups converged, else Fisher exact on '
  "converged counts and log-rank. Holm families: (1) SL vs RL-EoE and RL-Step at every N, the claim's "
  "comparisons; (2) SL vs RL-Step-dense at every N, the audit arm; each family's primary p is the log10 "
  'Student p where every run converged, else the log-rank p, and the tables and the checks show the same '
  'adjusted p.'
)

NOTES = (
  'Large-step SL is flat in N by construction (one update of the large step already makes y* the argmax '
  'with π(y*) above the threshold, whatever N), so its check tests the set-up rather than SL; the '
  'small-step series is the informative SL test.',
  "The raw-episode t-tests are shown for comparison with the write-up's raw-scale g; they are not in a "
  'Holm family and no check reads their p.',
  "Power and seeds for 80% power use the two-sample t-test at the observed Hedges' g (noncentral t).",
  "The write-up's own files disagree (another gives SL 11/11/11 and RL-EoE 101/301/451); its numbers "
  "here are those of the main text. Its '909%' is a 909× ratio.",
)


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  setup = SETUP.format(
    seeds=config.num_seeds,
    cp=config.converge_prob,
    budget=an['budget'],
    larger=', '.join(str(n) for n in an['ns'][1:]) or '–',
  )
  tables = [
    ('Episodes to converge', _episodes_table(an)),
    ('Scaling: episodes ∝ N^b', _scaling_table(an)),
    ('SL vs RL-EoE and RL-Step (Holm family 1)', _family_section(an, 'sl_vs_rl')),
    ('SL vs RL-Step-dense (Holm family 2, audit arm)', _family_section(an, 'sl_vs_dense')),
    ('Pooled over the larger N', _pooled_table(an)),
  ]
  paths = _plots(an, log, config, plot_dir)
  title = 'Memorization: supervised vs RL (end-of-episode / per-step reward)'
  return report.render_report(title, setup, tables, an['findings'], paths, NOTES)


def _cell_text(c: dict | None, budget: int) -> str:
  if c is None:
    return '–'
  conv = f'{c["converged"]}/{c["n_runs"]}' + (f', {c["diverged"]} diverged' if c['diverged'] else '')
  if c['median'] is None:
    return f'> {budget} ({conv})'
  d = c['describe']
  mean = (
    f', {report.fmt(d["mean"])} ± {report.fmt(d["ci95"][1] - d["mean"])}'
    if d and c['all_converged'] and d['n'] > 1
    else ''
  )
  return f'{report.fmt(c["median"])}{mean} ({conv})'


def _episodes_table(an: dict) -> str:
  """Episodes to converge per N and series, with the SL advantage (RL-EoE / SL KM medians)."""
  budget, ns, labels = an['budget'], an['ns'], an['labels']
  keys = list(an['cells'])
  header = ['N'] + [labels[k] for k in keys] + ['SL advantage (RL-EoE / SL KM medians)']
  rows = []
  for n in ns:
    row = [str(n)] + [_cell_text(an['cells'][k].get(str(n)), budget) for k in keys]
    sl = an['cells'].get('sl', {}).get(str(n), {}).get('median')
    rl = an['cells'].get('rl_eoe', {}).get(str(n), {}).get('median')
    row.append(f'{report.fmt(rl / sl)}×' if sl and rl else '–')
    rows.append(row)
  return report.markdown_table(header, rows)


def _scaling_table(an: dict) -> str:
  labels = an['labels']
  frows = []
  for k in an['cells']:
    f = an['fits'][k]['per_seed']
    fm = an['fits'][k]['medians']
    cens = sum(c['censored'] for c in an['cells'][k].values())
    if f is None:
      frows.append([labels[k], '–', '–', '–', '–', '–', str(cens)])
      continue
    frows.append(
      [
        labels[k],
        report.fmt_ci(f['exponent'], f['exponent_ci95']),
        report.fmt(f['r2']),
        report.fmt(f['p_exponent_eq_0']),
        report.fmt(f['p_exponent_eq_1']),
        f'{report.fmt(fm["exponent"])} (R² {report.fmt(fm["r2"])})' if fm else '–',
        str(cens),
      ]
    )
  header = [
    'series',
    'b over converged seeds [95% bootstrap CI]',
    'R²',
    'p (b = 0)',
    'p (b = 1)',
    'b over KM medians',
    'censored runs left out',
  ]
  return report.markdown_table(header, frows)


def _t_table(rows: list[tuple[str, dict, float | None]]) -> str:
  """t-test rows (label, compare dict, Holm p or None) with power at the observed g and seeds for 80%."""
  holm = any(h is not None for _, _, h in rows)
  header = ['comparison', 'Δ mean [95% CI]', 'Student t (df)', 'p'] + (['Holm p'] if holm else [])
  header += ['Welch p', 'paired p', 'Mann–Whitney p', "Hedges' g [95% CI]", 'power', 'seeds for 80% power']
  out = []
  for label, c, h in rows:
    g = c.get('hedges_g')
    power = stats.power_t(abs(g), c['n_a'], c['n_b']) if g is not None else None
    need = stats.seeds_for_power(g) if g is not None else None
    out.append(
      [
        label,
        report.fmt_ci(c['mean_diff'], c['mean_diff_ci95']),
        f'{report.fmt(c["student"]["t"])} ({report.fmt_count(c["student"]["df"])})',
        report.fmt_p(c['student']['p']),
      ]
      + ([report.fmt_p(h)] if holm else [])
      + [
        report.fmt_p(c['welch']['p']),
        report.fmt_p((c.get('paired') or {}).get('p')),
        report.fmt_p(c['mann_whitney']['p']),
        report.fmt_ci(g, c.get('hedges_g_ci95')),
        report.fmt(power),
        report.fmt_count(need),
      ]
    )
  return report.markdown_table(header, out)


def _family_section(an: dict, family: str) -> str:
  """One Holm family: its t-test rows (log10, with the family's Holm p; raw, without), then its censored
  rows (Fisher, log-rank, Mann–Whitney with censored runs ranked last, the family's Holm p)."""
  rows = [c for c in an['comparisons'] if c.get('family') == family]
  if not rows:
    return ''
  parts = []
  full = [c for c in rows if 'log10' in c]
  if full:
    parts.append(_t_table([(c['label'] + ' (log10 episodes)', c['log10'], c['holm_p']) for c in full]))
    parts.append(_t_table([(c['label'] + ' (raw episodes)', c['raw'], None) for c in full]))
  cens = [c for c in rows if 'log10' not in c]
  if cens:
    parts.append(_censored_table(an, cens))
  return '\n\n'.join(parts)


def _censored_table(an: dict, cens: list[dict]) -> str:
  def count(arm, n):
    cell = an['cells'][arm][str(n)]
    return f'{cell["converged"]}/{cell["n_runs"]}' + (
      f' ({cell["diverged"]} diverged)' if cell['diverged'] else ''
    )

  crow = [
    [
      c['label'],
      count(c['a'], c['n']),
      count(c['b'], c['n']),
      report.fmt_p(c['fisher']['p']),
      report.fmt_p(c['logrank']['p']),
      report.fmt_p(c['mann_whitney_censored']['p']),
      report.fmt_p(c['holm_p']),
    ]
    for c in cens
  ]
  header = ['comparison (some runs censored)', 'converged A', 'converged B', 'Fisher p', 'log-rank p']
  header += ['Mann–Whitney p', 'Holm p (family, on the log-rank p)']
  return report.markdown_table(header, crow)


def _pooled_table(an: dict) -> str:
  """Each RL arm at the larger N pooled: converged / censored / diverged, Fisher and log-rank vs SL."""
  rows = []
  for arm, p in an['larger_ns'].items():
    if not p:
      continue
    rows.append(
      [
        an['labels'].get(arm, arm),
        ', '.join(str(n) for n in p['ns']),
        str(p['converged']),
        str(p['censored']),
        str(p['diverged']),
        report.fmt(p['censored_frac']),
        report.fmt_p((p['fisher'] or {}).get('p')),
        report.fmt_p((p['logrank'] or {}).get('p')),
      ]
    )
  header = ['arm', 'N', 'converged', 'censored', 'diverged', 'censored fraction']
  header += ['Fisher p vs SL', 'log-rank p vs SL']
  return report.markdown_table(header, rows) if rows else ''


def _plots(an: dict, log, config, plot_dir: str) -> list[str]:
  """Writes the plots; returns their paths."""
  labels, keys = an['labels'], list(an['cells'])
  series = {labels[k]: _scatter(an, k) for k in keys}
  paths = [
    plots.loglog_fit(
      f'{plot_dir}/episodes_vs_n.png',
      series,
      'Episodes to converge vs N',
      'N (answer-space size)',
      'episodes to converge',
    )
  ]
  paths += _p_target_plot(an, log, config, plot_dir)
  full = [c for c in an['comparisons'] if 'log10' in c]
  if full:
    paths.append(
      plots.forest_plot(
        f'{plot_dir}/effect_sizes.png',
        [(c['label'], c['log10']['hedges_g'], c['log10']['hedges_g_ci95']) for c in full],
        "Hedges' g on log10 episodes (SL − other), 95% CI",
      )
    )
  seeds = {f['effect']['name']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if seeds:
    paths.append(
      plots.halfwidth_by_seeds(
        f'{plot_dir}/halfwidth_by_seeds.png', seeds, 'Is ten enough? CI half-width vs seeds'
      )
    )
  return paths


def _p_target_plot(an: dict, log, config, plot_dir: str) -> list[str]:
  """π(y*) curves at the middle N, one per series (mean and 95% band over seeds): [its path], or []
  when no curve was logged."""
  labels, ns = an['labels'], an['ns']
  mid = ns[len(ns) // 2]
  curves = {}
  for k in an['cells']:
    arm = 'sl' if k.startswith('sl') else k
    where = {'n': mid}
    if arm == 'sl':
      where['lr'] = float(np.float32(k.split('@')[1])) if '@' in k else _sl_large_lr(config)
    steps, vals = log.curves(arm, 'p_target', where)
    if len(steps):
      curves[labels[k]] = (steps, vals)
  if not curves:
    return []
  max_steps = max(s[-1] for s, _ in curves.values())
  steps = np.arange(0, max_steps + 1, config.log_every)
  aligned = {lab: _align(s, v, steps) for lab, (s, v) in curves.items()}
  path = plots.curves_with_bands(
    f'{plot_dir}/p_target_n{mid}.png',
    steps,
    aligned,
    f'π(y*) over episodes, N={mid} (mean, 95% band over seeds)',
    'episode',
    'π(y*)',
    logx=True,
  )
  return [path]


def _sl_large_lr(config) -> float:
  return float(np.float32(max(config.sl_lrs)))


def _align(steps, vals, grid):
  """Forward-fills (seeds, P) values onto a common step grid (frozen runs keep their last value)."""
  idx = np.searchsorted(steps, grid, side='right') - 1
  out = vals[:, np.clip(idx, 0, None)]
  out[:, idx < 0] = np.nan
  return out


def _scatter(an: dict, key: str) -> dict:
  """Per-seed (N, episodes) points of one series; censored runs drawn at the budget."""
  xs, ys, cx = [], [], []
  for n, cell in an['cells'][key].items():
    for e, o in zip(cell['episodes'], cell['observed']):
      (xs if o else cx).append(int(n))
      if o:
        ys.append(e)
  return {
    'x': np.array(xs),
    'y': np.array(ys),
    'fit': an['fits'][key]['per_seed'],
    'censored_x': np.array(cx),
    'censored_y': an['budget'],
  }
