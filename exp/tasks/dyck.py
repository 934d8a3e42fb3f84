"""Dyck-2 completion ("close the JSON") for the capacity cliff (docs/families/capacity_cliff.md).

Token layout (VOCAB = 7):
    PAD = 0, OPEN = ( '(' = 1, '[' = 2 ), CLOSE = ( ')' = 3, ']' = 4 ) (closer = opener + 2), EOS = 5, SEP = 6.
LM sequence (``dyck_lm_batch``), left-aligned, length S = max_len + max_depth + 2:
    [prefix_0 … prefix_{L-1}, SEP, close_1 … close_d, EOS, PAD …]
SEP marks where the given prefix ends, so the model knows when to start closing. The loss and the smooth
metric cover the d closing tokens and the EOS (``loss_mask``).

Success (``dyck_success``, exact): the generated tokens up to the first EOS, appended to the prefix, form a
well-formed Dyck-2 word that becomes balanced exactly at the token before EOS: every closer matches the top
of the stack, depth stays ≥ 1 until then, EOS is present, and no PAD/SEP comes before it. Tokens after the
first EOS are ignored. Extra matched pairs before closing (prefix '(' + '[])' EOS) also count as success,
since the string is well formed; the minimal closing sequence is the unique shortest success and is the
training target.

Everything is jnp with static shapes; keys may be vmapped (one dataset per seed).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

PAD, OPEN_PAREN, OPEN_BRACKET, CLOSE_PAREN, CLOSE_BRACKET, EOS, SEP = range(7)
VOCAB = 7
_NUM_TYPES = 2


def _is_open(t):
  return (t == OPEN_PAREN) | (t == OPEN_BRACKET)


def _is_close(t):
  return (t == CLOSE_PAREN) | (t == CLOSE_BRACKET)


def sample_dyck_prefixes(key, batch: int, max_len: int, max_depth: int, p_open: float = 0.5) -> dict:
  """Random valid unbalanced Dyck-2 prefixes and their closing targets.

  Each prefix is the start of a random walk (open with prob ``p_open`` unless depth = 0 or max_depth; the
  bracket type uniform; a close always matches the top) cut at a length drawn uniformly among the
  positions where the depth is ≥ 1. ``batch``, ``max_len``, ``max_depth`` are static.

  Returns a dict of int32 arrays:
    prefix (batch, max_len): tokens, PAD after ``length``;
    length (batch,) in [1, max_len];
    depth (batch,) in [1, max_depth]: unclosed brackets at the end of the prefix;
    target (batch, max_depth + 1): the unique minimal closing sequence (depth closers), EOS, then PAD.
  """
  if max_len < 1 or max_depth < 1:
    raise ValueError(f'max_len and max_depth must be >= 1, got {max_len}, {max_depth}')

  # All randomness in one flat draw (flat draws compile far faster than per-step or 2-D ones).
  # Row b: max_len direction uniforms, max_len bracket-type uniforms, one uniform for the cut.
  n = 2 * max_len + 1
  u = jax.random.uniform(key, (batch * n,)).reshape(batch, n)

  def one(u):
    def step(carry, uu):
      stack, d = carry
      u_dir, u_type = uu
      is_open = (d == 0) | ((d < max_depth) & (u_dir < p_open))
      typ = jnp.minimum((u_type * _NUM_TYPES).astype(jnp.int32), _NUM_TYPES - 1)
      top = stack[jnp.maximum(d - 1, 0)]
      tok = jnp.where(is_open, OPEN_PAREN + typ, CLOSE_PAREN + top)
      stack = jnp.where(is_open, stack.at[jnp.minimum(d, max_depth - 1)].set(typ), stack)
      d = jnp.where(is_open, d + 1, d - 1)
      return (stack, d), (tok, d, stack)

    init = (jnp.zeros((max_depth,), jnp.int32), jnp.int32(0))
    _, (toks, depths, stacks) = jax.lax.scan(step, init, (u[:max_len], u[max_len : 2 * max_len]))
    # cut uniformly among positions with depth >= 1 (position 0 is always an open, so one exists)
    admissible = depths >= 1
    count = admissible.sum()
    j = jnp.minimum((u[-1] * count).astype(jnp.int32), count - 1)  # pick the (j+1)-th admissible
    length = jnp.argmax(jnp.cumsum(admissible) == j + 1) + 1
    d, stack = depths[length - 1], stacks[length - 1]
    prefix = jnp.where(jnp.arange(max_len) < length, toks, PAD)
    i = jnp.arange(max_depth + 1)
    closers = CLOSE_PAREN + stack[jnp.clip(d - 1 - i, 0, max_depth - 1)]
    target = jnp.where(i < d, closers, jnp.where(i == d, EOS, PAD))
    return dict(
      prefix=prefix.astype(jnp.int32),
      length=length.astype(jnp.int32),
      depth=d.astype(jnp.int32),
      target=target.astype(jnp.int32),
    )

  return jax.vmap(one)(u)


def dyck_lm_batch(sample: dict) -> dict:
  """Teacher-forcing arrays from ``sample_dyck_prefixes`` output (batch B, S = max_len + max_depth + 2).

  Returns dict:
    tokens (B, S): [prefix, SEP, target (closers, EOS), PAD …];
    inputs (B, S-1) = tokens[:, :-1]; labels (B, S-1) = tokens[:, 1:];
    loss_mask (B, S-1) bool: labels that are closing tokens or the EOS;
    prompt (B, max_len + 1): prefix then SEP at ``length``, PAD elsewhere (input of ``greedy_complete``);
    prompt_len (B,) = length + 1.
  """
  prefix, length, depth, target = sample['prefix'], sample['length'], sample['depth'], sample['target']
  max_len, tlen = prefix.shape[-1], target.shape[-1]
  S = max_len + 1 + tlen
  i = jnp.arange(S)[None, :]
  L = length[:, None]
  from_prefix = jnp.take_along_axis(prefix, jnp.clip(i, 0, max_len - 1), axis=-1)
  from_target = jnp.take_along_axis(target, jnp.clip(i - L - 1, 0, tlen - 1), axis=-1)
  tokens = jnp.where(
    i < L, from_prefix, jnp.where(i == L, SEP, jnp.where(i - L - 1 < tlen, from_target, PAD))
  )
  in_target = (i > L) & (i - L - 1 <= depth[:, None])
  prompt = tokens[:, : max_len + 1] * (i[:, : max_len + 1] <= L)  # PAD (=0) after SEP
  return dict(
    tokens=tokens,
    inputs=tokens[:, :-1],
    labels=tokens[:, 1:],
    loss_mask=in_target[:, 1:],
    prompt=prompt,
    prompt_len=length + 1,
  )


def per_token_accuracy(logits, labels, mask):
  """Teacher-forced accuracy over masked positions (token-weighted), the smooth metric.

  logits (B, T, V), labels (B, T) int, mask (B, T) bool → float32 scalar (0 if the mask is empty).
  """
  hit = (jnp.argmax(logits, axis=-1) == labels) & mask
  return hit.sum() / jnp.maximum(mask.sum(), 1).astype(jnp.float32)


def greedy_complete(apply_fn: Callable, prompt, prompt_len, num_steps: int):
  """Greedy decoding with any causal LM ``apply_fn(tokens (B, T) int) -> logits (B, T, V)``.

  prompt (B, P) int: the first ``prompt_len[b]`` tokens are the prompt (the rest is ignored);
  num_steps: static number of tokens to generate. The model is run on a fixed (B, P + num_steps) buffer
  each step (lax.scan; O(num_steps) full forward passes, fine at toy sizes). Returns generated
  (B, num_steps) int32, PAD after the first EOS.
  """
  B, P = prompt.shape
  T = P + num_steps
  pos = jnp.arange(T)[None, :]
  buf = jnp.where(pos < prompt_len[:, None], jnp.pad(prompt, ((0, 0), (0, num_steps))), PAD).astype(jnp.int32)
  rows = jnp.arange(B)

  def step(carry, k):
    buf, done = carry
    at = prompt_len + k  # where the new token goes
    logits = apply_fn(buf)
    tok = jnp.argmax(logits[rows, at - 1], axis=-1).astype(jnp.int32)
    tok = jnp.where(done, PAD, tok)
    buf = buf.at[rows, at].set(tok)
    return (buf, done | (tok == EOS)), tok

  _, gen = jax.lax.scan(step, (buf, jnp.zeros((B,), bool)), jnp.arange(num_steps))
  return gen.T


def dyck_success(prefix, generated):
  """Exact success per example (see module docstring). prefix (B, max_len) PAD-padded, generated (B, G)
  → (B,) bool. A malformed prefix (mismatched closer, EOS/SEP inside) gives False."""
  max_len, G = prefix.shape[-1], generated.shape[-1]
  cap = max_len + G
  is_gen = jnp.arange(cap) >= max_len

  def one(seq):
    def step(c, inp):
      stack, d, ok, done = c
      t, gen = inp
      top = stack[jnp.clip(d - 1, 0, cap - 1)]
      matches = (d > 0) & (t == CLOSE_PAREN + top) & _is_close(t)
      active = ~done & (~gen | (d > 0) | (t == EOS))  # gen with d == 0: only EOS allowed
      bad_gen = gen & ~done & (((d == 0) & (t != EOS)) | (t == PAD) | (t == SEP))
      bad_pre = ~gen & ((t == EOS) | (t == SEP) | (_is_close(t) & ~matches))
      bad_close = gen & ~done & _is_close(t) & ~matches
      eos_now = gen & ~done & (t == EOS)
      ok = ok & ~bad_gen & ~bad_pre & ~bad_close & ~(eos_now & (d != 0))
      push = active & _is_open(t)
      pop = active & _is_close(t) & matches
      stack = jnp.where(push, stack.at[jnp.clip(d, 0, cap - 1)].set(t - OPEN_PAREN), stack)
      d = d + push.astype(jnp.int32) - pop.astype(jnp.int32)
      done = done | eos_now | bad_gen
      return (stack, d, ok, done), None

    init = (jnp.zeros((cap,), jnp.int32), jnp.int32(0), jnp.bool_(True), jnp.bool_(False))
    (_, _, ok, done), _ = jax.lax.scan(step, init, (seq, is_gen))
    return ok & done

  return jax.vmap(one)(jnp.concatenate([prefix, generated], axis=-1).astype(jnp.int32))


def success_by_depth(success, depth, max_depth: int):
  """Success rate per prefix depth. success (B,) bool, depth (B,) int in [1, max_depth].

  Returns (rate, count), each (max_depth,), index i ↔ depth i + 1; rate is NaN where count is 0.
  """
  idx = jnp.clip(depth - 1, 0, max_depth - 1)
  count = jnp.zeros((max_depth,), jnp.int32).at[idx].add(1)
  hits = jnp.zeros((max_depth,), jnp.float32).at[idx].add(success.astype(jnp.float32))
  rate = jnp.where(count > 0, hits / jnp.maximum(count, 1), jnp.nan)
  return rate, count
