"""Family B — LoRA mode collapse: is collapse binary at a learning-rate threshold?

Claim (write-up): LoRA fine-tunes at lr 2e-4 (rank 128) and 5e-5 (rank 64) collapsed to one constant output
string ("10000000") for every question (2% and 0% accuracy); lr 5e-6 (rank 32) reached 73.5% (the untuned
model: 73%). Collapse is binary at a learning-rate threshold.

Toy (SCIENCE.md B). Per seed a lookup task (exp/lookup.py): prompts of 4 tokens, two additive mappings to
32 answers. The pretraining stage trains a base LookupMLP (models/lora.py) on mapping 1 with Adam, once per
seed (cached by the runner). The arms fine-tune LoRA adapters (every Dense kernel, B = 0 at init,
A ~ N(0, 1/fan_in), alpha = alpha_per_rank * r, scale alpha/r or alpha/sqrt(r) with ``rslora``) on mapping 2
with Adam; the base stays frozen. The learning rate and the rank are both traced grid axes (the rank masks
a static max rank), so an arm's whole lr x rank x seed grid is one compiled program.

Arms: ``classify`` (the answer is one of 32 classes) and ``sequence`` (the answer is a string of 8 digit
tokens, predicted position by position, so a collapse is literally one constant string). Both pretrained
bases come from the one pretraining stage.

Collapse detector on the held-out prompts with greedy outputs (exp/lookup.py): number of distinct outputs,
normalized entropy of the output histogram, collapsed <=> one distinct output or normalized entropy < 0.1;
dead-ReLU fraction and logit variance across prompts.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from exp.analysis import plots, report, stats
from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.core.workdir import json_safe
from exp.tasks import lookup
from models import lora
from models.lora import LookupMLP

ARMS = ('classify', 'sequence')
LABELS = {'classify': 'classify (1 of 32 answers)', 'sequence': 'sequence (8 digit tokens)'}
# The write-up's runs, inputs to the audit and the table (never used as results).
CLAIM_RUNS = (
  {'lr': 2e-4, 'rank': 128, 'accuracy': 0.02, 'collapsed': True},
  {'lr': 5e-5, 'rank': 64, 'accuracy': 0.00, 'collapsed': True},
  {'lr': 5e-6, 'rank': 32, 'accuracy': 0.735, 'collapsed': False},
)
CLAIM_UNTUNED = 0.73
NUM_QUESTION_TOKENS = 4
PRETRAIN_KEYS = (
  'arms',
  'vocab',
  'num_answers',
  'num_train',
  'num_heldout',
  'num_digits',
  'digit_base',
  'embed_dim',
  'hidden',
  'batch_size',
  'pretrain_steps',
  'pretrain_lr',
)


# ---------------------------------------------------------------------------------------------------
# Validation


def _models(config):
  cls = LookupMLP(
    vocab=config.vocab,
    num_inputs=NUM_QUESTION_TOKENS,
    embed_dim=config.embed_dim,
    hidden=tuple(config.hidden),
    num_outputs=config.num_answers,
  )
  seq = LookupMLP(
    vocab=config.vocab,
    num_inputs=NUM_QUESTION_TOKENS,
    embed_dim=config.embed_dim,
    hidden=tuple(config.hidden),
    num_outputs=config.digit_base,
    out_positions=config.num_digits,
  )
  return {'classify': cls, 'sequence': seq}


def _layer_dims(model):
  """(fan_in, fan_out) of the adapted layers, from shapes only (nothing is computed)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, NUM_QUESTION_TOKENS), jnp.int32))
  return lora.lora_layer_dims(shapes['params'])


def _init_params(key, model, x0):
  """Fresh base params: embeddings N(0, 1/dim), kernels N(0, 1/fan_in), biases 0; one flat draw per leaf
  (flat draws compile several times faster than Flax's shaped initializers on this jax)."""
  shapes = traverse_util.flatten_dict(jax.eval_shape(model.init, jax.random.key(0), x0)['params'])
  out = {}
  for i, (path, s) in enumerate(sorted(shapes.items())):
    if path[-1] == 'bias':
      out[path] = jnp.zeros(s.shape, s.dtype)
      continue
    fan = s.shape[-1] if path[-1] == 'embedding' else s.shape[0]
    draw = jax.random.normal(jax.random.fold_in(key, i), (math.prod(s.shape),), s.dtype)
    out[path] = draw.reshape(s.shape) / math.sqrt(fan)
  return traverse_util.unflatten_dict(out)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key, lo in (
    ('vocab', 2),
    ('num_answers', 2),
    ('num_train', 1),
    ('num_heldout', 2),
    ('num_digits', 1),
    ('embed_dim', 1),
    ('batch_size', 1),
    ('pretrain_steps', 1),
  ):
    cfglib.require_int(config, key, lo)
  base = cfglib.require_int(config, 'digit_base', 2)
  if base > 10:
    raise ConfigError('digit_base', f'must be in [2, 10] (one character per digit), got {base}')
  hidden = cfglib.lookup(config, 'hidden')
  if (
    not isinstance(hidden, (tuple, list))
    or not hidden
    or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
  ):
    raise ConfigError('hidden', f'must be a non-empty tuple of positive integers, got {hidden!r}')
  total = config.vocab**NUM_QUESTION_TOKENS
  if config.num_train + config.num_heldout > total:
    raise ConfigError(
      'num_train',
      f'num_train + num_heldout must be <= {total} distinct prompts '
      f'(vocab**{NUM_QUESTION_TOKENS}), got {config.num_train} + {config.num_heldout}',
    )
  if math.ceil(math.log(config.num_answers, base) - 1e-9) > config.num_digits:
    raise ConfigError(
      'num_digits', f'{config.num_answers} answers need more than {config.num_digits} base-{base} digits'
    )
  cfglib.require_positive_floats(config, 'pretrain_lr')
  lrs = cfglib.lookup(config, 'lrs')
  if not isinstance(lrs, (tuple, list)) or not lrs:
    raise ConfigError('lrs', 'must be a non-empty tuple of positive learning rates')
  cfglib.require_positive_floats(config, 'lrs')
  if len(set(lrs)) != len(lrs):
    raise ConfigError('lrs', f'has duplicates: {tuple(lrs)}')
  alpha = cfglib.lookup(config, 'alpha_per_rank')
  if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
    raise ConfigError('alpha_per_rank', f'must be > 0 (alpha = alpha_per_rank * rank), got {alpha!r}')
  ranks = cfglib.lookup(config, 'ranks')
  if (
    not isinstance(ranks, (tuple, list))
    or not ranks
    or any(isinstance(r, bool) or not isinstance(r, int) for r in ranks)
  ):
    raise ConfigError('ranks', f'must be a non-empty tuple of integers, got {ranks!r}')
  if len(set(ranks)) != len(ranks):
    raise ConfigError('ranks', f'has duplicates: {tuple(ranks)}')
  models = _models(config)
  for arm in cfglib.arm_names(config):
    try:
      lora.check_lora_args(ranks, [alpha * r for r in ranks], _layer_dims(models[arm]))
    except ValueError as e:
      raise ConfigError('ranks', f'{e} (arm {arm})') from None
  if not isinstance(config.rslora, bool):
    raise ConfigError('rslora', f'must be True or False, got {config.rslora!r}')
  if not config.band_decades > 0:
    raise ConfigError('band_decades', f'must be > 0, got {config.band_decades}')
  band = tuple(config.intermediate_band)
  if len(band) != 2 or not 0 <= band[0] < band[1] <= 1:
    raise ConfigError('intermediate_band', f'must be (lo, hi) with 0 <= lo < hi <= 1, got {band}')
  if not 0 <= config.max_intermediate <= 1:
    raise ConfigError('max_intermediate', f'must be in [0, 1], got {config.max_intermediate}')
  if not config.max_width_decades > 0:
    raise ConfigError('max_width_decades', f'must be > 0, got {config.max_width_decades}')
  cfglib.require_int(config, 'n_boot', 0)


# ---------------------------------------------------------------------------------------------------
# The pure programs


def build(config) -> Experiment:
  models = _models(config)
  batch, n_train = config.batch_size, config.num_train
  max_rank = max(config.ranks)
  alpha_per_rank, rslora = float(config.alpha_per_rank), bool(config.rslora)
  dbase, ndig = config.digit_base, config.num_digits
  weights = jnp.asarray(dbase ** np.arange(ndig - 1, -1, -1), jnp.int32)  # a string read as a number

  def targets(arm, task, y):
    return task['codes'][y] if arm == 'sequence' else y

  def xent(logits, y):
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[..., None], axis=-1))

  def outputs(arm, logits):
    """Greedy outputs: (P,) answers or (P, D) digit strings, and each as one int (for the modal output)."""
    pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    as_int = pred @ weights if arm == 'sequence' else pred
    return pred, as_int

  def minibatch(key, x, y):
    idx = jax.random.randint(key, (batch,), 0, n_train)
    return x[idx], y[idx]

  # --- pretraining: the bases of the configured arms on mapping 1, from one task per seed ----------------
  pre_tx = optax.adam(config.pretrain_lr)
  arm_names = cfglib.arm_names(config)

  def pre_init(key, hp):
    del hp
    k_task, k_cls, k_seq = jax.random.split(key, 3)
    task = lookup.make_lookup_task(
      k_task,
      NUM_QUESTION_TOKENS,
      config.vocab,
      config.num_answers,
      num_train=n_train,
      num_heldout=config.num_heldout,
      num_digits=ndig,
      base=dbase,
    )
    x0 = task['train_x'][:1]
    keys = {'classify': k_cls, 'sequence': k_seq}  # fixed per arm, whichever arms are configured
    params = {a: _init_params(keys[a], models[a], x0) for a in arm_names}
    return dict(params=params, opt_state=pre_tx.init(params), task=task)

  def pre_losses(params, task, x, y):
    losses = {a: xent(models[a].apply({'params': params[a]}, x), targets(a, task, y)) for a in arm_names}
    return sum(losses.values()), losses  # disjoint params: each base gets its own loss's gradient

  def pre_step(state, hp, key):
    del hp
    task = state['task']
    x, y = minibatch(key, task['train_x'], task['train_y1'])
    (_, losses), grads = jax.value_and_grad(pre_losses, has_aux=True)(state['params'], task, x, y)
    updates, opt_state = pre_tx.update(grads, state['opt_state'], state['params'])
    new = dict(state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state)
    return new, {f'loss_{a}': losses[a] for a in arm_names}

  def pre_eval(state, hp):
    del hp
    task, out = state['task'], {}
    for arm in arm_names:
      logits = models[arm].apply({'params': state['params'][arm]}, task['heldout_x'])
      pred, _ = outputs(arm, logits)
      out[f'heldout_acc_{arm}'] = lookup.exact_match(pred, targets(arm, task, task['heldout_y1']))
      out[f'heldout_acc2_{arm}'] = lookup.exact_match(pred, targets(arm, task, task['heldout_y2']))
    return out

  def pre_output(state):
    t = state['task']
    return dict(
      params=state['params'],
      task={k: t[k] for k in ('train_x', 'train_y2', 'heldout_x', 'heldout_y2', 'codes')},
    )

  pretrain = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)

  # --- LoRA fine-tuning on mapping 2 -----------------------------------------------------------------
  def make_arm(arm):
    model = models[arm]

    def forward(base_params, lp, x, hp, **kw):
      rank = hp['rank']
      return lora.apply_lora(
        base_params, lp, x, rank, alpha_per_rank * rank.astype(jnp.float32), rslora, model=model, **kw
      )

    def init(key, hp, base):
      task = base['task']
      params = base['params'][arm]
      data = dict(
        train_x=task['train_x'],
        train_t=targets(arm, task, task['train_y2']),
        heldout_x=task['heldout_x'],
        heldout_t=targets(arm, task, task['heldout_y2']),
      )
      lp = lora.init_lora(key, params, max_rank)
      opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=hp['lr']).init(lp)
      return dict(base=params, lora=lp, opt_state=opt_state, data=data)

    tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)  # the lr lives in the opt state

    def step(state, hp, key):
      d = state['data']
      x, t = minibatch(key, d['train_x'], d['train_t'])

      def loss_fn(lp):
        logits = forward(state['base'], lp, x, hp)
        return xent(logits, t), logits

      (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['lora'])
      updates, opt_state = tx.update(grads, state['opt_state'], state['lora'])
      pred, _ = outputs(arm, logits)
      new = dict(state, lora=optax.apply_updates(state['lora'], updates), opt_state=opt_state)
      return new, dict(loss=loss, batch_acc=lookup.exact_match(pred, t))

    def evaluate(state, hp):
      d = state['data']
      logits, hidden = forward(state['base'], state['lora'], d['heldout_x'], hp, return_hidden=True)
      pred, as_int = outputs(arm, logits)
      cm = lookup.collapse_metrics(pred)
      counts = jnp.sum(as_int[:, None] == as_int[None, :], axis=1)
      base_logits, base_hidden = model.apply({'params': state['base']}, d['heldout_x'], return_hidden=True)
      base_pred, _ = outputs(arm, base_logits)
      n_sub = d['heldout_x'].shape[0]  # training accuracy on as many training prompts as held-out ones
      train_pred, _ = outputs(arm, forward(state['base'], state['lora'], d['train_x'][:n_sub], hp))
      out = dict(
        heldout_acc=lookup.exact_match(pred, d['heldout_t']),
        train_acc=lookup.exact_match(train_pred, d['train_t'][:n_sub]),
        heldout_loss=xent(logits, d['heldout_t']),
        num_distinct=cm['num_distinct'],
        normalized_entropy=cm['normalized_entropy'],
        collapsed=cm['collapsed'].astype(jnp.int32),
        modal_output=as_int[jnp.argmax(counts)],
        modal_fraction=jnp.max(counts) / counts.shape[0],
        dead_relu=lookup.dead_relu_fraction(hidden),
        logit_var=lookup.logit_variance_across_prompts(logits),
        base_heldout_acc=lookup.exact_match(base_pred, d['heldout_t']),
        base_dead_relu=lookup.dead_relu_fraction(base_hidden),
        base_logit_var=lookup.logit_variance_across_prompts(base_logits),
      )
      if arm == 'sequence':
        out['digit_acc'] = jnp.mean(pred == d['heldout_t'])
      return out

    lrs = np.asarray(config.lrs, np.float32)
    ranks = np.asarray(config.ranks, np.int32)
    grid = {'lr': np.repeat(lrs, len(ranks)), 'rank': np.tile(ranks, len(lrs))}  # lr-major, rank-minor
    return Arm(name=arm, grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)

  arms = tuple(make_arm(a) for a in arm_names)
  return Experiment(
    name='lora_collapse',
    arms=arms,
    analyze=analyze,
    report=make_report,
    pretrain=pretrain,
    pretrain_output=pre_output,
    pretrain_keys=PRETRAIN_KEYS,
  )


# ---------------------------------------------------------------------------------------------------
# Analysis (host, numpy/scipy)


def _median(v):
  v = np.asarray([x for x in v if x is not None], float)
  v = v[np.isfinite(v)]
  return float(np.median(v)) if v.size else None


def _cells(runs, arm):
  """{rank: {lr: [run, ...] sorted by seed}} for one arm."""
  out: dict = {}
  for r in runs:
    if r['arm'] != arm:
      continue
    out.setdefault(int(r['grid']['rank']), {}).setdefault(float(r['grid']['lr']), []).append(r)
  for by_lr in out.values():
    for lr in by_lr:
      by_lr[lr].sort(key=lambda r: r['seed'])
  return out


def _ok(rs):
  return [r for r in rs if r['status'] != 'diverged']


def _points(by_lr, seeds=None):
  """(log10 lr, collapsed) over the non-diverged runs, optionally of the given seeds (repeats allowed)."""
  xs, ys = [], []
  for lr, rs in by_lr.items():
    by_seed = {r['seed']: r for r in _ok(rs)}
    for s in seeds if seeds is not None else sorted(by_seed):
      if s in by_seed:
        xs.append(math.log10(lr))
        ys.append(float(by_seed[s]['metrics']['collapsed']))
  return np.array(xs), np.array(ys)


def _fit(x, y, n_boot, seed):
  if len(np.unique(x)) < 2:
    return None
  try:
    return stats.logistic_threshold(x, y, kind='binary', n_boot=n_boot, seed=seed)
  except ValueError:
    return None


def _in_grid(fit, lrs) -> bool:
  c = fit.get('center') if fit else None
  return c is not None and np.isfinite(c) and math.log10(min(lrs)) <= c <= math.log10(max(lrs))


def _per_seed_thresholds(by_lr):
  """Per seed: the midpoint (log10) between the last lr below its first collapse and that first collapse;
  None when it never collapses or collapses already at the smallest lr. Also counts non-monotone seeds
  (a collapse followed by a non-collapsed run at a larger lr)."""
  lrs = sorted(by_lr)
  seeds = sorted({r['seed'] for rs in by_lr.values() for r in rs})
  out, non_monotone = {}, 0
  for s in seeds:
    flags = []
    for lr in lrs:
      r = next((r for r in _ok(by_lr[lr]) if r['seed'] == s), None)
      flags.append(None if r is None else bool(r['metrics']['collapsed']))
    first = next((i for i, f in enumerate(flags) if f), None)
    if first is not None and any(f is False for f in flags[first + 1 :]):
      non_monotone += 1
    out[s] = (
      None if first is None or first == 0 else 0.5 * (math.log10(lrs[first - 1]) + math.log10(lrs[first]))
    )
  return out, non_monotone


def _rank_rows(by_lr):
  rows = []
  for lr in sorted(by_lr):
    rs = by_lr[lr]
    ok = _ok(rs)
    m = lambda k: [r['metrics'][k] for r in ok]
    rows.append(
      {
        'lr': lr,
        'log10_lr': math.log10(lr),
        'n': len(rs),
        'diverged': len(rs) - len(ok),
        'collapsed': int(sum(m('collapsed'))),
        'one_output': int(sum(d == 1 for d in m('num_distinct'))),
        'few_outputs': int(sum(d <= 3 for d in m('num_distinct'))),
        'accuracy': stats.describe(m('heldout_acc')) if ok else None,
        'accuracy_median': _median(m('heldout_acc')),
        'base_accuracy_median': _median(m('base_heldout_acc')),
        'train_accuracy_median': _median(m('train_acc')),
        'distinct_median': _median(m('num_distinct')),
        'entropy_median': _median(m('normalized_entropy')),
        'dead_relu_mean': float(np.mean(m('dead_relu'))) if ok else None,
        'logit_var_median': _median(m('logit_var')),
        'modal_fraction_median': _median(m('modal_fraction')),
        'digit_accuracy_median': _median(m('digit_acc')) if ok and 'digit_acc' in ok[0]['metrics'] else None,
      }
    )
  return rows


def _analyze_rank(by_lr, config, lrs):
  rows = _rank_rows(by_lr)
  x, y = _points(by_lr)
  fit = _fit(x, y, config.n_boot, config.seed) if x.size else None
  out = {
    'rows': rows,
    'fit': fit,
    'n_runs': int(sum(r['n'] for r in rows)),
    'diverged': int(sum(r['diverged'] for r in rows)),
  }
  peak = max(
    (r for r in rows if r['accuracy_median'] is not None), key=lambda r: r['accuracy_median'], default=None
  )
  out['peak'] = {'lr': peak['lr'], 'accuracy_median': peak['accuracy_median']} if peak else None
  out['base_accuracy_median'] = _median([r['base_accuracy_median'] for r in rows])
  # Accuracy cliff: 4-parameter logistic on accuracy against log10 lr, from the peak lr upwards.
  out['accuracy_fit'] = None
  if peak:
    pts = [
      (math.log10(lr), r['metrics']['heldout_acc'])
      for lr, rs in by_lr.items()
      if lr >= peak['lr']
      for r in _ok(rs)
    ]
    if len({p[0] for p in pts}) >= 3:
      try:
        out['accuracy_fit'] = stats.logistic_threshold(
          [p[0] for p in pts], [p[1] for p in pts], kind='4pl', n_boot=config.n_boot // 5, seed=config.seed
        )
      except ValueError:
        pass
  out['threshold_in_grid'] = bool(fit and _in_grid(fit, lrs))
  # Onset: the two grid lrs where the collapse rate first crosses 50%. The logistic assumes P(collapse) rises
  # to 1; where it does not (runs above c that escape the detector), its center can drift, so the sides and
  # the just-below/just-above comparison use the empirical crossing.
  rates = [(r['lr'], r['collapsed'] / (r['n'] - r['diverged'])) for r in rows if r['n'] > r['diverged']]
  cross = next(
    ((rates[i][0], rates[i + 1][0]) for i in range(len(rates) - 1) if rates[i][1] < 0.5 <= rates[i + 1][1]),
    None,
  )
  out['onset'] = list(cross) if cross else None
  if cross:
    mid = 0.5 * (math.log10(cross[0]) + math.log10(cross[1]))
    above = [r for lr, rs in by_lr.items() if math.log10(lr) > mid for r in _ok(rs)]
    below = [r for lr, rs in by_lr.items() if math.log10(lr) < mid for r in _ok(rs)]
    out['sides'] = {
      'above_n': len(above),
      'above_collapsed': sum(r['metrics']['collapsed'] for r in above),
      'above_one_output': sum(r['metrics']['num_distinct'] == 1 for r in above),
      'above_few_outputs_not_collapsed': sum(
        r['metrics']['num_distinct'] <= 3 and not r['metrics']['collapsed'] for r in above
      ),
      'below_n': len(below),
      'below_collapsed': sum(r['metrics']['collapsed'] for r in below),
    }
    # Just below vs just above: the two crossing grid points, paired by seed.
    a, b = ({r['seed']: r for r in _ok(by_lr[lr])} for lr in cross)
    both = sorted(set(a) & set(b))
    ka, kb = (sum(int(d[s]['metrics']['collapsed']) for s in both) for d in (a, b))
    edge = {
      'below_lr': cross[0],
      'above_lr': cross[1],
      'n': len(both),
      'collapsed_below': ka,
      'collapsed_above': kb,
    }
    if both:
      edge['fisher'] = stats.fisher(ka, len(both), kb, len(both))
      edge['accuracy'] = stats.compare(
        [a[s]['metrics']['heldout_acc'] for s in both],
        [b[s]['metrics']['heldout_acc'] for s in both],
        paired=True,
      )
    out['edge'] = edge
  if not out['threshold_in_grid'] or not peak:
    return out
  c = fit['center']
  # "Binary, not gradual": runs near c whose accuracy lies between the collapsed level (the median accuracy
  # of the rank's collapsed runs) and the working level (the best median accuracy over lrs).
  all_ok = [r for rs in by_lr.values() for r in _ok(rs)]
  floor = _median([r['metrics']['heldout_acc'] for r in all_ok if r['metrics']['collapsed']]) or 0.0
  span = peak['accuracy_median'] - floor
  lo, hi = (floor + f * span for f in config.intermediate_band)
  near = [
    r for lr, rs in by_lr.items() if abs(math.log10(lr) - c) <= config.band_decades + 1e-6 for r in _ok(rs)
  ]
  inter = [r for r in near if lo < r['metrics']['heldout_acc'] < hi]
  out['binary'] = {
    'band': [lo, hi],
    'floor': floor,
    'near_n': len(near),
    'intermediate_n': len(inter),
    'fraction': len(inter) / len(near) if near else None,
    'all_fraction': sum(lo < r['metrics']['heldout_acc'] < hi for r in all_ok) / len(all_ok),
  }
  return out


def _collapse_diagnostics(cells):
  """Dead-ReLU fraction and logit variance of collapsed vs non-collapsed runs (all ranks and lrs)."""
  runs = [r for by_lr in cells.values() for rs in by_lr.values() for r in _ok(rs)]
  out = {}
  for key in ('dead_relu', 'logit_var', 'num_distinct'):
    col = [r['metrics'][key] for r in runs if r['metrics']['collapsed']]
    work = [r['metrics'][key] for r in runs if not r['metrics']['collapsed']]
    base = [r['metrics'].get('base_' + key) for r in runs if r['metrics'].get('base_' + key) is not None]
    out[key] = {
      'collapsed': stats.describe(col) if col else None,
      'not_collapsed': stats.describe(work) if work else None,
      'base': stats.describe(base) if base else None,
      'compare': stats.compare(col, work) if col and work else None,
    }
  modal = [r['metrics']['modal_output'] for r in runs if r['metrics']['collapsed']]
  values, counts = np.unique(modal, return_counts=True) if modal else ([], [])
  out['collapsed_runs'] = len(modal)
  out['one_output_runs'] = sum(r['metrics']['num_distinct'] == 1 for r in runs if r['metrics']['collapsed'])
  out['top_modal_outputs'] = [
    [int(v), int(c)] for v, c in sorted(zip(values, counts), key=lambda t: -t[1])[:3]
  ]
  return out


def _rank_effect(cells, config):
  """Threshold of the largest rank minus that of the smallest: logistic centers with a bootstrap over seeds
  (both ranks resampled with the same seeds: they share the base), per-seed thresholds paired, and the lrs
  where the rank alone changes the collapse rate (Fisher exact)."""
  ranks = sorted(cells)
  if len(ranks) < 2:
    return None
  lo, hi = ranks[0], ranks[-1]
  fits = {r: _fit(*_points(cells[r]), 0, config.seed) for r in (lo, hi)}
  out = {'ranks': [lo, hi], 'delta_c': None, 'delta_c_ci95': [None, None], 'n_boot_used': 0}
  if all(f and np.isfinite(f['center']) for f in fits.values()):
    out['delta_c'] = fits[hi]['center'] - fits[lo]['center']
    seeds = sorted({r['seed'] for rs in cells[lo].values() for r in rs})
    rng = np.random.default_rng(config.seed)
    reps = []
    for _ in range(config.n_boot // 5):
      pick = list(rng.choice(seeds, len(seeds)))
      f = [_fit(*_points(cells[r], pick), 0, config.seed) for r in (lo, hi)]
      if all(g and np.isfinite(g['center']) for g in f):
        reps.append(f[1]['center'] - f[0]['center'])
    if reps:
      out['delta_c_ci95'] = [float(v) for v in np.percentile(reps, [2.5, 97.5])]
      out['n_boot_used'] = len(reps)
  ts = {r: _per_seed_thresholds(cells[r]) for r in (lo, hi)}
  both = [s for s in ts[lo][0] if ts[lo][0][s] is not None and ts[hi][0].get(s) is not None]
  out['per_seed'] = {
    'n': len(both),
    'non_monotone': {str(lo): ts[lo][1], str(hi): ts[hi][1]},
    'censored': {str(r): sum(v is None for v in ts[r][0].values()) for r in (lo, hi)},
  }
  if len(both) >= 2:
    out['per_seed']['compare'] = stats.compare(
      [ts[hi][0][s] for s in both], [ts[lo][0][s] for s in both], paired=True
    )
  flips = []
  for lr in sorted(set(cells[lo]) & set(cells[hi])):
    a, b = _ok(cells[hi][lr]), _ok(cells[lo][lr])
    if a and b:
      ka, kb = (sum(int(r['metrics']['collapsed']) for r in g) for g in (a, b))
      f = stats.fisher(ka, len(a), kb, len(b))
      flips.append(
        {'lr': lr, 'collapsed_hi': ka, 'n_hi': len(a), 'collapsed_lo': kb, 'n_lo': len(b), 'p': f['p']}
      )
  for f, p in zip(flips, stats.holm([f['p'] for f in flips])):
    f['holm_p'] = p
  out['by_lr'] = flips
  out['rank_alone_flips'] = [f['lr'] for f in flips if f['holm_p'] < 0.05]
  return out


def analyze(runs: list[dict], config) -> dict:
  lrs = sorted(float(np.float32(lr)) for lr in config.lrs)
  pre = [r for r in runs if r['arm'] == 'pretrain']
  an: dict = {
    'lrs': lrs,
    'ranks': sorted(config.ranks),
    'rslora': bool(config.rslora),
    'alpha_per_rank': float(config.alpha_per_rank),
    'num_steps': config.num_steps,
    'arms': {},
  }
  an['pretrain'] = {
    k: stats.describe([r['metrics'][k] for r in pre]) for k in (pre[0]['metrics'] if pre else {})
  }
  for arm in cfglib.arm_names(config):
    cells = _cells(runs, arm)
    if not cells:
      continue
    an['arms'][arm] = {
      'by_rank': {str(r): _analyze_rank(cells[r], config, lrs) for r in sorted(cells)},
      'rank_effect': _rank_effect(cells, config),
      'diagnostics': _collapse_diagnostics(cells),
    }
  # Holm within the finding: the just-below vs just-above comparisons of every arm and rank.
  edges = [
    e for a in an['arms'].values() for g in a['by_rank'].values() if (e := g.get('edge')) and 'accuracy' in e
  ]
  for e, p in zip(edges, stats.holm([e['accuracy']['student']['p'] for e in edges])):
    e['accuracy_holm_p'] = p
  for e, p in zip(edges, stats.holm([e['fisher']['p'] for e in edges])):
    e['fisher_holm_p'] = p
  an['audit'] = _audit(an, config)
  an['headline'] = _headline(an, config)
  return json_safe(an)


def _judge(g, config) -> dict:
  """Does one (arm, rank) show a binary collapse threshold inside the lr grid? Five checks: the logistic
  center lies inside the grid; collapse is on above the onset (>= 90% of runs) and off below it (<= 10%); the
  10-90% width is at most max_width_decades; at most max_intermediate of the runs near c have an
  intermediate accuracy."""
  sides, fit, b = g.get('sides') or {}, g['fit'] or {}, g.get('binary') or {}
  rate = lambda k, n: sides[k] / sides[n] if sides.get(n) else None
  above, below = rate('above_collapsed', 'above_n'), rate('below_collapsed', 'below_n')
  w = fit.get('width_10_90')
  checks = {
    'threshold_in_grid': g['threshold_in_grid'],
    'collapsed_above': above is not None and above >= 0.9,
    'intact_below': below is not None and below <= 0.1,
    'narrow': w is not None and np.isfinite(w) and w <= config.max_width_decades,
    'few_intermediate': b.get('fraction') is not None and b['fraction'] <= config.max_intermediate,
  }
  return {'checks': checks, 'binary_threshold': all(checks.values())}


def _audit(an: dict, config) -> dict:
  arm = 'classify' if 'classify' in an['arms'] else next(iter(an['arms']), None)
  out = {'arm': arm}
  if arm is None:
    return out
  a = an['arms'][arm]
  judged = {r: _judge(g, config) for r, g in a['by_rank'].items()}
  out['judged'] = {r: j['checks'] for r, j in judged.items()}
  with_threshold = [r for r, g in a['by_rank'].items() if g['threshold_in_grid']]
  out['centers'] = {r: a['by_rank'][r]['fit']['center'] for r in with_threshold}
  re = a['rank_effect']
  # Does the rank move the threshold? Either estimate counts: the logistic centers (seed bootstrap) or the
  # per-seed thresholds (paired; robust to the non-monotone tail a logistic fit cannot follow).
  evidence = []
  if re and re['delta_c_ci95'][0] is not None and not re['delta_c_ci95'][0] <= 0 <= re['delta_c_ci95'][1]:
    evidence.append('logistic centers')
  cmp = (re or {}).get('per_seed', {}).get('compare') or {}
  p = (cmp.get('paired') or {}).get('p')
  if p is not None and np.isfinite(p) and p < 0.05:
    evidence.append('per-seed thresholds')
  out['rank_evidence'] = evidence
  if not with_threshold:
    out['attribution'] = 'neither'
  elif len(with_threshold) < len(a['by_rank']) or evidence:
    out['attribution'] = 'both'
  else:
    out['attribution'] = 'lr'
  # The source's confound: its collapsed and working runs differ by this many decades in lr and x in rank.
  src_lr_gap = math.log10(CLAIM_RUNS[0]['lr'] / CLAIM_RUNS[2]['lr'])
  out['source_lr_gap_decades'] = src_lr_gap
  out['source_rank_ratio'] = CLAIM_RUNS[0]['rank'] / CLAIM_RUNS[2]['rank']
  if re:
    out['rank_ratio'] = re['ranks'][1] / re['ranks'][0]
  widths = [a['by_rank'][r]['fit']['width_10_90'] for r in with_threshold]
  out['max_width'] = max(widths) if widths else None
  # "Working" vs untuned: gain over the base at the smallest lr and at the best lr (medians, per rank).
  gains = {}
  for r, g in a['by_rank'].items():
    rows, base = g['rows'], g['base_accuracy_median']
    if base is None or not g['peak']:
      continue
    gains[r] = {
      'smallest_lr': rows[0]['lr'],
      'gain_smallest': rows[0]['accuracy_median'] - base,
      'best_lr': g['peak']['lr'],
      'gain_best': g['peak']['accuracy_median'] - base,
      'base': base,
    }
  out['gains'] = gains
  return out


def _lr_txt(lr) -> str:
  return 'lr –' if lr is None else f'{lr:.3g}'


def _headline(an: dict, config) -> dict:
  au = an['audit']
  arm = au.get('arm')
  claim = (
    'LoRA runs at lr 2e-4 (r128) and 5e-5 (r64) collapsed to one constant string (2%, 0%); lr 5e-6 '
    '(r32) reached 73.5%: collapse is binary at an lr threshold'
  )
  base = {'finding': 'LoRA mode collapse at a learning-rate threshold', 'claim': claim}
  if arm is None:
    return dict(base, result='no runs', effect=None, verdict='not enough runs to judge', reproduced=None)
  parts = []
  for a_name, a in an['arms'].items():
    bits = []
    for r, g in a['by_rank'].items():
      f = g['fit'] or {}
      if not g['threshold_in_grid']:
        rows = g['rows']
        bits.append(
          f'r{r}: no threshold in the grid (collapsed {sum(x["collapsed"] for x in rows)}/'
          f'{sum(x["n"] for x in rows)})'
        )
        continue
      ci = f['center_ci95']
      b = g.get('binary') or {}
      e = g.get('edge') or {}
      txt = (
        f'r{r}: threshold {_lr_txt(10 ** f["center"])} '
        f'[{_lr_txt(10 ** ci[0] if ci[0] is not None else None)}, '
        f'{_lr_txt(10 ** ci[1] if ci[1] is not None else None)}], 10–90% width '
        f'{report.fmt(f["width_10_90"])} decades'
      )
      if b.get('near_n'):
        txt += f', intermediate {b["intermediate_n"]}/{b["near_n"]} runs near it'
      if e.get('accuracy'):
        txt += (
          f', accuracy {report.fmt(e["accuracy"]["mean_a"])} at lr {_lr_txt(e["below_lr"])} → '
          f'{report.fmt(e["accuracy"]["mean_b"])} at {_lr_txt(e["above_lr"])}'
        )
      bits.append(txt)
    re = a['rank_effect']
    if re and re['delta_c'] is not None:
      lo, hi = re['delta_c_ci95']
      bits.append(
        f'Δc(r{re["ranks"][1]} − r{re["ranks"][0]}) = {report.fmt(re["delta_c"])} '
        f'[{report.fmt(lo)}, {report.fmt(hi)}] decades'
      )
    parts.append(f'{a_name}: ' + '; '.join(bits))
  judged = au.get('judged', {})
  reproduced = bool(judged) and all(all(c.values()) for c in judged.values())
  g0 = an['arms'][arm]['by_rank'][str(min(int(r) for r in an['arms'][arm]['by_rank']))]
  f0 = g0['fit'] or {}
  effect = None
  if f0.get('width_10_90') is not None:
    r0 = min(int(r) for r in an['arms'][arm]['by_rank'])
    effect = {
      'name': f'10–90% width of P(collapse) vs log10 lr, {arm} r{r0} (decades)',
      'value': f0['width_10_90'],
      'ci95': f0.get('width_ci95'),
    }
  attribution = {
    'lr': 'the lr alone sets the threshold (the rank does not move it detectably)',
    'both': 'the lr sets the threshold and the rank shifts it',
    'neither': 'no collapse inside the lr grid',
  }[au['attribution']]
  words = {
    'threshold_in_grid': 'a threshold inside the lr grid',
    'collapsed_above': '≥ 90% collapsed above the onset',
    'intact_below': '≤ 10% collapsed below the onset',
    'narrow': f'10–90% width ≤ {report.fmt(config.max_width_decades)} decade',
    'few_intermediate': f'≤ {report.fmt(100 * config.max_intermediate)}% intermediate runs near c',
  }
  failed = [
    f'{words[k]} (r{", r".join(r for r, c in judged.items() if not c[k])})'
    for k in words
    if any(not c[k] for c in judged.values())
  ]
  exists = bool(judged) and all(
    c['threshold_in_grid'] and c['collapsed_above'] and c['intact_below'] for c in judged.values()
  )
  if reproduced:
    verdict = f'reproduced: collapse is binary at an lr threshold at every rank; {attribution}'
  elif exists:
    verdict = (
      f'partly reproduced: an lr threshold exists at every rank (collapse on above it, off below), but '
      f'the transition is not binary by our criteria (failed: {"; ".join(failed)}); {attribution}'
    )
  else:
    verdict = f'not reproduced (failed: {"; ".join(failed) or "–"}); {attribution}'
  return dict(base, result='; '.join(parts), effect=effect, verdict=verdict, reproduced=reproduced)


# ---------------------------------------------------------------------------------------------------
# Report


def _pct(x) -> str:
  return '–' if x is None else f'{100 * x:.1f}%'


def _output_txt(arm: str, code, config) -> str:
  """A modal output as the model writes it: the digit string, or the answer index."""
  if code is None:
    return '–'
  if arm == 'sequence':
    digits = np.base_repr(int(code), config.digit_base).zfill(config.num_digits)
    return f'"{digits}"'
  return f'answer {int(code)}'


def _acc_cell(row) -> str:
  d = row['accuracy']
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d['ci95']
  half = (hi - lo) / 2 if lo is not None and hi is not None else None
  m, h = report.fmt_same([d['mean'], half], 2)
  return f'{m} ± {h}' if half is not None else m


def _lr_table(a: dict, arm: str) -> str:
  ranks = list(a['by_rank'])
  digits = arm == 'sequence'
  cols = ['accuracy'] + (['digit acc'] if digits else []) + ['collapsed', 'distinct', 'dead ReLU']
  header = ['lr'] + [f'r{r} {c}' for r in ranks for c in cols]
  rows = []
  for i in range(len(a['by_rank'][ranks[0]]['rows'])):
    row = [_lr_txt(a['by_rank'][ranks[0]]['rows'][i]['lr'])]
    for r in ranks:
      x = a['by_rank'][r]['rows'][i]
      div = f' ({x["diverged"]} diverged)' if x['diverged'] else ''
      row += (
        [_acc_cell(x)]
        + ([report.fmt(x['digit_accuracy_median'], 2)] if digits else [])
        + [
          f'{x["collapsed"]}/{x["n"] - x["diverged"]}{div}',
          report.fmt(x['distinct_median']),
          report.fmt(x['dead_relu_mean'], 2),
        ]
      )
    rows.append(row)
  return report.markdown_table(header, rows)


def _ci_lr(ci) -> str:
  if not ci or ci[0] is None or ci[1] is None:
    return '[–, –]'
  return f'[{_lr_txt(10 ** ci[0])}, {_lr_txt(10 ** ci[1])}]'


def _acc_matrix(by_lr, lrs) -> np.ndarray:
  """(seeds, lrs) held-out accuracy; nan for a diverged or missing run."""
  seeds = sorted({r['seed'] for rs in by_lr.values() for r in rs})
  out = np.full((len(seeds), len(lrs)), np.nan)
  for j, lr in enumerate(lrs):
    for r in _ok(by_lr.get(lr, [])):
      out[seeds.index(r['seed']), j] = r['metrics']['heldout_acc']
  return out


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del log
  arms = an['arms']
  scale = 'α/√r (rsLoRA)' if an['rslora'] else 'α/r'
  pre = an['pretrain']
  pre_txt = ', '.join(
    f'{a} {report.fmt(pre[k]["mean"])}'
    for a in ARMS
    if (k := f'heldout_acc_{a}') in pre and pre[k].get('mean') is not None
  )
  lines = [
    '# LoRA mode collapse at a learning-rate threshold',
    '',
    f'{config.num_seeds} seeds; per seed a base LookupMLP pretrained on mapping 1 ({config.pretrain_steps} '
    f'Adam steps; held-out accuracy on mapping 1: {pre_txt}), then LoRA on every Dense layer fine-tuned '
    f'on mapping 2 for {config.num_steps} Adam steps (batch {config.batch_size}), α = '
    f'{report.fmt(an["alpha_per_rank"])}·r, scale {scale}. Grid: {len(an["lrs"])} learning rates '
    f'{_lr_txt(an["lrs"][0])} … {_lr_txt(an["lrs"][-1])} × ranks {tuple(an["ranks"])}, one compiled '
    'program per arm. Collapsed ⇔ one distinct greedy output over the held-out prompts or normalized '
    'output entropy < 0.1.',
    '',
  ]

  # --- the write-up's table, our numbers beside it ---------------------------------------------------
  lines += [
    '## Claim vs toy',
    '',
    "The write-up's runs and the toy's counterparts (toy learning rates do not transfer to an LLM; "
    'what transfers is the position relative to the threshold: the onset, where the collapse rate '
    'first crosses 50% between two grid lrs). Toy cells: medians over runs.',
    '',
  ]
  header = ['', 'claim'] + [f'{a} r{r}' for a, v in arms.items() for r in v['by_rank']]
  rows = {k: [] for k in ('collapsed', 'literal', 'working', 'untuned')}
  for v in arms.values():
    for g in v['by_rank'].values():
      above = [x for x in g['rows'] if g['onset'] and x['lr'] >= g['onset'][1]]
      n_above = sum(x['n'] - x['diverged'] for x in above)
      k_above = sum(x['collapsed'] for x in above)
      one = sum(x['one_output'] for x in above)
      few = sum(x['few_outputs'] for x in above)
      acc_above = _median([x['accuracy_median'] for x in above])
      rows['collapsed'].append(
        f'{_pct(acc_above)}; {k_above}/{n_above} collapsed' if above else 'no collapse'
      )
      rows['literal'].append(f'{one}/{n_above} runs (≤ 3 outputs: {few}/{n_above})' if above else '–')
      rows['working'].append(
        f'{_pct(g["peak"]["accuracy_median"])} at lr {_lr_txt(g["peak"]["lr"])}' if g['peak'] else '–'
      )
      rows['untuned'].append(_pct(g['base_accuracy_median']))
  claim = {
    'collapsed': 'lr 2e-4 r128: 2%; lr 5e-5 r64: 0%',
    'literal': 'every question → "10000000"',
    'working': 'lr 5e-6 r32: 73.5%',
    'untuned': f'{_pct(CLAIM_UNTUNED)}',
  }
  names = {
    'collapsed': 'collapsed runs (above the onset): accuracy',
    'literal': 'one constant output (runs above)',
    'working': 'working run (best lr below the onset): accuracy',
    'untuned': 'untuned model (on the fine-tuning task)',
  }
  lines += [report.markdown_table(header, [[names[k], claim[k]] + rows[k] for k in rows]), '']

  # --- accuracy and collapse vs lr ---------------------------------------------------------------------
  lines += [
    '## Accuracy and collapse vs learning rate',
    '',
    'Held-out accuracy on mapping 2 (mean ± 95% CI half-width over seeds), collapsed runs / runs, '
    'median number of distinct greedy outputs over the held-out prompts, mean dead-ReLU fraction; for '
    'the sequence arm accuracy is the exact match of all digits, "digit acc" the median per-digit '
    'accuracy.',
    '',
  ]
  for a, v in arms.items():
    lines += [f'### {LABELS[a]}', '', _lr_table(v, a), '']

  # --- thresholds --------------------------------------------------------------------------------------
  lines += [
    '## Threshold',
    '',
    'Logistic fit of P(collapse) against log10 lr by maximum likelihood (non-diverged runs); threshold '
    '10^c and the 10–90% width (4.39·|s| decades) with 95% bootstrap CIs over runs. Onset: the two '
    'grid lrs where the collapse rate first crosses 50%. Accuracy cliff: a 4-parameter logistic of accuracy '
    'against log10 lr from the best lr upwards. "Intermediate": runs within '
    f'±{report.fmt(config.band_decades)} decade of c whose accuracy lies between the collapsed level '
    '(median accuracy of collapsed runs, a) and the working level (best median accuracy over lrs, b): in '
    f'a + ({report.fmt(config.intermediate_band[0])}, '
    f'{report.fmt(config.intermediate_band[1])})·(b − a); '
    f'"binary" allows at most {report.fmt(100 * config.max_intermediate)}% of them.',
    '',
  ]
  trows = []
  for a, v in arms.items():
    for r, g in v['by_rank'].items():
      f, af, b = g['fit'] or {}, g['accuracy_fit'] or {}, g.get('binary') or {}
      c = f.get('center')
      wci = f.get('width_ci95') or [None, None]
      onset = f'{_lr_txt(g["onset"][0])} – {_lr_txt(g["onset"][1])}' if g['onset'] else '–'
      trows.append(
        [
          a,
          r,
          f'{_lr_txt(10**c) if c is not None else "–"} {_ci_lr(f.get("center_ci95"))}'
          + ('' if g['threshold_in_grid'] or c is None else ' (outside the grid)'),
          f'{report.fmt(f.get("width_10_90"))} [{report.fmt(wci[0])}, {report.fmt(wci[1])}]',
          onset,
          f'{_lr_txt(10 ** af["center"]) if af.get("center") is not None else "–"}, width '
          f'{report.fmt(af.get("width_10_90"))}',
          f'{b["intermediate_n"]}/{b["near_n"]} ({_pct(b["fraction"])})' if b.get('near_n') else '–',
          _pct(b.get('all_fraction')),
        ]
      )
  lines += [
    report.markdown_table(
      [
        'arm',
        'rank',
        'threshold 10^c [95% CI]',
        '10–90% width, decades [CI]',
        'onset (50% crossing)',
        'accuracy cliff (4PL), width',
        'intermediate near c',
        'intermediate, all lrs',
      ],
      trows,
    ),
    '',
  ]
  notes = sorted(
    {
      g['fit']['note']
      for v in arms.values()
      for g in v['by_rank'].values()
      if g['fit'] and g['fit'].get('note')
    }
  )
  lines += [f'Note: {n}.' for n in notes] + ([''] if notes else [])

  # --- just below vs just above -------------------------------------------------------------------------
  edges = [
    (f'{a} r{r}: lr {_lr_txt(g["edge"]["below_lr"])} vs {_lr_txt(g["edge"]["above_lr"])}', g['edge'])
    for a, v in arms.items()
    for r, g in v['by_rank'].items()
    if g.get('edge') and 'accuracy' in g['edge']
  ]
  if edges:
    lines += [
      '## Just below vs just above the threshold',
      '',
      'The two grid learning rates where the collapse rate first crosses 50% (the onset), same seeds '
      '(paired). Accuracy: Student pooled t '
      "(as the write-ups), Welch, paired t, Mann–Whitney, Hedges' g; Holm across the rows. Collapse "
      'counts: Fisher exact, Holm across the rows.',
      '',
      report.comparison_table(
        [(lab, e['accuracy']) for lab, e in edges], holm=[e['accuracy_holm_p'] for _, e in edges]
      ),
      '',
    ]
    lines += [
      report.markdown_table(
        ['comparison', 'collapsed below', 'collapsed above', 'Fisher p', 'Holm p'],
        [
          [
            lab,
            f'{e["collapsed_below"]}/{e["n"]}',
            f'{e["collapsed_above"]}/{e["n"]}',
            report.fmt_p(e['fisher']['p']),
            report.fmt_p(e['fisher_holm_p']),
          ]
          for lab, e in edges
        ],
      ),
      '',
    ]
    lines += [
      '- ' + report.verdict(lab, e['accuracy'], holm_p=e['accuracy_holm_p'], names=('below', 'above'))
      for lab, e in edges
    ] + ['']

  # --- rank effect --------------------------------------------------------------------------------------
  lines += ['## Rank effect on the threshold', '']
  rrows = []
  for a, v in arms.items():
    re = v['rank_effect']
    if not re:
      continue
    ps = re['per_seed']
    cmp = ps.get('compare') or {}
    lo, hi = re['delta_c_ci95']
    flips = ', '.join(_lr_txt(x) for x in re['rank_alone_flips']) or 'none'
    rrows.append(
      [
        a,
        f'r{re["ranks"][1]} − r{re["ranks"][0]}',
        f'{report.fmt(re["delta_c"])} [{report.fmt(lo)}, {report.fmt(hi)}] ({re["n_boot_used"]} reps)',
        f'{report.fmt(cmp.get("mean_diff"))} (n={ps["n"]}), paired p '
        f'{report.fmt_p((cmp.get("paired") or {}).get("p"))}',
        flips,
      ]
    )
  lines += [
    'Δc = c(larger rank) − c(smaller rank) in decades of lr, with a 95% bootstrap CI over seeds (both '
    'ranks resampled with the same seeds, which share the base); per-seed thresholds (midpoint between '
    'the last non-collapsed lr and the first collapsed one) compared paired; learning rates at which the '
    'rank alone changes the collapse rate (Fisher exact, Holm across lrs, p < 0.05).',
    '',
    report.markdown_table(
      [
        'arm',
        'ranks',
        'Δc logistic [95% CI]',
        'Δ per-seed thresholds',
        'lrs where rank alone flips collapse',
      ],
      rrows,
    ),
    '',
  ]

  # --- diagnostics --------------------------------------------------------------------------------------
  lines += [
    '## Collapse diagnostics',
    '',
    'All runs of an arm pooled (every lr and rank): collapsed vs not collapsed, and the unadapted base. '
    'Dead-ReLU fraction: mean [95% CI]; logit variance across prompts (class-centred): median, as it '
    'spans many orders of magnitude; distinct outputs: median.',
    '',
  ]
  drows, dcmp = [], []
  for a, v in arms.items():
    d = v['diagnostics']
    for part, name in (
      ('collapsed', 'collapsed'),
      ('not_collapsed', 'not collapsed'),
      ('base', 'base model'),
    ):
      dr, lv, nd = (d[k][part] or {} for k in ('dead_relu', 'logit_var', 'num_distinct'))
      if not dr:
        continue
      ci = dr.get('ci95') or [None, None]
      m, lo, hi = report.fmt_same([dr.get('mean'), ci[0], ci[1]])
      drows.append(
        [
          a,
          name,
          dr.get('n'),
          f'{m} [{lo}, {hi}]',
          report.fmt(lv.get('median')),
          report.fmt(nd.get('median')),
        ]
      )
    if d['dead_relu']['compare']:
      dcmp.append((f'{a}: dead-ReLU fraction, collapsed vs not collapsed', d['dead_relu']['compare']))
  lines += [
    report.markdown_table(
      ['arm', 'runs', 'n', 'dead-ReLU fraction', 'logit variance (median)', 'distinct outputs (median)'],
      drows,
    ),
    '',
  ]
  if dcmp:
    lines += [report.comparison_table(dcmp), '']
  for a, v in arms.items():
    d = v['diagnostics']
    tops = ', '.join(f'{_output_txt(a, c, config)} ({n} runs)' for c, n in d['top_modal_outputs'])
    lines += [
      f'- {a}: {d["one_output_runs"]}/{d["collapsed_runs"]} collapsed runs give literally one output '
      f'on every held-out prompt; the most common collapsed outputs: {tops or "–"}.'
    ]
  lines += ['']

  lines += ['## Audit', '', _audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}. {an["headline"]["result"]}.', '']

  # --- plots ---------------------------------------------------------------------------------------------
  paths, acc = [], {}
  for a, v in arms.items():
    cells, series = _cells(runs, a), {}
    for r, g in v['by_rank'].items():
      x, y = _points(cells[int(r)])
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
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1][:-4]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _audit_text(an: dict, config) -> str:
  au = an['audit']
  arm = au.get('arm')
  if arm is None:
    return 'No runs to audit.'
  a = an['arms'][arm]
  out = [
    f'The write-up changed four to five knobs at once between its runs (lr, rank, data size '
    f'5000/6000/100, epochs, scaling): its collapsed runs used lr {CLAIM_RUNS[0]["lr"]:g} at rank '
    f'{CLAIM_RUNS[0]["rank"]} and {CLAIM_RUNS[1]["lr"]:g} at rank {CLAIM_RUNS[1]["rank"]}, its working run '
    f'{CLAIM_RUNS[2]["lr"]:g} at rank {CLAIM_RUNS[2]["rank"]}: {report.fmt(au["source_lr_gap_decades"])} '
    f'decades lower in lr and {report.fmt(au["source_rank_ratio"])}× lower in rank at once. The toy holds '
    f'the data, the number of steps and the scaling ({"α/√r" if an["rslora"] else "α/r"}, α = '
    f'{report.fmt(an["alpha_per_rank"])}·r) fixed and crosses lr with rank on a full grid.'
  ]
  sides = []
  for r, g in a['by_rank'].items():
    sd = g.get('sides')
    if g['threshold_in_grid'] and sd:
      sides.append(
        f'rank {r}: logistic threshold {_lr_txt(10 ** g["fit"]["center"])}, onset between lr '
        f'{_lr_txt(g["onset"][0])} and {_lr_txt(g["onset"][1])}; collapsed {sd["above_collapsed"]}/'
        f'{sd["above_n"]} runs above the onset and {sd["below_collapsed"]}/{sd["below_n"]} below'
      )
  if sides:
    out.append(f'At a fixed rank the lr alone turns collapse on ({arm} arm; ' + '; '.join(sides) + ').')
  re = a['rank_effect']
  if re and re['delta_c'] is not None:
    lo, hi = re['delta_c_ci95']
    ps = re['per_seed']
    cmp = ps.get('compare') or {}
    ratio = au.get('rank_ratio')
    out.append(
      f'At a fixed lr, raising the rank {report.fmt(ratio)}× (r{re["ranks"][0]} → r{re["ranks"][1]}) '
      f'moves the logistic threshold by Δc = {report.fmt(re["delta_c"])} decades [{report.fmt(lo)}, '
      f'{report.fmt(hi)}] and the per-seed thresholds by {report.fmt(cmp.get("mean_diff"))} decades '
      f'(paired p {report.fmt_p((cmp.get("paired") or {}).get("p"))}, n = {ps["n"]}); the rank alone '
      f'changes the collapse rate at {len(re["rank_alone_flips"])} of {len(re["by_lr"])} learning rates'
      + (f' ({", ".join(_lr_txt(x) for x in re["rank_alone_flips"])})' if re['rank_alone_flips'] else '')
      + '.'
    )
    parts = [
      f'{report.fmt(abs(v))} ({name})'
      for v, name in ((re['delta_c'], 'logistic centers'), (cmp.get('mean_diff'), 'per-seed thresholds'))
      if v is not None
    ]
    biggest = max(abs(v) for v in (re['delta_c'], cmp.get('mean_diff')) if v is not None)
    gap = au['source_lr_gap_decades']
    if au['attribution'] == 'both':
      out.append(
        f'So the toy attributes the collapse to both knobs, unequally: the lr sets the threshold and the '
        f'rank shifts it by {" and ".join(parts)} decades for a {report.fmt(ratio)}× rank change '
        f'(detected by: {", ".join(au["rank_evidence"]) or "a rank without a threshold"}). '
        + (
          f"In the toy's terms the write-up's collapsed and working runs, {report.fmt(gap)} decades "
          'apart in lr, differ by far more than the rank effect: the lr change alone would explain them, '
          'its rank change alone would move the threshold only slightly.'
          if gap > 2 * biggest
          else f"The rank effect is comparable to the write-up's {report.fmt(gap)}-decade lr gap, so its "
          'runs cannot separate the two knobs.'
        )
      )
    elif au['attribution'] == 'lr':
      out.append(
        'So the toy attributes the collapse to the lr: at a fixed lr the rank does not change the '
        'outcome detectably.'
      )
  if au['attribution'] == 'neither':
    out.append('No rank collapses inside the lr grid: the toy does not show the claimed collapse.')
  binary = [(r, g['binary']) for r, g in a['by_rank'].items() if g.get('binary') and g['binary']['near_n']]
  if binary:
    out.append(
      'Is it binary? Runs within ±' + report.fmt(config.band_decades) + ' decade of the threshold '
      'with an accuracy between the collapsed and the working level: '
      + '; '.join(f'rank {r}: {b["intermediate_n"]}/{b["near_n"]}' for r, b in binary)
      + f' (the claim implies ≤ {report.fmt(100 * config.max_intermediate)}%).'
    )
    approach = []
    for r, g in a['by_rank'].items():
      last = next((x for x in g['rows'] if g['onset'] and x['lr'] == g['onset'][0]), None)
      if last and g['peak'] and last['lr'] != g['peak']['lr']:
        approach.append(
          f'rank {r}: {_pct(g["peak"]["accuracy_median"])} at lr {_lr_txt(g["peak"]["lr"])} → '
          f'{_pct(last["accuracy_median"])} at {_lr_txt(last["lr"])} ({last["collapsed"]}/'
          f'{last["n"] - last["diverged"]} collapsed) → collapse'
        )
    if approach:
      out.append(
        'Accuracy already falls on the way to the threshold (median accuracy, best lr → the last lr '
        'before the onset → above it: ' + '; '.join(approach) + '): the collapse itself is abrupt, but '
        'the approach to it is gradual, and that is where the intermediate runs come from.'
      )
  esc = [
    (r, g['sides'])
    for r, g in a['by_rank'].items()
    if g.get('sides') and g['sides']['above_few_outputs_not_collapsed']
  ]
  if esc:
    out.append(
      'Above the onset, '
      + ' and '.join(f'{sd["above_few_outputs_not_collapsed"]}/{sd["above_n"]} (rank {r})' for r, sd in esc)
      + ' runs give 2–3 distinct outputs at chance accuracy, with normalized entropy at or just above '
      '0.1: degenerate, but not "collapsed" by the detector; they keep P(collapse) below 1 at the '
      'largest lrs, which a logistic cannot follow, so its fitted width grows.'
    )
  gains = au.get('gains', {})
  if gains:
    g = '; '.join(
      f'rank {r}: {_pct(v["gain_smallest"])} at lr {_lr_txt(v["smallest_lr"])} vs '
      f'{_pct(v["gain_best"])} at the best lr {_lr_txt(v["best_lr"])}'
      for r, v in gains.items()
    )
    out.append(
      f'The write-up\'s "working" run scored 73.5% against 73% untuned, a gain of 0.5 points. In the '
      f'toy the gains over the untuned base on the fine-tuning task are {g}: a run far below the '
      'threshold does not collapse but barely learns in a fixed budget. Not collapsing is not the same '
      'as working, and a 0.5-point gain is what an lr too small to matter looks like.'
    )
  return ' '.join(out)
