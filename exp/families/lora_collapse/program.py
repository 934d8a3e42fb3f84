"""The pure per-arm JAX functions of the LoRA collapse family (traced by the runner; no jit/vmap here).

``pretrain_arm`` trains the base LookupMLP of every configured arm on mapping 1 (once per seed, cached by
the runner); ``finetune_arm`` fine-tunes LoRA adapters on mapping 2 with the base frozen, the learning rate
and the rank both traced grid axes (the rank masks a static max rank). See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.core import validate as cfglib
from exp.core.experiment import Arm
from exp.tasks import lookup
from models import lora
from models.init import fan_in_normal_per_leaf
from models.lora import LookupMLP

ARMS = ('classify', 'sequence')
NUM_QUESTION_TOKENS = 4


def make_models(config) -> dict:
  """The base model of each arm: a 32-class classifier and an 8-digit-string (sequence) head."""
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


def layer_dims(model):
  """(fan_in, fan_out) of the adapted layers, from shapes only (nothing is computed)."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, NUM_QUESTION_TOKENS), jnp.int32))
  return lora.lora_layer_dims(shapes['params'])


def digit_weights(config):
  """(num_digits,) int32 place values: a digit string read as one number (for the modal output)."""
  dbase, ndig = config.digit_base, config.num_digits
  return jnp.asarray(dbase ** np.arange(ndig - 1, -1, -1), jnp.int32)


def targets(arm, task, y):
  return task['codes'][y] if arm == 'sequence' else y


def xent(logits, y):
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, y[..., None], axis=-1))


def outputs(arm, logits, weights):
  """Greedy outputs: (P,) answers or (P, D) digit strings, and each as one int (for the modal output)."""
  pred = jnp.argmax(logits, axis=-1).astype(jnp.int32)
  as_int = pred @ weights if arm == 'sequence' else pred
  return pred, as_int


def minibatch(key, x, y, batch, n_train):
  idx = jax.random.randint(key, (batch,), 0, n_train)
  return x[idx], y[idx]


# ---------------------------------------------------------------------------------------------------
# Pretraining: the bases of the configured arms on mapping 1, from one task per seed


def pretrain_arm(config, models):
  """(Arm, pretrain_output) of the pretraining stage."""
  batch, n_train = config.batch_size, config.num_train
  weights = digit_weights(config)
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
      num_digits=config.num_digits,
      base=config.digit_base,
    )
    x0 = task['train_x'][:1]
    keys = {'classify': k_cls, 'sequence': k_seq}  # fixed per arm, whichever arms are configured
    params = {
      a: fan_in_normal_per_leaf(jax.eval_shape(models[a].init, jax.random.key(0), x0)['params'], keys[a])
      for a in arm_names
    }
    return dict(params=params, opt_state=pre_tx.init(params), task=task)

  def pre_losses(params, task, x, y):
    losses = {a: xent(models[a].apply({'params': params[a]}, x), targets(a, task, y)) for a in arm_names}
    return sum(losses.values()), losses  # disjoint params: each base gets its own loss's gradient

  def pre_step(state, hp, key):
    del hp
    task = state['task']
    x, y = minibatch(key, task['train_x'], task['train_y1'], batch, n_train)
    (_, losses), grads = jax.value_and_grad(pre_losses, has_aux=True)(state['params'], task, x, y)
    updates, opt_state = pre_tx.update(grads, state['opt_state'], state['params'])
    new = dict(state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state)
    return new, {f'loss_{a}': losses[a] for a in arm_names}

  def pre_eval(state, hp):
    del hp
    task, out = state['task'], {}
    for arm in arm_names:
      logits = models[arm].apply({'params': state['params'][arm]}, task['heldout_x'])
      pred, _ = outputs(arm, logits, weights)
      out[f'heldout_acc_{arm}'] = lookup.exact_match(pred, targets(arm, task, task['heldout_y1']))
      out[f'heldout_acc2_{arm}'] = lookup.exact_match(pred, targets(arm, task, task['heldout_y2']))
    return out

  def pre_output(state):
    t = state['task']
    return dict(
      params=state['params'],
      task={k: t[k] for k in ('train_x', 'train_y2', 'heldout_x', 'heldout_y2', 'codes')},
    )

  return Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps), pre_output


# ---------------------------------------------------------------------------------------------------
# LoRA fine-tuning on mapping 2


def lora_forward(model, alpha_per_rank, rslora):
  """forward(base_params, lora_params, x, hp, **kw): the adapted model at the grid point's rank."""

  def forward(base_params, lp, x, hp, **kw):
    rank = hp['rank']
    return lora.apply_lora(
      base_params, lp, x, rank, alpha_per_rank * rank.astype(jnp.float32), rslora, model=model, **kw
    )

  return forward


def _evaluate_fn(arm, model, forward, weights):
  """evaluate(state, hp): accuracy and the collapse detector on the held-out prompts, adapted and base."""

  def evaluate(state, hp):
    d = state['data']
    logits, hidden = forward(state['base'], state['lora'], d['heldout_x'], hp, return_hidden=True)
    pred, as_int = outputs(arm, logits, weights)
    cm = lookup.collapse_metrics(pred)
    counts = jnp.sum(as_int[:, None] == as_int[None, :], axis=1)
    base_logits, base_hidden = model.apply({'params': state['base']}, d['heldout_x'], return_hidden=True)
    base_pred, _ = outputs(arm, base_logits, weights)
    n_sub = d['heldout_x'].shape[0]  # training accuracy on as many training prompts as held-out ones
    train_pred, _ = outputs(arm, forward(state['base'], state['lora'], d['train_x'][:n_sub], hp), weights)
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

  return evaluate


def finetune_arm(config, models, arm) -> Arm:
  """The LoRA fine-tuning arm ``arm``; grid lr-major, rank-minor (every lr x rank point)."""
  model = models[arm]
  batch, n_train = config.batch_size, config.num_train
  max_rank = max(config.ranks)
  weights = digit_weights(config)
  forward = lora_forward(model, float(config.alpha_per_rank), bool(config.rslora))

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
    x, t = minibatch(key, d['train_x'], d['train_t'], batch, n_train)

    def loss_fn(lp):
      logits = forward(state['base'], lp, x, hp)
      return xent(logits, t), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['lora'])
    updates, opt_state = tx.update(grads, state['opt_state'], state['lora'])
    pred, _ = outputs(arm, logits, weights)
    new = dict(state, lora=optax.apply_updates(state['lora'], updates), opt_state=opt_state)
    return new, dict(loss=loss, batch_acc=lookup.exact_match(pred, t))

  evaluate = _evaluate_fn(arm, model, forward, weights)
  lrs = np.asarray(config.lrs, np.float32)
  ranks = np.asarray(config.ranks, np.int32)
  grid = {'lr': np.repeat(lrs, len(ranks)), 'rank': np.tile(ranks, len(lrs))}  # lr-major, rank-minor
  return Arm(name=arm, grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)
