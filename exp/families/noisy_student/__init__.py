"""Family D — Noisy Student: token-level noise in distillation, with the claims audit.

Claim (write-up): token-level input noise (10% token deletion + 10% dropout) in distillation raises the
loss: 4.097 ± 0.339 vs 3.657 ± 0.173 (10 seeds), t = 3.66, p = 0.0018, Hedges' g = 1.568, and the noisy
arm has "2× higher variance". Method: Xie et al., "Self-training with Noisy Student improves ImageNet
classification", CVPR 2020 (noise on the student only, while it learns from the teacher's labels).

Toy (SCIENCE.md D): a synthetic "spec -> code" language (``exp.languages``): a prompt of 6 symbols and a
10-token response, response token j = table[j, prompt[a_j], prompt[b_j]] (replaced by a random symbol with
a small probability: a fixed stochastic program of the prompt). Token layout PAD = 0, SEP = 1, symbols
from 2; LM sequences are ``[prompt, SEP, response]``.

- Pretraining stage (cached per seed): the program and a teacher window-MLP LM trained to convergence on
  fresh program samples. Its output is the teacher's parameters and the program.
- One arm, ``distill`` (``init`` from the seed's teacher, pure): the teacher greedily pseudo-labels
  ``n_train`` training prompts and ``n_heldout`` held-out prompts (held-out prompts that also occur in the
  training set are masked out of every held-out metric). A smaller student LM is trained on the
  pseudo-labelled training prompts with Adam, minibatches drawn from the per-step key.
- Noise conditions are the arm's grid points (``config.conditions``): ``clean`` (no noise), ``noisy``
  (each prompt token deleted with probability ``delete_p`` — delete and shift: kept tokens move left, PAD
  fills the freed slots before SEP — and dropout ``dropout`` on the student, in training only), and the
  ablations ``delete_only`` and ``dropout_only``. The grid values are traced: deletion takes p traced, and
  since flax's dropout rate is static the step traces the dropout and the deterministic forward pass and
  selects one. So all conditions share one compile, and every condition of a seed shares data, labels,
  initial student, minibatch order and deletion draws (common random numbers; paired tests).
- 40 steps (the claim's regime) and 400 steps (over-fitting) come from one run: the student's parameters
  after ``early_step`` updates are snapshotted in the state and evaluated at the end beside the final
  ones. With a constant learning rate and the per-step key fold_in(run_key, step), that snapshot is
  exactly what a separate 40-step run would give, without a second compile.

Metrics (both regimes): training loss on noised inputs (the condition's own noise, ``noise_draws`` draws over
the whole training set: what the claim reports), clean training loss, clean held-out loss on unseen
prompts (against the teacher's pseudo-labels), held-out exact match and token accuracy of the student's
greedy output against the noise-free program.
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
from exp.core.workdir import finite_or_none
from exp.tasks import languages as lang
from losses.sequence import next_token_ce
from models.lm import WindowMLPLM, greedy, init_params, make_apply_fn

ARMS = ('distill',)
# Noise conditions: grid points of the one arm, as (deletion on, dropout on).
CONDITIONS = {'clean': (0, 0), 'noisy': (1, 1), 'delete_only': (1, 0), 'dropout_only': (0, 1)}
CONDITION_IDS = {c: i for i, c in enumerate(CONDITIONS)}  # the 'condition' grid column names the point
# The write-up's published numbers: inputs to the audit and the side-by-side table, never results.
CLAIM = {
  'noisy': {'mean': 4.097, 'sd': 0.339, 'n': 10, 'ci95': (3.85, 4.34)},
  'clean': {'mean': 3.657, 'sd': 0.173, 'n': 10, 'ci95': (3.53, 3.78)},
  't': 3.66,
  'p': 0.0018,
  'g': 1.568,
  'variance_factor': 2.0,
}
# Evaluated metrics, in table order; '<name>_early' holds the same after early_step updates.
METRICS = ('train_loss_noised', 'train_loss_clean', 'heldout_loss', 'heldout_exact', 'heldout_token_acc')
METRIC_LABELS = {
  'train_loss_noised': 'training loss, noised inputs (the claim)',
  'train_loss_clean': 'training loss, clean inputs',
  'heldout_loss': 'held-out loss, clean (unseen prompts)',
  'heldout_exact': 'held-out exact match vs program',
  'heldout_token_acc': 'held-out token accuracy vs program',
}
SERIES_LABELS = {
  'clean': 'clean',
  'noisy': 'noisy (deletion + dropout)',
  'delete_only': 'deletion only',
  'dropout_only': 'dropout only',
}


def _int_keys():
  return (
    ('n_symbols', 2),
    ('prompt_len', 2),
    ('response_len', 1),
    ('window', 1),
    ('teacher_hidden', 1),
    ('teacher_embed', 1),
    ('pretrain_steps', 1),
    ('pretrain_batch', 1),
    ('n_train', 2),
    ('n_heldout', 2),
    ('hidden', 1),
    ('embed', 1),
    ('batch_size', 1),
    ('noise_draws', 1),
    ('curve_heldout', 1),
    ('early_step', 1),
  )


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key, minimum in _int_keys():
    cfglib.require_int(config, key, minimum)
  for key in ('lr', 'pretrain_lr'):
    cfglib.require_positive_floats(config, key)
  for key in ('delete_p', 'dropout', 'program_noise'):
    v = cfglib.lookup(config, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
      raise ConfigError(key, f'must be a probability in [0, 1), got {v!r}')
  seq = config.prompt_len + 1 + config.response_len
  if seq > config.window:
    raise ConfigError(
      'window',
      f'the sequence (prompt_len + 1 + response_len = {seq} tokens) exceeds the '
      f'model context window = {config.window}; raise window or shorten the sequence',
    )
  if config.early_step > config.num_steps:
    raise ConfigError('early_step', f'must be <= num_steps ({config.num_steps}), got {config.early_step}')
  if config.batch_size > config.n_train:
    raise ConfigError('batch_size', f'must be <= n_train ({config.n_train}), got {config.batch_size}')
  if config.curve_heldout > config.n_heldout:
    raise ConfigError(
      'curve_heldout', f'must be <= n_heldout ({config.n_heldout}), got {config.curve_heldout}'
    )
  conds = conditions(config)
  if not conds or any(c not in CONDITIONS for c in conds) or len(set(conds)) != len(conds):
    raise ConfigError(
      'conditions', f'must name distinct conditions among {", ".join(CONDITIONS)}, got {conds}'
    )
  if 'clean' not in conds or 'noisy' not in conds:
    raise ConfigError('conditions', f'must include clean and noisy (the claim compares them), got {conds}')


def seq_len(config) -> int:
  return config.prompt_len + 1 + config.response_len


def flat_init(model, key, length: int):
  """Parameters of ``model`` shaped as ``models.lm.init_params`` gives them, drawn with one flat normal
  draw (flax's per-leaf truncated-normal initializers compile several times slower on CPU): kernels
  N(0, 1/fan_in), embeddings N(0, 1/vocab) (flax's Embed default), biases and LayerNorm scales as usual."""
  shapes = jax.eval_shape(lambda: init_params(model, jax.random.key(0), length))
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  z = jax.random.normal(key, (sum(int(np.prod(l.shape)) for _, l in leaves),))
  out, at = [], 0
  for path, leaf in leaves:
    name = str(getattr(path[-1], 'key', path[-1]))
    size = int(np.prod(leaf.shape))
    if name == 'bias':
      out.append(jnp.zeros(leaf.shape, leaf.dtype))
    elif name == 'scale':
      out.append(jnp.ones(leaf.shape, leaf.dtype))
    else:  # 'kernel' (fan_in, fan_out) or 'embedding' (vocab, features)
      out.append((z[at : at + size] / math.sqrt(leaf.shape[0])).reshape(leaf.shape).astype(leaf.dtype))
    at += size
  return jax.tree_util.tree_unflatten(treedef, out)


def build(config) -> Experiment:
  P, R, T = config.prompt_len, config.response_len, seq_len(config)
  vocab = lang.SYM0 + config.n_symbols
  teacher = WindowMLPLM(
    vocab=vocab, window=config.window, hidden=config.teacher_hidden, embed=config.teacher_embed
  )
  # One student module; dropout is switched per run by the traced grid value (see noised_loss).
  student = WindowMLPLM(
    vocab=vocab,
    window=config.window,
    hidden=config.hidden,
    embed=config.embed,
    dropout_rate=float(config.dropout),
  )
  teacher_apply = make_apply_fn(teacher)
  response_pos = (jnp.arange(T) > P).astype(jnp.float32)  # targets: the response tokens only

  def target_mask(n, row_weight=None):
    w = jnp.ones((n,), jnp.float32) if row_weight is None else row_weight
    return w[:, None] * response_pos[None]

  pre_tx = optax.adam(config.pretrain_lr)
  tx = optax.adam(config.lr)

  def program_of(d):
    return lang.Program(d['a'], d['b'], d['table'], d['noise'])

  def with_sep(prompts):
    return jnp.concatenate([prompts, jnp.full((prompts.shape[0], 1), lang.PROG_SEP, jnp.int32)], axis=1)

  # --- pretraining: program + teacher ---------------------------------------------------------------
  def pre_init(key, hp):
    del hp
    prog = lang.make_program(jax.random.fold_in(key, 0), P, R, config.n_symbols, config.program_noise)
    params = flat_init(teacher, jax.random.fold_in(key, 1), T)
    return dict(
      params=params,
      opt_state=pre_tx.init(params),
      a=prog.a,
      b=prog.b,
      table=prog.table,
      noise=prog.noise,
      eval_key=jax.random.fold_in(key, 2),
    )

  def pre_step(state, hp, key):
    del hp
    prompts, responses = lang.sample_program_data(program_of(state), key, config.pretrain_batch, P)
    seqs = lang.program_sequences(prompts, responses)

    def loss_fn(params):
      return next_token_ce(teacher.apply({'params': params}, seqs), seqs, target_mask(seqs.shape[0]))

    loss, grads = jax.value_and_grad(loss_fn)(state['params'])
    updates, opt_state = pre_tx.update(grads, state['opt_state'], state['params'])
    return dict(state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state), dict(
      loss=loss
    )

  def pre_eval(state, hp):
    del hp
    prog = program_of(state)
    prompts, _ = lang.sample_program_data(prog, state['eval_key'], config.n_heldout, P)
    out = greedy(teacher_apply, state['params'], with_sep(prompts), R)[:, P + 1 :]
    clean = lang.program_sequences(prompts, lang.program_output(prog, prompts))
    return dict(
      teacher_exact=lang.program_exact_match(prog, prompts, out),
      teacher_token_acc=lang.program_token_accuracy(prog, prompts, out),
      teacher_clean_loss=next_token_ce(
        teacher_apply(state['params'], clean), clean, target_mask(clean.shape[0])
      ),
    )

  def pre_output(state):
    return {k: state[k] for k in ('params', 'a', 'b', 'table', 'noise')}

  # --- arms: distil a student from the teacher's pseudo-labels -------------------------------------------
  apply_clean = make_apply_fn(student)

  def init(key, hp, base):
    del hp  # every condition of a seed shares data, labels, student init and minibatch order
    prog = program_of(base)
    train, _ = lang.sample_program_data(prog, jax.random.fold_in(key, 1), config.n_train, P)
    held, _ = lang.sample_program_data(prog, jax.random.fold_in(key, 2), config.n_heldout, P)
    labels = greedy(teacher_apply, base['params'], with_sep(jnp.concatenate([train, held])), R)[:, P + 1 :]
    unseen = ~jnp.any(jnp.all(held[:, None, :] == train[None, :, :], axis=-1), axis=1)
    params = flat_init(student, jax.random.fold_in(key, 3), T)
    return dict(
      params=params,
      params_early=params,
      opt_state=tx.init(params),
      t=jnp.int32(0),
      train=train,
      train_labels=labels[: config.n_train],
      held=held,
      held_labels=labels[config.n_train :],
      unseen=unseen.astype(jnp.float32),
      a=prog.a,
      b=prog.b,
      table=prog.table,
      noise=prog.noise,
      teacher_exact=lang.program_exact_match(prog, held, labels[config.n_train :]),
      eval_key=jax.random.fold_in(key, 4),
    )

  def noised_loss(params, prompts, labels, hp, key):
    """The training objective: token deletion with probability hp['delete_p'] (0 = none) on the prompts,
    and the student's dropout when hp['dropout'] > 0. Dropout's rate is static in flax, so both forward
    passes are traced and the run's one is selected: one compiled program serves every condition."""
    seqs = lang.program_sequences(
      lang.delete_tokens(jax.random.fold_in(key, 0), prompts, hp['delete_p']), labels
    )
    dropped = student.apply(
      {'params': params}, seqs, deterministic=False, rngs={'dropout': jax.random.fold_in(key, 1)}
    )
    logits = jnp.where(hp['dropout'] > 0, dropped, apply_clean(params, seqs))
    return next_token_ce(logits, seqs, target_mask(seqs.shape[0]))

  def clean_loss(params, prompts, labels, row_weight=None):
    seqs = lang.program_sequences(prompts, labels)
    return next_token_ce(apply_clean(params, seqs), seqs, target_mask(seqs.shape[0], row_weight))

  def step(state, hp, key):
    # Minibatch (without replacement within a step) from the per-step key: the same in every condition.
    idx = jnp.argsort(jax.random.uniform(jax.random.fold_in(key, 0), (config.n_train,)))[: config.batch_size]
    prompts, labels = state['train'][idx], state['train_labels'][idx]
    loss, grads = jax.value_and_grad(noised_loss)(
      state['params'], prompts, labels, hp, jax.random.fold_in(key, 1)
    )
    c = config.curve_heldout
    held_loss = clean_loss(state['params'], state['held'][:c], state['held_labels'][:c], state['unseen'][:c])
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    t = state['t'] + 1
    early = jax.tree.map(
      lambda new, old: jnp.where(t == config.early_step, new, old), params, state['params_early']
    )
    return dict(state, params=params, params_early=early, opt_state=opt_state, t=t), dict(
      loss=loss, heldout_loss=held_loss
    )

  def metrics_of(params, state, hp):
    prog = program_of(state)
    k, c = config.noise_draws, config.curve_heldout
    prompts = jnp.tile(state['train'], (k, 1))
    labels = jnp.tile(state['train_labels'], (k, 1))
    out = greedy(apply_clean, params, with_sep(state['held']), R)[:, P + 1 :]
    w = state['unseen']
    target = lang.program_output(prog, state['held'])
    exact = jnp.all(out == target, axis=-1).astype(jnp.float32)
    tok = jnp.mean((out == target).astype(jnp.float32), axis=-1)
    return dict(
      train_loss_noised=noised_loss(params, prompts, labels, hp, state['eval_key']),
      train_loss_clean=clean_loss(params, state['train'], state['train_labels']),
      heldout_loss=clean_loss(params, state['held'], state['held_labels'], w),
      heldout_loss_curve=clean_loss(params, state['held'][:c], state['held_labels'][:c], w[:c]),
      heldout_exact=jnp.sum(exact * w) / jnp.maximum(jnp.sum(w), 1.0),
      heldout_token_acc=jnp.sum(tok * w) / jnp.maximum(jnp.sum(w), 1.0),
    )

  def evaluate(state, hp):
    # One traced copy of the evaluation, mapped over the (final, early) parameters.
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), state['params'], state['params_early'])
    m = jax.vmap(lambda p: metrics_of(p, state, hp))(both)
    out = {k: v[0] for k, v in m.items()}
    out.update({f'{k}_early': v[1] for k, v in m.items()})
    out.update(teacher_exact=state['teacher_exact'], heldout_unseen=jnp.sum(state['unseen']))
    return out

  conds = conditions(config)
  grid = {
    'condition': np.array([CONDITION_IDS[c] for c in conds], np.int32),
    'delete_p': np.array([CONDITIONS[c][0] * config.delete_p for c in conds], np.float32),
    'dropout': np.array([CONDITIONS[c][1] * config.dropout for c in conds], np.float32),
  }
  arms = tuple(
    Arm(name=a, grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)
    for a in cfglib.arm_names(config)
  )
  pre = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)
  return Experiment(
    name='noisy_student',
    arms=arms,
    analyze=analyze,
    report=make_report,
    pretrain=pre,
    pretrain_output=pre_output,
    pretrain_keys=(
      'n_symbols',
      'prompt_len',
      'response_len',
      'program_noise',
      'window',
      'teacher_hidden',
      'teacher_embed',
      'pretrain_steps',
      'pretrain_lr',
      'pretrain_batch',
      'n_heldout',
    ),
  )


def conditions(config) -> tuple[str, ...]:
  return (
    tuple(config.conditions)
    if not isinstance(config.conditions, str)
    else tuple(c.strip(' \'"()[]') for c in config.conditions.split(',') if c.strip(' \'"()[]'))
  )


# ---------------------------------------------------------------------------------------------------
# Analysis (host, numpy/scipy via exp.stats)

REGIMES = ('early', 'final')
LOSSES = ('train_loss_noised', 'train_loss_clean', 'heldout_loss')


def condition_of(grid: dict) -> str:
  return list(CONDITIONS)[int(grid['condition'])]


def _key(metric: str, regime: str) -> str:
  return f'{metric}_early' if regime == 'early' else metric


def per_seed(runs: list[dict], config) -> dict:
  """{condition: {'seeds': [...], 'diverged': [seeds], metric_key: np.array over seeds (nan = diverged)}}."""
  seeds = [config.seed_offset + i for i in range(config.num_seeds)]
  pos = {s: i for i, s in enumerate(seeds)}
  out: dict = {}
  for r in runs:
    if r['arm'] == 'pretrain':
      continue
    c = condition_of(r['grid'])
    cell = out.setdefault(c, {'seeds': seeds, 'diverged': [], 'n_runs': 0})
    cell['n_runs'] += 1
    if r['status'] == 'diverged':
      cell['diverged'].append(r['seed'])
      continue
    for k, v in r['metrics'].items():
      arr = cell.setdefault(k, np.full(len(seeds), np.nan))
      if v is not None and r['seed'] in pos:
        arr[pos[r['seed']]] = float(v)
  return {c: out[c] for c in CONDITIONS if c in out}


def claim_samples(mean: float, sd: float, n: int) -> np.ndarray:
  """A sample of n values with exactly the published mean and SD (ddof=1). The F test, per-group CIs,
  t and g depend on (mean, SD, n) only, so exp.stats run on it reproduces them exactly from the claim;
  tests that need the raw values (Levene, Brown–Forsythe) are not reported for the claim."""
  z = np.linspace(-1.0, 1.0, n)
  z = (z - z.mean()) / z.std(ddof=1)
  return mean + sd * z


def claim_audit() -> dict:
  c = CLAIM
  noisy = claim_samples(c['noisy']['mean'], c['noisy']['sd'], c['noisy']['n'])
  clean = claim_samples(c['clean']['mean'], c['clean']['sd'], c['clean']['n'])
  recomputed = stats.compare_from_summary(
    c['noisy']['mean'],
    c['noisy']['sd'],
    c['noisy']['n'],
    c['clean']['mean'],
    c['clean']['sd'],
    c['clean']['n'],
  )
  var = stats.variance_test(noisy, clean)
  return {
    'reported': {
      't': c['t'],
      'p': c['p'],
      'g': c['g'],
      'variance_factor': c['variance_factor'],
      'noisy': dict(c['noisy']),
      'clean': dict(c['clean']),
    },
    'recomputed': recomputed,
    'ci95': {'noisy': stats.describe(noisy)['ci95'], 'clean': stats.describe(clean)['ci95']},
    'sd_ratio': var['sd_ratio'],
    'var_ratio': var['var_ratio'],
    'f_test': var['f'],
  }


def analyze(runs: list[dict], config) -> dict:
  ps = per_seed(runs, config)
  conds = list(ps)
  cells = {}
  for c in conds:
    cells[c] = {'n_runs': ps[c]['n_runs'], 'diverged': len(ps[c]['diverged'])}
    for reg in REGIMES:
      cells[c][reg] = {m: stats.describe(ps[c][_key(m, reg)]) for m in METRICS if _key(m, reg) in ps[c]}

  def cmp(a, b, metric, reg):
    xa, xb = ps[a][_key(metric, reg)], ps[b][_key(metric, reg)]
    if np.isfinite(xa).sum() == 0 or np.isfinite(xb).sum() == 0:
      return None
    return stats.compare(xa, xb, paired=True)

  # Noisy vs clean on every metric in both regimes: one finding, Holm over all its rows.
  comparisons = []
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      for m in METRICS:
        c = cmp('noisy', 'clean', m, reg)
        if c is not None:
          comparisons.append({'a': 'noisy', 'b': 'clean', 'metric': m, 'regime': reg, 'compare': c})
  for row, hp in zip(comparisons, stats.holm([r['compare']['student']['p'] for r in comparisons])):
    row['holm_p'] = finite_or_none(hp)

  # Ablations: which noise does what (held-out loss and token accuracy), Holm within.
  ablations = []
  for a in ('delete_only', 'dropout_only'):
    if a in ps and 'clean' in ps:
      for reg in REGIMES:
        for m in ('heldout_loss', 'heldout_token_acc', 'train_loss_noised'):
          c = cmp(a, 'clean', m, reg)
          if c is not None:
            ablations.append({'a': a, 'b': 'clean', 'metric': m, 'regime': reg, 'compare': c})
  for row, hp in zip(ablations, stats.holm([r['compare']['student']['p'] for r in ablations])):
    row['holm_p'] = finite_or_none(hp)

  variance = {}
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      variance[reg] = {}
      for m in LOSSES:
        xa, xb = ps['noisy'][_key(m, reg)], ps['clean'][_key(m, reg)]
        if np.isfinite(xa).sum() and np.isfinite(xb).sum():
          variance[reg][m] = stats.variance_test(xa, xb)

  # How much of the claimed gap is the measurement: noised-train gap = (noisy − clean on clean training
  # inputs) + (the noisy student's own noised − clean training loss), per seed.
  decomposition = {}
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      n_noised, n_clean = (
        ps['noisy'][_key('train_loss_noised', reg)],
        ps['noisy'][_key('train_loss_clean', reg)],
      )
      c_clean = ps['clean'][_key('train_loss_clean', reg)]
      gap = n_noised - c_clean
      model_part = n_clean - c_clean
      measure_part = n_noised - n_clean
      decomposition[reg] = {
        'gap': stats.describe(gap),
        'model_part': stats.describe(model_part),
        'measurement_part': stats.describe(measure_part),
        'measurement_share': finite_or_none(np.nanmean(measure_part) / np.nanmean(gap))
        if np.isfinite(gap).any() and np.nanmean(gap) != 0
        else None,
      }

  pre = [r for r in runs if r['arm'] == 'pretrain' and r['status'] == 'ok']
  teacher = {
    'exact': stats.describe([r['metrics'].get('teacher_exact', np.nan) for r in pre]) if pre else None,
    'labels_exact': stats.describe(ps['clean']['teacher_exact'])
    if 'clean' in ps and 'teacher_exact' in ps['clean']
    else None,
    'heldout_unseen': stats.describe(ps['clean']['heldout_unseen'])
    if 'clean' in ps and 'heldout_unseen' in ps['clean']
    else None,
  }

  analysis = {
    'conditions': conds,
    'labels': {c: SERIES_LABELS[c] for c in conds},
    'regimes': {'early': config.early_step, 'final': config.num_steps},
    'cells': cells,
    'comparisons': comparisons,
    'ablations': ablations,
    'variance': variance,
    'decomposition': decomposition,
    'teacher': teacher,
    'claim': claim_audit(),
    'per_seed': {
      c: {k: [finite_or_none(v) for v in arr] for k, arr in d.items() if isinstance(arr, np.ndarray)}
      for c, d in ps.items()
    },
  }
  analysis['audit'] = _audit(analysis)
  analysis['headline'] = _headline(analysis)
  return analysis


def _find(rows, metric, regime):
  return next((r for r in rows if r['metric'] == metric and r['regime'] == regime), None)


def _sig(row, alpha=0.05):
  """'higher' / 'lower' when significant after Holm, else 'no difference'."""
  if row is None:
    return None
  p = row.get('holm_p')
  d = row['compare']['mean_diff']
  if p is None or d is None or not np.isfinite(d):
    return None
  if p < alpha:
    return 'higher' if d > 0 else 'lower'
  return 'no difference'


def _audit(an: dict) -> dict:
  """The audit's conclusions, all computed from the runs and the claim's published summary."""
  comps = an['comparisons']
  out = {}
  for reg in REGIMES:
    out[reg] = {m: _sig(_find(comps, m, reg)) for m in METRICS}
  claim_metric_early = out['early'].get('train_loss_noised')
  out['claim_metric_reproduced'] = claim_metric_early == 'higher' if claim_metric_early else None
  out['heldout_early'] = out['early'].get('heldout_loss')
  out['heldout_final'] = out['final'].get('heldout_loss')
  v = an['variance'].get('early', {}).get('train_loss_noised')
  if v:
    out['variance_early'] = {
      'sd_ratio': v['sd_ratio'],
      'var_ratio': v['var_ratio'],
      'f_p': v['f']['p'],
      'levene_p': v['levene']['p'],
      'bf_p': v['brown_forsythe']['p'],
    }
  return out


def _p(p, name='p') -> str:
  s = report.fmt_p(p)
  return f'{name} < 0.001' if s.startswith('<') else f'{name} = {s}'


def _g_text(row) -> str:
  c = row['compare']
  return f'g = {_est(c["hedges_g"], c["hedges_g_ci95"])}, {_p(c["student"]["p"])}'


def _headline(an: dict) -> dict:
  comps, regs = an['comparisons'], an['regimes']
  claim_row = _find(comps, 'train_loss_noised', 'early')
  held_early, held_final = _find(comps, 'heldout_loss', 'early'), _find(comps, 'heldout_loss', 'final')
  parts = []
  cells = an['cells']
  if claim_row:
    dn = cells['noisy']['early']['train_loss_noised']
    dc = cells['clean']['early']['train_loss_noised']
    parts.append(
      f'training loss on noised inputs after {regs["early"]} steps: noisy {_ms(dn)} vs clean {_ms(dc)} '
      f'(mean ± SD, {dn["n"]} seeds), {_g_text(claim_row)}'
    )
  if held_early:
    parts.append(
      f'clean held-out loss at {regs["early"]} steps: Δ = {report.fmt(held_early["compare"]["mean_diff"])}, '
      f'{_g_text(held_early)}'
    )
  if held_final:
    parts.append(
      f'at {regs["final"]} steps: Δ = {report.fmt(held_final["compare"]["mean_diff"])}, {_g_text(held_final)}'
    )
  effect = None
  if claim_row:
    c = claim_row['compare']
    effect = {
      'name': f"Hedges' g, training loss on noised inputs, noisy − clean, {regs['early']} steps",
      'value': c['hedges_g'],
      'ci95': c['hedges_g_ci95'],
    }
  a = an['audit']
  reproduced = a.get('claim_metric_reproduced')
  held = {'higher': 'raises', 'lower': 'lowers', 'no difference': 'does not change'}
  if reproduced is None:
    verdict = 'not enough runs to judge'
  else:
    verdict = (
      'The claimed loss increase reproduces' if reproduced else 'The claimed loss increase does not reproduce'
    ) + " on the claim's metric (training loss scored on noised inputs)"
    if a.get('heldout_early'):
      verdict += (
        f'; on clean held-out prompts noise {held[a["heldout_early"]]} the loss at {regs["early"]} steps'
      )
    if a.get('heldout_final'):
      verdict += f' and {held[a["heldout_final"]]} it at {regs["final"]} steps (over-fitting regime)'
  return {
    'finding': 'Noisy Student: token-level noise in distillation',
    'claim': '10% token deletion + 10% dropout raise the loss: 4.097 ± 0.339 vs 3.657 ± 0.173, '
    't = 3.66, p = 0.0018, g = 1.568, "2× higher variance"',
    'result': '; '.join(parts),
    'effect': effect,
    'verdict': verdict,
    'reproduced': reproduced,
  }


# ---------------------------------------------------------------------------------------------------
# Report


def _ms(d) -> str:
  """mean ± SD (the write-up's '±')."""
  if not d or d.get('mean') is None:
    return '–'
  m, s = report.fmt_same([d['mean'], d['sd']])
  return f'{m} ± {s}'


def _ci(ci) -> str:
  if not ci or ci[0] is None:
    return '–'
  a, b = report.fmt_same(list(ci))
  return f'[{a}, {b}]'


def _mean_half(d) -> str:
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d['ci95']
  if lo is None or hi is None or not np.isfinite(lo):
    return report.fmt(d['mean'])
  m, h = report.fmt_same([d['mean'], (hi - lo) / 2])
  return f'{m} ± {h}'


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  regs, labels, conds = an['regimes'], an['labels'], an['conditions']
  E, F = regs['early'], regs['final']
  cl = an['claim']
  t = an['teacher']
  lines = [
    '# Noisy Student: token-level noise in distillation (claims audit)',
    '',
    f'{config.num_seeds} seeds. Per seed: a fixed stochastic "spec → code" program ({config.prompt_len}-token '
    f'prompt over {config.n_symbols} symbols, {config.response_len}-token response, each response token a '
    f'table of two prompt positions, {config.program_noise:g} token noise); a teacher window-MLP LM '
    f'(hidden {config.teacher_hidden}) trained on fresh samples for {config.pretrain_steps} steps'
    + (f' (held-out exact match {report.fmt(t["exact"]["mean"])})' if t.get('exact') else '')
    + f'; its greedy pseudo-labels on {config.n_train} training and {config.n_heldout} held-out prompts'
    + (
      f' ({report.fmt(t["heldout_unseen"]["mean"])} of them not in the training set on average)'
      if t.get('heldout_unseen')
      else ''
    )
    + f'. A smaller student (hidden {config.hidden}) is distilled on the {config.n_train} pseudo-labelled '
    f'prompts with Adam (lr {config.lr:g}, batch {config.batch_size}); every condition of a seed shares '
    f'data, labels, initial student, minibatch order and deletion draws. Noise (training only): delete '
    f'each prompt token with p = {config.delete_p:g} (delete and shift) and dropout {config.dropout:g}. '
    f"Students are evaluated after {E} updates (the claim's regime) and {F} updates (over-fitting).",
    '',
    "Metrics: **training loss on noised inputs** = each student's loss on its own training inputs with its "
    f'own noise ({config.noise_draws} noise draws over all training prompts; what the claim reports, equal '
    'to the clean training loss for the clean student); **training loss, clean inputs**; **held-out loss** = '
    "clean inputs, unseen prompts, against the teacher's labels; exact match / token accuracy of the "
    "student's greedy output against the noise-free program (unseen prompts).",
    '',
  ]

  # --- the write-up's table ----------------------------------------------------------------------------
  lines += [
    "## The write-up's table, side by side",
    '',
    'Final training loss, mean ± SD over seeds and the per-group 95% CI (t, n − 1 df), as the write-up '
    'reports it.',
    '',
  ]
  rows = [
    [
      'write-up',
      'noisy',
      cl['reported']['noisy']['n'],
      _ms(cl['reported']['noisy']),
      _ci(cl['reported']['noisy']['ci95']),
      _ci(cl['ci95']['noisy']),
    ],
    [
      'write-up',
      'clean',
      cl['reported']['clean']['n'],
      _ms(cl['reported']['clean']),
      _ci(cl['reported']['clean']['ci95']),
      _ci(cl['ci95']['clean']),
    ],
  ]
  for reg in REGIMES:
    for c in ('noisy', 'clean'):
      if c in an['cells']:
        d = an['cells'][c][reg].get('train_loss_noised')
        rows.append(
          [
            f'ours, {regs[reg]} steps',
            labels[c],
            d['n'] if d else '–',
            _ms(d),
            _ci(d['ci95'] if d else None),
            '–',
          ]
        )
  lines += [
    report.markdown_table(
      [
        'source',
        'group',
        'n',
        'training loss (mean ± SD)',
        '95% CI (published / ours)',
        '95% CI recomputed from mean, SD, n',
      ],
      rows,
    ),
    '',
  ]

  lines += [
    "Noisy − clean, the write-up's statistics (Student pooled t, Hedges' g) beside ours; variance "
    'tests for the "2× higher variance" claim (SD and variance ratio noisy/clean, two-sided F test, '
    'Levene, Brown–Forsythe).',
    '',
  ]
  rec = cl['recomputed']
  srows = [
    [
      'write-up, as published',
      report.fmt(cl['reported']['t']),
      report.fmt_p(cl['reported']['p']),
      report.fmt(cl['reported']['g']),
      f'"{cl["reported"]["variance_factor"]:g}×"',
      '–',
      '–',
      '–',
      '–',
    ],
    [
      'write-up, recomputed from its summary',
      f'{report.fmt(rec["student"]["t"])} ({report.fmt_count(rec["student"]["df"])})',
      report.fmt_p(rec['student']['p']),
      _est(rec['hedges_g'], rec['hedges_g_ci95']),
      report.fmt(cl['sd_ratio']),
      report.fmt(cl['var_ratio']),
      report.fmt_p(cl['f_test']['p']),
      '–',
      '–',
    ],
  ]
  for reg in REGIMES:
    for m in ('train_loss_noised', 'heldout_loss'):
      row = _find(an['comparisons'], m, reg)
      v = an['variance'].get(reg, {}).get(m)
      if row is None:
        continue
      c = row['compare']
      srows.append(
        [
          f'ours, {regs[reg]} steps: {METRIC_LABELS[m]}',
          f'{report.fmt(c["student"]["t"])} ({report.fmt_count(c["student"]["df"])})',
          report.fmt_p(c['student']['p']),
          _est(c['hedges_g'], c['hedges_g_ci95']),
          report.fmt(v['sd_ratio']) if v else '–',
          report.fmt(v['var_ratio']) if v else '–',
          report.fmt_p(v['f']['p']) if v else '–',
          report.fmt_p(v['levene']['p']) if v else '–',
          report.fmt_p(v['brown_forsythe']['p']) if v else '–',
        ]
      )
  lines += [
    report.markdown_table(
      [
        '',
        'Student t (df)',
        'p',
        "Hedges' g [95% CI]",
        'SD ratio',
        'variance ratio',
        'F-test p',
        'Levene p',
        'Brown–Forsythe p',
      ],
      srows,
    ),
    '',
  ]

  # --- all metrics -----------------------------------------------------------------------------------------
  lines += [
    '## All metrics',
    '',
    'Mean ± 95% CI half-width over seeds'
    + (
      ' (diverged runs: ' + ', '.join(f'{labels[c]} {an["cells"][c]["diverged"]}' for c in conds) + ')'
      if any(an['cells'][c]['diverged'] for c in conds)
      else ''
    )
    + '.',
    '',
  ]
  header = ['metric', 'steps'] + [labels[c] for c in conds]
  mrows = []
  for m in METRICS:
    for reg in REGIMES:
      mrows.append([METRIC_LABELS[m], regs[reg]] + [_mean_half(an['cells'][c][reg].get(m)) for c in conds])
  lines += [report.markdown_table(header, mrows), '']
  if an['comparisons']:
    lines += [
      '### Noisy vs clean',
      '',
      'Paired by seed (same data, labels, initial student and minibatch '
      'order); Holm over all rows of this table.',
      '',
      report.comparison_table(
        [
          (f'noisy vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps', r['compare'])
          for r in an['comparisons']
        ],
        holm=[r['holm_p'] for r in an['comparisons']],
      ),
      '',
    ]
    for r in an['comparisons']:
      if r['metric'] in LOSSES:
        lines.append(
          '- '
          + report.verdict(
            f'noisy vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps',
            r['compare'],
            holm_p=r['holm_p'],
            names=('noisy', 'clean'),
          )
        )
    lines.append('')
  if an['ablations']:
    lines += [
      '### Ablations: deletion only, dropout only',
      '',
      'Each vs clean, paired by seed; Holm over the rows.',
      '',
      report.comparison_table(
        [
          (
            f'{labels[r["a"]]} vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps',
            r['compare'],
          )
          for r in an['ablations']
        ],
        holm=[r['holm_p'] for r in an['ablations']],
      ),
      '',
    ]

  lines += ['## Audit', '', _audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']

  # --- plots -----------------------------------------------------------------------------------------------
  paths = []
  forest = [('write-up (recomputed): training loss', rec['hedges_g'], rec['hedges_g_ci95'])]
  for reg in REGIMES:
    for m in LOSSES if reg == 'early' else ('heldout_loss',):
      row = _find(an['comparisons'], m, reg)
      if row:
        forest.append(
          (
            f'{regs[reg]} steps: {METRIC_LABELS[m].replace(" (the claim)", "")}',
            row['compare']['hedges_g'],
            row['compare']['hedges_g_ci95'],
          )
        )
  paths.append(plots.forest_plot(f'{plot_dir}/effect_sizes.png', forest, "Noisy − clean: Hedges' g (95% CI)"))
  groups = {}
  for m, short in (('train_loss_noised', 'train, noised'), ('heldout_loss', 'held-out, clean')):
    for c in ('clean', 'noisy'):
      if c in an['per_seed'] and _key(m, 'early') in an['per_seed'][c]:
        groups[f'{c}\n{short}'] = np.array(
          [np.nan if v is None else v for v in an['per_seed'][c][_key(m, 'early')]]
        )
  if groups:
    paths.append(
      plots.strip_plot(
        f'{plot_dir}/losses_{E}_steps.png',
        groups,
        f'Per-seed losses after {E} steps',
        'loss (nats / response token)',
      )
    )
  curves = {}
  for c in ('clean', 'noisy'):
    if c not in an['conditions']:
      continue
    where = {'condition': CONDITION_IDS[c]}
    for metric, what in (
      ('loss', 'training minibatch, own noise'),
      ('heldout_loss', f'held-out ({config.curve_heldout} prompts), clean'),
    ):
      steps, vals = log.curves(cfglib.arm_names(config)[0], metric, where)
      if len(steps):
        curves[f'{c}: {what}'] = (steps, vals)
  if curves:
    steps = next(iter(curves.values()))[0]
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/curves.png',
        steps,
        {k: v for k, (_, v) in curves.items()},
        f'Student losses (mean, 95% band over seeds); claim regime = step {E}',
        'update',
        'loss (nats / response token)',
        logx=False,
      )
    )
  lines += [
    '## Plots',
    '',
    f"Effect sizes: the write-up's g beside ours ({E}-step losses and the {F}-step "
    f'held-out loss; the {F}-step training-loss g are in the table above). Per-seed losses after {E} steps. '
    'Learning curves of the training minibatch loss (as each student trains, with its own noise) and of '
    'the clean held-out loss.',
    '',
  ] + [f'![{p.rsplit("/", 1)[1][:-4]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _est(g, ci) -> str:
  if g is None or ci is None:
    return '–'
  a, b, c = report.fmt_same([g, ci[0], ci[1]])
  return f'{a} [{b}, {c}]'


def _paired_only(an: dict) -> bool:
  """Some held-out comparison is significant by the paired test but not by Student's t."""
  for r in an['comparisons']:
    if r['metric'].startswith('heldout'):
      pp = r['compare'].get('paired', {}).get('p')
      sp = r['compare']['student']['p']
      if pp is not None and sp is not None and pp < 0.05 <= sp:
        return True
  return False


def _audit_text(an: dict, config) -> str:
  regs, cl, a = an['regimes'], an['claim'], an['audit']
  E, F = regs['early'], regs['final']
  rec = cl['recomputed']
  out = [
    f"**The claim's numbers.** Recomputed from the published summary (means, SDs, n = 10 each), Student "
    f't({report.fmt_count(rec["student"]["df"])}) = {report.fmt(rec["student"]["t"])}, p = '
    f"{report.fmt_p(rec['student']['p'])}, Hedges' g = {report.fmt(rec['hedges_g'])} and the per-group CIs "
    f'{_ci(cl["ci95"]["noisy"])} and {_ci(cl["ci95"]["clean"])} match the write-up, so its "±" is the SD. '
    f'Its "2× higher variance" is an SD ratio of {report.fmt(cl["sd_ratio"])}, i.e. a variance ratio of '
    f'{report.fmt(cl["var_ratio"])}, and the two-sided F test on its own numbers gives p = '
    f'{report.fmt_p(cl["f_test"]["p"])}'
    + (' — not significant at 0.05.' if cl['f_test']['p'] is not None and cl['f_test']['p'] >= 0.05 else '.')
  ]
  comps = an['comparisons']
  claim_row = _find(comps, 'train_loss_noised', 'early')
  if claim_row:
    c = claim_row['compare']
    dec = an['decomposition'].get('early', {})
    share = dec.get('measurement_share')
    out.append(
      f"**Which loss carries the claim.** The write-up compares each student's *training* loss on its own "
      f'(noised) inputs. Here, after {E} steps, that gap is noisy − clean = {report.fmt(c["mean_diff"])} '
      f'({_g_text(claim_row)}, {_p(claim_row["holm_p"], "Holm p")}): '
      + (
        'the claimed direction, reproduced. '
        if a.get('claim_metric_reproduced')
        else 'the claimed increase is not significant here. '
      )
      + (
        f'Scoring the noisy student on clean training inputs instead of its corrupted ones removes '
        f"{report.fmt(100 * share)}% of the gap (the noisy student's own noised − clean training loss, "
        f'{report.fmt(dec["measurement_part"]["mean"])}, over the whole gap): that part is measurement, '
        'higher by construction, because deletion removes prompt tokens the response depends on and '
        'dropout perturbs the student. The rest, '
        f'{report.fmt(dec["model_part"]["mean"])} on clean training inputs, is the noisy student '
        'fitting its training prompts less closely — which is what the regulariser is for, and says '
        'nothing yet about unseen prompts. '
        if share is not None and np.isfinite(share)
        else ''
      )
    )
  held = []
  for reg in REGIMES:
    row = _find(comps, 'heldout_loss', reg)
    acc = _find(comps, 'heldout_token_acc', reg)
    if row:
      word = (
        {'higher': 'higher', 'lower': 'lower', 'no difference': 'not detectably different'}[_sig(row)]
        if _sig(row)
        else 'untestable'
      )
      txt = (
        f"after {regs[reg]} steps the noisy student's clean held-out loss is {word} "
        f'(Δ = {report.fmt(row["compare"]["mean_diff"])}, {_g_text(row)}, {_p(row["holm_p"], "Holm p")}, '
        f'{_p(row["compare"].get("paired", {}).get("p"), "paired p")})'
      )
      if acc and acc['compare']['mean_diff'] is not None:
        txt += (
          f', its held-out token accuracy Δ = {report.fmt(acc["compare"]["mean_diff"])} '
          f'({_p(acc["holm_p"], "Holm p")}, {_p(acc["compare"].get("paired", {}).get("p"), "paired p")})'
        )
      held.append(txt)
  if held:
    text = '**The meaningful number** is the clean loss on unseen prompts: ' + '; '.join(held) + '.'
    if a.get('heldout_early') == 'no difference' and a.get('heldout_final') == 'lower':
      text += (
        " Over-fitting is where noise acts as a regulariser of the loss; in the claim's short regime it "
        'does not move held-out loss.'
      )
    hf, af = _find(comps, 'heldout_loss', 'final'), _find(comps, 'heldout_token_acc', 'final')
    if (
      hf
      and af
      and _sig(hf) == 'lower'
      and af['compare']['mean_diff'] is not None
      and af['compare']['mean_diff'] <= 0
    ):
      text += (
        f' And the lower held-out loss after {F} steps is calibration, not accuracy: the noisy student '
        'gets no more unseen-prompt tokens right (token accuracy Δ = '
        f"{report.fmt(af['compare']['mean_diff'])}); the clean student's loss grows because it is "
        'confidently wrong where it over-fitted.'
      )
    if _paired_only(an):
      text += (
        ' Where only the paired test is significant (seeds share data, labels, initialisation and '
        'minibatch order, so it is more sensitive than the two-sample tests the write-up used), the '
        'effect is detectable but small against the seed-to-seed spread.'
      )
    out.append(text)
    exact = [
      an['cells'][c][reg]['heldout_exact']['mean']
      for c in an['conditions']
      for reg in REGIMES
      if an['cells'][c][reg].get('heldout_exact')
    ]
    if exact and max(e for e in exact if e is not None) < 0.05:
      out.append(
        f'Held-out exact match stays below {report.fmt(100 * max(exact))}% in every condition: from '
        f'{config.n_train} prompts no student recovers the whole {config.response_len}-token program, '
        'so token accuracy is the informative accuracy metric here.'
      )
  v = a.get('variance_early')
  if v:
    higher = v['sd_ratio'] is not None and v['sd_ratio'] > 1 and v['f_p'] is not None and v['f_p'] < 0.05
    out.append(
      f"**Variance.** Our noisy/clean SD ratio of the claim's metric after {E} steps is "
      f'{report.fmt(v["sd_ratio"])} (variance ratio {report.fmt(v["var_ratio"])}; F test '
      f'{_p(v["f_p"])}, Levene {_p(v["levene_p"])}, Brown–Forsythe {_p(v["bf_p"])}): '
      + (
        'noise does raise the spread here.'
        if higher
        else 'no evidence that noise raises the spread across seeds.'
      )
    )
  abl = [
    r
    for r in an['ablations']
    if r['metric'] in ('heldout_loss', 'heldout_token_acc') and r['regime'] == 'final'
  ]
  if abl:
    out.append(
      '**Which noise does what** (after '
      + str(F)
      + ' steps, vs clean): '
      + '; '.join(
        f'{an["labels"][r["a"]]}: {"held-out loss" if r["metric"] == "heldout_loss" else "token accuracy"} '
        f'Δ = {report.fmt(r["compare"]["mean_diff"])} ({_p(r["holm_p"], "Holm p")}, '
        f'{_p(r["compare"].get("paired", {}).get("p"), "paired p")})'
        for r in abl
      )
      + '.'
    )
  return '\n\n'.join(out)
