"""A noisy-teacher classification file stored in an ordered way, and its random vs tail splits
(self-modifying family, docs/families/self_modifying.md).

Data: inputs x ~ N(0, I_d); clean labels from a random teacher network, argmax(relu(x·A)·B) with
A (d, h) ~ N(0, 1/d), B (h, C) ~ N(0, 1/h); each label is replaced by a uniformly drawn class with
probability ``noise`` (so ``noise``·(C − 1)/C of the labels are wrong). An auxiliary task's labels come from
a second, independent teacher (for an auxiliary head).

The file is *grouped by its noisy label with jitter*: row order = argsort(label + jitter · z), z ~ N(0, 1).
A *tail* split (validation = the file's last ``val_frac``, as a "validation split" that takes the last
fraction before shuffling does) then trains on a label-shifted subset, while a *random* split (a per-seed
permutation) does not. jitter → ∞ gives a shuffled file (no shift); jitter → 0 a file sorted by label.

Everything is jnp with static shapes and draws its randomness flat, so a split flag may be traced and each
seed's file differs under vmap.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from models import init as initializers


def _teacher(z, d: int, hidden: int, classes: int) -> dict:
  """A teacher from d·hidden + hidden·classes standard normals ``z``."""
  A = z[: d * hidden].reshape(d, hidden) / math.sqrt(d)
  B = z[d * hidden :].reshape(hidden, classes) / math.sqrt(hidden)
  return dict(A=A, B=B)


def teacher_labels(teacher: dict, x):
  """(n,) int32 argmax of the teacher's logits on x (n, d)."""
  return jnp.argmax(jax.nn.relu(x @ teacher['A']) @ teacher['B'], axis=-1).astype(jnp.int32)


def make_file(key, n: int, d: int, classes: int, aux_classes: int, hidden: int, noise, jitter) -> dict:
  """The ordered file of one seed: {'x' (n, d), 'y' (n,) noisy labels, 'y_clean' (n,), 'y_aux' (n,),
  'teacher', 'aux_teacher'} with rows in file order (see the module docstring). noise, jitter may be
  traced. Two flat draws (one normal, one uniform): each PRNG call costs compile time on the pinned jax."""
  kz, ku = jax.random.split(key)
  t1, t2 = d * hidden + hidden * classes, d * hidden + hidden * aux_classes
  teacher_z, aux_z, x, z = initializers.normals(kz, (t1,), (t2,), (n, d), (n,))
  u = jax.random.uniform(ku, (2 * n,))
  teacher = _teacher(teacher_z, d, hidden, classes)
  aux_teacher = _teacher(aux_z, d, hidden, aux_classes)
  y_clean = teacher_labels(teacher, x)
  drawn = jnp.minimum(jnp.floor(u[n:] * classes), classes - 1).astype(jnp.int32)
  y = jnp.where(u[:n] < noise, drawn, y_clean)
  order = jnp.argsort(y + jitter * z)
  return dict(
    x=x[order],
    y=y[order],
    y_clean=y_clean[order],
    y_aux=teacher_labels(aux_teacher, x)[order],
    teacher=teacher,
    aux_teacher=aux_teacher,
  )


def split_indices(key, n: int, n_val: int, tail):
  """(train (n − n_val,), val (n_val,)) int32 row indices of the file: the last ``n_val`` rows when
  ``tail`` (may be traced), else a random permutation's split."""
  perm = jnp.argsort(jax.random.uniform(key, (n,))).astype(jnp.int32)  # a uniform random permutation
  order = jnp.where(tail, jnp.arange(n, dtype=jnp.int32), perm)
  return order[: n - n_val], order[n - n_val :]


def test_set(key, teacher: dict, n: int, d: int):
  """n fresh i.i.d. inputs and their clean labels: the evaluation set."""
  x = initializers.normal(key, (n, d))
  return x, teacher_labels(teacher, x)
