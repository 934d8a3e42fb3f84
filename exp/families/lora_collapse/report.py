"""The markdown report of the LoRA collapse family: the claim next to the toy, accuracy and collapse
against the learning rate, the threshold fits, just below vs just above, the rank effect, the collapse
diagnostics, the audit (``report_audit.py``), the verdict and the plots (``report_plots.py``).
See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import report
from exp.families.lora_collapse.analysis import median
from exp.families.lora_collapse.audit import CLAIM_UNTUNED, lr_txt
from exp.families.lora_collapse.program import ARMS
from exp.families.lora_collapse.report_audit import audit_text, pct
from exp.families.lora_collapse.report_plots import LABELS, make_plots


def _output_txt(arm: str, code, config) -> str:
  """A modal output as the model writes it: the digit string, or the answer index."""
  if code is None:
    return '–'
  if arm == 'sequence':
    digits = np.base_repr(int(code), config.digit_base).zfill(config.num_digits)
    return f'"{digits}"'
  return f'answer {int(code)}'


def _acc_cell(row) -> str:
  d = row['accuracy']
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d['ci95']
  half = (hi - lo) / 2 if lo is not None and hi is not None else None
  m, h = report.fmt_same([d['mean'], half], 2)
  return f'{m} ± {h}' if half is not None else m


def _lr_table(a: dict, arm: str) -> str:
  ranks = list(a['by_rank'])
  digits = arm == 'sequence'
  cols = ['accuracy'] + (['digit acc'] if digits else []) + ['collapsed', 'distinct', 'dead ReLU']
  header = ['lr'] + [f'r{r} {c}' for r in ranks for c in cols]
  rows = []
  for i in range(len(a['by_rank'][ranks[0]]['rows'])):
    row = [lr_txt(a['by_rank'][ranks[0]]['rows'][i]['lr'])]
    for r in ranks:
      x = a['by_rank'][r]['rows'][i]
      div = f' ({x["diverged"]} diverged)' if x['diverged'] else ''
      row += (
        [_acc_cell(x)]
        + ([report.fmt(x['digit_accuracy_median'], 2)] if digits else [])
        + [
          f'{x["collapsed"]}/{x["n"] - x["diverged"]}{div}',
          report.fmt(x['distinct_median']),
          report.fmt(x['dead_relu_mean'], 2),
        ]
      )
    rows.append(row)
  return report.markdown_table(header, rows)


def _ci_lr(ci) -> str:
  if not ci or ci[0] is None or ci[1] is None:
    return '[–, –]'
  return f'[{lr_txt(10 ** ci[0])}, {lr_txt(10 ** ci[1])}]'


def _header(an: dict, config) -> list[str]:
  scale = 'α/√r (rsLoRA)' if an['rslora'] else 'α/r'
  pre = an['pretrain']
  pre_txt = ', '.join(
    f'{a} {report.fmt(pre[k]["mean"])}'
    for a in ARMS
    if (k := f'heldout_acc_{a}') in pre and pre[k].get('mean') is not None
  )
  lines = [
    '# LoRA mode collapse at a learning-rate threshold',
    '',
    f'{config.num_seeds} seeds; per seed a base LookupMLP pretrained on mapping 1 ({config.pretrain_steps} '
    f'Adam steps; held-out accuracy on mapping 1: {pre_txt}), then LoRA on every Dense layer fine-tuned '
    f'on mapping 2 for {config.num_steps} Adam steps (batch {config.batch_size}), α = '
    f'{report.fmt(an["alpha_per_rank"])}·r, scale {scale}. Grid: {len(an["lrs"])} learning rates '
    f'{lr_txt(an["lrs"][0])} … {lr_txt(an["lrs"][-1])} × ranks {tuple(an["ranks"])}, one compiled '
    'program per arm. Collapsed ⇔ one distinct greedy output over the held-out prompts or normalized '
    'output entropy < 0.1.',
    '',
  ]
  return lines


def _claim_section(an: dict) -> list[str]:
  """The write-up's table, our numbers beside it."""
  arms = an['arms']
  lines: list[str] = []
  lines += [
    '## Claim vs toy',
    '',
    "The write-up's runs and the toy's counterparts (toy learning rates do not transfer to an LLM; "
    'what transfers is the position relative to the threshold: the onset, where the collapse rate '
    'first crosses 50% between two grid lrs). Toy cells: medians over runs.',
    '',
  ]
  header = ['', 'claim'] + [f'{a} r{r}' for a, v in arms.items() for r in v['by_rank']]
  rows = {k: [] for k in ('collapsed', 'literal', 'working', 'untuned')}
  for v in arms.values():
    for g in v['by_rank'].values():
      above = [x for x in g['rows'] if g['onset'] and x['lr'] >= g['onset'][1]]
      n_above = sum(x['n'] - x['diverged'] for x in above)
      k_above = sum(x['collapsed'] for x in above)
      one = sum(x['one_output'] for x in above)
      few = sum(x['few_outputs'] for x in above)
      acc_above = median([x['accuracy_median'] for x in above])
      rows['collapsed'].append(f'{pct(acc_above)}; {k_above}/{n_above} collapsed' if above else 'no collapse')
      rows['literal'].append(f'{one}/{n_above} runs (≤ 3 outputs: {few}/{n_above})' if above else '–')
      rows['working'].append(
        f'{pct(g["peak"]["accuracy_median"])} at lr {lr_txt(g["peak"]["lr"])}' if g['peak'] else '–'
      )
      rows['untuned'].append(pct(g['base_accuracy_median']))
  claim = {
    'collapsed': 'lr 2e-4 r128: 2%; lr 5e-5 r64: 0%',
    'literal': 'every question → "10000000"',
    'working': 'lr 5e-6 r32: 73.5%',
    'untuned': f'{pct(CLAIM_UNTUNED)}',
  }
  names = {
    'collapsed': 'collapsed runs (above the onset): accuracy',
    'literal': 'one constant output (runs above)',
    'working': 'working run (best lr below the onset): accuracy',
    'untuned': 'untuned model (on the fine-tuning task)',
  }
  lines += [report.markdown_table(header, [[names[k], claim[k]] + rows[k] for k in rows]), '']
  return lines


def _accuracy_section(an: dict) -> list[str]:
  """Accuracy and collapse against the learning rate, per arm."""
  arms = an['arms']
  lines: list[str] = []
  lines += [
    '## Accuracy and collapse vs learning rate',
    '',
    'Held-out accuracy on mapping 2 (mean ± 95% CI half-width over seeds), collapsed runs / runs, '
    'median number of distinct greedy outputs over the held-out prompts, mean dead-ReLU fraction; for '
    'the sequence arm accuracy is the exact match of all digits, "digit acc" the median per-digit '
    'accuracy.',
    '',
  ]
  for a, v in arms.items():
    lines += [f'### {LABELS[a]}', '', _lr_table(v, a), '']
  return lines


def _threshold_section(an: dict, config) -> list[str]:
  """The logistic thresholds, onsets and the "binary" check."""
  arms = an['arms']
  lines: list[str] = []
  lines += [
    '## Threshold',
    '',
    'Logistic fit of P(collapse) against log10 lr by maximum likelihood (non-diverged runs); threshold '
    '10^c and the 10–90% width (4.39·|s| decades) with 95% bootstrap CIs over runs. Onset: the two '
    'grid lrs where the collapse rate first crosses 50%. Accuracy cliff: a 4-parameter logistic of accuracy '
    'against log10 lr from the best lr upwards. "Intermediate": runs within '
    f'±{report.fmt(config.band_decades)} decade of c whose accuracy lies between the collapsed level '
    '(median accuracy of collapsed runs, a) and the working level (best median accuracy over lrs, b): in '
    f'a + ({report.fmt(config.intermediate_band[0])}, '
    f'{report.fmt(config.intermediate_band[1])})·(b − a); '
    f'"binary" allows at most {report.fmt(100 * config.max_intermediate)}% of them.',
    '',
  ]
  trows = []
  for a, v in arms.items():
    for r, g in v['by_rank'].items():
      f, af, b = g['fit'] or {}, g['accuracy_fit'] or {}, g.get('binary') or {}
      c = f.get('center')
      wci = f.get('width_ci95') or [None, None]
      onset = f'{lr_txt(g["onset"][0])} – {lr_txt(g["onset"][1])}' if g['onset'] else '–'
      trows.append(
        [
          a,
          r,
          f'{lr_txt(10**c) if c is not None else "–"} {_ci_lr(f.get("center_ci95"))}'
          + ('' if g['threshold_in_grid'] or c is None else ' (outside the grid)'),
          f'{report.fmt(f.get("width_10_90"))} [{report.fmt(wci[0])}, {report.fmt(wci[1])}]',
          onset,
          f'{lr_txt(10 ** af["center"]) if af.get("center") is not None else "–"}, width '
          f'{report.fmt(af.get("width_10_90"))}',
          f'{b["intermediate_n"]}/{b["near_n"]} ({pct(b["fraction"])})' if b.get('near_n') else '–',
          pct(b.get('all_fraction')),
        ]
      )
  lines += [
    report.markdown_table(
      [
        'arm',
        'rank',
        'threshold 10^c [95% CI]',
        '10–90% width, decades [CI]',
        'onset (50% crossing)',
        'accuracy cliff (4PL), width',
        'intermediate near c',
        'intermediate, all lrs',
      ],
      trows,
    ),
    '',
  ]
  notes = sorted(
    {
      g['fit']['note']
      for v in arms.values()
      for g in v['by_rank'].values()
      if g['fit'] and g['fit'].get('note')
    }
  )
  lines += [f'Note: {n}.' for n in notes] + ([''] if notes else [])
  return lines


def _edge_section(an: dict) -> list[str]:
  """Just below vs just above the onset, paired by seed."""
  arms = an['arms']
  lines: list[str] = []
  edges = [
    (f'{a} r{r}: lr {lr_txt(g["edge"]["below_lr"])} vs {lr_txt(g["edge"]["above_lr"])}', g['edge'])
    for a, v in arms.items()
    for r, g in v['by_rank'].items()
    if g.get('edge') and 'accuracy' in g['edge']
  ]
  if edges:
    lines += [
      '## Just below vs just above the threshold',
      '',
      'The two grid learning rates where the collapse rate first crosses 50% (the onset), same seeds '
      '(paired). Accuracy: Student pooled t '
      "(as the write-ups), Welch, paired t, Mann–Whitney, Hedges' g; Holm across the rows. Collapse "
      'counts: Fisher exact, Holm across the rows.',
      '',
      report.comparison_table(
        [(lab, e['accuracy']) for lab, e in edges], holm=[e['accuracy_holm_p'] for _, e in edges]
      ),
      '',
    ]
    lines += [
      report.markdown_table(
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
      ),
      '',
    ]
    lines += [
      '- ' + report.verdict(lab, e['accuracy'], holm_p=e['accuracy_holm_p'], names=('below', 'above'))
      for lab, e in edges
    ] + ['']
  return lines


def _rank_section(an: dict) -> list[str]:
  """The rank effect on the threshold."""
  arms = an['arms']
  lines: list[str] = []
  lines += ['## Rank effect on the threshold', '']
  rrows = []
  for a, v in arms.items():
    re = v['rank_effect']
    if not re:
      continue
    ps = re['per_seed']
    cmp = ps.get('compare') or {}
    lo, hi = re['delta_c_ci95']
    flips = ', '.join(lr_txt(x) for x in re['rank_alone_flips']) or 'none'
    rrows.append(
      [
        a,
        f'r{re["ranks"][1]} − r{re["ranks"][0]}',
        f'{report.fmt(re["delta_c"])} [{report.fmt(lo)}, {report.fmt(hi)}] ({re["n_boot_used"]} reps)',
        f'{report.fmt(cmp.get("mean_diff"))} (n={ps["n"]}), paired p '
        f'{report.fmt_p((cmp.get("paired") or {}).get("p"))}',
        flips,
      ]
    )
  lines += [
    'Δc = c(larger rank) − c(smaller rank) in decades of lr, with a 95% bootstrap CI over seeds (both '
    'ranks resampled with the same seeds, which share the base); per-seed thresholds (midpoint between '
    'the last non-collapsed lr and the first collapsed one) compared paired; learning rates at which the '
    'rank alone changes the collapse rate (Fisher exact, Holm across lrs, p < 0.05).',
    '',
    report.markdown_table(
      [
        'arm',
        'ranks',
        'Δc logistic [95% CI]',
        'Δ per-seed thresholds',
        'lrs where rank alone flips collapse',
      ],
      rrows,
    ),
    '',
  ]
  return lines


def _diagnostics_section(an: dict, config) -> list[str]:
  """Dead ReLUs, logit variance and distinct outputs of collapsed vs working runs."""
  arms = an['arms']
  lines: list[str] = []
  lines += [
    '## Collapse diagnostics',
    '',
    'All runs of an arm pooled (every lr and rank): collapsed vs not collapsed, and the unadapted base. '
    'Dead-ReLU fraction: mean [95% CI]; logit variance across prompts (class-centred): median, as it '
    'spans many orders of magnitude; distinct outputs: median.',
    '',
  ]
  drows, dcmp = [], []
  for a, v in arms.items():
    d = v['diagnostics']
    for part, name in (
      ('collapsed', 'collapsed'),
      ('not_collapsed', 'not collapsed'),
      ('base', 'base model'),
    ):
      dr, lv, nd = (d[k][part] or {} for k in ('dead_relu', 'logit_var', 'num_distinct'))
      if not dr:
        continue
      ci = dr.get('ci95') or [None, None]
      m, lo, hi = report.fmt_same([dr.get('mean'), ci[0], ci[1]])
      drows.append(
        [
          a,
          name,
          dr.get('n'),
          f'{m} [{lo}, {hi}]',
          report.fmt(lv.get('median')),
          report.fmt(nd.get('median')),
        ]
      )
    if d['dead_relu']['compare']:
      dcmp.append((f'{a}: dead-ReLU fraction, collapsed vs not collapsed', d['dead_relu']['compare']))
  lines += [
    report.markdown_table(
      ['arm', 'runs', 'n', 'dead-ReLU fraction', 'logit variance (median)', 'distinct outputs (median)'],
      drows,
    ),
    '',
  ]
  if dcmp:
    lines += [report.comparison_table(dcmp), '']
  for a, v in arms.items():
    d = v['diagnostics']
    tops = ', '.join(f'{_output_txt(a, c, config)} ({n} runs)' for c, n in d['top_modal_outputs'])
    lines += [
      f'- {a}: {d["one_output_runs"]}/{d["collapsed_runs"]} collapsed runs give literally one output '
      f'on every held-out prompt; the most common collapsed outputs: {tops or "–"}.'
    ]
  lines += ['']
  return lines


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del log
  lines = _header(an, config)
  lines += _claim_section(an)
  lines += _accuracy_section(an)
  lines += _threshold_section(an, config)
  lines += _edge_section(an)
  lines += _rank_section(an)
  lines += _diagnostics_section(an, config)
  lines += ['## Audit', '', audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}. {an["headline"]["result"]}.', '']
  paths = make_plots(an, runs, plot_dir)
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1][:-4]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'
