"""The per-arm JAX functions of the self-modifying family (pure, traced; the runner adds jit/vmap/scan).

One arm, ``factorial``: every factor is a traced grid value — the architecture (``selfmod`` 0/1: masks
frozen or self-modifying), the split (``tail`` 0/1: random or tail validation split) and the objective
(its index ``objective`` into OBJECTIVES, its coefficients ``entropy_coef``, ``aux_coef``, ``pseudo_coef``,
0 when unused, and ``pcgrad`` 0/1) — so the whole factorial × seeds is ONE compiled program (one compile
instead of one per objective; every run computes the auxiliary gradient, zero for ``none``). The modification period K is static (a
batched K would turn the event's branch into a select of both branches); the event itself is a
``jnp.where`` on a traced predicate, so every step computes it and keeps it only at events.

Per seed (from the run key: shared by every arm and cell of a seed): the ordered file, its splits, the
initial parameters and masks, the minibatch order (positions in the training split) and the evaluation
set. See docs/families/self_modifying.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from exp.metrics import conflict
from exp.tasks import ordered_file
from losses import auxiliary
from losses.classification import accuracy, cross_entropy
from models import growing

ARMS = ('factorial',)
OBJECTIVES = ('none', 'entropy', 'aux', 'pseudo', 'entropy_aux', 'pcgrad')
# the coefficients each objective uses (the others are 0 in its grid points)
COEFS = {
  'none': (),
  'entropy': ('entropy_coef',),
  'aux': ('aux_coef',),
  'pseudo': ('pseudo_coef',),
  'entropy_aux': ('entropy_coef', 'aux_coef'),
  'pcgrad': ('entropy_coef', 'aux_coef'),
}
LAYERS = {'hidden': ('w1', 'b1'), 'output': ('w2', 'b2')}  # shared by both objectives (not the aux head)
COSINES = ('cos', 'cos_hidden', 'cos_output')


def streams(run_key):
  """The seed's keys for (data, split, init, evaluation set): one split, shared by every arm and cell."""
  return jax.random.split(run_key, 4)


def data_for_seed(config, run_key):
  """The seed's ordered file (exp/tasks/ordered_file.py); also called on the host by the analysis."""
  return ordered_file.make_file(
    streams(run_key)[0],
    config.file_size,
    config.input_dim,
    config.num_classes,
    config.aux_classes,
    config.teacher_width,
    config.label_noise,
    config.jitter,
  )


def n_val(config) -> int:
  return int(round(config.val_frac * config.file_size))


def splits_for_seed(config, run_key, tail):
  return ordered_file.split_indices(streams(run_key)[1], config.file_size, n_val(config), tail)


def aux_loss(hp, logits, aux_logits, y_aux):
  """The auxiliary objective with the grid point's coefficients (0 for the unused terms)."""
  return (
    hp['entropy_coef'] * auxiliary.entropy(logits)
    + hp['aux_coef'] * auxiliary.aux_head_ce(aux_logits, y_aux)
    + hp['pseudo_coef'] * auxiliary.pseudo_label_ce(logits)
  )


def make_arm(config):
  """``(init, step, evaluate)`` of the ``factorial`` arm."""
  tx = optax.adam(config.lr)
  return _make_init(config, tx), _make_step(config, tx, _make_update(config, tx)), _make_evaluate(config)


def _sizes(config):
  """(H, d, C, A, B, K, until, n_train): the static sizes every piece closes over."""
  K = config.modify_every
  T = config.num_steps * K  # Adam updates: num_steps rounds of K
  until = max(1, int(config.modify_until * T))
  n_train = config.file_size - n_val(config)
  return (
    config.max_width,
    config.input_dim,
    config.num_classes,
    config.aux_classes,
    config.batch_size,
    K,
    until,
    n_train,
  )


def _make_init(config, tx):
  H, d, C, A, B, K, until, n_train = _sizes(config)

  def init(key, hp):
    k_init, k_eval = streams(key)[2:]
    data = data_for_seed(config, key)
    train_idx, val_idx = splits_for_seed(config, key, hp['tail'] > 0)
    params, masks = growing.init(k_init, d, H, C, A, config.width, config.density)
    return dict(
      params=params,
      masks=masks,
      opt_state=tx.init(params),
      data=dict(x=data['x'], y=data['y'], y_clean=data['y_clean'], y_aux=data['y_aux']),
      teacher=data['teacher'],
      train_idx=train_idx,
      val_idx=val_idx,
      eval_key=jax.random.key_data(k_eval),
      t=jnp.int32(0),
      running=conflict.init_running(COSINES),
      churn=dict(events=jnp.float32(0), units=jnp.float32(0), conns=jnp.float32(0), acc_delta=jnp.float32(0)),
    )

  return init


def _make_update(config, tx):
  del config

  def update(state, hp, idx):
    """One Adam update on the minibatch ``idx`` (rows of the file); returns the state and the
    update's metrics, the dense gradient of w1 and the hidden activations (for a modification)."""
    x, y, y_aux = state['data']['x'][idx], state['data']['y'][idx], state['data']['y_aux'][idx]
    params, masks = state['params'], state['masks']
    eff = growing.effective(params, masks)

    def primary(e):
      logits, _, h = growing.apply(e, x)
      return cross_entropy(logits, y), (logits, h)

    (loss, (logits, h)), dense = jax.value_and_grad(primary, has_aux=True)(eff)
    grads = growing.masked_grads(dense, masks)
    metrics = dict(loss=loss, batch_acc=accuracy(logits, y))
    la, dense_a = jax.value_and_grad(lambda e: aux_loss(hp, *growing.apply(e, x)[:2], y_aux))(eff)
    grads_a = growing.masked_grads(dense_a, masks)
    cos = conflict.conflict(grads, grads_a, LAYERS)  # 0 when the auxiliary gradient is 0 (none)
    running = conflict.update_running(state['running'], cos)
    projected, _ = auxiliary.pcgrad(grads, grads_a)
    grads_a = jax.tree.map(lambda a, b: jnp.where(hp['pcgrad'] > 0, a, b), projected, grads_a)
    grads = jax.tree.map(jnp.add, grads, grads_a)
    dense = jax.tree.map(jnp.add, dense, dense_a)
    metrics.update(aux_loss=la, **cos)
    updates, opt_state = tx.update(grads, state['opt_state'], params)
    params = optax.apply_updates(params, updates)
    state = dict(state, params=params, opt_state=opt_state, running=running, t=state['t'] + 1)
    return state, metrics, dense['w1'], h

  return update


def _make_step(config, tx, update):
  H, d, C, A, B, K, until, n_train = _sizes(config)

  def step(state, hp, key):
    """One round: K Adam updates (an inner scan), then one modification event (self-modifying cells,
    while t < modify_until · total steps). The runner's step count is in rounds."""
    # one flat uniform draw per round: the K minibatches (positions in the training split) and the noise
    u = jax.random.uniform(key, (K * B + H * (C + A),))
    pos = jnp.minimum(jnp.floor(u[: K * B] * n_train), n_train - 1).astype(jnp.int32).reshape(K, B)
    before_masks = state['masks']

    def body(carry, p):
      st, _, _ = carry
      st, m, dw1, h = update(st, hp, st['train_idx'][p])  # the same batches in every cell of a seed
      return (st, dw1, h), m

    zeros = (jnp.zeros((d, H)), jnp.zeros((B, H)))
    (state, dense_w1, h), ms = jax.lax.scan(body, (state, *zeros), pos)
    metrics = {k: jnp.mean(v) for k, v in ms.items()}  # the round's mean
    metrics['width'] = jnp.sum(before_masks['unit'])
    metrics['conns'] = jnp.sum(before_masks['conn'] * before_masks['unit'][None, :])
    params, masks, t = state['params'], state['masks'], state['t']
    new_p, new_m, churn, event = _modify(params, masks, dense_w1, h, hp, t, u[K * B :])
    changed = jax.tree.map(lambda a, b: a != b, new_p, params)
    opt_state = optax.tree_utils.tree_map_params(
      tx, lambda m, c: jnp.where(c, 0.0, m), state['opt_state'], changed
    )
    # accuracy right before vs right after the event, on the round's last minibatch
    idx = state['train_idx'][pos[-1]]
    x, y = state['data']['x'][idx], state['data']['y'][idx]
    before = accuracy(growing.apply(growing.effective(params, masks), x)[0], y)
    after = accuracy(growing.apply(growing.effective(new_p, new_m), x)[0], y)
    ev = event.astype(jnp.float32)
    old = state['churn']
    churn = dict(
      events=old['events'] + ev,
      units=old['units'] + ev * churn['units'],
      conns=old['conns'] + ev * churn['conns'],
      acc_delta=old['acc_delta'] + ev * (after - before),
    )
    return dict(state, params=new_p, masks=new_m, opt_state=opt_state, churn=churn), metrics

  def _modify(params, masks, dense_w1, h, hp, t, u):
    event = (hp['selfmod'] > 0) & (t < until)
    frac = growing.drop_fraction(t, config.rewire_alpha, until)
    noise = (u.reshape(H, C + A) - 0.5) * (config.growth_noise * 12**0.5)  # uniform, SD growth_noise
    p, m, churn = growing.modify(
      params, masks, dense_w1, h, config.prune_units, config.grow_units, config.min_width, frac, noise
    )
    keep = lambda a, b: jnp.where(event, a, b)
    return jax.tree.map(keep, p, params), jax.tree.map(keep, m, masks), churn, event

  return step


def _make_evaluate(config):
  d = config.input_dim

  def evaluate(state, hp):
    del hp
    params, masks, data = state['params'], state['masks'], state['data']
    eff = growing.effective(params, masks)
    xt, yt = ordered_file.test_set(
      jax.random.wrap_key_data(state['eval_key']), state['teacher'], config.test_size, d
    )
    vi, ti = state['val_idx'], state['train_idx']
    ch = state['churn']
    val_logits = growing.apply(eff, data['x'][vi])[0]
    events = jnp.maximum(ch['events'], 1.0)
    out = dict(
      test_acc=accuracy(growing.apply(eff, xt)[0], yt),
      val_acc=accuracy(val_logits, data['y_clean'][vi]),  # the write-up's number: validation accuracy
      val_acc_noisy=accuracy(val_logits, data['y'][vi]),
      train_acc=accuracy(growing.apply(eff, data['x'][ti])[0], data['y'][ti]),
      width=jnp.sum(masks['unit']),
      conns=jnp.sum(masks['conn'] * masks['unit'][None, :]),
      events=ch['events'],
      units_per_event=ch['units'] / events,
      conns_per_event=ch['conns'] / events,
      acc_delta_per_event=ch['acc_delta'] / events,
    )
    out.update(conflict.summarize_running(state['running']))
    return out

  return evaluate
