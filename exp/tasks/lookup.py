"""The lookup toy of the LoRA mode-collapse family and its collapse detector (docs/families/lora_collapse.md).

Task. A prompt is a tuple of Q question tokens in [0, vocab) (all vocab**Q tuples are enumerated, then a
per-seed permutation picks disjoint train and held-out prompts). Two mappings from prompts to answers in
[0, num_answers) are drawn from the task key:
- ``kind='additive'`` (default): answer_m(t) = argmax_c Σ_i T_m[i, t_i, c], T_m ~ N(0, 1) of shape
  (Q, vocab, num_answers), centred over tokens and scaled to equal norm per answer (so answers are roughly
  balanced). Additive over positions, so an embedding MLP can learn it and it generalises to held-out
  prompts. Mapping 1 (pretraining) and mapping 2 (fine-tuning target) use independent tables.
- ``kind='table'``: an independent uniform answer per prompt (pure memorisation; held-out accuracy is chance).

Sequence variant. ``codes`` (num_answers, num_digits) maps each answer to a distinct string of ``num_digits``
base-``base`` digit tokens, so "collapse to one constant string" (the source's "10000000") is literal.
The first ``k = ceil(log_base(num_answers))`` code positions spell the answer's base-``base`` digits
(least significant first, each shifted by a per-position random offset, so codes are distinct); the other
positions are random digits. Everything is jnp and per key, so it can differ per seed under ``vmap``.

Collapse detector (held-out prompts, greedy outputs): ``collapse_metrics``, ``dead_relu_fraction``,
``logit_variance_across_prompts``. All are jit/vmap-friendly (distinct counts by sorting).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# Normalized entropy below this counts as collapsed (docs/families/lora_collapse.md).
COLLAPSE_ENTROPY_THRESHOLD = 0.1


def make_answer_codes(key, num_answers: int, num_digits: int = 8, base: int = 10):
  """(num_answers, num_digits) int32 table of distinct digit strings (see module docstring)."""
  k = max(1, math.ceil(math.log(num_answers, base) - 1e-9))
  if k > num_digits:
    raise ValueError(f'{num_answers} answers need {k} base-{base} digits, more than num_digits={num_digits}')
  raw = jax.random.randint(key, ((num_answers + 1) * num_digits,), 0, base, jnp.int32)
  raw = raw.reshape(num_answers + 1, num_digits)  # last row: the shifts
  codes, shift = raw[:num_answers], raw[num_answers, :k]
  a = jnp.arange(num_answers, dtype=jnp.int32)[:, None]
  ident = (a // base ** jnp.arange(k, dtype=jnp.int32)) % base  # (num_answers, k) digits of a
  return codes.at[:, :k].set((ident + shift) % base)


def make_lookup_task(
  key,
  num_question_tokens: int = 4,
  vocab: int = 8,
  num_answers: int = 32,
  *,
  num_train: int = 2048,
  num_heldout: int = 512,
  kind: str = 'additive',
  num_digits: int = 8,
  base: int = 10,
) -> dict:
  """Draw one lookup task. All sizes are static; ``key`` may be vmapped (one task per seed).

  Returns a dict of int32 arrays (Q = num_question_tokens):
    train_x (num_train, Q), train_y1 (num_train,), train_y2 (num_train,),
    heldout_x (num_heldout, Q), heldout_y1 (num_heldout,), heldout_y2 (num_heldout,),
    codes (num_answers, num_digits): the sequence-variant code table (``answer_strings(codes, y)``).
  y1 is mapping 1 (pretraining), y2 mapping 2 (fine-tuning target); train/held-out prompts are disjoint.
  """
  total = vocab**num_question_tokens
  if num_train + num_heldout > total:
    raise ValueError(
      f'num_train + num_heldout = {num_train + num_heldout} exceeds the {total} distinct prompts'
    )
  if total > 2**24:
    raise ValueError(f'vocab**num_question_tokens = {total} prompts is too many to enumerate')
  if kind not in ('additive', 'table'):
    raise ValueError(f"kind must be 'additive' or 'table', got {kind!r}")
  k_split, k_maps, k_codes = jax.random.split(key, 3)

  idx = jax.random.permutation(k_split, total)[: num_train + num_heldout]
  x = (idx[:, None] // vocab ** jnp.arange(num_question_tokens)) % vocab  # (N, Q) base-vocab digits
  x = x.astype(jnp.int32)

  # Both mappings from one flat random draw: fewer threefry instances, and flat draws compile far faster
  # than multi-dimensional ones (same values under partitionable threefry).
  if kind == 'table':
    y1, y2 = jax.random.randint(k_maps, (2 * total,), 0, num_answers, jnp.int32).reshape(2, total)[:, idx]
  else:
    shape = (2, num_question_tokens, vocab, num_answers)
    tables = jax.random.normal(k_maps, (math.prod(shape),)).reshape(shape)
    # Every answer gets mean-0, equal-variance scores over uniform prompts, so answers are roughly balanced.
    tables = tables - tables.mean(axis=2, keepdims=True)
    tables = tables / jnp.sqrt(jnp.sum(tables**2, axis=(1, 2), keepdims=True))
    scores = tables[:, jnp.arange(num_question_tokens), x].sum(axis=2)  # (2, N, num_answers)
    y1, y2 = jnp.argmax(scores, axis=-1).astype(jnp.int32)
  tr, ho = slice(0, num_train), slice(num_train, num_train + num_heldout)
  return dict(
    train_x=x[tr],
    train_y1=y1[tr],
    train_y2=y2[tr],
    heldout_x=x[ho],
    heldout_y1=y1[ho],
    heldout_y2=y2[ho],
    codes=make_answer_codes(k_codes, num_answers, num_digits, base),
  )


def answer_strings(codes, answers):
  """codes (num_answers, D), answers (...,) int → (..., D) digit tokens."""
  return codes[answers]


def exact_match(pred, target):
  """Fraction of prompts whose output equals the target. (P,) answers or (P, D) strings (whole row)."""
  eq = pred == target
  if eq.ndim > 1:
    eq = eq.reshape(eq.shape[0], -1).all(axis=-1)
  return eq.mean()


# ------------------------------------------------------------------------------------------------
# Collapse detector


def collapse_metrics(pred_outputs) -> dict:
  """Collapse statistics of greedy outputs on P held-out prompts.

  pred_outputs: (P,) int answers or (P, D) int strings (a row is one output; rows compare as wholes).
  Returns dict of scalars:
    num_distinct (int32): number of distinct outputs;
    entropy (float32, nats): entropy of the histogram of outputs over the P prompts;
    normalized_entropy: entropy / log(P). log(P) is the largest entropy P outputs can have (all distinct),
      so 1 means every prompt got a different output; it is defined as 0 when P == 1. When the output space
      is smaller than P (e.g. 32 answers, 512 prompts) even a perfect model stays below 1
      (log 32 / log 512 ≈ 0.56); the collapse threshold 0.1 is far below that;
    collapsed (bool): num_distinct == 1 or normalized_entropy < COLLAPSE_ENTROPY_THRESHOLD (0.1).
  """
  x = jnp.asarray(pred_outputs)
  x = x.reshape(x.shape[0], -1)  # (P, D)
  n = x.shape[0]
  order = jnp.lexsort(tuple(x[:, j] for j in reversed(range(x.shape[1]))))  # column 0 is the primary key
  xs = x[order]
  new = jnp.concatenate([jnp.ones((1,), bool), jnp.any(xs[1:] != xs[:-1], axis=-1)])
  num_distinct = new.sum().astype(jnp.int32)
  counts = jnp.zeros((n,), jnp.float32).at[jnp.cumsum(new) - 1].add(1.0)  # run lengths, zeros after
  p = counts / n
  entropy = jnp.maximum(-jnp.sum(jnp.where(counts > 0, p * jnp.log(jnp.where(counts > 0, p, 1.0)), 0.0)), 0.0)
  norm = entropy / math.log(n) if n > 1 else jnp.zeros((), jnp.float32)
  collapsed = (num_distinct == 1) | (norm < COLLAPSE_ENTROPY_THRESHOLD)
  return dict(num_distinct=num_distinct, entropy=entropy, normalized_entropy=norm, collapsed=collapsed)


def dead_relu_fraction(hidden_activations) -> jnp.ndarray:
  """Fraction of ReLU units that are 0 on every prompt.

  hidden_activations: post-ReLU (P, H) array, or a sequence of (P, H_l) arrays (all layers pooled,
  e.g. the ``hiddens`` tuple of ``LookupMLP(..., return_hidden=True)``). Returns a float32 scalar.
  """
  if isinstance(hidden_activations, (tuple, list)):
    hidden_activations = jnp.concatenate([jnp.asarray(h) for h in hidden_activations], axis=-1)
  h = jnp.asarray(hidden_activations)
  return jnp.all(h <= 0, axis=0).mean(dtype=jnp.float32)


def logit_variance_across_prompts(logits, center: bool = True) -> jnp.ndarray:
  """Variance across prompts (axis 0) of the logits, averaged over all other axes; float32 scalar.

  logits: (P, C) or (P, D, C). With ``center`` (default) each logit vector is first centred over its
  class axis, so a per-prompt constant shift (which changes no prediction) does not count as variation.
  A collapsed model gives ≈ 0.
  """
  z = jnp.asarray(logits, jnp.float32)
  if center:
    z = z - z.mean(axis=-1, keepdims=True)
  return jnp.var(z, axis=0).mean()
