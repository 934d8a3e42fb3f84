"""Synthetic run records of the self-modifying family (shaped like results.json 'runs'; no training) and
synthetic split-shift numbers (what analysis.split_shift computes from the data)."""

import numpy as np

from exp.analysis import stats
from exp.families.self_modifying.program import OBJECTIVES

ALL = ('none', 'entropy', 'aux', 'pseudo', 'entropy_aux', 'pcgrad')


def runs(
  base=70.0,
  arch=(0.0, 0.0),
  obj=None,
  cliff=0.0,
  cos=None,
  coupling=0.0,
  seeds=10,
  noise=1.0,
  objectives=ALL,
):
  """One 'ok' factorial run per architecture × objective × split × seed.

  Validation accuracy (points) = base − arch[split] · selfmod − obj[objective] − cliff · tail + seed noise
  + coupling · z, where z is the run's standard-normal cosine deviation: cos_mean = cos[objective] + 0.1 z
  (so coupling > 0 makes runs with more conflict lose more)."""
  obj = {o: 0.0 for o in ALL} | (obj or {})
  cos = {o: 0.0 for o in ALL} | (cos or {})
  rng = np.random.default_rng(0)
  out = []
  for x in (0, 1):
    for o in objectives:
      for t in (0, 1):
        for s in range(seeds):
          z = rng.standard_normal()
          acc = base - arch[t] * x - obj[o] - cliff * t + noise * rng.standard_normal() + coupling * z
          c = cos[o] + 0.1 * z if o != 'none' else 0.0
          out.append(
            {
              'arm': 'factorial',
              'seed': s,
              'grid': {'selfmod': x, 'objective': OBJECTIVES.index(o), 'tail': t},
              'status': 'ok',
              'metrics': {
                'val_acc': acc / 100,
                'test_acc': (acc + 2.0) / 100,
                'cos_mean': c,
                'cos_frac_neg': float(c < 0),
                'cos_hidden_mean': c,
                'cos_output_mean': c,
                'units_per_event': 8.0 * x,
                'conns_per_event': 100.0 * x,
                'acc_delta_per_event': -0.01 * x,
                'width': 32.0,
              },
            }
          )
  return out


def shift(auc_tail=0.5, auc_random=0.5, sd=0.01, seeds=10):
  """A split_shift() result: domain AUCs around the given means, TVs and MMD significance to match."""
  rng = np.random.default_rng(1)
  out = {}
  for name, a in (('random', auc_random), ('tail', auc_tail)):
    auc = a + sd * rng.standard_normal(seeds)
    tv = np.abs(auc - 0.5) + 0.01
    p = np.where(auc > 0.55, 0.001, 0.5)
    out[name] = dict(
      values=dict(tv=list(tv), auc=list(auc), mmd2=list(tv / 10), mmd_p=list(p)),
      tv=stats.describe(tv),
      auc=stats.describe(auc),
      mmd2=stats.describe(tv / 10),
      frac_mmd_significant=float(np.mean(p < 0.05)),
    )
  return out
