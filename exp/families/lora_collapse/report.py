"""The markdown report of the LoRA collapse family, in the common skeleton (exp.analysis.report.render_report):
setup; tables (the claim next to the toy, accuracy and collapse against the learning rate, the threshold
fits, just below vs just above, the rank effect, the collapse diagnostics; ``report_tables.py``); the
findings with their checks (``findings.py``); "Is ten enough?"; notes; plots (``report_plots.py``).
See docs/families/lora_collapse.md.
"""

from __future__ import annotations

from exp.analysis import plots, report
from exp.families.lora_collapse.analysis import median
from exp.families.lora_collapse.audit import CLAIM_RUNS, lr_txt
from exp.families.lora_collapse.program import ARMS
from exp.families.lora_collapse.report_plots import LABELS, make_plots
from exp.families.lora_collapse.report_tables import (
  diagnostics_tables,
  edge_tables,
  pct,
  rank_table,
  threshold_table,
)
from exp.tasks.lookup import COLLAPSE_ENTROPY_THRESHOLD


def _acc_cell(row) -> str:
  return report.fmt_mean_ci(row['accuracy'], 2)


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


def _setup(an: dict, config) -> str:
  scale = 'α/√r (rsLoRA)' if an['rslora'] else 'α/r'
  pre = an['pretrain']
  pre_txt = ', '.join(
    f'{a} {report.fmt(pre[k]["mean"])}'
    for a in ARMS
    if (k := f'heldout_acc_{a}') in pre and pre[k].get('mean') is not None
  )
  return (
    f'{config.num_seeds} seeds; per seed a base LookupMLP pretrained on mapping 1 ({config.pretrain_steps} '
    f'Adam steps; held-out accuracy on mapping 1: {pre_txt}), then LoRA on every Dense layer fine-tuned '
    f'on mapping 2 for {config.num_steps} Adam steps (batch {config.batch_size}), α = '
    f'{report.fmt(an["alpha_per_rank"])}·r, scale {scale}. Grid: {len(an["lrs"])} learning rates '
    f'{lr_txt(an["lrs"][0])} … {lr_txt(an["lrs"][-1])} × ranks {tuple(an["ranks"])}, one compiled '
    'program per arm. Collapsed ⇔ one distinct greedy output over the held-out prompts or normalized '
    f'output entropy < {report.fmt(COLLAPSE_ENTROPY_THRESHOLD)}. Every conclusion below is a check over '
    'the numbers it shows (section Findings).'
  )


def _claim_table(an: dict) -> str:
  """The write-up's table, our numbers beside it."""
  arms = an['arms']
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
      rows['collapsed'].append(f'{pct(acc_above)}; {k_above}/{n_above} collapsed' if above else 'no onset')
      rows['literal'].append(f'{one}/{n_above} runs (≤ 3 outputs: {few}/{n_above})' if above else '–')
      rows['working'].append(
        f'{pct(g["peak"]["accuracy_median"])} at lr {lr_txt(g["peak"]["lr"])}' if g['peak'] else '–'
      )
      rows['untuned'].append(pct(g['base_accuracy_median']))
  src = an['audit']['source']
  collapsed = [r for r in src['runs'] if r['collapsed']]
  working = [r for r in src['runs'] if not r['collapsed']]
  claim = {
    'collapsed': '; '.join(f'lr {r["lr"]:g} r{r["rank"]}: {pct(r["accuracy"])}' for r in collapsed),
    'literal': 'every question → "10000000"',
    'working': '; '.join(f'lr {r["lr"]:g} r{r["rank"]}: {pct(r["accuracy"])}' for r in working),
    'untuned': pct(src['untuned']),
  }
  names = {
    'collapsed': 'runs above the onset: accuracy',
    'literal': 'one constant output (runs above)',
    'working': 'best lr: accuracy',
    'untuned': 'untuned model (on the fine-tuning task)',
  }
  return (
    "The write-up's runs and the toy's counterparts (toy learning rates do not transfer to an LLM; what "
    'transfers is the position relative to the threshold: the onset, where the collapse rate first '
    'crosses 50% between two grid lrs). Toy cells: medians over runs.\n\n'
    + report.markdown_table(header, [[names[k], claim[k]] + rows[k] for k in rows])
  )


def _accuracy_tables(an: dict) -> list[tuple[str, str]]:
  """Accuracy and collapse against the learning rate, one table per arm."""
  intro = (
    'Held-out accuracy on mapping 2 (mean ± 95% CI half-width over seeds), collapsed runs / runs, '
    'median number of distinct greedy outputs over the held-out prompts, mean dead-ReLU fraction; for '
    'the sequence arm accuracy is the exact match of all digits, "digit acc" the median per-digit '
    'accuracy.\n\n'
  )
  return [
    (f'Accuracy and collapse vs learning rate: {LABELS[a]}', (intro if i == 0 else '') + _lr_table(v, a))
    for i, (a, v) in enumerate(an['arms'].items())
  ]


def _notes(an: dict) -> list[str]:
  """Method remarks: how the write-up's runs differ from each other, and the fits' own notes."""
  runs = CLAIM_RUNS
  src = an['audit']['source']
  notes = [
    f'The write-up changed four to five knobs at once between its runs (lr, rank, data size '
    f'5000/6000/100, epochs, scaling): its collapsed runs used lr {runs[0]["lr"]:g} at rank '
    f'{runs[0]["rank"]} and {runs[1]["lr"]:g} at rank {runs[1]["rank"]}, its working run {runs[2]["lr"]:g} '
    f'at rank {runs[2]["rank"]}: {report.fmt(src["lr_gap_decades"])} decades lower in lr and '
    f'{report.fmt(src["rank_ratio"])}× lower in rank at once. The toy holds the data, the number of steps '
    f'and the scaling ({"α/√r" if an["rslora"] else "α/r"}, α = {report.fmt(an["alpha_per_rank"])}·r) '
    'fixed and crosses lr with rank on a full grid.',
    'Bootstrap CIs of the thresholds and widths (logistic and 4PL) resample whole seeds: every grid '
    'point of a seed shares its data, base and adapter initialization.',
  ]
  fit_notes = {
    g['fit']['note']
    for v in an['arms'].values()
    for g in v['by_rank'].values()
    if g['fit'] and g['fit'].get('note')
  }
  return notes + [f'Logistic fit: {n}.' for n in sorted(fit_notes)]


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del log
  tables = [('Claim vs toy', _claim_table(an))] + _accuracy_tables(an)
  tables += [
    ('Threshold', threshold_table(an, config)),
    ('Just below vs just above the threshold', edge_tables(an)),
    ('Rank effect on the threshold', rank_table(an)),
    ('Collapse diagnostics', diagnostics_tables(an, config)),
  ]
  paths = make_plots(an, runs, plot_dir)
  series = {
    f['title']: f['seeds']['halfwidth_by_k']
    for f in an['findings']
    if (f.get('seeds') or {}).get('halfwidth_by_k')
  }
  paths.append(
    plots.halfwidth_by_seeds(
      f'{plot_dir}/halfwidth_by_seeds.png', series, 'Is ten enough? CI half-width of the headline effects'
    )
  )
  text = report.render_report(
    'LoRA mode collapse at a learning-rate threshold',
    _setup(an, config),
    tables,
    an['findings'],
    plots=paths,
    notes=_notes(an),
  )
  return text if text.endswith('\n') else text + '\n'
