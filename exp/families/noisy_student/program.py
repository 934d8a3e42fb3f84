"""The pure per-run JAX functions of the Noisy Student family (no jit, no vmap: the runner adds those).

Token layout (``exp.tasks.languages``): PAD = 0, SEP = 1, symbols from 2; LM sequences are
``[prompt, SEP, response]`` and only the response tokens are targets.

- ``make_pretrain``: the cached pretraining stage, the seed's program and a teacher window-MLP LM trained
  to convergence on fresh program samples.
- ``make_distill``: the ``distill`` arm, a smaller student trained on the teacher's greedy pseudo-labels;
  the noise condition comes in through the traced grid values ``hp['delete_p']`` and ``hp['dropout']``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from exp.tasks import languages as lang
from losses.sequence import next_token_ce
from models.init import fan_in_normal
from models.lm import WindowMLPLM, greedy, init_params, make_apply_fn


def seq_len(config) -> int:
  return config.prompt_len + 1 + config.response_len


def flat_init(model, key, length: int):
  """Parameters of ``model`` shaped as ``models.lm.init_params`` gives them, drawn with one flat normal
  draw (``models.init.fan_in_normal``; flax's per-leaf truncated-normal initializers compile several
  times slower on CPU): kernels N(0, 1/fan_in), embeddings N(0, 1/vocab), biases 0, LayerNorm scales 1."""
  return fan_in_normal(jax.eval_shape(lambda: init_params(model, jax.random.key(0), length)), key)


def make_models(config):
  """(teacher, student) window-MLP LMs. One student module: dropout is switched per run by the traced
  grid value (see ``student_losses``)."""
  vocab = lang.SYM0 + config.n_symbols
  teacher = WindowMLPLM(
    vocab=vocab, window=config.window, hidden=config.teacher_hidden, embed=config.teacher_embed
  )
  student = WindowMLPLM(
    vocab=vocab,
    window=config.window,
    hidden=config.hidden,
    embed=config.embed,
    dropout_rate=float(config.dropout),
  )
  return teacher, student


def make_target_mask(config):
  """``target_mask(n, row_weight=None)``: (n, T) weights, the response positions of each row."""
  response_pos = (jnp.arange(seq_len(config)) > config.prompt_len).astype(jnp.float32)

  def target_mask(n, row_weight=None):
    w = jnp.ones((n,), jnp.float32) if row_weight is None else row_weight
    return w[:, None] * response_pos[None]

  return target_mask


def program_of(d):
  return lang.Program(d['a'], d['b'], d['table'], d['noise'])


def with_sep(prompts):
  return jnp.concatenate([prompts, jnp.full((prompts.shape[0], 1), lang.PROG_SEP, jnp.int32)], axis=1)


def make_pretrain(config, teacher, teacher_apply, target_mask):
  """(init, step, evaluate, output) of the pretraining stage: program + teacher."""
  P, R, T = config.prompt_len, config.response_len, seq_len(config)
  pre_tx = optax.adam(config.pretrain_lr)

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

  return pre_init, pre_step, pre_eval, pre_output


def make_distill_init(config, student, teacher_apply, tx):
  """``init(key, hp, base)`` of the distill arm: data, the teacher's pseudo-labels, the initial student.
  Every condition of a seed shares all of it (hp is not read)."""
  P, R, T = config.prompt_len, config.response_len, seq_len(config)

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

  return init


def student_losses(student, apply_clean, target_mask):
  """(noised_loss, clean_loss) of the student."""

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

  return noised_loss, clean_loss


def make_distill(config, student, teacher_apply, target_mask):
  """(init, step, evaluate) of the distill arm."""
  P, R = config.prompt_len, config.response_len
  tx = optax.adam(config.lr)
  apply_clean = make_apply_fn(student)
  init = make_distill_init(config, student, teacher_apply, tx)
  noised_loss, clean_loss = student_losses(student, apply_clean, target_mask)

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

  return init, step, evaluate
