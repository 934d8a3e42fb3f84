"""Synthetic run records of the LoRA collapse family (dicts shaped like results.json 'runs'): no training."""

import numpy as np

from exp.tasks.lookup import COLLAPSE_ENTROPY_THRESHOLD

BASE_ACC = 0.03


def run(arm, seed, lr, rank, acc, collapsed, num_distinct=None, entropy=None):
  """One fine-tuning run record; a collapsed run gives one output unless num_distinct says otherwise."""
  nd = num_distinct if num_distinct is not None else (1 if collapsed else 30)
  ent = entropy if entropy is not None else (0.0 if nd == 1 else (0.05 if collapsed else 0.5))
  assert bool(collapsed) == (nd == 1 or ent < COLLAPSE_ENTROPY_THRESHOLD)
  return {
    'arm': arm,
    'seed': seed,
    'grid': {'lr': float(np.float32(lr)), 'rank': rank},
    'status': 'ok',
    'metrics': {
      'heldout_acc': acc,
      'train_acc': acc,
      'base_heldout_acc': BASE_ACC,
      'num_distinct': nd,
      'normalized_entropy': ent,
      'collapsed': int(collapsed),
      'modal_output': 7 if collapsed else 3,
      'modal_fraction': 1.0 if nd == 1 else 0.5,
      'dead_relu': 0.5 if collapsed else 0.1,
      'logit_var': 0.0 if collapsed else 3.0,
      'base_dead_relu': 0.01,
      'base_logit_var': 4.0,
      'base_num_distinct': 30,
    },
  }


def grid_runs(lrs, ranks, seeds, rule, arm='classify'):
  """Every (lr, rank, seed) run; rule(rank, log10 lr, seed) -> run() keyword arguments (acc, collapsed, ...)."""
  return [
    run(arm, s, lr, rank, **rule(rank, float(np.log10(np.float32(lr))), s))
    for lr in lrs
    for rank in ranks
    for s in seeds
  ]


def sharp(thresholds):
  """Collapse exactly at lr >= thresholds[rank] for every seed; accuracy 0.5 + 0.01·seed below, chance above."""

  def rule(rank, x, s):
    col = x >= np.log10(thresholds[rank]) - 1e-3
    return {'acc': BASE_ACC if col else 0.5 + 0.01 * s, 'collapsed': col}

  return rule


def gradual(first_log10, spread):
  """Seed s collapses at log10 lr >= first + spread·s; within one decade below its own threshold its
  accuracy is intermediate (0.25), further below 0.5 + 0.01·seed."""

  def rule(rank, x, s):
    t = first_log10 + spread * s
    if x >= t - 1e-3:
      return {'acc': BASE_ACC, 'collapsed': True}
    return {'acc': 0.25 + 0.01 * s if x >= t - 1.0 else 0.5 + 0.01 * s, 'collapsed': False}

  return rule


def by_rank(rules):
  """One rule per rank."""
  return lambda rank, x, s: rules[rank](rank, x, s)


def nothing(rank, x, s):
  """No collapse anywhere; accuracy 0.5 + 0.01·seed."""
  return {'acc': 0.5 + 0.01 * s, 'collapsed': False}
