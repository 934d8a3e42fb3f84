"""A noisy walk to a target: the runner's test family (cheap, random, with done, censored and diverged
runs).

Per seed a target t ~ N(0, I_4); w starts at 0. Arm ``walk``: w <- w - lr (w - t) + sigma * noise, the noise
drawn from the step key. Arm ``heavy``: the same with heavy-ball momentum. The learning rate is a grid
axis; a run is done once mean (w - t)^2 < tol. With the smoke config, lr 0.02 is censored at the budget,
0.1 and 0.5 finish early and 40 overflows to inf (diverged) after about 25 steps.
"""

import jax
import jax.numpy as jnp
import numpy as np

from exp.analysis import plots, report, stats
from exp.core import validate as v
from exp.core.experiment import Arm, Experiment

ARMS = ('walk', 'heavy')


def validate(config):
  v.validate_common(config, ARMS)
  v.require_positive_floats(config, 'lrs')
  v.require_float(config, 'sigma', 0.0)
  v.require_float(config, 'tol', 0.0)
  v.require_float(config, 'momentum', 0.0, 1.0, high_open=True)


def build(config):
  lrs = np.array(v.require_positive_floats(config, 'lrs'), np.float32)

  def init(key, hp):
    return {'w': jnp.zeros(4), 'm': jnp.zeros(4), 'target': jax.random.normal(key, (4,))}

  def err(s):
    return jnp.mean((s['w'] - s['target']) ** 2)

  def make_step(beta):
    def step(s, hp, key):
      g = s['w'] - s['target']
      m = beta * s['m'] + g
      w = s['w'] - hp['lr'] * m + config.sigma * jax.random.normal(key, (4,))
      return dict(s, w=w, m=m), {'err': err(s)}

    return step

  arms = []
  for name in v.arm_names(config):
    beta = 0.0 if name == 'walk' else config.momentum
    arms.append(
      Arm(
        name=name,
        grid={'lr': lrs},
        init=init,
        step=make_step(beta),
        evaluate=lambda s, hp: {'err': err(s), 'w_norm': jnp.sqrt(jnp.sum(s['w'] ** 2))},
        done=lambda s, hp: err(s) < config.tol,
        num_steps=config.num_steps,
      )
    )
  return Experiment(name='walk', arms=tuple(arms), analyze=analyze, report=make_report)


def analyze(runs, config):
  cells = {}
  for r in runs:
    key = f'{r["arm"]} lr={r["grid"]["lr"]:g}'
    c = cells.setdefault(key, {'steps': [], 'status': []})
    c['status'].append(r['status'])
    if r['metrics'].get('steps_to_done') is not None:
      c['steps'].append(r['metrics']['steps_to_done'])
  out = {
    k: {
      'describe': stats.describe(np.array(c['steps'], float)) if c['steps'] else None,
      'done': c['status'].count('ok'),
      'censored': c['status'].count('censored'),
      'diverged': c['status'].count('diverged'),
    }
    for k, c in cells.items()
  }
  n_ok = sum(c['done'] for c in out.values())
  return {
    'cells': out,
    'headline': {
      'finding': 'Toy walk',
      'claim': 'the walk reaches its target',
      'result': f'{n_ok}/{len(runs)} runs reached the target',
      'effect': None,
      'verdict': 'reached' if n_ok else 'not reached',
      'reproduced': None,
    },
  }


def make_report(analysis, runs, log, config, plot_dir):
  rows = [
    [k, report.fmt_count(c['done']), report.fmt_count(c['censored']), report.fmt_count(c['diverged'])]
    for k, c in analysis['cells'].items()
  ]
  steps, vals = log.curves('walk', 'err', {'lr': float(np.float32(config.lrs[1]))})
  path = plots.curves_with_bands(
    f'{plot_dir}/err.png', steps, {'walk': vals}, 'error', 'step', 'mean (w - t)^2', logx=False
  )
  return '\n'.join(
    [
      '# Toy walk',
      '',
      report.markdown_table(['cell', 'done', 'censored', 'diverged'], rows),
      '',
      f'![err](plots/{path.rsplit("/", 1)[1]})',
      '',
    ]
  )
