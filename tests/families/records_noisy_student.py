"""Synthetic Noisy Student run records, shaped like results.json's 'runs' (no training), for driving the
findings to each status."""

import numpy as np

from exp.families.noisy_student.common import CONDITION_IDS, CONDITIONS, METRICS

BASE = {
  'train_loss_noised': 1.2,
  'train_loss_clean': 1.2,
  'heldout_loss': 1.4,
  'heldout_exact': 0.0,
  'heldout_token_acc': 0.5,
}


def records(n_seeds=10, shift=None, scale=None, seed_sd=0.05, noise_sd=0.01, rng_seed=0, exact=0.0):
  """Pretrain and distill runs for every condition.

  Per seed, every metric is BASE + a seed effect (sd ``seed_sd``, shared by all conditions: the pairing)
  + independent noise (sd ``noise_sd``). ``shift[(condition, key)]`` adds a constant and
  ``scale[(condition, key)]`` multiplies the per-seed deviation (key: a metric name, with '_early' for
  the early snapshot). The clean student's noised training loss equals its clean one, as in the program.
  """
  shift, scale = shift or {}, scale or {}
  rng = np.random.default_rng(rng_seed)
  keys = [m + suffix for m in METRICS for suffix in ('', '_early')]
  # The noised and the clean training loss of a seed share its seed effect (same student, same prompts).
  shared = {k: k.replace('train_loss_noised', 'train_loss_clean') for k in keys}
  draws = {k: rng.normal(0.0, seed_sd, n_seeds) for k in sorted(set(shared.values()))}
  effect = {k: draws[shared[k]] for k in keys}
  runs = [
    {
      'arm': 'pretrain',
      'grid': {},
      'seed': s,
      'status': 'ok',
      'metrics': {'teacher_clean_loss': 1.0, 'teacher_exact': 0.0, 'teacher_token_acc': 0.5},
    }
    for s in range(n_seeds)
  ]
  for cond in CONDITIONS:
    noise = {k: rng.normal(0.0, noise_sd, n_seeds) for k in keys}
    for s in range(n_seeds):
      m = {}
      for k in keys:
        base = exact if k.startswith('heldout_exact') else BASE[k.removesuffix('_early')]
        dev = 0.0 if k.startswith('heldout_exact') else effect[k][s] + noise[k][s]
        m[k] = base + shift.get((cond, k), 0.0) + scale.get((cond, k), 1.0) * dev
      if cond == 'clean':
        m['train_loss_noised'], m['train_loss_noised_early'] = (
          m['train_loss_clean'],
          m['train_loss_clean_early'],
        )
      m.update(heldout_unseen=40.0, teacher_exact=0.0, heldout_loss_curve=1.0, heldout_loss_curve_early=1.0)
      runs.append(
        {
          'arm': 'distill',
          'grid': {'condition': CONDITION_IDS[cond], 'delete_p': 0.0, 'dropout': 0.0},
          'seed': s,
          'status': 'ok',
          'metrics': m,
        }
      )
  return runs
