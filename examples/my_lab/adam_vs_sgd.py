"""Adam vs SGD with momentum on a teacher-student regression (docs/tutorial.md).

Per seed: a random one-hidden-layer tanh teacher labels Gaussian inputs (plus noise); a student of the same
shape is trained on n_train points with minibatches drawn from the step key. Every learning rate and both
optimizers of a seed see the same data and the same initial student (common random numbers), so the
comparison is paired by seed. Each optimizer's learning rate is chosen on the *training* error (mean over
seeds); the test error only judges.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.analysis import findings as F
from exp.analysis import plots, report, stats
from exp.core import validate as v
from exp.core.experiment import Arm, Experiment

ARMS = ('adam', 'sgdm')


def validate(config):
  v.validate_common(config, ARMS)
  v.require_positive_floats(config, 'lrs')
  v.require_float(config, 'momentum', 0.0, 1.0, high_open=True)
  for key in ('dim', 'hidden', 'n_train', 'n_test', 'batch_size'):
    v.require_int(config, key, 1)
  v.require_float(config, 'noise', 0.0)
  if config.num_seeds < 2:
    raise v.ConfigError('num_seeds', f'must be >= 2 for a CI over seeds, got {config.num_seeds}')


def mlp(p, x):
  return jnp.tanh(x @ p['w1'] + p['b1']) @ p['w2']


def init_params(key, d, h):
  z = jax.random.normal(key, (d * h + h + h,))  # one flat draw, reshaped (compiles fastest)
  return {
    'w1': z[: d * h].reshape(d, h) / jnp.sqrt(d),
    'b1': jnp.zeros(h),
    'w2': z[d * h + h :, None] / jnp.sqrt(h),
  }


def build(config):
  d, h, n = config.dim, config.hidden, config.n_train
  optimizers = {
    'adam': optax.inject_hyperparams(optax.adam),
    'sgdm': optax.inject_hyperparams(
      lambda learning_rate: optax.sgd(learning_rate, momentum=config.momentum)
    ),
  }

  def make_arm(name):
    make_tx = optimizers[name]

    def init(key, hp):
      k_teacher, k_x, k_noise, k_student = jax.random.split(key, 4)
      teacher = init_params(k_teacher, d, h)
      x = jax.random.normal(k_x, ((n + config.n_test) * d,)).reshape(-1, d)
      y = mlp(teacher, x) + config.noise * jax.random.normal(k_noise, (n + config.n_test,))[:, None]
      params = init_params(k_student, d, h)
      opt_state = make_tx(learning_rate=hp['lr']).init(params)  # the traced lr lives in the state
      return {'params': params, 'opt': opt_state, 'x': x, 'y': y}

    def mse(p, x, y):
      return jnp.mean((mlp(p, x) - y) ** 2)

    def step(s, hp, key):
      idx = jax.random.randint(key, (config.batch_size,), 0, n)
      loss, grads = jax.value_and_grad(mse)(s['params'], s['x'][idx], s['y'][idx])
      updates, opt = make_tx(learning_rate=0.0).update(grads, s['opt'], s['params'])  # lr read from state
      return dict(s, params=optax.apply_updates(s['params'], updates), opt=opt), {'batch_mse': loss}

    def evaluate(s, hp):
      return {
        'train_mse': mse(s['params'], s['x'][:n], s['y'][:n]),
        'test_mse': mse(s['params'], s['x'][n:], s['y'][n:]),
      }

    lrs = np.array(config.lrs, np.float32)
    return Arm(name, {'lr': lrs}, init, step, evaluate, num_steps=config.num_steps)

  arms = tuple(make_arm(a) for a in v.arm_names(config))
  return Experiment('adam_vs_sgd', arms, analyze=analyze, report=make_report)


def _per_seed(runs, arm, lr, metric):
  """log10 of a final metric, one value per seed (seed order), diverged runs as NaN."""
  sel = sorted((r for r in runs if r['arm'] == arm and r['grid']['lr'] == lr), key=lambda r: r['seed'])
  return np.array([np.log10(r['metrics'][metric]) if r['status'] == 'ok' else np.nan for r in sel])


def analyze(runs, config):
  arms = sorted({r['arm'] for r in runs})
  lrs = sorted({r['grid']['lr'] for r in runs})
  cells = {a: {f'{lr:g}': stats.describe(_per_seed(runs, a, lr, 'test_mse')) for lr in lrs} for a in arms}
  if arms != ['adam', 'sgdm']:
    return {'cells': cells, 'headline': None}
  # Tuning protocol: each optimizer's learning rate by its mean log10 *training* MSE over seeds.
  best = {a: min(lrs, key=lambda lr: np.nanmean(_per_seed(runs, a, lr, 'train_mse'))) for a in arms}
  a, b = _per_seed(runs, 'adam', best['adam'], 'test_mse'), _per_seed(runs, 'sgdm', best['sgdm'], 'test_mse')
  cmp = stats.compare(a, b, paired=True)
  wins = sum(cells['adam'][f'{lr:g}']['mean'] < cells['sgdm'][f'{lr:g}']['mean'] for lr in lrs)
  numbers = {'diff': cmp['mean_diff'], 'ci': cmp['mean_diff_ci95'], 'p': cmp['paired']['p']}
  numbers.update(lr_adam=best['adam'], lr_sgdm=best['sgdm'])
  checks = [
    F.check(
      'adam_lower',
      'Adam, tuned, reaches a lower test MSE than SGD with momentum, tuned',
      numbers,
      F.below(cmp['mean_diff_ci95'], 0.0),
      kinds={'p': 'p'},
      yes='Adam (lr {lr_adam}) beats SGDm (lr {lr_sgdm}): Δ log10 test MSE {diff} {ci}, paired t p {p}',
      no='Adam (lr {lr_adam}) does not beat SGDm (lr {lr_sgdm}): Δ log10 test MSE {diff} {ci}, paired t p {p}',
      unsure='Adam (lr {lr_adam}) vs SGDm (lr {lr_sgdm}) undecided: Δ log10 test MSE {diff} {ci} straddles 0, paired t p {p}',
    ),
    F.check(
      'every_lr',
      'Adam has the lower mean test MSE at each learning rate',
      {'wins': wins, 'of': len(lrs)},
      wins == len(lrs),
      role='audit',
      yes='Adam is lower at all {wins} of {of} learning rates',
      no='Adam is lower at {wins} of {of} learning rates only: the answer depends on the learning rate',
      unsure='{wins} of {of}',
    ),
  ]
  finding = F.finding(
    'adam_beats_sgdm',
    'Adam beats SGD with momentum',
    F.claim('tuned over the same learning rates, Adam reaches a lower test error than SGD with momentum'),
    checks,
    effect={
      'name': 'Δ log10 test MSE, Adam − SGDm, each at its best lr, paired by seed',
      'value': cmp['mean_diff'],
      'ci95': cmp['mean_diff_ci95'],
    },
    seeds=stats.seed_sufficiency(a, b, paired=True),
  )
  return {
    'cells': cells,
    'best_lr': best,
    'compare': cmp,
    'findings': [finding],
    'headline': F.headline_of(finding),
  }


def make_report(analysis, runs, log, config, plot_dir):
  rows = [
    [arm, lr, report.fmt_ci(d['mean'], d['ci95']), report.fmt_count(d['n'])]
    for arm, by_lr in analysis['cells'].items()
    for lr, d in by_lr.items()
  ]
  table = report.markdown_table(['arm', 'lr', 'log10 test MSE, mean [95% CI]', 'n'], rows)
  curves = {}
  for arm, lr in (analysis.get('best_lr') or {}).items():
    steps, vals = log.curves(arm, 'batch_mse', {'lr': lr})
    curves[f'{arm} lr={lr:g}'] = vals
  plot = (
    plots.curves_with_bands(
      f'{plot_dir}/batch_mse.png', steps, curves, 'minibatch MSE at the best lr', 'step', 'MSE'
    )
    if curves
    else None
  )
  setup = (
    f'{len(runs)} runs: {config.num_seeds} seeds × {len(config.lrs)} learning rates × 2 optimizers, '
    f'{config.num_steps} steps of batch {config.batch_size} on {config.n_train} teacher-labelled points.'
  )
  return report.render_report(
    'Adam vs SGD with momentum',
    setup,
    [('Test MSE by learning rate', table)],
    analysis.get('findings', []),
    plots=[plot] if plot else [],
  )
