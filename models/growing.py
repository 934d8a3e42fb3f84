"""A one-hidden-layer MLP of static maximum width that rewires itself: unit + connection masks, growth,
pruning and RigL rewiring, all with masks and ``jnp.where`` so shapes stay static and runs vmap
(self-modifying family, docs/families/self_modifying.md).

Parameters (H = max_width, d = inputs, C = classes, A = auxiliary-head classes)::

    w1 (d, H), b1 (H,)      input -> hidden, ReLU
    w2 (H, C), b2 (C,)      hidden -> class logits
    wa (H, A), ba (A,)      hidden -> auxiliary head logits (trained only by an auxiliary loss)

Masks: ``unit`` (H,) 0/1 active hidden units, ``conn`` (d, H) 0/1 active input connections. The network
computes with the *effective* weights (``effective``): masked entries are exactly 0, so an inactive unit's
activation is relu(0) = 0 and it feeds nothing. Losses are differentiated with respect to the effective
weights: that gradient is dense (RigL's growth criterion) and ``masked_grads`` turns it into the gradient of
the parameters (masked entries get exactly 0, so they and their Adam moments stay 0).

Self-modification (``modify``), one event:
  1. prune: the ``n_prune`` active units of lowest saliency (mean activation × ‖outgoing weights‖,
     Molchanov et al. 2017 in spirit) are switched off and their parameters zeroed; at least ``min_width``
     stay;
  2. grow (Net2WiderNet, Chen et al. 2016): the ``n_grow`` most salient units are copied into free slots;
     incoming weights and bias are copied, and the outgoing weights w are split as w/2 + ε (source) and
     w/2 − ε (copy). The copy's activation equals its source's, so the function is preserved exactly
     (up to rounding) while ε breaks the symmetry of the two units' gradients;
  3. rewire (RigL, Evci et al. 2020): a fraction of the active input connections of active units with the
     smallest |w| is dropped; as many inactive connections of active units with the largest dense |grad|
     (excluding those just dropped) are grown with weight 0.
A frozen network (no events) with full masks is a plain MLP (``plain_forward``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from models import init as initializers

PARAM_NAMES = ('w1', 'b1', 'w2', 'b2', 'wa', 'ba')


def unit_mask(width, max_width: int):
  """(max_width,) float 0/1, 1 for units j < width (width may be traced)."""
  return (jnp.arange(max_width) < jnp.asarray(width)).astype(jnp.float32)


def init(key, d: int, max_width: int, classes: int, aux_classes: int, width, density):
  """Parameters and masks of a width-``width`` network (``width`` and ``density`` may be traced).

  Every input connection of an active unit is active with probability ``density``. Kernels N(0, 1/fan_in)
  with fan_in = d·density (input layer) and width (output layers), from one flat draw; biases 0; every
  entry of an inactive unit or connection exactly 0.
  """
  w1, w2, wa, zc = initializers.normals(
    key, (d, max_width), (max_width, classes), (max_width, aux_classes), (d, max_width)
  )
  u = unit_mask(width, max_width)
  # one flat draw: the connection mask is z < Φ⁻¹(density), i.e. active with probability density
  conn = (zc < jax.scipy.special.ndtri(jnp.asarray(density, jnp.float32))).astype(jnp.float32)
  conn = conn * u[None, :]
  fan1 = jnp.maximum(d * jnp.asarray(density, jnp.float32), 1.0)
  fan2 = jnp.maximum(jnp.asarray(width, jnp.float32), 1.0)
  params = dict(
    w1=w1 * conn * jax.lax.rsqrt(fan1),
    b1=jnp.zeros((max_width,)),
    w2=w2 * u[:, None] * jax.lax.rsqrt(fan2),
    b2=jnp.zeros((classes,)),
    wa=wa * u[:, None] * jax.lax.rsqrt(fan2),
    ba=jnp.zeros((aux_classes,)),
  )
  return params, dict(unit=u, conn=conn)


def param_masks(masks) -> dict:
  """0/1 masks shaped like the parameters."""
  u, c = masks['unit'], masks['conn']
  return dict(
    w1=c * u[None, :],
    b1=u,
    w2=u[:, None],
    b2=jnp.ones(()),
    wa=u[:, None],
    ba=jnp.ones(()),
  )


def effective(params, masks) -> dict:
  """The weights the network computes with: masked entries exactly 0."""
  pm = param_masks(masks)
  return {k: params[k] * pm[k] for k in PARAM_NAMES}


def masked_grads(dense, masks) -> dict:
  """Gradient of the parameters from the dense gradient of the effective weights."""
  pm = param_masks(masks)
  return {k: dense[k] * pm[k] for k in PARAM_NAMES}


def apply(eff, x):
  """x (n, d) -> (class logits (n, C), auxiliary logits (n, A), hidden activations (n, H))."""
  h = jax.nn.relu(x @ eff['w1'] + eff['b1'])
  return h @ eff['w2'] + eff['b2'], h @ eff['wa'] + eff['ba'], h


def plain_forward(params, x):
  """A plain MLP (no masks): the reference a frozen full-mask network must equal."""
  h = jax.nn.relu(x @ params['w1'] + params['b1'])
  return h @ params['w2'] + params['b2']


def saliency(eff, h):
  """(H,) unit saliency: mean activation over the batch × L2 norm of the outgoing class weights."""
  return h.mean(axis=0) * jnp.sqrt(jnp.sum(eff['w2'] ** 2, axis=1))


def rank(score, valid):
  """(n,) int rank of each entry by ``score`` descending among ``valid`` entries (0 = largest); invalid
  entries rank after every valid one. Ties break by index (argsort is stable)."""
  order = jnp.argsort(jnp.where(valid > 0, -score, jnp.inf))
  return jnp.zeros(score.shape, jnp.int32).at[order].set(jnp.arange(score.size, dtype=jnp.int32))


def prune(params, masks, sal, n_prune, min_width):
  """Switch off the ``n_prune`` least salient active units (keeping ``min_width``); their params -> 0."""
  u = masks['unit']
  n_active = jnp.sum(u)
  n = jnp.clip(jnp.minimum(n_prune, n_active - min_width), 0, None)
  off = (rank(-sal, u) < n) & (u > 0)
  keep = 1.0 - off.astype(jnp.float32)
  new_u = u * keep
  pm = param_masks(dict(unit=new_u, conn=masks['conn']))
  new_params = {k: params[k] * pm[k] for k in PARAM_NAMES}
  return new_params, dict(unit=new_u, conn=masks['conn'] * keep[None, :]), off


def grow(params, masks, sal, n_grow, noise):
  """Net2WiderNet: copy the ``n_grow`` most salient active units into the lowest free slots.

  noise: (H, C + A) ε added to each source's kept half of its outgoing weights and subtracted from its
  copy's (function-preserving). Returns (params, masks, grown (H,) bool).
  """
  u = masks['unit']
  free = 1.0 - u
  r_src = rank(sal, u)  # 0 = most salient active unit
  r_free = jnp.cumsum(free).astype(jnp.int32) - 1  # 0 = lowest free slot
  n = jnp.minimum(n_grow, jnp.minimum(jnp.sum(u), jnp.sum(free))).astype(jnp.int32)
  new = (free > 0) & (r_free < n)
  # copy[i, j] = 1 when free slot j receives a copy of unit i
  copy = ((r_src[:, None] == r_free[None, :]) & new[None, :] & (u[:, None] > 0)).astype(jnp.float32)
  is_src = copy.sum(axis=1)
  newf = new.astype(jnp.float32)
  out = jnp.concatenate([params['w2'], params['wa']], axis=1)
  moved = is_src[:, None] * (0.5 * out - noise)  # what each source hands to its copy
  out = (out - moved) * (1.0 - newf)[:, None] + copy.T @ moved
  C = params['w2'].shape[1]
  new_params = dict(
    params,
    w1=params['w1'] * (1.0 - newf)[None, :] + params['w1'] @ copy,
    b1=params['b1'] * (1.0 - newf) + params['b1'] @ copy,
    w2=out[:, :C],
    wa=out[:, C:],
  )
  conn = masks['conn'] * (1.0 - newf)[None, :] + masks['conn'] @ copy
  return new_params, dict(unit=u + newf, conn=conn), new


def rewire(params, masks, dense_w1, frac):
  """RigL on the input connections of active units: drop ``frac`` of the active ones with the smallest
  |w|, grow as many inactive ones (not just dropped) with the largest dense |grad|, new weights 0.
  Returns (params, masks, number of connections dropped (= grown when enough are free))."""
  u = masks['unit']
  active = masks['conn'] * u[None, :]
  eligible = (1.0 - masks['conn']) * u[None, :]
  n_drop = jnp.floor(frac * jnp.sum(active)).astype(jnp.int32)
  n_drop = jnp.minimum(n_drop, jnp.sum(eligible).astype(jnp.int32))
  flat_a, flat_e = active.ravel(), eligible.ravel()
  drop = (rank(-jnp.abs(params['w1']).ravel(), flat_a) < n_drop) & (flat_a > 0)
  add = (rank(jnp.abs(dense_w1).ravel(), flat_e) < n_drop) & (flat_e > 0)
  conn = jnp.where(add, 1.0, jnp.where(drop, 0.0, masks['conn'].ravel())).reshape(active.shape)
  w1 = jnp.where(drop.reshape(active.shape) | add.reshape(active.shape), 0.0, params['w1'])
  return dict(params, w1=w1), dict(masks, conn=conn), n_drop


def modify(params, masks, dense_w1, h, n_prune, n_grow, min_width, frac, noise):
  """One self-modification event (prune, grow, rewire); see the module docstring.

  Returns (params, masks, churn) with churn = {'units': units pruned + grown, 'conns': input connections
  whose mask changed}.
  """
  sal = saliency(effective(params, masks), h)
  p, m, off = prune(params, masks, sal, n_prune, min_width)
  sal = jnp.where(m['unit'] > 0, sal, 0.0)
  p, m, new = grow(p, m, sal, n_grow, noise)
  p, m, _ = rewire(p, m, dense_w1, frac)
  churn = dict(
    units=jnp.sum(off) + jnp.sum(new),
    conns=jnp.sum(jnp.abs(m['conn'] * m['unit'][None, :] - masks['conn'] * masks['unit'][None, :])),
  )
  return p, m, churn


def drop_fraction(t, alpha, total):
  """RigL's cosine schedule: alpha/2 · (1 + cos(π t / total)); t may be traced."""
  return 0.5 * alpha * (1.0 + jnp.cos(jnp.pi * jnp.minimum(t / total, 1.0)))
