"""The pure JAX functions of the persona_dpo family (traced by the runner; no jit/vmap of runs here).

- Pretraining stage (``make_pretrain``): per seed a corpus (exp/tasks/persona.py) and a base WindowMLPLM
  trained on it (response tokens only). Its output: the base parameters, the teacher pool (for each of
  pool_batches x batch queries, the best of ``teacher_best_of`` base samples with SYS under the
  constitution), held-out neutral text and the evaluation queries.
- The arm (``make_arm``): every phase order is a grid point ``order`` (an index into config.orders); the
  phase of step t is ``table[order, t // phase_steps]`` (0 idle, 1 intro SFT, 2 dialogue SFT, 3 DPO).
  At a phase start Adam's state is reset and, for DPO, the reference is set to the current model. The
  model is snapshotted after each slot (``snaps[0]`` = the base), and ``evaluate`` scores every snapshot
  on the same prompts and the same sampling noise (common random numbers across phases and orders).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.families.persona_dpo.common import EVAL_METRICS, ORDERS, PHASE_CODE, order_names
from exp.tasks import persona as P
from losses import dpo as dpolib
from models import init as initlib
from models import lm


class Dims(NamedTuple):
  n_persona: int
  n_neutral: int
  L: int  # response length
  T: int  # PROMPT_LEN + L
  vocab: int


def dims(config) -> Dims:
  L = config.response_len
  return Dims(
    config.n_persona, config.n_neutral, L, P.PROMPT_LEN + L, P.vocab_size(config.n_persona, config.n_neutral)
  )


def model_of(config) -> lm.WindowMLPLM:
  return lm.WindowMLPLM(
    vocab=dims(config).vocab, window=config.window, hidden=config.hidden, embed=config.embed
  )


def init_params(model, key, seq_len: int):
  """flax default scales from one flat draw (per-leaf initializers cost seconds of compile on CPU)."""
  return initlib.fan_in_normal(jax.eval_shape(lambda: lm.init_params(model, jax.random.key(0), seq_len)), key)


def gumbel(u):
  """Gumbel noise from uniforms (so one flat uniform draw serves every random choice of a step)."""
  return -jnp.log(-jnp.log(jnp.clip(u, 1e-12, 1.0 - 1e-7)))


def response_nll(apply_fn, params, seqs):
  """Token-averaged NLL of the response tokens of seqs (n, T)."""
  return -jnp.mean(dpolib.response_logprobs(apply_fn(params, seqs), seqs, P.PROMPT_LEN))


def corpus_of(d):
  return P.Corpus(**d)


# ---------------------------------------------------------------------------------------------------
# Pretraining: the base, the teacher pool, held-out neutral text, evaluation queries


def make_pretrain(config, model):
  d = dims(config)
  apply_fn, sample = lm.make_apply_fn(model), lm.window_sampler(model)
  tx = optax.adam(config.pretrain_lr)
  mix = (config.p_sys, config.p_ign, config.p_intro)

  def init(key, hp):
    k_corpus, k_par, k_rest = jax.random.split(key, 3)
    corpus = P.make_corpus(
      k_corpus, d.n_neutral, config.n_successors, config.follow, config.rho, config.p_forbid, config.p_stray
    )
    params = init_params(model, k_par, d.T)
    return dict(
      params=params,
      opt_state=tx.init(params),
      corpus=corpus._asdict(),
      key=jax.random.key_data(k_rest),
      loss=jnp.float32(jnp.nan),
    )

  def step(s, hp, key):
    seqs = P.sample_corpus(corpus_of(s['corpus']), key, config.pretrain_batch, d.L, d.n_persona, *mix)
    loss, grads = jax.value_and_grad(lambda p: response_nll(apply_fn, p, seqs))(s['params'])
    updates, opt_state = tx.update(grads, s['opt_state'], s['params'])
    new = dict(s, params=optax.apply_updates(s['params'], updates), opt_state=opt_state, loss=loss)
    return new, {'loss': loss}

  def evaluate(s, hp):  # the last step's loss: no extra sampling to compile
    return {'final_loss': s['loss']}

  def output(s):
    key = jax.random.wrap_key_data(s['key'])
    corpus = corpus_of(s['corpus'])
    m, k = config.pool_batches * config.batch, config.teacher_best_of
    u = jax.random.uniform(jax.random.fold_in(key, 1), (m + k * m * d.L * d.vocab,))
    query = jnp.minimum((u[:m] * d.n_neutral).astype(jnp.int32), d.n_neutral - 1)
    prompt = P.prompts(jnp.full((m,), P.SYS), jnp.full((m,), P.NULL), query, d.n_persona)
    rep = jnp.repeat(prompt, k, axis=0)  # k samples per query, adjacent
    toks, _, _ = sample(s['params'], rep, gumbel(u[m:]).reshape(k * m, d.L, d.vocab), 1.0)
    scores = P.score(toks[:, P.PROMPT_LEN :], d.n_persona).reshape(m, k)
    best = jnp.argmax(scores, axis=1)  # the constitution picks the teacher's answer
    pool = toks.reshape(m, k, d.T)[jnp.arange(m), best]
    n_eval = config.eval_batch
    neutral = P.sample_corpus(
      corpus, jax.random.fold_in(key, 2), n_eval, d.L, d.n_persona, 0.0, 0.0, 0.0, follow_override=False
    )
    u_q = jax.random.uniform(jax.random.fold_in(key, 3), (n_eval,))
    eval_query = jnp.minimum((u_q * d.n_neutral).astype(jnp.int32), d.n_neutral - 1)
    return {'params': s['params'], 'pool': pool, 'neutral': neutral, 'eval_query': eval_query}

  return init, step, evaluate, output


# ---------------------------------------------------------------------------------------------------
# The pipeline arm


def schedule_table(config) -> np.ndarray:
  """(orders, slots) int32 phase codes: row i is config.orders[i]'s phases, then idle."""
  names = order_names(config)
  n_slots = max(len(ORDERS[o]) for o in names)
  table = np.zeros((len(names), n_slots), np.int32)
  for i, o in enumerate(names):
    for j, ph in enumerate(ORDERS[o]):
      table[i, j] = PHASE_CODE[ph]
  return table


class Ctx(NamedTuple):
  d: Dims
  apply: object
  sample: object
  table: jax.Array
  phase_steps: int
  batch: int
  tx: object
  cfg: dict  # scalar hyper-parameters


def make_arm(config, model):
  d = dims(config)
  c = Ctx(
    d=d,
    apply=lm.make_apply_fn(model),
    sample=lm.window_sampler(model),
    table=jnp.asarray(schedule_table(config)),
    phase_steps=config.phase_steps,
    batch=config.batch,
    tx=optax.scale_by_adam(),
    cfg={
      k: float(config[k])
      for k in (
        'sft_lr',
        'dpo_lr',
        'beta',
        'nll_coef',
        'dialogue_sys_frac',
        'train_ign_frac',
        'high_threshold',
        'break_threshold',
        'survive_threshold',
      )
    },
  )
  n_slots = c.table.shape[1]

  def init(key, hp, base):
    params = base['params']
    snaps = jax.tree.map(lambda x: jnp.stack([x] * (n_slots + 1)), params)
    return dict(
      params=params,
      opt_state=c.tx.init(params),
      ref=params,
      snaps=snaps,
      pool=base['pool'],
      neutral=base['neutral'],
      eval_query=base['eval_query'],
      t=jnp.int32(0),
      eval_key=jax.random.key_data(jax.random.fold_in(key, 1)),
    )

  return init, lambda s, hp, key: arm_step(c, s, hp, key), lambda s, hp: arm_evaluate(c, s, hp)


def train_prompts(c: Ctx, code, query, u_sys, u_ign):
  """The student's prompts for a phase code: intro [NULL, INTRO]; dialogue [SYS half the time, IGN in
  train_ign_frac]; DPO (and idle) [NULL, IGN in train_ign_frac]."""
  ign = jnp.where(u_ign < c.cfg['train_ign_frac'], P.IGN, P.NULL)
  sys = jnp.where((code == PHASE_CODE['dialogue']) & (u_sys < c.cfg['dialogue_sys_frac']), P.SYS, P.NULL)
  mode = jnp.where(code == PHASE_CODE['intro'], P.INTRO, ign)
  return P.prompts(sys, mode, query, c.d.n_persona), P.prompts(
    jnp.full_like(sys, P.NULL), ign, query, c.d.n_persona
  )


def arm_step(c: Ctx, s, hp, key):
  d, batch = c.d, c.batch
  t = s['t']
  slot = jnp.minimum(t // c.phase_steps, c.table.shape[1] - 1)
  order = jnp.round(hp['order']).astype(jnp.int32)
  code = c.table[order, slot]
  start = t % c.phase_steps == 0
  is_dpo = code == PHASE_CODE['dpo']
  params = s['params']
  ref = jax.tree.map(lambda r, p: jnp.where(start & is_dpo, p, r), s['ref'], params)
  opt_state = jax.tree.map(lambda o, z: jnp.where(start, z, o), s['opt_state'], c.tx.init(params))

  n_pool = s['pool'].shape[0] // batch
  chosen_t = jax.lax.dynamic_slice_in_dim(s['pool'], (t % n_pool) * batch, batch, axis=0)
  u = jax.random.uniform(key, (2 * batch + batch * d.L * d.vocab,))
  query = chosen_t[:, 3] - P.neutral_id(d.n_persona, 0)
  student_prompt, dpo_prompt = train_prompts(c, code, query, u[:batch], u[batch : 2 * batch])
  chosen = jnp.concatenate([student_prompt, chosen_t[:, P.PROMPT_LEN :]], axis=1)
  rejected, _, _ = c.sample(ref, dpo_prompt, gumbel(u[2 * batch :]).reshape(batch, d.L, d.vocab), 1.0)
  both = jnp.concatenate([chosen, rejected])
  ref_lp = jax.lax.stop_gradient(dpolib.response_logprobs(c.apply(ref, both), both, P.PROMPT_LEN))
  mask = jnp.ones((batch, d.L), jnp.float32)

  def loss_fn(p):
    lp = dpolib.response_logprobs(c.apply(p, both), both, P.PROMPT_LEN)
    pol_w, pol_l = lp[:batch], lp[batch:]
    dpo, m = dpolib.dpo_loss(
      pol_w, pol_l, ref_lp[:batch], ref_lp[batch:], mask, mask, c.cfg['beta'], c.cfg['nll_coef']
    )
    sft = -jnp.mean(pol_w)
    return jnp.where(is_dpo, dpo, sft), dict(m, sft_nll=sft)

  (loss, m), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, new_opt = c.tx.update(grads, opt_state, params)
  lr = jnp.where(is_dpo, c.cfg['dpo_lr'], c.cfg['sft_lr'])
  new_params = optax.apply_updates(params, jax.tree.map(lambda x: -lr * x, updates))
  active = code > 0
  params = jax.tree.map(lambda a, b: jnp.where(active, a, b), new_params, params)
  opt_state = jax.tree.map(lambda a, b: jnp.where(active, a, b), new_opt, opt_state)
  # Snapshot k + 1 = the model after slot k (its last step's update included).
  end = (t % c.phase_steps == c.phase_steps - 1) & (t < c.table.shape[1] * c.phase_steps)
  snap_i = jnp.where(end, slot + 1, -1)
  idx = jnp.arange(c.table.shape[1] + 1)
  snaps = jax.tree.map(
    lambda sn, p: jnp.where((idx == snap_i).reshape((-1,) + (1,) * p.ndim), p[None], sn), s['snaps'], params
  )
  s_ref = jnp.mean(P.score(rejected[:, P.PROMPT_LEN :], d.n_persona))
  metrics = dict(m, loss=loss, phase=code.astype(jnp.float32), s_rejected=s_ref)
  new = dict(s, params=params, opt_state=opt_state, ref=ref, snaps=snaps, t=t + 1)
  return new, metrics


def eval_prompts(c: Ctx, query):
  """(4n, PROMPT_LEN) evaluation prompts: SYS, no SYS, SYS + IGN, IGN (n rows each, same queries)."""
  n = query.shape[0]
  rows = []
  for sys, mode in ((P.SYS, P.NULL), (P.NULL, P.NULL), (P.SYS, P.IGN), (P.NULL, P.IGN)):
    rows.append(P.prompts(jnp.full((n,), sys), jnp.full((n,), mode), query, c.d.n_persona))
  return jnp.concatenate(rows)


def snapshot_metrics(c: Ctx, params, prompts, noise, neutral) -> dict:
  """The EVAL_METRICS of one model on the evaluation prompts (4 conditions of n rows)."""
  d = c.d
  toks, _, _ = c.sample(params, prompts, noise, 1.0)
  resp = toks[:, P.PROMPT_LEN :]
  s = P.score(resp, d.n_persona).reshape(4, -1)
  hi, br, sv = c.cfg['high_threshold'], c.cfg['break_threshold'], c.cfg['survive_threshold']
  n = s.shape[1]
  out = {
    'align_sys': jnp.mean(s[0]),
    'align_nosys': jnp.mean(s[1]),
    'high_sys': jnp.mean(s[0] >= hi),
    'high_nosys': jnp.mean(s[1] >= hi),
    'break_ign_sys': jnp.mean(s[2] < br),
    'break_ign': jnp.mean(s[3] < br),
    'survive': jnp.mean(s[1] >= sv),
    'div_nosys': P.distinct_bigrams(resp[n : 2 * n], d.vocab),
    'nll_neutral': response_nll(c.apply, params, neutral),
  }
  assert set(out) == set(EVAL_METRICS)
  return {k: v.astype(jnp.float32) for k, v in out.items()}


def arm_evaluate(c: Ctx, s, hp):
  d = c.d
  key = jax.random.wrap_key_data(s['eval_key'])
  prompts = eval_prompts(c, s['eval_query'])
  rows = prompts.shape[0]
  noise = gumbel(jax.random.uniform(key, (rows * d.L * d.vocab,))).reshape(rows, d.L, d.vocab)
  per = jax.vmap(lambda p: snapshot_metrics(c, p, prompts, noise, s['neutral']))(s['snaps'])
  out = {}
  for k, v in per.items():
    for i in range(v.shape[0]):
      out[f'{k}_{i}'] = v[i]
  return out
