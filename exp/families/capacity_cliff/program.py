"""The per-arm JAX functions of the capacity cliff (pure, traced; the runner adds jit/vmap/scan).

One width-masked GRU LM (models/masked.py) of ``max_hidden`` units; the active width is the traced grid
value ``hp['width']``, so every model size of every seed runs in one compiled program. Each step draws a
fresh batch of Dyck-2 prefixes (exp/tasks/dyck.py) from the step key, so all widths of a seed see the same
batches; the held-out set is drawn from ``fold_in(run_key, EVAL_STREAM)``, shared by all widths of a seed.
See docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from exp.tasks import dyck
from losses.masked import masked_softmax_ce
from models.masked import MaskedGRULM, unit_mask

EVAL_STREAM = 0xE7A1  # fold_in(run_key, EVAL_STREAM) draws the held-out set: shared by all widths of a seed


def inactive_params(params, width, max_hidden: int) -> dict:
  """The entries of the masked (inactive) units, others zeroed: all exactly 0 for a genuine width-``width``
  model."""
  m = unit_mask(width, max_hidden)
  return dict(
    w_i=params['w_i'] * (1 - m),
    w_h=params['w_h'] * (1 - m[:, None, None] * m),
    w_o=params['w_o'] * (1 - m[:, None]),
    b_i=params['b_i'] * (1 - m),
    b_hn=params['b_hn'] * (1 - m),
  )


def make_gru(config):
  """``(init, step, evaluate)`` of the 'gru' arm: teacher-forced training on the closing tokens + EOS
  (Adam, global-norm clipping, cosine-decayed learning rate), greedy evaluation on the held-out set."""
  H, V = config.max_hidden, dyck.VOCAB
  ml, md, p_open = config.max_len, config.max_depth, float(config.p_open)
  model = MaskedGRULM(V, H)
  sched = optax.cosine_decay_schedule(config.lr, config.num_steps, alpha=config.lr_end_factor)
  tx = optax.chain(optax.clip_by_global_norm(config.clip_norm), optax.adam(sched))

  def batch(key, n):
    s = dyck.sample_dyck_prefixes(key, n, ml, md, p_open)
    return s, dyck.dyck_lm_batch(s)

  def init(key, hp):
    _, b = batch(key, 1)
    params = model.init(key, b['inputs'], hp['width'])['params']
    return dict(params=params, opt_state=tx.init(params), eval_key=jax.random.fold_in(key, EVAL_STREAM))

  def loss_and_acc(params, b, width):
    logits = model.apply({'params': params}, b['inputs'], width)
    loss = masked_softmax_ce(logits, b['labels'], b['loss_mask'])
    return loss, dyck.per_token_accuracy(logits, b['labels'], b['loss_mask'])

  def step(state, hp, key):
    _, b = batch(key, config.batch_size)  # the same batch for every width of a seed
    (loss, acc), grads = jax.value_and_grad(loss_and_acc, has_aux=True)(state['params'], b, hp['width'])
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    return (
      dict(state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state),
      dict(loss=loss, train_token_acc=acc),
    )

  def evaluate(state, hp):
    width, params = hp['width'], state['params']
    s, b = batch(state['eval_key'], config.eval_batch)
    loss, tok_acc = loss_and_acc(params, b, width)
    apply_fn = lambda toks: model.apply({'params': params}, toks, width)
    gen = dyck.greedy_complete(apply_fn, b['prompt'], b['prompt_len'], md + 1)
    success = dyck.dyck_success(s['prefix'], gen)
    exact = jnp.all(gen == s['target'], axis=1)  # PAD after EOS on both sides
    rate, count = dyck.success_by_depth(exact, s['depth'], md)
    inactive = inactive_params(params, width, H)
    return dict(
      exact=exact.mean(),
      success=success.mean(),
      token_acc=tok_acc,
      eval_loss=loss,
      exact_by_depth=rate,
      count_by_depth=count,
      mean_target_len=jnp.mean(s['depth'] + 1.0),
      inactive_max_abs=jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in inactive.values()])),
    )

  return init, step, evaluate
