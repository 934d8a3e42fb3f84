"""The distillation family's plots: KL across the switch and legal rate per step, from metrics.jsonl."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots
from exp.families.distillation.common import CORRECT_SETUP, SOURCE_SETUP, setup_key, setup_label, setups


def plot_arm(arm: str, log, config, plot_dir: str) -> list[str]:
  """The arm's KL-across-the-switch and legal-rate curves (paths of the PNGs written)."""
  paths = []
  grids = {}
  for g in setups(config):
    grids[setup_key(g, config.num_steps)] = {k: float(np.float32(v)) for k, v in g.items()}
  names = {SOURCE_SETUP: "the source's setup", CORRECT_SETUP: 'correct hybrid'}
  curves, steps_of = {}, {}
  for k in (SOURCE_SETUP, CORRECT_SETUP):
    if k not in grids:
      continue
    for metric, name in (('source_log', 'as the source logged it'), ('kl_exact', 'exact KL, fresh samples')):
      steps, vals = log.curves(arm, metric, grids[k])
      if len(steps):
        lab = f'{names[k]}: {name}'
        curves[lab], steps_of[lab] = np.where(vals > 0, vals, np.nan), steps
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/{arm}_kl.png',
        steps_of,
        curves,
        f'{arm}: KL per token (on-policy from step {config.switch_step})',
        'step',
        'nats/token (log scale)',
        logy=True,
      )
    )
  curves, steps_of = {}, {}
  for k in ('on_only/exact', 'off_only/shifted', CORRECT_SETUP, 'hybrid/unshifted/exact', SOURCE_SETUP):
    if k in grids:
      steps, vals = log.curves(arm, 'legal', grids[k])
      if len(steps):
        curves[setup_label(k)], steps_of[setup_label(k)] = vals, steps
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/{arm}_legal.png',
        steps_of,
        curves,
        f'{arm}: legal-transition rate of student samples',
        'step',
        'legal rate',
      )
    )
  return paths
