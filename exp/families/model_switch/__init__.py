"""Family I — model switching vs continued training: return on investment (ROI).

Claim (write-up): when baseline accuracy is poor, switching models beats training: training attempts of
2 h, 33 m, 11 m, 2.6 m gained −0.5…+0.2 %/min; a 5-minute model switch gained +19 points (+3.8 %/min),
"38× ROI"; a smaller model beat a 4.5× larger one.

Toy: an 8-class classification task per seed, labels from a random teacher argmax(B·φ(A·x)), x ~ N(0, I_16),
φ(h) = relu(h) + s·relu(−h) (s = ``teacher_neg_slope``: partly even in x, so a linear model is poorly suited).
Pretraining stage (once per seed, cached): the FIRST CHOICE, a linear classifier, is trained for
``first_steps`` (the decision point, accuracy acc0); a ZOO of one-hidden-layer ReLU MLPs of different widths
and recipes is prepared: 'related' = pretrained on a source task sharing the teacher's features A (a fresh
``source_classes``-way readout), 'unrelated' = pretrained on a source task with fresh features, 'scratch' =
not pretrained. Then the options, all from the same decision point and on the same data stream:

- ``continue``: keep training the first choice (same Adam state) for k more steps, k ∈ ``continue_steps``;
- ``switch``: take zoo candidate c, put a fresh 8-class head on it, fine-tune everything for b steps,
  b ∈ ``switch_steps``.

Cost is counted deterministically (the runner batches every option into one vmapped program, so per-option
wall clock is not separable, and on a CPU tiny models are overhead-bound): training FLOPs = 6 · batch ·
(multiply-adds of one forward pass) per step, and, as a second unit, optimizer steps. The zoo's pretraining
is a sunk cost in the write-up's accounting (a "5-minute switch"); the audit also charges it.
ROI = Δaccuracy (points, vs acc0, paired by seed) per cost unit.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.analysis import plots, report, stats
from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.core.workdir import json_safe

ARMS = ('continue', 'switch')
RECIPES = ('related', 'unrelated', 'scratch')
# The write-up's numbers (the claim; inputs to the report, never results).
CLAIM = {
  'train_roi_range': (-0.5, 0.2),
  'switch_gain': 19.0,
  'switch_roi': 3.8,
  'roi_ratio': 38.0,
  'size_ratio': 4.5,
}
EVAL_STREAM = 0xE7A1


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key in ('input_dim', 'num_classes', 'teacher_width', 'source_classes', 'batch_size', 'eval_size'):
    cfglib.require_int(config, key, 1)
  if config.num_classes < 2:
    raise ConfigError('num_classes', f'must be >= 2, got {config.num_classes}')
  if config.source_classes < 2:
    raise ConfigError('source_classes', f'must be >= 2, got {config.source_classes}')
  if not 0.0 <= config.teacher_neg_slope <= 1.0:
    raise ConfigError('teacher_neg_slope', f'must be in [0, 1], got {config.teacher_neg_slope}')
  cfglib.require_int(config, 'first_steps', 1)
  cfglib.require_int(config, 'zoo_pretrain_steps', 0)
  for key in ('continue_steps', 'switch_steps'):
    vals = _tuple(config[key])
    if not vals:
      raise ConfigError(key, 'must be a non-empty tuple of positive step budgets')
    for v in vals:
      if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(key, f'must contain positive integers (step budgets), got {v!r}')
      if v > config.num_steps:
        raise ConfigError(key, f'budget {v} exceeds num_steps ({config.num_steps}), the cap on every budget')
    if len(set(vals)) != len(vals):
      raise ConfigError(key, f'has duplicates: {vals}')
  widths, recipes = _tuple(config.zoo_widths), _tuple(config.zoo_recipes)
  if not widths:
    raise ConfigError('zoo_widths', 'the zoo is empty: give at least one candidate (width, recipe)')
  for w in widths:
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
      raise ConfigError('zoo_widths', f'must contain positive integers (hidden units), got {w!r}')
  if len(recipes) != len(widths):
    raise ConfigError(
      'zoo_recipes', f'must have one recipe per zoo width ({len(widths)}), got {len(recipes)}'
    )
  for r in recipes:
    if r not in RECIPES:
      raise ConfigError('zoo_recipes', f'unknown recipe {r!r}; accepted: {", ".join(RECIPES)}')
  if len(set(zip(widths, recipes))) != len(widths):
    raise ConfigError('zoo_widths', 'names the same (width, recipe) candidate twice')
  for key in ('first_lr', 'zoo_lr', 'finetune_lr'):
    cfglib.require_positive_floats(config, key)
  cfglib.require_int(config, 'n_boot', 0)


def _tuple(v) -> tuple:
  return (v,) if isinstance(v, (int, str)) else tuple(v)


def candidate_names(config) -> list[str]:
  return [f'{r}-{w}' for w, r in zip(_tuple(config.zoo_widths), _tuple(config.zoo_recipes))]


# ---------------------------------------------------------------------------------------------------
# Cost model (deterministic)


def macs_linear(config) -> int:
  return config.input_dim * config.num_classes


def macs_mlp(config, width: int, out: int | None = None) -> int:
  return config.input_dim * width + width * (config.num_classes if out is None else out)


def params_mlp(config, width: int) -> int:
  return config.input_dim * width + width + width * config.num_classes + config.num_classes


def flops_per_step(config, macs: int) -> float:
  """Forward + backward ≈ 3 forward passes, 2 FLOPs per multiply-add, per example of the batch."""
  return 6.0 * config.batch_size * macs


# ---------------------------------------------------------------------------------------------------
# Model pieces (pure jnp)


def _normal(key, shape, std):
  return jax.random.normal(key, (math.prod(shape),)).reshape(shape) * std  # flat draw: fast compile


def _normals(key, *shapes):
  """Standard normals of several shapes from ONE flat draw (each extra draw costs ~0.5 s of compile)."""
  sizes = [math.prod(sh) for sh in shapes]
  flat = jax.random.normal(key, (sum(sizes),))
  out, at = [], 0
  for sh, n in zip(shapes, sizes):
    out.append(flat[at : at + n].reshape(sh))
    at += n
  return out


def build(config) -> Experiment:
  d, C, HT, CS = config.input_dim, config.num_classes, config.teacher_width, config.source_classes
  s_neg, B = float(config.teacher_neg_slope), config.batch_size
  widths, recipes = _tuple(config.zoo_widths), _tuple(config.zoo_recipes)
  Z, W = len(widths), max(widths)
  pre_mask = np.array([r != 'scratch' for r in recipes])
  rel_mask = np.array([r == 'related' for r in recipes])
  zoo_w = np.array(widths, np.float32)
  opt_first = optax.adam(config.first_lr)
  opt_zoo = optax.adam(config.zoo_lr)
  opt_ft = optax.adam(config.finetune_lr)

  def feat(h):
    return jax.nn.relu(h) + s_neg * jax.nn.relu(-h)

  def teacher_logits(A, Bm, x):
    return feat(x @ A) @ Bm

  def inputs(key, n):
    return _normal(key, (n, d), 1.0)

  def linear(p, x):
    return x @ p['w'] + p['b']

  def mlp(p, x, mask):
    return (jax.nn.relu(x @ p['w1'] + p['b1']) * mask) @ p['w2'] + p['b2']

  def zoo_logits(zp, masks, x):  # every candidate at once: (Z, n, out)
    h = jax.nn.relu(jnp.einsum('nd,zdw->znw', x, zp['w1']) + zp['b1'][:, None, :]) * masks[:, None, :]
    return jnp.einsum('znw,zwc->znc', h, zp['w2']) + zp['b2'][:, None, :]

  def source_labels(src, x):  # (Z, n)
    return jnp.argmax(jnp.einsum('znh,zhc->znc', feat(jnp.einsum('nd,zdh->znh', x, src['A'])), src['B']), -1)

  def ce_z(logits, y):  # per-candidate mean cross-entropy, (Z,)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(axis=-1)

  def ce(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def accuracy(logits, y):
    return jnp.mean(jnp.argmax(logits, -1) == y)

  def eval_set(teacher, eval_key):
    x = inputs(jax.random.wrap_key_data(eval_key), config.eval_size)
    return x, jnp.argmax(teacher_logits(teacher['A'], teacher['B'], x), -1)

  # --- pretraining stage: the first choice up to the decision point, and the zoo -----------------------
  def pre_init(key, hp):
    kn, ke = jax.random.split(key)
    A, Bm, fresh_A, src_B, w1, w2 = _normals(kn, (d, HT), (HT, C), (Z, d, HT), (Z, HT, CS), (d, W), (W, CS))
    A, fresh_A, w1 = A / math.sqrt(d), fresh_A / math.sqrt(d), w1 / math.sqrt(d)
    Bm, src_B = Bm / math.sqrt(HT), src_B / math.sqrt(HT)
    src_A = jnp.where(rel_mask[:, None, None], A[None], fresh_A)
    masks = (jnp.arange(W)[None, :] < zoo_w[:, None]).astype(jnp.float32)  # (Z, W)
    # w1, w2: the same draws for every candidate (common random numbers), scaled to each width's fan-in
    zoo = dict(
      w1=w1[None] * masks[:, None, :],
      b1=jnp.zeros((Z, W)),
      w2=w2[None] * masks[:, :, None] / jnp.sqrt(zoo_w)[:, None, None],
      b2=jnp.zeros((Z, CS)),
    )
    first = dict(w=jnp.zeros((d, C)), b=jnp.zeros((C,)))
    return dict(
      first=first,
      first_opt=opt_first.init(first),
      zoo=zoo,
      zoo_opt=opt_zoo.init(zoo),
      masks=masks,
      teacher=dict(A=A, B=Bm),
      src=dict(A=src_A, B=src_B),
      eval_key=jax.random.key_data(ke),
      t=jnp.int32(0),
    )

  def pre_step(state, hp, key):
    x = inputs(key, B)
    t = state['t']
    y = jnp.argmax(teacher_logits(state['teacher']['A'], state['teacher']['B'], x), -1)
    loss_f, g = jax.value_and_grad(lambda p: ce(linear(p, x), y))(state['first'])
    upd, fo = opt_first.update(g, state['first_opt'], state['first'])
    first_on = t < config.first_steps
    first = jax.tree.map(
      lambda a, b: jnp.where(first_on, a, b), optax.apply_updates(state['first'], upd), state['first']
    )
    first_opt = jax.tree.map(lambda a, b: jnp.where(first_on, a, b), fo, state['first_opt'])

    y_src = source_labels(state['src'], x)

    def zoo_loss(zp):
      losses = ce_z(zoo_logits(zp, state['masks'], x), y_src)
      return jnp.sum(jnp.where(pre_mask, losses, 0.0)), losses

    (_, losses), gz = jax.value_and_grad(zoo_loss, has_aux=True)(state['zoo'])
    updz, zo = opt_zoo.update(gz, state['zoo_opt'], state['zoo'])
    zoo_on = t < config.zoo_pretrain_steps

    def keep(new, old):  # update only pretrained candidates, only during their budget
      on = jnp.reshape(jnp.asarray(pre_mask) & zoo_on, (Z,) + (1,) * (new.ndim - 1))
      return jnp.where(on, new, old)

    zoo = jax.tree.map(keep, optax.apply_updates(state['zoo'], updz), state['zoo'])
    zoo_opt = jax.tree.map(lambda a, b: jnp.where(zoo_on, a, b), zo, state['zoo_opt'])
    n_pre = max(int(pre_mask.sum()), 1)
    return (
      dict(state, first=first, first_opt=first_opt, zoo=zoo, zoo_opt=zoo_opt, t=t + 1),
      dict(first_loss=loss_f, zoo_source_loss=jnp.sum(jnp.where(pre_mask, losses, 0.0)) / n_pre),
    )

  def pre_eval(state, hp):
    x, y = eval_set(state['teacher'], state['eval_key'])
    y_src = source_labels(state['src'], x)
    accs = jnp.mean(jnp.argmax(zoo_logits(state['zoo'], state['masks'], x), -1) == y_src, axis=-1)
    n_pre = max(int(pre_mask.sum()), 1)
    return dict(
      first_acc=accuracy(linear(state['first'], x), y),
      zoo_source_acc=jnp.sum(jnp.where(pre_mask, accs, 0.0)) / n_pre,
    )

  def pre_output(state):
    x, y = eval_set(state['teacher'], state['eval_key'])
    return dict(
      first=state['first'],
      first_opt=state['first_opt'],
      zoo_w1=state['zoo']['w1'],
      zoo_b1=state['zoo']['b1'],
      teacher=state['teacher'],
      eval_key=state['eval_key'],
      acc0=accuracy(linear(state['first'], x), y),
    )

  # --- option arms -------------------------------------------------------------------------------------
  def batch(base, key):
    x = inputs(key, B)
    return x, jnp.argmax(teacher_logits(base['teacher']['A'], base['teacher']['B'], x), -1)

  def cont_init(key, hp, base):
    return dict(params=base['first'], opt=base['first_opt'], base=base, t=jnp.int32(0))

  def cont_step(state, hp, key):
    x, y = batch(state['base'], key)
    (loss, acc), g = jax.value_and_grad(
      lambda p: (lambda lg: (ce(lg, y), accuracy(lg, y)))(linear(p, x)), has_aux=True
    )(state['params'])
    upd, opt = opt_first.update(g, state['opt'], state['params'])
    return (
      dict(state, params=optax.apply_updates(state['params'], upd), opt=opt, t=state['t'] + 1),
      dict(loss=loss, train_acc=acc),
    )

  def cont_eval(state, hp):
    x, y = eval_set(state['base']['teacher'], state['base']['eval_key'])
    acc = accuracy(linear(state['params'], x), y)
    return dict(acc=acc, acc0=state['base']['acc0'], delta=acc - state['base']['acc0'], steps=state['t'])

  def sw_init(key, hp, base):
    c = hp['cand']
    m = (jnp.arange(W) < hp['width']).astype(jnp.float32)
    head = _normal(key, (W, C), 1.0) * m[:, None] / jnp.sqrt(hp['width'].astype(jnp.float32))
    params = dict(w1=base['zoo_w1'][c], b1=base['zoo_b1'][c], w2=head, b2=jnp.zeros((C,)))
    return dict(params=params, opt=opt_ft.init(params), mask=m, base=base, t=jnp.int32(0))

  def sw_step(state, hp, key):
    x, y = batch(state['base'], key)
    (loss, acc), g = jax.value_and_grad(
      lambda p: (lambda lg: (ce(lg, y), accuracy(lg, y)))(mlp(p, x, state['mask'])), has_aux=True
    )(state['params'])
    upd, opt = opt_ft.update(g, state['opt'], state['params'])
    return (
      dict(state, params=optax.apply_updates(state['params'], upd), opt=opt, t=state['t'] + 1),
      dict(loss=loss, train_acc=acc),
    )

  def sw_eval(state, hp):
    x, y = eval_set(state['base']['teacher'], state['base']['eval_key'])
    acc = accuracy(mlp(state['params'], x, state['mask']), y)
    p = state['params']
    inactive = jnp.maximum(
      jnp.max(jnp.abs(p['w1'] * (1 - state['mask']))),
      jnp.max(jnp.abs(p['w2'] * (1 - state['mask'])[:, None])),
    )
    return dict(
      acc=acc,
      acc0=state['base']['acc0'],
      delta=acc - state['base']['acc0'],
      steps=state['t'],
      inactive_max_abs=inactive,
    )

  cont_steps = _tuple(config.continue_steps)
  sw_steps = _tuple(config.switch_steps)
  cont_grid = {'k': np.array(cont_steps, np.int32)}
  sw_grid = {
    'cand': np.array([c for c in range(Z) for _ in sw_steps], np.int32),
    'width': np.array([widths[c] for c in range(Z) for _ in sw_steps], np.int32),
    'budget': np.array([b for _ in range(Z) for b in sw_steps], np.int32),
  }
  specs = {
    'continue': Arm(
      'continue',
      cont_grid,
      cont_init,
      cont_step,
      cont_eval,
      num_steps=max(cont_steps),
      done=lambda s, hp: s['t'] >= hp['k'],
    ),
    'switch': Arm(
      'switch',
      sw_grid,
      sw_init,
      sw_step,
      sw_eval,
      num_steps=max(sw_steps),
      done=lambda s, hp: s['t'] >= hp['budget'],
    ),
  }
  arms = tuple(specs[a] for a in cfglib.arm_names(config))
  pre = Arm(
    'pretrain', {}, pre_init, pre_step, pre_eval, num_steps=max(config.first_steps, config.zoo_pretrain_steps)
  )
  return Experiment(
    name='model_switch',
    arms=arms,
    analyze=analyze,
    report=make_report,
    pretrain=pre,
    pretrain_output=pre_output,
    pretrain_keys=(
      'input_dim',
      'num_classes',
      'teacher_width',
      'teacher_neg_slope',
      'source_classes',
      'batch_size',
      'eval_size',
      'first_steps',
      'first_lr',
      'zoo_widths',
      'zoo_recipes',
      'zoo_pretrain_steps',
      'zoo_lr',
    ),
  )


# ---------------------------------------------------------------------------------------------------
# Analysis (host, numpy/scipy)

GFLOP = 1e9


def options_of(runs: list[dict], config) -> dict:
  """One entry per option: {'arm', 'label', 'steps', 'gflop', 'gflop_with_pretrain', 'width', 'recipe',
  'params', 'by_seed': {seed: delta points}, 'acc': {seed: acc}, 'diverged': n}."""
  names = candidate_names(config)
  widths, recipes = _tuple(config.zoo_widths), _tuple(config.zoo_recipes)
  f_lin = flops_per_step(config, macs_linear(config))
  out: dict = {}
  for r in runs:
    if r['arm'] == 'continue':
      k = int(r['grid']['k'])
      key = f'continue@{k}'
      meta = dict(
        arm='continue',
        label=f'continue first choice, +{k} steps',
        steps=k,
        gflop=k * f_lin / GFLOP,
        gflop_with_pretrain=k * f_lin / GFLOP,
        width=None,
        recipe=None,
        params=config.input_dim * config.num_classes + config.num_classes,
      )
    elif r['arm'] == 'switch':
      c, b = int(r['grid']['cand']), int(r['grid']['budget'])
      w, rec = widths[c], recipes[c]
      key = f'switch:{names[c]}@{b}'
      ft = b * flops_per_step(config, macs_mlp(config, w)) / GFLOP
      pre = (
        config.zoo_pretrain_steps * flops_per_step(config, macs_mlp(config, w, config.source_classes)) / GFLOP
        if rec != 'scratch'
        else 0.0
      )
      meta = dict(
        arm='switch',
        label=f'switch to {names[c]} ({params_mlp(config, w)} params), {b} steps',
        steps=b,
        gflop=ft,
        gflop_with_pretrain=ft + pre,
        width=w,
        recipe=rec,
        params=params_mlp(config, w),
        candidate=names[c],
        pretrain_steps=config.zoo_pretrain_steps if rec != 'scratch' else 0,
      )
    else:
      continue
    o = out.setdefault(key, dict(meta, by_seed={}, acc={}, acc0={}, diverged=0))
    if r['status'] == 'diverged':
      o['diverged'] += 1
      continue
    o['by_seed'][r['seed']] = 100.0 * r['metrics']['delta']
    o['acc'][r['seed']] = 100.0 * r['metrics']['acc']
    o['acc0'][r['seed']] = 100.0 * r['metrics']['acc0']
  return out


def _vec(o, seeds, field='by_seed'):
  return np.array([o[field].get(s, np.nan) for s in seeds], float)


def _ratio_boot(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> dict:
  """Ratio of mean ROIs (num / den), percentile bootstrap over seeds (paired resampling). Reports how
  often the denominator's mean is ≤ 0 — then the ratio is undefined or flips sign, and a CI is not
  meaningful."""
  ok = np.isfinite(num) & np.isfinite(den)
  num, den = num[ok], den[ok]
  out = {
    'ratio': float('nan'),
    'ci95': [float('nan'), float('nan')],
    'frac_den_le_0': float('nan'),
    'n': int(ok.sum()),
  }
  if num.size == 0:
    return out
  md = float(den.mean())
  out['ratio'] = float(num.mean() / md) if md > 0 else float('nan')
  if n_boot and num.size > 1:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    mn, mdn = num[idx].mean(axis=1), den[idx].mean(axis=1)
    out['frac_den_le_0'] = float(np.mean(mdn <= 0))
    # a resample whose training ROI is <= 0 makes switching "infinitely" better: rank it as +inf
    reps = np.where(mdn > 0, mn / np.where(mdn > 0, mdn, 1.0), np.inf)
    out['ci95'] = [
      float(np.quantile(reps, 0.025, method='lower')),
      float(np.quantile(reps, 0.975, method='higher')),
    ]
  return out


def analyze(runs: list[dict], config) -> dict:
  opts = options_of(runs, config)
  seeds = sorted({r['seed'] for r in runs if r['arm'] in ARMS})
  pre = [r for r in runs if r['arm'] == 'pretrain']
  table = {}
  for key, o in opts.items():
    delta = _vec(o, seeds)
    table[key] = {k: v for k, v in o.items() if k not in ('by_seed', 'acc', 'acc0')}
    table[key].update(
      delta=stats.describe(delta),
      acc=stats.describe(_vec(o, seeds, 'acc')),
      roi_gflop=stats.describe(delta / o['gflop']),
      roi_gflop_with_pretrain=stats.describe(delta / o['gflop_with_pretrain']),
      roi_100steps=stats.describe(delta / (o['steps'] / 100.0)),
      roi_100steps_with_pretrain=stats.describe(delta / ((o['steps'] + o.get('pretrain_steps', 0)) / 100.0)),
      delta_values=delta.tolist(),
    )
  acc0_by_seed = {}
  for o in opts.values():
    acc0_by_seed.update(o['acc0'])  # the same decision point for every option of a seed
  acc0 = stats.describe(np.array([acc0_by_seed.get(s, np.nan) for s in seeds], float))

  cont = [k for k in table if table[k]['arm'] == 'continue']
  sw = [k for k in table if table[k]['arm'] == 'switch']

  def best(keys, field='roi_gflop'):
    vals = [(table[k][field]['mean'], k) for k in keys if np.isfinite(table[k][field]['mean'])]
    return max(vals)[1] if vals else None

  best_c, best_s = best(cont), best(sw)
  comparisons = {'roi': [], 'gain': [], 'size': []}
  if best_c:
    roi_c = np.array(table[best_c]['delta_values']) / opts[best_c]['gflop']
    for k in sw:
      roi_s = np.array(table[k]['delta_values']) / opts[k]['gflop']
      comparisons['roi'].append(
        {
          'label': f'{_short(table[k])} vs {_short(table[best_c])} (ROI, pts/GFLOP)',
          'a': k,
          'b': best_c,
          'cmp': stats.compare(roi_s, roi_c, paired=True),
        }
      )
    longest = max(cont, key=lambda k: table[k]['steps'])
    for k in sw:
      comparisons['gain'].append(
        {
          'label': f'{_short(table[k])} vs {_short(table[longest])} (Δ points)',
          'a': k,
          'b': longest,
          'cmp': stats.compare(
            np.array(table[k]['delta_values']), np.array(table[longest]['delta_values']), paired=True
          ),
        }
      )
  # smaller vs larger candidates at the same budget: does a smaller one beat a larger one?
  for b in _tuple(config.switch_steps):
    at = [k for k in sw if table[k]['steps'] == b]
    for a in at:
      for o in at:
        if table[a]['params'] < table[o]['params']:
          comparisons['size'].append(
            {
              'label': f'{_short(table[a])} vs {_short(table[o])} ({table[o]["params"] / table[a]["params"]:.1f}× '
              'larger; Δ points)',
              'a': a,
              'b': o,
              'size_ratio': table[o]['params'] / table[a]['params'],
              'cmp': stats.compare(
                np.array(table[a]['delta_values']), np.array(table[o]['delta_values']), paired=True
              ),
            }
          )
  for fam in comparisons.values():
    for c, p in zip(fam, stats.holm([c['cmp']['student']['p'] for c in fam])):
      c['holm_p'] = p

  ratios = {}
  if best_c and best_s:
    for unit, with_pre in (('gflop', False), ('gflop', True), ('100steps', False), ('100steps', True)):
      cost_s = (
        (opts[best_s]['gflop_with_pretrain'] if with_pre else opts[best_s]['gflop'])
        if unit == 'gflop'
        else (opts[best_s]['steps'] + (opts[best_s].get('pretrain_steps', 0) if with_pre else 0)) / 100.0
      )
      cost_c = opts[best_c]['gflop'] if unit == 'gflop' else opts[best_c]['steps'] / 100.0
      ratios[f'{unit}{"_with_pretrain" if with_pre else ""}'] = _ratio_boot(
        np.array(table[best_s]['delta_values']) / cost_s,
        np.array(table[best_c]['delta_values']) / cost_c,
        config.n_boot,
        config.seed,
      )

  # the same best switch against every training attempt: how much does the choice of denominator matter?
  by_cont = {}
  if best_s:
    for k in cont:
      by_cont[k] = {}
      for unit in ('gflop', '100steps'):
        cs = opts[best_s]['gflop'] if unit == 'gflop' else opts[best_s]['steps'] / 100.0
        cc = opts[k]['gflop'] if unit == 'gflop' else opts[k]['steps'] / 100.0
        by_cont[k][unit] = _ratio_boot(
          np.array(table[best_s]['delta_values']) / cs,
          np.array(table[k]['delta_values']) / cc,
          config.n_boot,
          config.seed,
        )

  analysis = {
    'seeds': seeds,
    'acc0': acc0,
    'options': table,
    'order': cont + sw,
    'best_continue': best_c,
    'ratios_by_continue': by_cont,
    'best_switch': best_s,
    'comparisons': comparisons,
    'ratios': ratios,
    'pretrain': {
      'first_acc': stats.describe(
        np.array([r['metrics']['first_acc'] for r in pre if r['status'] == 'ok'], float) * 100
      ),
      'zoo_source_acc': stats.describe(
        np.array([r['metrics']['zoo_source_acc'] for r in pre if r['status'] == 'ok'], float) * 100
      ),
    },
    'n_diverged': sum(o['diverged'] for o in opts.values()),
  }
  analysis['headline'] = _headline(analysis)
  return json_safe(analysis)


def _short(o) -> str:
  return f'continue +{o["steps"]}' if o['arm'] == 'continue' else f'{o["candidate"]}@{o["steps"]}'


def _ci(d, digits=3) -> str:
  if not d or d.get('mean') is None or not np.isfinite(d['mean']):
    return '–'
  lo, hi = d['ci95']
  if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
    return report.fmt(d['mean'], digits)
  m, a, b = report.fmt_same([d['mean'], lo, hi], digits)
  return f'{m} [{a}, {b}]'


def _headline(an: dict) -> dict:
  t, bc, bs = an['options'], an['best_continue'], an['best_switch']
  parts, effect, reproduced = [], None, None
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  if cont:
    rois = [t[k]['roi_gflop']['mean'] for k in cont]
    parts.append(
      f'continued training gained {report.fmt(min(t[k]["delta"]["mean"] for k in cont))}…'
      f'{report.fmt(max(t[k]["delta"]["mean"] for k in cont))} points, ROI '
      f'{report.fmt(min(rois))}…{report.fmt(max(rois))} pts/GFLOP'
    )
  if bs:
    parts.append(
      f'best switch ({_short(t[bs])}) +{report.fmt(t[bs]["delta"]["mean"])} points '
      f'[{report.fmt(t[bs]["delta"]["ci95"][0])}, {report.fmt(t[bs]["delta"]["ci95"][1])}], ROI '
      f'{report.fmt(t[bs]["roi_gflop"]["mean"])} pts/GFLOP'
    )
  r = an['ratios'].get('gflop')
  if r:
    parts.append(
      f'ROI ratio {report.fmt(r["ratio"])}× [{report.fmt(r["ci95"][0])}, {report.fmt(r["ci95"][1])}] '
      f'(denominator ≤ 0 in {report.fmt(100 * r["frac_den_le_0"])}% of resamples)'
    )
    effect = {
      'name': f'ROI ratio, best switch ({_short(t[bs])}) / best continue ({_short(t[bc])}), pts/GFLOP',
      'value': r['ratio'],
      'ci95': r['ci95'],
    }
    rp = an['ratios'].get('gflop_with_pretrain')
    if rp:
      parts.append(
        f"charging the zoo's pretraining: {report.fmt(rp['ratio'])}× "
        f'[{report.fmt(rp["ci95"][0])}, {report.fmt(rp["ci95"][1])}]'
      )
  size = [c for c in an['comparisons']['size'] if c['cmp']['mean_diff'] > 0 and c['holm_p'] < 0.05]
  if size:
    c = max(size, key=lambda c: c['size_ratio'])
    parts.append(
      f'{_short(t[c["a"]])} beat the {report.fmt(c["size_ratio"])}× larger {_short(t[c["b"]])} by '
      f'{report.fmt(c["cmp"]["mean_diff"])} points (Holm p {report.fmt_p(c["holm_p"])})'
    )
  roi_sig = [c for c in an['comparisons']['roi'] if c['a'] == bs]
  gain_sig = [c for c in an['comparisons']['gain'] if c['a'] == bs]
  if r and roi_sig and gain_sig:
    gain_better = gain_sig[0]['cmp']['mean_diff'] > 0 and gain_sig[0]['holm_p'] < 0.05
    roi_better = roi_sig[0]['cmp']['mean_diff'] > 0 and roi_sig[0]['holm_p'] < 0.05
    ratio_big = r['ci95'][0] is not None and r['ci95'][0] > 1
    reproduced = bool(gain_better and roi_better and ratio_big and bool(size))
    held = [
      txt
      for ok, txt in (
        (gain_better, 'the switch gains significantly more than the longest training attempt'),
        (roi_better and ratio_big, "its ROI beats the best training attempt's (ratio CI above 1)"),
        (bool(size), 'a smaller candidate beats a larger one (Holm p < 0.05)'),
      )
      if ok
    ]
    failed = [
      txt
      for ok, txt in (
        (gain_better, 'the switch does not gain significantly more than the longest training attempt'),
        (
          roi_better and ratio_big,
          "its ROI is not clearly above the best training attempt's (paired test or ratio CI reaches 1)",
        ),
        (bool(size), 'no smaller candidate significantly beats a larger one'),
      )
      if not ok
    ]
  if reproduced is None:
    verdict = 'not enough options to compare'
  elif reproduced:
    verdict = 'reproduced: ' + '; '.join(held)
  else:
    verdict = (
      ('partly reproduced: ' + '; '.join(held) + '; but ' + '; '.join(failed))
      if held
      else ('not reproduced: ' + '; '.join(failed))
    )
  return {
    'finding': 'Model switching vs continued training: ROI',
    'claim': 'training gained −0.5…+0.2 %/min; a 5-min switch +19 points (+3.8 %/min), 38× ROI; a smaller '
    'model beat a 4.5× larger one',
    'result': '; '.join(parts),
    'effect': effect,
    'verdict': verdict,
    'reproduced': reproduced,
  }


# ---------------------------------------------------------------------------------------------------
# Report


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  t, order = an['options'], an['order']
  lines = [
    '# Model switching vs continued training: return on investment',
    '',
    f'Claim: {an["headline"]["claim"]}.',
    '',
    f'{len(an["seeds"])} seeds. Task: {config.num_classes}-class labels from a random teacher '
    f'argmax(B·φ(A·x)), x ~ N(0, I_{config.input_dim}), φ(h) = relu(h) + {config.teacher_neg_slope}·relu(−h). '
    f'First choice: a linear classifier trained {config.first_steps} steps (the decision point), held-out '
    f'accuracy acc0 = {_ci(an["acc0"])}%. Zoo: one-hidden-layer ReLU MLPs ({", ".join(candidate_names(config))}; '
    f"'related' = pretrained {config.zoo_pretrain_steps} steps on a {config.source_classes}-class task sharing "
    "the teacher's features, 'unrelated' = the same on fresh features, 'scratch' = not pretrained); a switch "
    'puts a fresh head on the candidate and fine-tunes all of it. Every option starts from the decision '
    f'point and sees the same data stream (batch {config.batch_size}); held-out set {config.eval_size} '
    'examples per seed. Δ = accuracy − acc0 in points, paired by seed. Cost: training FLOPs '
    "(6·batch·multiply-adds per step; GFLOP) and optimizer steps; the zoo's pretraining is not charged "
    'here (as in the write-up) — see the audit. Cells: mean [95% CI].',
    '',
  ]
  if an['n_diverged']:
    lines += [f'**{an["n_diverged"]} runs diverged**; they are counted and left out of every mean.', '']
  header = [
    'option',
    'params',
    'steps',
    'cost GFLOP',
    'accuracy %',
    'Δ points',
    'ROI pts/GFLOP',
    'ROI pts/100 steps',
  ]
  rows = []
  for k in order:
    o = t[k]
    rows.append(
      [
        o['label'],
        str(o['params']),
        str(o['steps']),
        report.fmt(o['gflop']),
        _ci(o['acc']),
        _ci(o['delta']),
        _ci(o['roi_gflop']),
        _ci(o['roi_100steps']),
      ]
    )
  lines += [report.markdown_table(header, rows), '']

  bc, bs = an['best_continue'], an['best_switch']
  r = an['ratios']
  lines += ['## Claimed vs measured', '']
  cont = [k for k in order if t[k]['arm'] == 'continue']
  crow = []
  if cont:
    crow.append(
      [
        'ROI of training attempts',
        f'{CLAIM["train_roi_range"][0]:+}…{CLAIM["train_roi_range"][1]:+} %/min',
        f'{report.fmt(min(t[k]["roi_gflop"]["mean"] for k in cont))}…'
        f'{report.fmt(max(t[k]["roi_gflop"]["mean"] for k in cont))} pts/GFLOP; '
        f'{report.fmt(min(t[k]["roi_100steps"]["mean"] for k in cont))}…'
        f'{report.fmt(max(t[k]["roi_100steps"]["mean"] for k in cont))} pts/100 steps',
      ]
    )
  if bs:
    crow.append(
      [
        'gain of the model switch',
        f'+{CLAIM["switch_gain"]:g} points',
        f'{_ci(t[bs]["delta"])} points ({_short(t[bs])})',
      ]
    )
    crow.append(
      [
        'ROI of the model switch',
        f'+{CLAIM["switch_roi"]:g} %/min',
        f'{_ci(t[bs]["roi_gflop"])} pts/GFLOP; {_ci(t[bs]["roi_100steps"])} pts/100 steps',
      ]
    )
  for key, name in (('gflop', 'pts/GFLOP'), ('100steps', 'pts/100 steps')):
    if key in r:
      crow.append([f'ROI ratio switch / training ({name})', f'{CLAIM["roi_ratio"]:g}×', _ratio_text(r[key])])
  size = an['comparisons']['size']
  if size:
    c = max(size, key=lambda c: (c['cmp']['mean_diff'] > 0, c['size_ratio']))
    crow.append(
      [
        'a smaller model beat a larger one',
        f'{CLAIM["size_ratio"]:g}× larger',
        f'{_short(t[c["a"]])} − {_short(t[c["b"]])} ({report.fmt(c["size_ratio"])}× larger): '
        f'{_ci({"mean": c["cmp"]["mean_diff"], "ci95": c["cmp"]["mean_diff_ci95"]})} points, '
        f'Holm p {report.fmt_p(c["holm_p"])}',
      ]
    )
  lines += [report.markdown_table(['quantity', 'claimed', 'ours'], crow), '']
  lines += [
    f'Best options by mean ROI (chosen after seeing the data, as a practitioner would): '
    f'{_short(t[bc]) if bc else "–"} among the training attempts, {_short(t[bs]) if bs else "–"} among the '
    f'switches. Ratios: ratio of mean ROIs, percentile bootstrap over seeds ({config.n_boot} paired '
    'resamples).',
    '',
  ]
  rbc = an.get('ratios_by_continue') or {}
  if rbc and bs:
    rrows = [
      [
        _short(t[k]),
        _ci(t[k]['delta']),
        _ci(t[k]['roi_gflop']),
        _ratio_text(rbc[k]['gflop']),
        _ratio_text(rbc[k]['100steps']),
      ]
      for k in rbc
    ]
    lines += [
      f'## The ratio depends on the denominator: {_short(t[bs])} against every training attempt',
      '',
      report.markdown_table(
        ['training attempt', 'Δ points', 'ROI pts/GFLOP', 'ROI ratio (FLOPs)', 'ROI ratio (steps)'], rrows
      ),
      '',
    ]

  titles = {
    'roi': 'Switch vs the best continue option: ROI (pts/GFLOP), paired by seed',
    'gain': 'Switch vs the longest continue option: Δ points, paired by seed',
    'size': 'Smaller vs larger candidates at the same budget: Δ points, paired by seed',
  }
  for fam in ('roi', 'gain', 'size'):
    cs = an['comparisons'][fam]
    if not cs:
      continue
    lines += [
      f'## {titles[fam]}',
      '',
      report.comparison_table([(c['label'], c['cmp']) for c in cs], holm=[c['holm_p'] for c in cs]),
      '',
    ]
    for c in cs:
      lines.append(
        '- '
        + report.verdict(
          c['label'], c['cmp'], holm_p=c['holm_p'], names=(_short(t[c['a']]), _short(t[c['b']]))
        )
      )
    lines.append('')

  lines += ['## Audit', '', _audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']

  # Plots: ROI per option (per-seed strip), and Δ vs cost (the investment curve)
  paths = []
  groups = {_short(t[k]): t[k]['delta_values'] for k in order}
  paths.append(
    plots.strip_plot(
      f'{plot_dir}/gain_by_option.png',
      groups,
      'Accuracy gain over the decision point, per seed',
      'Δ accuracy (points)',
    )
  )
  xs, curves = {}, {}
  series = {'continue (first choice)': [k for k in order if t[k]['arm'] == 'continue']}
  for name in candidate_names(config):
    series[f'switch to {name}'] = [k for k in order if t[k]['arm'] == 'switch' and t[k]['candidate'] == name]
  for label, keys in series.items():
    keys = sorted(keys, key=lambda k: t[k]['gflop'])
    if keys:
      xs[label] = np.array([t[k]['gflop'] for k in keys])
      curves[label] = np.array(
        [[np.nan if v is None else v for v in t[k]['delta_values']] for k in keys], float
      ).T  # (seeds, budgets)
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/gain_vs_cost.png',
        xs,
        curves,
        'Held-out gain vs compute spent after the decision point',
        'training GFLOP (log; one point per step budget)',
        'Δ accuracy (points)',
        logx=True,
      )
    )
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _ratio_text(r) -> str:
  lo, hi = r['ci95']
  unbounded = hi is None and lo is not None  # +inf became None in results.json
  ci = f'[{report.fmt(lo)}, {"∞" if unbounded else report.fmt(hi)}]'
  extra = ''
  if r['frac_den_le_0']:
    extra = f' (training ROI ≤ 0 in {report.fmt(100 * r["frac_den_le_0"])}% of resamples' + (
      '; unbounded)' if unbounded else ')'
    )
  return f'{report.fmt(r["ratio"])}× {ci}{extra}'


def _audit_text(an: dict, config) -> str:
  t, r = an['options'], an['ratios']
  bc, bs = an['best_continue'], an['best_switch']
  out = []
  if bc and 'gflop' in r:
    d = t[bc]['delta']
    lo, hi = d['ci95']
    out.append(f"The ratio's denominator is the training gain of {_short(t[bc])}: {_ci(d)} points. ")
    frac = r['gflop']['frac_den_le_0'] or 0.0
    if lo is not None and lo <= 0:
      out.append(
        'Its CI reaches 0, so the ratio has no finite upper bound in principle: in '
        f'{report.fmt(100 * frac)}% of bootstrap resamples the training ROI is ≤ 0 (ratio ∞ or negative)'
        + (
          '; the CI below is finite only because that is under 2.5%. '
          if r['gflop']['ci95'][1] is not None
          else ', so the CI below is unbounded. '
        )
        + 'An "N× ROI" figure with such a denominator is one draw from a very wide interval. '
      )
    elif lo is not None and hi is not None and lo > 0:
      out.append(
        f'Its CI excludes 0 but spans a factor {report.fmt(hi / lo)} (upper/lower), and the ratio inherits '
        'that spread. '
      )
    rr = r['gflop']
    out.append(f'Bootstrap: the ratio is {_ratio_text(rr)}. ')
    spans = [
      (v['gflop']['ci95'][1] / v['gflop']['ci95'][0], k)
      for k, v in (an.get('ratios_by_continue') or {}).items()
      if v['gflop']['ci95'][0] and v['gflop']['ci95'][1] and v['gflop']['ci95'][0] > 0
    ]
    if spans:
      f, k = max(spans)
      out.append(
        f'The widest ratio CI (against {_short(t[k])}, whose gain is {_ci(t[k]["delta"])} points) spans a '
        f'factor {report.fmt(f)}: a ratio of two noisy gains is far less certain than either gain. '
      )
    cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
    neg = [k for k in cont if t[k]['delta']['ci95'][0] is not None and t[k]['delta']['ci95'][0] <= 0]
    if neg:
      out.append(
        f'Continue options whose gain CI includes 0 or less: {", ".join(_short(t[k]) for k in neg)}; '
        'a ratio with any of them in the denominator is unstable. '
      )
  if 'gflop_with_pretrain' in r and bs:
    o = t[bs]
    out.append(
      f"Accounting: the write-up's switch cost ({_short(o)}: {report.fmt(o['gflop'])} GFLOP of fine-tuning) "
      f'leaves out the compute that made the zoo model; charging its pretraining '
      f'({report.fmt(o["gflop_with_pretrain"] - o["gflop"])} GFLOP) gives ROI '
      f'{_ci(o["roi_gflop_with_pretrain"])} pts/GFLOP and a ratio of {_ratio_text(r["gflop_with_pretrain"])}'
      + (
        '; per FLOP spent in total, continuing the first choice then has the higher ROI. '
        if r['gflop_with_pretrain']['ci95'][1] is not None and r['gflop_with_pretrain']['ci95'][1] < 1
        else '. '
      )
      + f'Counting steps instead of FLOPs (overhead-bound hardware): ratio {_ratio_text(r["100steps"])} '
      f'without and {_ratio_text(r["100steps_with_pretrain"])} with the pretraining steps. '
    )
  rbc = an.get('ratios_by_continue') or {}
  vals = [(v['gflop']['ratio'], k) for k, v in rbc.items() if v['gflop']['ratio'] is not None]
  if len(vals) > 1:
    lo_r, hi_r = min(vals), max(vals)
    out.append(
      f'The same switch is {report.fmt(lo_r[0])}× better than {_short(t[lo_r[1]])} but '
      f'{report.fmt(hi_r[0])}× better than {_short(t[hi_r[1]])} (FLOPs): once the first choice sits near '
      'its ceiling, a training attempt\'s ROI falls as 1/cost, so a single "N× ROI" mostly reflects which '
      'attempt is put in the denominator. '
    )
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  if bs and cont:
    best_gain = max(cont, key=lambda k: t[k]['delta']['mean'])
    out.append(
      f'ROI also hides the ceiling: the best any training attempt gained was '
      f'{report.fmt(t[best_gain]["delta"]["mean"])} points ({_short(t[best_gain])}), the best switch '
      f'{report.fmt(max(t[k]["delta"]["mean"] for k in an["order"] if t[k]["arm"] == "switch"))} points. '
    )
  # which candidates produce the effect?
  sw = [k for k in an['order'] if t[k]['arm'] == 'switch']
  if sw:
    big = max(_tuple(config.switch_steps))
    at = sorted([k for k in sw if t[k]['steps'] == big], key=lambda k: -t[k]['delta']['mean'])
    top = at[0]
    beaten_bigger = [k for k in at[1:] if t[k]['params'] > t[top]['params']]
    out.append(
      f'At the largest fine-tuning budget ({big} steps) the candidates rank '
      + ', '.join(
        f'{t[k]["candidate"]} ({t[k]["params"]} params) {report.fmt(t[k]["delta"]["mean"])}' for k in at
      )
      + ' points'
      + (
        f': the smaller {t[top]["candidate"]} is ahead of larger candidates, so the recipe, not the '
        'size, puts it first (the size table says which of these gaps are significant). '
        if beaten_bigger
        else '. '
      )
    )
  pre = an['pretrain']
  if pre['first_acc']['mean'] is not None and cont:
    longest = max(cont, key=lambda k: t[k]['steps'])
    out.append(
      f'Premise: the first choice (linear) reached {report.fmt(pre["first_acc"]["mean"])}% by the decision '
      f'point and {report.fmt(t[longest]["acc"]["mean"])}% after {_short(t[longest])} '
      f'({report.fmt(t[longest]["delta"]["mean"])} points): it sits near its own ceiling on this teacher, '
      'which is the situation the claim describes ("baseline accuracy is poor"); with a first choice far '
      'from its ceiling, continued training would earn more.'
    )
  return ''.join(out)
