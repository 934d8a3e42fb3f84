"""The numeric tables of the LoRA collapse report (no conclusions: those are the checks in ``findings.py``):
the threshold fits, just below vs just above the onset (with power at the observed effect), the rank effect
and the collapse diagnostics. See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import report
from exp.families.lora_collapse.audit import lr_txt


def pct(x) -> str:
  return '–' if x is None else f'{100 * x:.1f}%'


def _ci_lr(ci) -> str:
  if not ci or ci[0] is None or ci[1] is None:
    return '[–, –]'
  return f'[{lr_txt(10 ** ci[0])}, {lr_txt(10 ** ci[1])}]'


def _output_txt(arm: str, code, config) -> str:
  """A modal output as the model writes it: the digit string, or the answer index."""
  if code is None:
    return '–'
  if arm == 'sequence':
    digits = np.base_repr(int(code), config.digit_base).zfill(config.num_digits)
    return f'"{digits}"'
  return f'answer {int(code)}'


def _threshold_row(a: str, r: str, g: dict) -> list:
  f, af, b = g['fit'] or {}, g['accuracy_fit'] or {}, g.get('binary') or {}
  c = f.get('center')
  wci = f.get('width_ci95') or [None, None]
  onset = f'{lr_txt(g["onset"][0])} – {lr_txt(g["onset"][1])}' if g['onset'] else '–'
  return [
    a,
    r,
    f'{lr_txt(10**c) if c is not None else "–"} {_ci_lr(f.get("center_ci95"))}'
    + ('' if g['threshold_in_grid'] or c is None else ' (outside the grid)'),
    f'{report.fmt(f.get("width_10_90"))} [{report.fmt(wci[0])}, {report.fmt(wci[1])}]',
    onset,
    f'{lr_txt(10 ** af["center"]) if af.get("center") is not None else "–"} '
    f'{_ci_lr(af.get("center_ci95"))}, width {report.fmt(af.get("width_10_90"))}',
    f'{b["intermediate_n"]}/{b["near_n"]} ({pct(b["fraction"])})' if b.get('near_n') else '–',
    pct(b.get('all_fraction')),
  ]


def threshold_table(an: dict, config) -> str:
  """The logistic thresholds, onsets, accuracy cliffs and intermediate runs."""
  rows = [_threshold_row(a, r, g) for a, v in an['arms'].items() for r, g in v['by_rank'].items()]
  intro = (
    'Logistic fit of P(collapse) against log10 lr by maximum likelihood (non-diverged runs); threshold '
    '10^c and the 10–90% width (4.39·|s| decades) with 95% bootstrap CIs over seeds. Onset: the two grid '
    'lrs where the collapse rate first crosses 50%. Accuracy cliff: a 4-parameter logistic of accuracy '
    '(asymptotes in [0, 1]) against log10 lr from the best lr upwards, its center with a 95% bootstrap CI '
    f'over seeds. "Intermediate": runs within ±{report.fmt(config.band_decades)} decade of c whose '
    'accuracy lies between the collapsed level (median accuracy of collapsed runs, a) and the working '
    f'level (best median accuracy over lrs, b): in a + ({report.fmt(config.intermediate_band[0])}, '
    f'{report.fmt(config.intermediate_band[1])})·(b − a).'
  )
  header = [
    'arm',
    'rank',
    'threshold 10^c [95% CI]',
    '10–90% width, decades [CI]',
    'onset (50% crossing)',
    'accuracy cliff (4PL) [CI], width',
    'intermediate near c',
    'intermediate, all lrs',
  ]
  return intro + '\n\n' + report.markdown_table(header, rows)


def _power_table(rows) -> str:
  """Power of the test at the observed effect and the seeds (or runs) 80% power would need."""
  return report.markdown_table(
    ['comparison', 'effect', 'n', 'power at this effect', 'n for 80% power'],
    [
      [lab, f'{name} {report.fmt(eff)}', report.fmt_count(n), report.fmt(pw), report.fmt_count(need)]
      for lab, name, eff, n, pw, need in rows
    ],
  )


def edge_tables(an: dict) -> str:
  """Just below vs just above the onset, paired by seed: accuracy, power, collapse counts."""
  edges = [
    (f'{a} r{r}: lr {lr_txt(g["edge"]["below_lr"])} vs {lr_txt(g["edge"]["above_lr"])}', g['edge'])
    for a, v in an['arms'].items()
    for r, g in v['by_rank'].items()
    if g.get('edge') and 'accuracy' in g['edge']
  ]
  if not edges:
    return ''
  intro = (
    'The two grid learning rates where the collapse rate first crosses 50% (the onset), same seeds '
    "(paired). Accuracy: Student pooled t (as the write-ups), Welch, paired t, Mann–Whitney, Hedges' g; "
    'Holm across the rows; power of the paired t at the observed d_z (mean over SD of the per-seed '
    'differences) and the pairs 80% power would need. Collapse counts: Fisher exact, Holm across the rows.'
  )
  cmp = report.comparison_table(
    [(lab, e['accuracy']) for lab, e in edges], holm=[e['accuracy_holm_p'] for _, e in edges]
  )
  power = _power_table(
    [
      (lab, 'd_z', e['power']['d_z'], e['power']['n'], e['power']['power'], e['power']['seeds_for_80'])
      for lab, e in edges
    ]
  )
  fisher = report.markdown_table(
    ['comparison', 'collapsed below', 'collapsed above', 'Fisher p', 'Holm p'],
    [
      [
        lab,
        f'{e["collapsed_below"]}/{e["n"]}',
        f'{e["collapsed_above"]}/{e["n"]}',
        report.fmt_p(e['fisher']['p']),
        report.fmt_p(e['fisher_holm_p']),
      ]
      for lab, e in edges
    ],
  )
  return '\n\n'.join([intro, cmp, power, fisher])


def rank_table(an: dict) -> str:
  """The rank effect on the threshold."""
  rows = []
  for a, v in an['arms'].items():
    re = v['rank_effect']
    if not re:
      continue
    ps = re['per_seed']
    cmp = ps.get('compare') or {}
    lo, hi = re['delta_c_ci95']
    flips = ', '.join(lr_txt(x) for x in re['rank_alone_flips']) or 'none'
    rows.append(
      [
        a,
        f'r{re["ranks"][1]} − r{re["ranks"][0]}',
        f'{report.fmt(re["delta_c"])} [{report.fmt(lo)}, {report.fmt(hi)}] ({re["n_boot_used"]} reps)',
        f'{report.fmt(cmp.get("mean_diff"))} (n={ps["n"]}), paired p '
        f'{report.fmt_p((cmp.get("paired") or {}).get("p"))}',
        f'{len(re["rank_alone_flips"])} of {len(re["by_lr"])}: {flips}',
      ]
    )
  if not rows:
    return ''
  intro = (
    'Δc = c(larger rank) − c(smaller rank) in decades of lr, with a 95% bootstrap CI over seeds (both '
    'ranks resampled with the same seeds, which share the base); per-seed thresholds (midpoint between '
    'the last non-collapsed lr and the first collapsed one) compared paired; learning rates at which the '
    'rank alone changes the collapse rate (Fisher exact, Holm across lrs, p < 0.05).'
  )
  header = ['arm', 'ranks', 'Δc logistic [95% CI]', 'Δ per-seed thresholds', 'lrs where rank alone flips']
  return intro + '\n\n' + report.markdown_table(header, rows)


def _diag_rows(a: str, d: dict) -> list[list]:
  rows = []
  for part, name in (('collapsed', 'collapsed'), ('not_collapsed', 'not collapsed'), ('base', 'base model')):
    dr, lv, nd = (d[k][part] or {} for k in ('dead_relu', 'logit_var', 'num_distinct'))
    if not dr:
      continue
    ci = dr.get('ci95') or [None, None]
    m, lo, hi = report.fmt_same([dr.get('mean'), ci[0], ci[1]])
    rows.append(
      [a, name, dr.get('n'), f'{m} [{lo}, {hi}]', report.fmt(lv.get('median')), report.fmt(nd.get('median'))]
    )
  return rows


def diagnostics_tables(an: dict, config) -> str:
  """Dead ReLUs, logit variance and distinct outputs of collapsed vs working runs; the collapsed outputs."""
  arms = an['arms']
  intro = (
    'All runs of an arm pooled (every lr and rank): collapsed vs not collapsed, and the unadapted base. '
    'Dead-ReLU fraction: mean [95% CI]; logit variance across prompts (class-centred): median, as it '
    "spans many orders of magnitude; distinct outputs: median. Power: Student t at the observed Hedges' g "
    'and the runs per group 80% power would need.'
  )
  rows = [row for a, v in arms.items() for row in _diag_rows(a, v['diagnostics'])]
  parts = [
    intro,
    report.markdown_table(
      ['arm', 'runs', 'n', 'dead-ReLU fraction', 'logit variance (median)', 'distinct outputs (median)'], rows
    ),
  ]
  dcmp = [
    (f'{a}: dead-ReLU fraction, collapsed vs not collapsed', v['diagnostics']['dead_relu'])
    for a, v in arms.items()
    if v['diagnostics']['dead_relu']['compare']
  ]
  if dcmp:
    parts.append(report.comparison_table([(lab, d['compare']) for lab, d in dcmp]))
    parts.append(
      _power_table(
        [
          (
            lab,
            'g',
            d['compare'].get('hedges_g'),
            d['compare']['n_a'] + d['compare']['n_b'],
            d['power'],
            d['runs_for_80'],
          )
          for lab, d in dcmp
        ]
      )
    )
  outputs = []
  for a, v in arms.items():
    d = v['diagnostics']
    tops = ', '.join(f'{_output_txt(a, c, config)} ({n} runs)' for c, n in d['top_modal_outputs'])
    outputs.append([a, d['collapsed_runs'], d['one_output_runs'], tops or '–'])
  parts.append(
    report.markdown_table(
      ['arm', 'collapsed runs', 'one output on every held-out prompt', 'most common collapsed outputs'],
      outputs,
    )
  )
  return '\n\n'.join(parts)
