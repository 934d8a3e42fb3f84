"""Synthetic run records of the capacity-cliff family (shaped like results.json 'runs'; no training)."""

import numpy as np

from models.masked import active_params

WIDTHS = (1, 2, 3, 4, 6, 8, 12, 18, 27, 40, 60)


def runs(
  exact,
  token=None,
  depth_shift=(0.0, 0.0, 0.0),
  widths=WIDTHS,
  seeds=6,
  noise=0.02,
  inactive=0.0,
  target_len=3.0,
):
  """One 'ok' gru run per width × seed. ``exact(x)`` and ``token(x)`` give the mean exact success and
  per-token accuracy at x = log10 active params (token defaults to exact^(1/target_len), so acc^L equals
  exact); depth d's exact success is ``exact(x - depth_shift[d])``; seed noise is added and clipped to [0, 1]."""
  rng = np.random.default_rng(0)
  token = token or (lambda x: exact(x) ** (1 / target_len))
  out = []
  for w in widths:
    x = np.log10(active_params(w, 7))
    for s in range(seeds):
      z = noise * rng.standard_normal()
      e = float(np.clip(exact(x) + z, 0, 1))
      t = float(np.clip(token(x) + z, 0, 1))
      by_depth = [float(np.clip(exact(x - sh) + z, 0, 1)) for sh in depth_shift]
      out.append(
        {
          'arm': 'gru',
          'seed': s,
          'grid': {'width': w},
          'status': 'ok',
          'metrics': {
            'exact': e,
            'success': e,
            'token_acc': t,
            'eval_loss': 1.0 - t,
            'mean_target_len': target_len,
            'exact_by_depth': by_depth,
            'count_by_depth': [10] * len(depth_shift),
            'inactive_max_abs': inactive,
          },
        }
      )
  return out


def step(lo=0.3, hi=0.97, at=2.5):
  return lambda x: lo + (hi - lo) * float(x > at)


def ramp(start=0.05, slope=0.4, x0=1.6):
  return lambda x: float(np.clip(start + slope * (x - x0), 0, 1))
