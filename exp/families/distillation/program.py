"""The pure JAX functions of the distillation family (traced by the runner; no jit/vmap of runs here).

- Pretraining stage (``make_pretrain``): per seed a Markov task language and a base WindowMLPLM trained
  on all tasks, the context token present with probability ``context_prob``; its output is the base
  parameters, the language and a fixed pool of teacher samples (the off-policy data).
- Arms (``make_arm``): a student distilled from the base-with-context teacher. State
  ``dict(params, opt_state, sampler, teacher, offdata, lang, t, rec, eval_key)``; ``sampler`` is the
  stale sampler's parameters (refreshed only at the switch), ``rec`` holds the values measured at the
  last off-policy step (``*_pre``), the first on-policy step (``*_post``), step 0 (``legal_start``) and
  the change point. The setups are traced grid values ``hp = {switch, unshifted, sampled, stale}``.

All sampling is Gumbel-max with noise from one flat draw per call (``noise``): every extra PRNG call
costs seconds of XLA compile on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.families.distillation.common import PROMPT
from exp.tasks import languages as langs
from losses import distill, sequence
from models import init as initlib
from models import lm


class Dims(NamedTuple):
  """Sizes and constants read from the config."""

  n_tasks: int
  n_content: int
  n_successors: int
  L: int  # generated content tokens
  T: int  # PROMPT + L
  vocab: int
  target: int  # the teacher's task
  ctx_tok: int  # its context token
  temp: float  # sampling temperature
  B: int  # distillation batch


def dims(config) -> Dims:
  n_tasks, n_content, L = config.n_tasks, config.n_content, config.seq_len
  return Dims(
    n_tasks=n_tasks,
    n_content=n_content,
    n_successors=config.n_successors,
    L=L,
    T=PROMPT + L,
    vocab=langs.markov_vocab_size(n_tasks, n_content),
    target=config.target_task,
    ctx_tok=langs.ctx_id(config.target_task),
    temp=float(config.temperature),
    B=config.batch,
  )


def init_params(model, key, seq_len: int):
  """Parameters with flax's default scales (kernels and embeddings N(0, 1/fan_in), biases 0) drawn in
  one flat normal call: flax's per-leaf initializers cost seconds of XLA compile on CPU."""
  return initlib.fan_in_normal(jax.eval_shape(lambda: lm.init_params(model, jax.random.key(0), seq_len)), key)


def markov_language(key, n_tasks: int, n_content: int, n_successors: int) -> langs.MarkovLanguage:
  """The task language of one seed (``exp.tasks.languages.make_markov_language``, default min_weight)."""
  return langs.make_markov_language(key, n_tasks, n_content, n_successors)


def content_mask(T: int) -> jax.Array:
  """(1, T): 1 at the content positions (the CE targets), 0 at the header."""
  return (jnp.arange(T) >= PROMPT).astype(jnp.float32)[None]


def noise(key, *shape):
  """Gumbel noise of the given shape from one flat draw."""
  return jax.random.gumbel(key, (int(np.prod(shape)),)).reshape(shape)


def gather(logp, tokens):
  """logp (B, L, V), tokens (B, L) -> (B, L) log-prob of each token."""
  return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]


def tree_where(pred, a, b):
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def prompts(n, header):
  """(n, PROMPT) headers [BOS, header]."""
  return jnp.stack([jnp.full((n,), langs.BOS, jnp.int32), jnp.full((n,), header, jnp.int32)], axis=1)


def lang_of(d):
  return langs.MarkovLanguage(allowed=d['allowed'], probs=d['probs'])


def next_logp(apply_fn, params, tokens):
  """(B, L, V) log p(· | tokens[:, :t]) for each content position t."""
  return lm.token_logprobs(apply_fn, params, tokens, PROMPT)


def with_header(tokens, header):
  return tokens.at[:, 1].set(header)


# ---------------------------------------------------------------------------------------------------
# Pretraining: the base / teacher, its language, and the fixed teacher-sample pool


def make_pretrain(config, model):
  """``(init, step, evaluate, output)`` of the pretraining stage for the base ``model``."""
  d = dims(config)
  apply_fn, sample = lm.make_apply_fn(model), lm.window_sampler(model)
  mask = content_mask(d.T)
  tx = optax.adam(config.pretrain_lr)
  pb = config.pretrain_batch

  def init(key, hp):
    k_lang, k_par, k_rest = jax.random.split(key, 3)
    lang = markov_language(k_lang, d.n_tasks, d.n_content, d.n_successors)
    params = init_params(model, k_par, d.T)
    return dict(
      params=params,
      opt_state=tx.init(params),
      lang={'allowed': lang.allowed, 'probs': lang.probs},
      key=jax.random.key_data(k_rest),
    )

  def step(s, hp, key):
    k_task, k_seq = jax.random.split(key)
    u = jax.random.uniform(k_task, (2 * pb,))
    tasks = jnp.minimum((u[:pb] * d.n_tasks).astype(jnp.int32), d.n_tasks - 1)
    toks = langs.sample_markov(lang_of(s['lang']), k_seq, pb, d.L, tasks, u[pb:] < config.context_prob)
    loss, grads = jax.value_and_grad(
      lambda p: sequence.next_token_ce(apply_fn(p, toks), toks, jnp.broadcast_to(mask, toks.shape))
    )(s['params'])
    updates, opt_state = tx.update(grads, s['opt_state'], s['params'])
    return dict(s, params=optax.apply_updates(s['params'], updates), opt_state=opt_state), {'loss': loss}

  def evaluate(s, hp):
    key = jax.random.wrap_key_data(s['key'])
    n = config.eval_batch
    lang = lang_of(s['lang'])
    # One sampler call: n rows with the target's context token (the teacher), n with NULL (the student).
    both = jnp.concatenate([prompts(n, d.ctx_tok), prompts(n, langs.NULL)])
    toks, _, rows = sample(s['params'], both, noise(jax.random.fold_in(key, 1), 2 * n, d.L, d.vocab), d.temp)
    teach, null = toks[:n], toks[n:]
    t_lp = next_logp(apply_fn, s['params'], with_header(null, d.ctx_tok))
    return {
      'teacher_legal': langs.legal_rate(lang, teach, d.target, PROMPT),
      'base_null_legal': langs.legal_rate(lang, null, d.target, PROMPT),
      'base_null_kl': distill.reverse_kl(rows[n:], t_lp),
    }

  def output(s):
    key = jax.random.wrap_key_data(s['key'])
    m = config.offpolicy_batches * d.B
    pool, _, _ = sample(
      s['params'], prompts(m, d.ctx_tok), noise(jax.random.fold_in(key, 3), m, d.L, d.vocab), d.temp
    )
    return {'params': s['params'], 'lang': s['lang'], 'offdata': pool}

  return init, step, evaluate, output


# ---------------------------------------------------------------------------------------------------
# Distillation arms


class Student(NamedTuple):
  """What an arm's functions close over."""

  d: Dims
  teacher_apply: Callable
  apply: Callable
  sample: Callable
  model: Any  # the student's model, initialised fresh when ``fresh_init``
  fresh_init: bool
  tx: Any
  mask: jax.Array  # content_mask(T)
  div: Callable
  beta: jax.Array
  clip: jax.Array
  n_pool: int
  change_drop: float
  lr_in_grid: bool  # the lr-sensitivity arms: Adam's step is scaled by the grid's ``lr``


REC_KEYS = (
  'kl_pre',
  'kl_post',
  'est_pre',
  'est_post',
  'stale_pre',
  'stale_post',
  'source_pre',
  'source_post',
  'legal_pre',
  'legal_post',
  'legal_start',
)


def make_arm(config, teacher_model, student_model, lr, fresh_init: bool):
  """``(init, step, evaluate)`` of one arm: ``student_model`` distilled from ``teacher_model`` with the
  target's context token; ``fresh_init`` = the student starts from a fresh init, else from the base.
  ``lr`` None: the learning rate is the grid value ``hp['lr']`` (Adam's step, scaled per run)."""
  d = dims(config)
  c = Student(
    d=d,
    teacher_apply=lm.make_apply_fn(teacher_model),
    apply=lm.make_apply_fn(student_model),
    sample=lm.window_sampler(student_model),
    model=student_model,
    fresh_init=fresh_init,
    tx=optax.scale_by_adam() if lr is None else optax.adam(lr),
    mask=content_mask(d.T),
    div=distill.get_divergence(config.divergence),
    beta=jnp.float32(config.jsd_beta),
    clip=jnp.float32(config.clip),
    n_pool=config.offpolicy_batches,
    change_drop=config.change_drop,
    lr_in_grid=lr is None,
  )

  def init(key, hp, base):
    return arm_init(c, key, hp, base)

  def step(s, hp, key):
    return arm_step(c, s, hp, key)

  def evaluate(s, hp):
    return arm_evaluate(c, s, hp, config.eval_batch)

  return init, step, evaluate


def arm_init(c: Student, key, hp, base):
  params = init_params(c.model, jax.random.fold_in(key, 0), c.d.T) if c.fresh_init else base['params']
  zero = jnp.float32(0.0)
  rec = {k: zero for k in REC_KEYS}
  rec['change_step'] = jnp.int32(-1)
  return dict(
    params=params,
    opt_state=c.tx.init(params),
    sampler=params,
    teacher=base['params'],
    offdata=base['offdata'],
    lang=base['lang'],
    t=jnp.int32(0),
    rec=rec,
    eval_key=jax.random.key_data(jax.random.fold_in(key, 1)),
  )


def draw(c: Student, params, sampler, teacher, key) -> dict:
  """Fresh student samples and stale-sampler samples in one scan (the two parameter sets vmapped), and
  the teacher's log-probs on both."""
  d = c.d
  pair = jax.tree.map(lambda x, y: jnp.stack([x, y]), params, sampler)
  toks, lps, rows = jax.vmap(c.sample, (0, None, 0, None))(
    pair, prompts(d.B, langs.NULL), noise(key, 2, d.B, d.L, d.vocab), d.temp
  )
  fresh, stale, s_fresh, stale_lp = toks[0], toks[1], rows[0], lps[1]
  t_both = next_logp(c.teacher_apply, teacher, with_header(jnp.concatenate([fresh, stale]), d.ctx_tok))
  return dict(
    fresh=fresh, stale=stale, s_fresh=s_fresh, stale_lp=stale_lp, t_fresh=t_both[: d.B], t_stale=t_both[d.B :]
  )


def loss_fn_of(c: Student, hp, is_on, on_tok, t_on, off):
  """``loss_fn(params) -> (loss, sft)``: the on-policy loss from the switch on, else the SFT loss."""
  B = c.d.B
  mask = jnp.broadcast_to(c.mask, off.shape)

  def loss_fn(p):
    logits = c.apply(p, jnp.concatenate([on_tok, off]))  # one forward for both losses
    s_on = jax.nn.log_softmax(logits[:B, PROMPT - 1 : -1].astype(jnp.float32), axis=-1)
    exact = c.div(s_on, t_on, None, c.beta)
    sampled = distill.sampled_token_advantage_loss(
      gather(s_on, on_tok[:, PROMPT:]), gather(t_on, on_tok[:, PROMPT:]), c.clip
    )
    on_loss = jnp.where(hp['sampled'] > 0.5, sampled, exact)
    off_logits = logits[B:]
    sft = jnp.where(
      hp['unshifted'] > 0.5,
      sequence.unshifted_copy_ce_buggy(off_logits, off, mask),
      sequence.next_token_ce(off_logits, off, mask),
    )
    return jnp.where(is_on, on_loss, sft), sft

  return loss_fn


def measure(c: Student, lang_d, smp: dict, sft, is_on, use_stale) -> dict:
  """Measurements of the model before the update, on the samples of ``draw``."""
  lang = lang_of(lang_d)
  fresh, stale, s_fresh, t_fresh = smp['fresh'], smp['stale'], smp['s_fresh'], smp['t_fresh']
  kl_exact = distill.reverse_kl(s_fresh, t_fresh)
  kl_est = distill.sampled_reverse_kl_estimate(
    gather(s_fresh, fresh[:, PROMPT:]), gather(t_fresh, fresh[:, PROMPT:])
  )
  kl_est_stale = distill.sampled_reverse_kl_estimate(
    smp['stale_lp'], gather(smp['t_stale'], stale[:, PROMPT:])
  )
  source_log = jnp.where(is_on, jnp.where(use_stale, kl_est_stale, kl_est), sft)
  legal = langs.legal_rate(lang, fresh, c.d.target, PROMPT)
  rep = langs.repetition_rate(fresh, 2, PROMPT)
  return dict(
    kl_exact=kl_exact, kl_est=kl_est, kl_est_stale=kl_est_stale, source_log=source_log, legal=legal, rep=rep
  )


def record(c: Student, rec: dict, t, switch, m: dict) -> dict:
  """``rec`` with this step's measurements stored where t is the last off-policy / first on-policy step
  or step 0, and the change point once the legal rate has fallen ``change_drop`` below its start."""
  rec = dict(rec)
  pre, post = t == switch - 1, t == switch
  for k, v in (
    ('kl', m['kl_exact']),
    ('est', m['kl_est']),
    ('stale', m['kl_est_stale']),
    ('source', m['source_log']),
    ('legal', m['legal']),
  ):
    rec[k + '_pre'] = jnp.where(pre, v, rec[k + '_pre'])
    rec[k + '_post'] = jnp.where(post, v, rec[k + '_post'])
  legal = m['legal']
  rec['legal_start'] = jnp.where(t == 0, legal, rec['legal_start'])
  fell = (rec['change_step'] < 0) & (legal < rec['legal_start'] - c.change_drop)
  rec['change_step'] = jnp.where(fell, t, rec['change_step']).astype(jnp.int32)
  return rec


def arm_step(c: Student, s, hp, key):
  d = c.d
  t = s['t']
  switch = jnp.round(hp['switch']).astype(jnp.int32)
  is_on = t >= switch
  use_stale = hp['stale'] > 0.5
  params = s['params']
  sampler = tree_where(t == switch, params, s['sampler'])  # refreshed only at the switch
  smp = draw(c, params, sampler, s['teacher'], key)
  on_tok = jnp.where(use_stale, smp['stale'], smp['fresh'])
  t_on = jnp.where(use_stale, smp['t_stale'], smp['t_fresh'])
  off = with_header(jax.lax.dynamic_slice_in_dim(s['offdata'], (t % c.n_pool) * d.B, d.B, axis=0), langs.NULL)
  loss_fn = loss_fn_of(c, hp, is_on, on_tok, t_on, off)
  (loss, sft), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = c.tx.update(grads, s['opt_state'], params)
  if c.lr_in_grid:  # optax.adam(lr) = scale_by_adam, then scale by −lr
    updates = jax.tree.map(lambda u: -hp['lr'] * u, updates)
  m = measure(c, s['lang'], smp, sft, is_on, use_stale)
  rec = record(c, s['rec'], t, switch, m)
  new = dict(
    s, params=optax.apply_updates(params, updates), opt_state=opt_state, sampler=sampler, t=t + 1, rec=rec
  )
  return new, dict(m, loss=loss)


def arm_evaluate(c: Student, s, hp, n: int):
  d = c.d
  key = jax.random.wrap_key_data(s['eval_key'])
  toks, _, s_lp = c.sample(s['params'], prompts(n, langs.NULL), noise(key, n, d.L, d.vocab), d.temp)
  t_lp = next_logp(c.teacher_apply, s['teacher'], with_header(toks, d.ctx_tok))
  out = dict(
    legal=langs.legal_rate(lang_of(s['lang']), toks, d.target, PROMPT),
    kl_exact=distill.reverse_kl(s_lp, t_lp),
    rep=langs.repetition_rate(toks, 2, PROMPT),
  )
  out.update(s['rec'])
  return out
