"""The pure per-arm JAX functions of the memorization family (traced by the runner; no jit/vmap here).

Two policies over answers 0..N−1 with N a vmapped grid axis (``hp['n']``):
- categorical: an MLP to N_max logits, logits ≥ N masked (arms ``sl``, ``rl_eoe``, ``rl_step``);
- binary tokens: an MLP to 2·⌈log2 N_max⌉ logits, one 2-way token per bit of y*, bits beyond ⌈log2 N⌉
  unused (arm ``rl_step_dense``).

A state is ``dict(params, opt_state, x, y, t, baseline, first_success)``; the learning rate lives in the
opt state (``optax.inject_hyperparams``), so it too is a grid axis.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from losses.rl import ema, reinforce
from losses.supervised import cross_entropy

MASK = -1e9  # logit of an impossible answer (finite, so p·log p stays 0 rather than NaN)
# Only the update rule matters here: the learning rate is read from the opt state.
TX = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)


def num_bits(n_max: int) -> int:
  return max(1, math.ceil(math.log2(n_max)))


# --- shared pieces -----------------------------------------------------------------------------------


def task(key, n, context_dim: int):
  """The seed's fixed context x ~ N(0, I) and target y* = ⌊u·N⌋ (same x and u for every N), plus the
  parameter-init key."""
  kx, ky, kp = jax.random.split(key, 3)
  x = jax.random.normal(kx, (context_dim,))
  y = jnp.minimum(jnp.floor(jax.random.uniform(ky) * n), n - 1).astype(jnp.int32)
  return x, y, kp


def make_init(model, context_dim: int, num_baselines: int):
  """``init(key, hp)`` for a policy ``model``; ``num_baselines`` EMA baselines (one per rewarded token)."""

  def init(key, hp):
    x, y, kp = task(key, hp['n'], context_dim)
    params = model.init(kp, x)['params']
    opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=hp['lr']).init(params)
    return dict(
      params=params,
      opt_state=opt_state,
      x=x,
      y=y,
      t=jnp.int32(0),
      baseline=jnp.zeros((num_baselines,), jnp.float32),
      first_success=jnp.int32(-1),
    )

  return init


def apply_update(state, grads):
  updates, opt_state = TX.update(grads, state['opt_state'], state['params'])
  return dict(
    state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state, t=state['t'] + 1
  )


def after_rl_update(state, grads, r, hit, decay):
  """Applies an RL update, moves the EMA baseline towards ``r`` and records the first episode that
  sampled y* exactly (1-based)."""
  new = apply_update(state, grads)
  return dict(
    new,
    baseline=ema(state['baseline'], r, decay),
    first_success=jnp.where((state['first_success'] < 0) & hit, state['t'] + 1, state['first_success']),
  )


def reached(view, y, converge_prob):
  """The goal: argmax = y* and π(y*) ≥ converge_prob, from a policy view."""
  return (view['argmax'] == y) & (view['p_target'] >= converge_prob)


def make_done(state_view, converge_prob):
  """``done(state, hp)``: ``reached`` on the policy view ``state_view(state, hp)``. The steps report the
  same test from their own forward pass (metric 'done', ``Arm.step_reports_done``)."""

  def done(state, hp):
    return reached(state_view(state, hp), state['y'], converge_prob)

  return done


def make_eval(state_view):
  def evaluate(state, hp):
    v = state_view(state, hp)
    return dict(
      p_target=v['p_target'],
      entropy=v['entropy'],
      abs_err=jnp.abs(v['argmax'] - state['y']).astype(jnp.float32),
      first_success=state['first_success'],
    )

  return evaluate


# --- categorical policy (sl, rl_eoe, rl_step) --------------------------------------------------------


def categorical_logits(model, n_max: int):
  """``logits(params, x, n)``: the model's N_max logits with answers ≥ n masked out."""

  def logits_fn(params, x, n):
    logits = model.apply({'params': params}, x)
    return jnp.where(jnp.arange(n_max) < n, logits, MASK)

  return logits_fn


def cat_view(logits, y):
  logp = jax.nn.log_softmax(logits)
  p = jnp.exp(logp)
  return dict(p_target=p[y], entropy=-jnp.sum(p * logp), argmax=jnp.argmax(logits))


def cat_state_view(logits_fn):
  return lambda state, hp: cat_view(logits_fn(state['params'], state['x'], hp['n']), state['y'])


def make_sl_step(logits_fn, converge_prob):
  """Supervised: cross-entropy on y*, one Adam update per episode."""

  def sl_step(state, hp, key):
    del key

    def loss_fn(params):
      logits = logits_fn(params, state['x'], hp['n'])
      return cross_entropy(logits, state['y']), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    v = cat_view(logits, state['y'])
    done = reached(v, state['y'], converge_prob)
    return apply_update(state, grads), dict(
      p_target=v['p_target'], entropy=v['entropy'], loss=loss, done=done
    )

  return sl_step


def make_reward(kind: str, shaped_reward: str):
  """``reward(a, y, n)``: 'eoe' is 1[a = y*]; 'shaped' is the write-up's partial credit,
  ``shaped_reward`` 'linear' 1 − |a − y*|/(N − 1) or 'neg_abs' −|a − y*|."""

  def eoe(a, y, n):
    return (a == y).astype(jnp.float32)

  def shaped(a, y, n):
    err = jnp.abs(a - y).astype(jnp.float32)
    if shaped_reward == 'linear':
      return 1.0 - err / (n - 1).astype(jnp.float32)
    return -err

  return eoe if kind == 'eoe' else shaped


def make_rl_step(logits_fn, reward, decay, converge_prob):
  """REINFORCE with an EMA baseline: sample one answer, reward it, one Adam update."""

  def step(state, hp, key):
    def loss_fn(params):
      logits = logits_fn(params, state['x'], hp['n'])
      a = jax.random.categorical(key, jax.lax.stop_gradient(logits))
      r = reward(a, state['y'], hp['n'])
      logp = jax.nn.log_softmax(logits)
      return reinforce(logp[a], r, state['baseline'][0]), (logits, a, r)

    (_, (logits, a, r)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    v = cat_view(logits, state['y'])
    hit = a == state['y']
    new = after_rl_update(state, grads, r, hit, decay)
    done = reached(v, state['y'], converge_prob)
    return new, dict(p_target=v['p_target'], entropy=v['entropy'], reward=r, done=done)

  return step


# --- binary-token policy (rl_step_dense) -------------------------------------------------------------


def bit_view_fn(model, bits_max: int):
  """``view(params, x, y, n)`` of the binary-token policy: per-bit log-probs, which bits are used
  (⌈log2 N⌉ carry y*), y*'s bits, π(y*) over the used bits, the greedy answer and the entropy."""
  powers = 2 ** jnp.arange(bits_max)

  def bit_view(params, x, y, n):
    logp = jax.nn.log_softmax(model.apply({'params': params}, x).reshape(bits_max, 2))
    used = (powers < n).astype(jnp.float32)  # ⌈log2 N⌉ bits carry y*
    ybits = (y >> jnp.arange(bits_max)) & 1
    logp_y = jnp.take_along_axis(logp, ybits[:, None], axis=1)[:, 0]
    greedy = jnp.argmax(logp, axis=1)
    p = jnp.exp(logp)
    return dict(
      logp=logp,
      used=used,
      ybits=ybits,
      p_target=jnp.exp(jnp.sum(used * logp_y)),
      argmax=jnp.sum(used * greedy * powers).astype(jnp.int32),
      entropy=-jnp.sum(used * jnp.sum(p * logp, axis=1)),
    )

  return bit_view


def bit_state_view(bit_view):
  return lambda state, hp: bit_view(state['params'], state['x'], state['y'], hp['n'])


def sample_rows(key, logp):
  """One token per row of ``logp`` (rows, classes): ``jax.random.categorical(key, logp, axis=1)`` with its
  Gumbel noise drawn flat, the same tokens bit for bit (tests/families/test_memorization.py) and a faster
  compile on CPU."""
  return jnp.argmax(jax.random.gumbel(key, (logp.size,)).reshape(logp.shape) + logp, axis=1)


def make_dense_step(bit_view, decay, converge_prob):
  """The audit arm: sample every bit token, reward each for its own correctness (per-token baselines)."""

  def dense_step(state, hp, key):
    def loss_fn(params):
      v = bit_view(params, state['x'], state['y'], hp['n'])
      a = sample_rows(key, jax.lax.stop_gradient(v['logp']))
      r = (a == v['ybits']).astype(jnp.float32)  # each token rewarded for its own correctness
      logp_a = jnp.take_along_axis(v['logp'], a[:, None], axis=1)[:, 0]
      return reinforce(logp_a, r, state['baseline'], mask=v['used']), (v, a, r)

    (_, (v, a, r)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    hit = jnp.all(jnp.where(v['used'] > 0, a == v['ybits'], True))
    new = after_rl_update(state, grads, r, hit, decay)
    reward = jnp.sum(v['used'] * r) / jnp.sum(v['used'])
    done = reached(v, state['y'], converge_prob)
    return new, dict(p_target=v['p_target'], entropy=v['entropy'], reward=reward, done=done)

  return dense_step
