"""Coverage of the threshold bootstrap's 95% CI when grid points of one seed share data.

  python -m exp.tools.bootstrap_coverage [--experiments 300] [--n_boot 400]

Simulates experiments shaped like lora_collapse's: 10 seeds x 12 log-learning-rates = 120 runs, a run
collapses with probability 1/(1 + exp(-(x - c_seed)/0.15)), where each seed's own threshold c_seed is the
true centre 0 plus a seed effect N(0, 0.3²) shared by all of that seed's runs. For each experiment the
binary logistic fit's 95% CI of the centre is computed with the bootstrap over runs (groups=None) and over
seeds (groups=seed), and the script prints how often each covers 0 (the centre of the marginal curve, by
symmetry). A CI that ignores the seed effect is too narrow.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from exp.analysis import stats


def simulate(rng: np.random.Generator, seeds: int = 10, points: int = 12, seed_sd: float = 0.3):
  x = np.tile(np.linspace(-1.5, 1.5, points), seeds)
  g = np.repeat(np.arange(seeds), points)
  shift = rng.normal(0.0, seed_sd, seeds)[g]
  y = (rng.random(x.size) < 1.0 / (1.0 + np.exp(-(x - shift) / 0.15))).astype(float)
  return x, y, g


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(prog='python -m exp.tools.bootstrap_coverage')
  ap.add_argument('--experiments', type=int, default=300)
  ap.add_argument('--n_boot', type=int, default=400)
  ap.add_argument('--seed', type=int, default=0)
  args = ap.parse_args(argv)
  rng = np.random.default_rng(args.seed)
  hits = {'runs': [], 'seeds': []}
  t0 = time.time()
  for _ in range(args.experiments):
    x, y, g = simulate(rng)
    for name, groups in (('runs', None), ('seeds', g)):
      lo, hi = stats.logistic_threshold(x, y, n_boot=args.n_boot, seed=0, groups=groups)['center_ci95']
      hits[name].append(bool(lo <= 0.0 <= hi))
  for name, h in hits.items():
    p = float(np.mean(h))
    se = float(np.sqrt(p * (1 - p) / len(h)))
    print(
      f'bootstrap over {name}: 95% CI covered the true centre in {p:.1%} of {len(h)} experiments (± {se:.1%})'
    )
  print(f'{time.time() - t0:.0f} s, n_boot {args.n_boot}')
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
