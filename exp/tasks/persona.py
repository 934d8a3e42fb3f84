"""The persona toy of docs/families/persona_dpo.md: a token vocabulary, a prompt/response generator (the
pretraining corpus) and the constitution, an exact scoring rule s ∈ [0, 1] on a response.

Token layout for ``n_persona`` persona tokens and ``n_neutral`` neutral tokens:

    PAD = 0, BOS = 1, SYS = 2 (the system prompt carrying the constitution), IGN = 3 ("drop the act"),
    INTRO = 4 (an introspective prompt), NULL = 5 (an empty slot), FORBID = 6 (a token the constitution
    forbids), persona token k = 7 + k (k < n_persona), neutral token c = 7 + n_persona + c.

A sequence is ``[BOS, SYS|NULL, IGN|INTRO|NULL, q] + response``: the prompt's last token ``q`` is a
neutral "query" token that also starts the neutral text. A response has ``length`` tokens.

The constitution (``score``): a response containing FORBID scores 0; otherwise
s = clip((persona tokens − adjacent persona pairs) / ceil(length / 2), 0, 1). A persona token on every
other position (never two adjacent) scores 1; neutral text scores about 0.

The corpus (``sample_corpus``): with probability ``follow[sys, mode]`` a response *follows the persona*
(after a neutral token, a persona token with probability ``rho``, never two persona tokens in a row,
never FORBID); otherwise it is neutral text (an order-1 Markov chain over neutral tokens, ``n_successors``
allowed successors per token, FORBID with probability ``p_forbid`` per position, a stray persona token
with probability ``p_stray``). Everything is jax, keyed, and draws its randomness flat (one uniform
call per batch), so a corpus can differ per seed under ``jax.vmap``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

PAD, BOS, SYS, IGN, INTRO, NULL, FORBID, PERSONA0 = 0, 1, 2, 3, 4, 5, 6, 7
PROMPT_LEN = 4  # [BOS, sys slot, mode slot, query]
MODES = (NULL, IGN, INTRO)  # index of a mode in the follow table's second axis


def vocab_size(n_persona: int, n_neutral: int) -> int:
  return PERSONA0 + n_persona + n_neutral


def neutral_id(n_persona: int, c):
  """Token id of neutral token ``c``."""
  return PERSONA0 + n_persona + c


def is_persona(tokens, n_persona: int):
  return (tokens >= PERSONA0) & (tokens < PERSONA0 + n_persona)


def score(response: jax.Array, n_persona: int) -> jax.Array:
  """The constitution: s ∈ [0, 1] of each response.

  Args:
    response: (..., length) int tokens (the response only, no prompt).
    n_persona: number of persona tokens (ids PERSONA0 .. PERSONA0 + n_persona − 1).

  Returns:
    (...) float32: 0 when the response contains FORBID, else
    clip((#persona − #adjacent persona pairs) / ceil(length / 2), 0, 1).
  """
  p = is_persona(response, n_persona).astype(jnp.float32)
  n_p = jnp.sum(p, axis=-1)
  n_adj = jnp.sum(p[..., 1:] * p[..., :-1], axis=-1)
  best = math.ceil(response.shape[-1] / 2)
  s = jnp.clip((n_p - n_adj) / best, 0.0, 1.0)
  return jnp.where(jnp.any(response == FORBID, axis=-1), 0.0, s)


class Corpus(NamedTuple):
  """The generator's parameters: a pytree (add a leading seed axis to vmap over seeds).

  successors: (n_neutral, n_successors) int32, the neutral tokens (0-based) allowed after each one.
  follow: (2, 3) float32, P(a response follows the persona | sys ∈ {NULL, SYS}, mode ∈ MODES).
  rho, p_forbid, p_stray: float32 scalars (see the module docstring).
  """

  successors: jax.Array
  follow: jax.Array
  rho: jax.Array
  p_forbid: jax.Array
  p_stray: jax.Array


def make_corpus(key, n_neutral: int, n_successors: int, follow, rho, p_forbid, p_stray) -> Corpus:
  """A seed's corpus: each neutral token gets ``n_successors`` distinct successors (a random permutation
  per row, from one flat draw); ``follow`` is a (2, 3) table as in ``Corpus``."""
  u = jax.random.uniform(key, (n_neutral * n_neutral,)).reshape(n_neutral, n_neutral)
  successors = jnp.argsort(u, axis=1)[:, :n_successors].astype(jnp.int32)
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  return Corpus(successors, f32(follow), f32(rho), f32(p_forbid), f32(p_stray))


def prompts(sys, mode, query, n_persona: int) -> jax.Array:
  """(n, PROMPT_LEN) prompts from (n,) sys tokens, mode tokens and 0-based neutral query indices."""
  bos = jnp.full(sys.shape, BOS, jnp.int32)
  q = neutral_id(n_persona, query).astype(jnp.int32)
  return jnp.stack([bos, sys.astype(jnp.int32), mode.astype(jnp.int32), q], axis=1)


def respond(corpus: Corpus, u, query, follow, n_persona: int) -> jax.Array:
  """Responses of the corpus for given queries and follow flags.

  Args:
    u: (n, length, 3) uniforms; query: (n,) 0-based neutral indices; follow: (n,) bool.

  Returns:
    (n, length) int32 response tokens.
  """
  n_succ = corpus.successors.shape[1]

  def position(carry, u_i):  # one response position; a scan keeps the compiled program small
    prev_neutral, prev_persona = carry
    u_persona, u_next, u_other = u_i[:, 0], u_i[:, 1], u_i[:, 2]
    nxt = corpus.successors[prev_neutral, jnp.minimum((u_next * n_succ).astype(jnp.int32), n_succ - 1)]
    persona = jnp.where(follow, ~prev_persona & (u_persona < corpus.rho), u_persona < corpus.p_stray)
    forbid = ~follow & ~persona & (u_other < corpus.p_forbid)
    k = jnp.minimum((u_other * n_persona).astype(jnp.int32), n_persona - 1)
    tok = jnp.where(persona, PERSONA0 + k, jnp.where(forbid, FORBID, neutral_id(n_persona, nxt)))
    return (jnp.where(persona | forbid, prev_neutral, nxt), persona), tok.astype(jnp.int32)

  init = (query.astype(jnp.int32), jnp.zeros(query.shape, bool))
  _, toks = jax.lax.scan(position, init, jnp.swapaxes(u, 0, 1))
  return jnp.swapaxes(toks, 0, 1)


def sample_corpus(
  corpus: Corpus, key, n: int, length: int, n_persona: int, p_sys, p_ign, p_intro, follow_override=None
) -> jax.Array:
  """(n, PROMPT_LEN + length) pretraining sequences: sys = SYS with probability p_sys, the mode IGN with
  p_ign, INTRO with p_intro, else NULL; a uniform query; the response follows the persona with
  probability ``corpus.follow[sys, mode]`` (or always / never when ``follow_override`` is True / False)."""
  n_neutral = corpus.successors.shape[0]
  u = jax.random.uniform(key, (n * (4 + 3 * length),))
  head, body = u[: 4 * n].reshape(n, 4), u[4 * n :].reshape(n, length, 3)
  has_sys = head[:, 0] < p_sys
  mode_i = jnp.where(head[:, 1] < p_ign, 1, jnp.where(head[:, 1] < p_ign + p_intro, 2, 0))
  query = jnp.minimum((head[:, 2] * n_neutral).astype(jnp.int32), n_neutral - 1)
  follow = head[:, 3] < corpus.follow[has_sys.astype(jnp.int32), mode_i]
  if follow_override is not None:
    follow = jnp.full((n,), bool(follow_override))
  sys = jnp.where(has_sys, SYS, NULL)
  mode = jnp.asarray(MODES, jnp.int32)[mode_i]
  return jnp.concatenate(
    [prompts(sys, mode, query, n_persona), respond(corpus, body, query, follow, n_persona)], axis=1
  )


def distinct_bigrams(responses: jax.Array, vocab: int) -> jax.Array:
  """Diversity of a batch of responses (n, length): distinct bigrams / bigrams over the batch (1 when no
  bigram repeats anywhere in the batch). Static-shaped (a vocab² histogram), so it runs under vmap."""
  ids = (responses[:, :-1] * vocab + responses[:, 1:]).reshape(-1)
  counts = jnp.zeros((vocab * vocab,), jnp.float32).at[ids].add(1.0)
  return jnp.sum(counts > 0) / ids.shape[0]
