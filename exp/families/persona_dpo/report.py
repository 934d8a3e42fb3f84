"""Report of the persona_dpo family: ``make_report(analysis, runs, log, config, plot_dir)`` writes the plots
and returns the markdown through ``report.render_report``. Tables and plots only: every conclusion is a
check in findings.py (docs/families/persona_dpo.md)."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report
from exp.families.persona_dpo.common import EVAL_METRICS, METRIC_LABELS, ORDER_LABELS, ORDERS, final_snapshot

TITLE = 'Constitutional DPO persona pipeline (Open Character Training)'
LABELS = METRIC_LABELS


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  tables = [
    ('Claimed vs measured (claimed order, paired by seed)', _claim_table(an)),
    ('Every evaluation of the claimed order (k = 0 base, then after each phase)', _phase_table(an)),
    ('Each order at its end', _orders_table(an)),
  ]
  for other, rows in an['order_rows'].items():
    cmp_rows = [(LABELS[r['metric']], r['cmp']) for r in rows]
    tables.append(
      (
        f'Claimed order − {ORDER_LABELS[other]} (paired by seed)',
        report.comparison_table(cmp_rows, holm=[r['holm_p'] for r in rows]),
      )
    )
  text = report.render_report(
    TITLE, _setup(an, config), tables, an['findings'], _plots(an, log, config, plot_dir), _notes(config)
  )
  return text.rstrip('\n') + '\n'


def _setup(an: dict, config) -> str:
  n = len(an['per_order'].get('claimed', {}).get('seeds', [])) or config.num_seeds
  orders = ', '.join(ORDER_LABELS[o] for o in an['orders'])
  text = (
    f'{n} seeds × {len(an["orders"])} phase orders ({orders}), all in one compiled program: each seed '
    f'pretrains a base WindowMLPLM ({config.pretrain_steps} steps) on a toy corpus in which, with the system '
    'prompt SYS, about half the responses follow the persona; every order starts from that base and sees '
    f'the same data and noise. Phases of {config.phase_steps} steps (batch {config.batch}): introspective SFT '
    '(INTRO prompts, no SYS), dialogue SFT (half the prompts with SYS), constitutional DPO (chosen = the '
    "teacher, rejected = the student's own answer, no SYS: context distillation; "
    f'β {config.beta}, NLL coefficient {config.nll_coef}). The teacher is the base with SYS, best of '
    f'{config.teacher_best_of} samples under the constitution s. Evaluation after every phase on the same '
    f'{config.eval_batch} prompts per condition and the same sampling noise. Alignment = mean s; '
    f'high-alignment rate = share with s ≥ {config.high_threshold}; break rate = share of IGN prompts with '
    f's < {config.break_threshold}; survival = share without SYS with s ≥ {config.survive_threshold}. '
    'Cells: mean ± 95% CI half-width over seeds.'
  )
  bad = sum(p['n_not_ok'] for p in an['per_order'].values())
  if bad:
    text += f'\n\n**{bad} runs diverged**; they are counted here and left out of every mean and test.'
  return text


def _notes(config) -> list[str]:
  return [
    'The write-up compares the base with its system prompt to the trained model without it; the claim rows '
    'do the same (alignment and high-alignment rate: base with SYS → trained without SYS; break rate: base '
    'on SYS + IGN → trained on IGN without SYS). The per-phase table shows every condition at every phase.',
    'Paired tests (base and trained share a seed; every order of a seed shares its base): paired t with its '
    "CI, Student, Welch, Mann–Whitney, Hedges' g; g_av = mean difference / average of the two SDs × J "
    '(Lakens 2013, stats.compare). Holm over the rows of each table.',
    'Repeated measures over the phases: statsmodels AnovaRM, subject = seed, within = the 4 evaluations of '
    'the claimed order (no sphericity correction).',
    f'Orders with fewer phases stay idle for the rest of the {config.num_steps} steps; "at its end" is the '
    "evaluation after an order's last phase.",
  ]


def _claim_table(an: dict) -> str:
  rows = []
  for r in an['claim_rows']:
    c = r['cmp'] or {}
    claimed = f'{report.fmt(r["claimed"][0])} → {report.fmt(r["claimed"][1])}' if r['claimed'] else '–'
    rows.append(
      [
        r['name'],
        claimed,
        report.fmt_mean_ci(r['base']),
        report.fmt_mean_ci(r['trained']),
        report.fmt_ci(c.get('mean_diff'), c.get('mean_diff_ci95')),
        report.fmt_p(r['holm_p']),
        report.fmt(c.get('g_av')),
      ]
    )
  s = an.get('survive')
  if s:
    rows.append(
      ['survival without SYS', report.fmt(an['claim']['survive']), '–', report.fmt_mean_ci(s), '–', '–', '–']
    )
  header = ['metric', 'write-up', 'base', 'trained', 'paired Δ [95% CI]', 'Holm p', 'g_av']
  return report.markdown_table(header, rows)


def _phase_table(an: dict) -> str:
  po = an['per_order'].get('claimed')
  if not po:
    return ''
  rows = []
  for m in EVAL_METRICS:
    a = an['rm_anova'].get(m, {})
    rows.append(
      [LABELS[m]]
      + [report.fmt_mean_ci(d) for d in po[m]['describe']]
      + [report.fmt(a.get('F')), report.fmt_p(a.get('p'))]
    )
  phases = ['k=0 base'] + [f'k={k + 1} after {p}' for k, p in enumerate(ORDERS['claimed'])]
  return report.markdown_table(['metric'] + phases + ['RM-ANOVA F', 'p'], rows)


def _orders_table(an: dict) -> str:
  rows = []
  for m in EVAL_METRICS:
    row = [LABELS[m]]
    for o in an['orders']:
      row.append(report.fmt_mean_ci(an['per_order'][o][m]['describe'][final_snapshot(o)]))
    rows.append(row)
  return report.markdown_table(['metric'] + [ORDER_LABELS[o] for o in an['orders']], rows)


def _plots(an: dict, log, config, plot_dir: str) -> list[str]:
  paths = []
  po = an['per_order']
  for m in ('align_nosys', 'nll_neutral'):
    curves = {
      ORDER_LABELS[o]: np.array(po[o][m]['values'], float).T[:, : final_snapshot(o) + 1] for o in an['orders']
    }
    steps = {ORDER_LABELS[o]: np.arange(final_snapshot(o) + 1) for o in an['orders']}
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/phases_{m}.png', steps, curves, f'{LABELS[m]} after each phase', 'phase', LABELS[m]
      )
    )
  for metric, ylabel in (('reward_acc', 'DPO preference accuracy'), ('margin', 'DPO reward margin')):
    lc = {}
    for i, o in enumerate(an['orders']):
      if 'dpo' in ORDERS[o]:
        s, v = log.curves('pipeline', metric, {'order': float(i)})
        if len(s):
          lc[ORDER_LABELS[o]] = (s, v)
    if lc:
      paths.append(
        plots.curves_with_bands(
          f'{plot_dir}/train_{metric}.png',
          {k: s for k, (s, _) in lc.items()},
          {k: v for k, (_, v) in lc.items()},
          f'{ylabel} on the training pairs (meaningful in DPO phases)',
          'step',
          ylabel,
        )
      )
  hw = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if hw:
    paths.append(
      plots.halfwidth_by_seeds(f'{plot_dir}/ten_enough.png', hw, 'Is ten enough? CI half-width vs seeds')
    )
  return paths
