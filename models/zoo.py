"""Pure-jnp pieces of the model-switch toy (docs/families/model_switch.md): the random teacher, a linear
classifier, a masked one-hidden-layer ReLU MLP, and a whole zoo of such MLPs evaluated at once.

Parameters are plain dicts of arrays (no Linen module): the zoo stacks its candidates on a leading axis and
pads every hidden layer to the widest one, with a 0/1 mask per candidate that switches the padding off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def features(h, neg_slope):
  """φ(h) = relu(h) + neg_slope·relu(−h): partly even in h when neg_slope > 0 (a linear model is poorly
  suited to it)."""
  return jax.nn.relu(h) + neg_slope * jax.nn.relu(-h)


def teacher_logits(A, Bm, x, neg_slope):
  """The teacher's logits φ(x·A)·Bm; its labels are their argmax. x (n, d), A (d, h), Bm (h, classes)."""
  return features(x @ A, neg_slope) @ Bm


def source_labels(src, x, neg_slope):
  """Labels of every candidate's own source task, (Z, n): argmax of φ(x·A_z)·B_z, src = {'A': (Z, d, h),
  'B': (Z, h, classes)}."""
  return jnp.argmax(
    jnp.einsum('znh,zhc->znc', features(jnp.einsum('nd,zdh->znh', x, src['A']), neg_slope), src['B']), -1
  )


def linear(p, x):
  """x·w + b, p = {'w': (d, classes), 'b': (classes,)}."""
  return x @ p['w'] + p['b']


def mlp(p, x, mask):
  """One hidden ReLU layer whose units are switched on by ``mask`` (W,): p = {'w1': (d, W), 'b1': (W,),
  'w2': (W, out), 'b2': (out,)}."""
  return (jax.nn.relu(x @ p['w1'] + p['b1']) * mask) @ p['w2'] + p['b2']


def zoo_logits(zp, masks, x):
  """Every candidate of a stacked zoo at once, (Z, n, out): zp = {'w1': (Z, d, W), 'b1': (Z, W),
  'w2': (Z, W, out), 'b2': (Z, out)}, masks (Z, W)."""
  h = jax.nn.relu(jnp.einsum('nd,zdw->znw', x, zp['w1']) + zp['b1'][:, None, :]) * masks[:, None, :]
  return jnp.einsum('znw,zwc->znc', h, zp['w2']) + zp['b2'][:, None, :]
