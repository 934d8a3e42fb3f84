"""The plots of the LoRA collapse report: P(collapse) against the learning rate per arm (per-seed points and
the logistic fits, one series per rank) and the held-out accuracy against the learning rate (mean, 95% band).
"""

from __future__ import annotations

import numpy as np

from exp.analysis import plots
from exp.families.lora_collapse.analysis import cells_by_rank, collapse_points, ok_runs

LABELS = {'classify': 'classify (1 of 32 answers)', 'sequence': 'sequence (8 digit tokens)'}


def _acc_matrix(by_lr, lrs) -> np.ndarray:
  """(seeds, lrs) held-out accuracy; nan for a diverged or missing run."""
  seeds = sorted({r['seed'] for rs in by_lr.values() for r in rs})
  out = np.full((len(seeds), len(lrs)), np.nan)
  for j, lr in enumerate(lrs):
    for r in ok_runs(by_lr.get(lr, [])):
      out[seeds.index(r['seed']), j] = r['metrics']['heldout_acc']
  return out


def make_plots(an: dict, runs: list, plot_dir: str) -> list[str]:
  """Writes the plots; returns their paths."""
  arms = an['arms']
  paths, acc = [], {}
  for a, v in arms.items():
    cells, series = cells_by_rank(runs, a), {}
    for r, g in v['by_rank'].items():
      x, y, _ = collapse_points(cells[int(r)])
      series[f'r{r}'] = {'x': x, 'y': y, 'fit': g['fit']}
      acc[f'{a} r{r}'] = _acc_matrix(cells[int(r)], an['lrs'])
    paths.append(
      plots.threshold_plot(
        f'{plot_dir}/collapse_{a}.png',
        series,
        f'P(collapse) vs learning rate, {LABELS[a]}',
        'log10 learning rate',
        'collapsed (per-seed points, jittered)',
      )
    )
  if acc:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/accuracy_vs_lr.png',
        np.array(an['lrs']),
        acc,
        'Held-out accuracy on mapping 2 after fine-tuning (mean, 95% band)',
        'learning rate',
        'held-out accuracy',
        logx=True,
      )
    )
  return paths
