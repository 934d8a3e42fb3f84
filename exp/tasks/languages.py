"""Synthetic languages with exact evaluators (docs/families/distillation.md, docs/families/noisy_student.md).

Everything is jax, static-shaped and keyed, so a language can differ per seed under ``jax.vmap``
and samplers run inside ``lax.scan``. Sizes (numbers of tasks, tokens, lengths) are static Python
ints; they are read back from array shapes, which stay static under vmap. The public functions are
``jax.jit``-wrapped (sizes as static argnames) so host-side evaluation is fast too; inside an outer
jit/vmap the wrappers are simply inlined.

Markov task language (C) — token layout for ``n_tasks`` tasks and ``n_content`` content tokens:

    PAD = 0, BOS = 1, NULL = 2, CTX_k = 3 + k (k < n_tasks),
    content token c (c < n_content) = 3 + n_tasks + c.

With the defaults (4 tasks, 12 content tokens): CTX 3..6, content 7..18, vocab 19.
A sequence is ``[BOS, CTX_task or NULL, x_0, x_1, ...]`` (BOS optional); x_0 is uniform over
content and x_{i+1} ~ P_task(· | x_i).

Program "spec → code" language (D) — token layout for ``n_symbols`` symbols:

    PAD = 0, SEP = 1, symbol s = 2 + s.

A prompt is 6 symbols; response token j = table[j, prompt[a_j], prompt[b_j]] (a_j ≠ b_j fixed
positions, table fixed per program), replaced by a uniform random symbol with probability ``noise``.
LM sequences are ``[prompt, SEP, response]`` (``program_sequences``).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from models import init as initializers

# ---------------------------------------------------------------------------------------------
# Markov task language
# ---------------------------------------------------------------------------------------------

PAD, BOS, NULL, CTX0 = 0, 1, 2, 3


def ctx_id(task):
  """Token id of task ``task``'s context token."""
  return CTX0 + task


def content_offset(n_tasks: int) -> int:
  """Id of content token 0."""
  return CTX0 + n_tasks


def markov_vocab_size(n_tasks: int = 4, n_content: int = 12) -> int:
  return content_offset(n_tasks) + n_content


class MarkovLanguage(NamedTuple):
  """A pytree; add a leading seed axis to vmap over languages.

  allowed: (tasks, content, content) bool, allowed[k, i, j] = j may follow i in task k.
  probs: (tasks, content, content) float32 transition probabilities (0 where not allowed; rows sum to 1).
  """

  allowed: jax.Array
  probs: jax.Array

  @property
  def n_tasks(self) -> int:
    return self.allowed.shape[-3]

  @property
  def n_content(self) -> int:
    return self.allowed.shape[-1]

  @property
  def vocab(self) -> int:
    return markov_vocab_size(self.n_tasks, self.n_content)


@partial(jax.jit, static_argnames=('n_tasks', 'n_content', 'n_successors'))
def make_markov_language(
  key, n_tasks: int = 4, n_content: int = 12, n_successors: int = 3, min_weight=0.25
) -> MarkovLanguage:
  """Random task chains: each token gets ``n_successors`` distinct successors other than itself
  (uniformly chosen per task); their probabilities are weights ~ U(min_weight, 1), normalised, so
  every allowed transition keeps probability >= min_weight / (min_weight + n_successors − 1)
  (0.1 with the defaults) and the chains stay learnable. ``min_weight`` may be traced.

  Returns a ``MarkovLanguage``; vmap over keys for one language per seed."""
  if not 1 <= n_successors < n_content:
    raise ValueError(f'n_successors must be in [1, {n_content - 1}], got {n_successors}')
  # One flat PRNG call for everything: random-bit kernels dominate compile time on CPU, and a
  # multi-dimensional draw compiles several times slower than the same values drawn flat.
  u, v = jax.random.uniform(key, (2 * n_tasks * n_content * n_content,)).reshape(
    2, n_tasks, n_content, n_content
  )
  u = jnp.where(jnp.eye(n_content, dtype=bool), 2.0, u)  # self is never among the smallest
  rank = jnp.argsort(jnp.argsort(u, axis=-1), axis=-1)
  allowed = rank < n_successors
  w = (min_weight + (1.0 - min_weight) * v) * allowed
  probs = w / jnp.sum(w, axis=-1, keepdims=True)
  return MarkovLanguage(allowed=allowed, probs=probs.astype(jnp.float32))


def _sample_markov_row(lang: MarkovLanguage, key, task, header, length):
  # One uniform per token and inverse-CDF draws: a single PRNG call per row keeps compiles cheap.
  u = jax.random.uniform(key, (length,))
  x0 = jnp.minimum((u[0] * lang.n_content).astype(jnp.int32), lang.n_content - 1)
  cdf = jnp.cumsum(lang.probs[task], axis=-1)  # (content, content)

  def step(x, ui):
    # First j with cdf > u: always a successor with mass. A u past the float-rounded total
    # mass (cdf[-1] slightly < 1) falls back to the last allowed successor.
    nxt = jnp.minimum(jnp.sum(cdf[x] <= ui), lang.n_content - 1).astype(jnp.int32)
    nxt = jnp.where(lang.allowed[task, x, nxt], nxt, jnp.argmax(cdf[x]))
    return nxt, nxt

  _, rest = jax.lax.scan(step, x0, u[1:])
  content = jnp.concatenate([x0[None], rest]) + content_offset(lang.n_tasks)
  return jnp.concatenate([header, content]).astype(jnp.int32)


@partial(jax.jit, static_argnames=('batch', 'length', 'bos'))
def sample_markov(
  lang: MarkovLanguage, key, batch: int, length: int, task_ids, with_context, bos: bool = True
) -> jax.Array:
  """Sample sequences from the task chains.

  Args:
    lang: a ``MarkovLanguage`` (no seed axis).
    key: PRNG key; row r uses ``fold_in(key, r)``, so it does not depend on ``batch``.
    batch, length: static; ``length`` content tokens per sequence (>= 1).
    task_ids: (batch,) int task of each row (traced allowed).
    with_context: bool scalar or (batch,): CTX_task if true, NULL otherwise (traced allowed).
    bos: static; prepend BOS.

  Returns:
    (batch, bos + 1 + length) int32: ``[BOS?, CTX or NULL, x_0, ..., x_{length-1}]``.
  """
  if length < 1:
    raise ValueError(f'length must be >= 1, got {length}')
  task_ids = jnp.broadcast_to(jnp.asarray(task_ids, jnp.int32), (batch,))
  with_context = jnp.broadcast_to(jnp.asarray(with_context, bool), (batch,))
  ctx = jnp.where(with_context, ctx_id(task_ids), NULL)
  header = ctx[:, None] if not bos else jnp.stack([jnp.full((batch,), BOS), ctx], axis=1)
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(batch))
  return jax.vmap(_sample_markov_row, (None, 0, 0, 0, None))(lang, keys, task_ids, header, length)


@partial(jax.jit, static_argnames=('prompt_len',))
def legal_transitions(lang: MarkovLanguage, tokens, task_ids, prompt_len: int) -> jax.Array:
  """(batch, T − prompt_len) bool: is generated token t (t >= prompt_len) a legal continuation?

  Token t is legal iff it is a content token and either its predecessor is a content token and
  the task allows the transition, or its predecessor is a header token inside the prompt (BOS /
  CTX / NULL: any content start is legal). Generated non-content tokens are illegal, and so is
  the token after one.
  """
  if not 1 <= prompt_len < tokens.shape[1]:
    raise ValueError(f'need 1 <= prompt_len < T={tokens.shape[1]}, got {prompt_len}')
  off = content_offset(lang.n_tasks)
  prev, cur = tokens[:, prompt_len - 1 : -1], tokens[:, prompt_len:]
  pc, cc = prev - off, cur - off
  n = lang.n_content
  prev_content = (pc >= 0) & (pc < n)
  cur_content = (cc >= 0) & (cc < n)
  task_ids = jnp.broadcast_to(jnp.asarray(task_ids, jnp.int32), (tokens.shape[0],))
  allowed = lang.allowed[task_ids[:, None], jnp.clip(pc, 0, n - 1), jnp.clip(cc, 0, n - 1)]
  prev_in_prompt = (jnp.arange(prompt_len - 1, tokens.shape[1] - 1) < prompt_len)[None]
  start_ok = prev_in_prompt & ~prev_content
  return cur_content & ((prev_content & allowed) | start_ok)


@partial(jax.jit, static_argnames=('prompt_len',))
def legal_rate(lang: MarkovLanguage, tokens, task_ids, prompt_len: int) -> jax.Array:
  """Fraction of generated transitions allowed for each row's task ("downstream accuracy").

  tokens: (batch, T) int; task_ids: (batch,) or scalar; prompt_len: static, >= 1, the number of
  leading tokens not generated. Returns a scalar in [0, 1]; see ``legal_transitions``.
  """
  return jnp.mean(legal_transitions(lang, tokens, task_ids, prompt_len).astype(jnp.float32))


@partial(jax.jit, static_argnames=('n', 'start'))
def repetition_rate(tokens, n: int = 2, start: int = 0) -> jax.Array:
  """seq-rep-n: mean over rows of 1 − (#unique n-grams / #n-grams) of ``tokens[:, start:]``.

  tokens: (batch, T) int; n, start static. O(T²) pairwise comparison — fine for the toy lengths.
  """
  x = tokens[:, start:]
  m = x.shape[1] - n + 1
  if m < 1:
    raise ValueError(f'need at least n={n} tokens after start={start}')
  grams = jnp.stack([x[:, k : k + m] for k in range(n)], axis=-1)  # (B, m, n)
  same = jnp.all(grams[:, :, None, :] == grams[:, None, :, :], axis=-1)  # (B, m, m)
  earlier = jnp.tril(jnp.ones((m, m), bool), k=-1)  # j < i
  dup = jnp.any(same & earlier[None], axis=-1)  # seen before
  return jnp.mean(jnp.sum(dup, axis=-1) / m)


# ---------------------------------------------------------------------------------------------
# Program "spec -> code" language
# ---------------------------------------------------------------------------------------------

PROG_PAD, PROG_SEP, SYM0 = 0, 1, 2


def _uniform_int(u, n):
  """Uniform u in [0, 1) -> int32 in [0, n): lets one PRNG call serve several draws."""
  return jnp.minimum((u * n).astype(jnp.int32), n - 1)


class Program(NamedTuple):
  """A pytree (vmappable over a leading seed axis).

  a, b: (response_len,) int32 prompt positions read by response token j (a_j ≠ b_j).
  table: (response_len, n_symbols, n_symbols) int32, output symbol for each (prompt[a_j], prompt[b_j]).
  noise: () float32 probability that a response token is replaced by a uniform random symbol.
  """

  a: jax.Array
  b: jax.Array
  table: jax.Array
  noise: jax.Array

  @property
  def n_symbols(self) -> int:
    return self.table.shape[-1]

  @property
  def response_len(self) -> int:
    return self.table.shape[-3]

  @property
  def vocab(self) -> int:
    return SYM0 + self.n_symbols


@partial(jax.jit, static_argnames=('prompt_len', 'response_len', 'n_symbols'))
def make_program(key, prompt_len: int = 6, response_len: int = 10, n_symbols: int = 8, noise=0.05) -> Program:
  """A random fixed program; ``noise`` may be traced. Symbols are ids SYM0.. in the token layout."""
  if prompt_len < 2:
    raise ValueError(f'prompt_len must be >= 2, got {prompt_len}')
  u = initializers.uniform(key, (response_len, 2 + n_symbols * n_symbols))
  a = _uniform_int(u[:, 0], prompt_len)
  b = (a + 1 + _uniform_int(u[:, 1], prompt_len - 1)) % prompt_len  # b != a
  table = _uniform_int(u[:, 2:], n_symbols).reshape(response_len, n_symbols, n_symbols)
  return Program(
    a.astype(jnp.int32), b.astype(jnp.int32), table.astype(jnp.int32), jnp.asarray(noise, jnp.float32)
  )


@jax.jit
def program_output(prog: Program, prompts) -> jax.Array:
  """Deterministic (noise-free) responses: prompts (n, prompt_len) symbol ids -> (n, response_len).

  Prompts must be clean (symbols only, no PAD from ``delete_tokens``)."""
  s = prompts - SYM0
  j = jnp.arange(prog.response_len)
  return prog.table[j[None], s[:, prog.a], s[:, prog.b]] + SYM0


@partial(jax.jit, static_argnames=('n', 'prompt_len'))
def sample_program_data(prog: Program, key, n: int, prompt_len: int = 6):
  """n random prompts and their (noisy) responses; ``prompt_len`` must match ``make_program``'s.

  Returns (prompts (n, prompt_len), responses (n, response_len)), int32 token ids.
  """
  r = prog.response_len
  u = initializers.uniform(key, (n, prompt_len + 2 * r))
  prompts = _uniform_int(u[:, :prompt_len], prog.n_symbols) + SYM0
  clean = program_output(prog, prompts)
  flip = u[:, prompt_len : prompt_len + r] < prog.noise
  rand = _uniform_int(u[:, prompt_len + r :], prog.n_symbols) + SYM0
  return prompts.astype(jnp.int32), jnp.where(flip, rand, clean).astype(jnp.int32)


def program_sequences(prompts, responses) -> jax.Array:
  """LM sequences ``[prompt, SEP, response]``: (n, prompt_len + 1 + response_len) int32."""
  sep = jnp.full((prompts.shape[0], 1), PROG_SEP, jnp.int32)
  return jnp.concatenate([prompts, sep, responses], axis=1).astype(jnp.int32)


@jax.jit
def program_exact_match(prog: Program, prompts, responses) -> jax.Array:
  """Fraction of rows whose whole response equals the noise-free program output (scalar)."""
  return jnp.mean(jnp.all(responses == program_output(prog, prompts), axis=-1).astype(jnp.float32))


@jax.jit
def program_token_accuracy(prog: Program, prompts, responses) -> jax.Array:
  """Fraction of response tokens equal to the noise-free program output (scalar)."""
  return jnp.mean((responses == program_output(prog, prompts)).astype(jnp.float32))


@jax.jit
def delete_tokens(key, tokens, p, pad_id: int = PROG_PAD) -> jax.Array:
  """Token deletion noise: drop each token with probability ``p`` and shift the rest left.

  tokens: (..., L) int; p: scalar (traced allowed). Kept tokens keep their order; the freed
  slots at the end are ``pad_id``. Static shape. p = 0 is the identity, p = 1 gives all pad.
  """
  keep = initializers.uniform(key, tokens.shape) >= p
  # Slot j takes the (j+1)-th kept token, at the position where the running count of kept tokens first
  # exceeds j: the count of positions whose running count is <= j. (A stable argsort of ~keep gives the
  # same tokens; XLA on CPU compiles this (L, L) comparison faster than a sort.)
  count = jnp.cumsum(keep, axis=-1)
  slots = jnp.arange(tokens.shape[-1])
  src = jnp.sum(count[..., None, :] <= slots[:, None], axis=-1)
  moved = jnp.take_along_axis(tokens, jnp.minimum(src, tokens.shape[-1] - 1), axis=-1)
  return jnp.where(slots < count[..., -1:], moved, pad_id).astype(tokens.dtype)
