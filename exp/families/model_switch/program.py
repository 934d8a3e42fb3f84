"""The pure per-arm JAX functions of the model-switch family (docs/families/model_switch.md): the
pretraining stage (the first choice up to the decision point, and the zoo), and the two options after it,
``continue`` and ``switch``. No jit or vmap here: the runner batches them. At the end: the candidates'
names and the deterministic cost model (multiply-adds, parameters and FLOPs per step) used by the analysis."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from losses import classification
from models import init, zoo

ARMS = ('continue', 'switch')
RECIPES = ('related', 'unrelated', 'scratch')


def as_tuple(v) -> tuple:
  return (v,) if isinstance(v, (int, str)) else tuple(v)


@dataclasses.dataclass(frozen=True)
class Setup:
  """The static values every arm's functions close over, resolved from the config once."""

  d: int  # input dimension
  C: int  # classes
  HT: int  # teacher hidden width
  CS: int  # classes of the zoo's source tasks
  s_neg: float  # the teacher's negative slope
  B: int  # batch size
  eval_size: int
  first_steps: int
  zoo_pretrain_steps: int
  widths: tuple
  Z: int  # zoo size
  W: int  # the widest candidate: every hidden layer is padded to it
  pre_mask: np.ndarray  # (Z,) pretrained candidates
  rel_mask: np.ndarray  # (Z,) 'related' candidates
  zoo_w: np.ndarray  # (Z,) widths, float32
  opt_first: optax.GradientTransformation
  opt_zoo: optax.GradientTransformation
  opt_ft: optax.GradientTransformation


def setup(config) -> Setup:
  widths, recipes = as_tuple(config.zoo_widths), as_tuple(config.zoo_recipes)
  return Setup(
    d=config.input_dim,
    C=config.num_classes,
    HT=config.teacher_width,
    CS=config.source_classes,
    s_neg=float(config.teacher_neg_slope),
    B=config.batch_size,
    eval_size=config.eval_size,
    first_steps=config.first_steps,
    zoo_pretrain_steps=config.zoo_pretrain_steps,
    widths=widths,
    Z=len(widths),
    W=max(widths),
    pre_mask=np.array([r != 'scratch' for r in recipes]),
    rel_mask=np.array([r == 'related' for r in recipes]),
    zoo_w=np.array(widths, np.float32),
    opt_first=optax.adam(config.first_lr),
    opt_zoo=optax.adam(config.zoo_lr),
    opt_ft=optax.adam(config.finetune_lr),
  )


def inputs(s: Setup, key, n):
  return init.normal(key, (n, s.d), 1.0)


def labelled_batch(s: Setup, teacher, key, n):
  """n fresh inputs and their teacher labels."""
  x = inputs(s, key, n)
  return x, jnp.argmax(zoo.teacher_logits(teacher['A'], teacher['B'], x, s.s_neg), -1)


def eval_set(s: Setup, teacher, eval_key):
  """The seed's held-out set (the same for every option: ``eval_key`` is part of the base)."""
  return labelled_batch(s, teacher, jax.random.wrap_key_data(eval_key), s.eval_size)


# --- pretraining stage: the first choice up to the decision point, and the zoo -----------------------


def pretrain_init(s: Setup):
  def pre_init(key, hp):
    kn, ke = jax.random.split(key)
    A, Bm, fresh_A, src_B, w1, w2 = init.normals(
      kn, (s.d, s.HT), (s.HT, s.C), (s.Z, s.d, s.HT), (s.Z, s.HT, s.CS), (s.d, s.W), (s.W, s.CS)
    )
    A, fresh_A, w1 = A / math.sqrt(s.d), fresh_A / math.sqrt(s.d), w1 / math.sqrt(s.d)
    Bm, src_B = Bm / math.sqrt(s.HT), src_B / math.sqrt(s.HT)
    src_A = jnp.where(s.rel_mask[:, None, None], A[None], fresh_A)
    masks = (jnp.arange(s.W)[None, :] < s.zoo_w[:, None]).astype(jnp.float32)  # (Z, W)
    # w1, w2: the same draws for every candidate (common random numbers), scaled to each width's fan-in
    zp = dict(
      w1=w1[None] * masks[:, None, :],
      b1=jnp.zeros((s.Z, s.W)),
      w2=w2[None] * masks[:, :, None] / jnp.sqrt(s.zoo_w)[:, None, None],
      b2=jnp.zeros((s.Z, s.CS)),
    )
    first = dict(w=jnp.zeros((s.d, s.C)), b=jnp.zeros((s.C,)))
    return dict(
      first=first,
      first_opt=s.opt_first.init(first),
      zoo=zp,
      zoo_opt=s.opt_zoo.init(zp),
      masks=masks,
      teacher=dict(A=A, B=Bm),
      src=dict(A=src_A, B=src_B),
      eval_key=jax.random.key_data(ke),
      t=jnp.int32(0),
    )

  return pre_init


def pretrain_step(s: Setup):
  def pre_step(state, hp, key):
    x = inputs(s, key, s.B)
    t = state['t']
    y = jnp.argmax(zoo.teacher_logits(state['teacher']['A'], state['teacher']['B'], x, s.s_neg), -1)
    loss_f, g = jax.value_and_grad(lambda p: classification.cross_entropy(zoo.linear(p, x), y))(
      state['first']
    )
    upd, fo = s.opt_first.update(g, state['first_opt'], state['first'])
    first_on = t < s.first_steps
    first = jax.tree.map(
      lambda a, b: jnp.where(first_on, a, b), optax.apply_updates(state['first'], upd), state['first']
    )
    first_opt = jax.tree.map(lambda a, b: jnp.where(first_on, a, b), fo, state['first_opt'])

    y_src = zoo.source_labels(state['src'], x, s.s_neg)

    def zoo_loss(zp):
      losses = classification.cross_entropy_per_candidate(zoo.zoo_logits(zp, state['masks'], x), y_src)
      return jnp.sum(jnp.where(s.pre_mask, losses, 0.0)), losses

    (_, losses), gz = jax.value_and_grad(zoo_loss, has_aux=True)(state['zoo'])
    updz, zo = s.opt_zoo.update(gz, state['zoo_opt'], state['zoo'])
    zoo_on = t < s.zoo_pretrain_steps

    def keep(new, old):  # update only pretrained candidates, only during their budget
      on = jnp.reshape(jnp.asarray(s.pre_mask) & zoo_on, (s.Z,) + (1,) * (new.ndim - 1))
      return jnp.where(on, new, old)

    zp = jax.tree.map(keep, optax.apply_updates(state['zoo'], updz), state['zoo'])
    zoo_opt = jax.tree.map(lambda a, b: jnp.where(zoo_on, a, b), zo, state['zoo_opt'])
    n_pre = max(int(s.pre_mask.sum()), 1)
    return (
      dict(state, first=first, first_opt=first_opt, zoo=zp, zoo_opt=zoo_opt, t=t + 1),
      dict(first_loss=loss_f, zoo_source_loss=jnp.sum(jnp.where(s.pre_mask, losses, 0.0)) / n_pre),
    )

  return pre_step


def pretrain_evaluate(s: Setup):
  def pre_eval(state, hp):
    x, y = eval_set(s, state['teacher'], state['eval_key'])
    y_src = zoo.source_labels(state['src'], x, s.s_neg)
    accs = jnp.mean(jnp.argmax(zoo.zoo_logits(state['zoo'], state['masks'], x), -1) == y_src, axis=-1)
    n_pre = max(int(s.pre_mask.sum()), 1)
    return dict(
      first_acc=classification.accuracy(zoo.linear(state['first'], x), y),
      zoo_source_acc=jnp.sum(jnp.where(s.pre_mask, accs, 0.0)) / n_pre,
    )

  return pre_eval


def pretrain_output(s: Setup):
  """What every option starts from: the first choice at the decision point (with its Adam state), the
  zoo's hidden layers, the teacher, the held-out set's key and the decision point's accuracy acc0."""

  def pre_output(state):
    x, y = eval_set(s, state['teacher'], state['eval_key'])
    return dict(
      first=state['first'],
      first_opt=state['first_opt'],
      zoo_w1=state['zoo']['w1'],
      zoo_b1=state['zoo']['b1'],
      teacher=state['teacher'],
      eval_key=state['eval_key'],
      acc0=classification.accuracy(zoo.linear(state['first'], x), y),
    )

  return pre_output


# --- option arms -------------------------------------------------------------------------------------


def _loss_and_accuracy(logits, y):
  return classification.cross_entropy(logits, y), classification.accuracy(logits, y)


def continue_fns(s: Setup):
  """(init, step, evaluate) of ``continue``: keep training the first choice, same Adam state."""

  def cont_init(key, hp, base):
    return dict(params=base['first'], opt=base['first_opt'], base=base, t=jnp.int32(0))

  def cont_step(state, hp, key):
    x, y = labelled_batch(s, state['base']['teacher'], key, s.B)
    (loss, acc), g = jax.value_and_grad(lambda p: _loss_and_accuracy(zoo.linear(p, x), y), has_aux=True)(
      state['params']
    )
    upd, opt = s.opt_first.update(g, state['opt'], state['params'])
    return (
      dict(state, params=optax.apply_updates(state['params'], upd), opt=opt, t=state['t'] + 1),
      dict(loss=loss, train_acc=acc),
    )

  def cont_eval(state, hp):
    x, y = eval_set(s, state['base']['teacher'], state['base']['eval_key'])
    acc = classification.accuracy(zoo.linear(state['params'], x), y)
    return dict(acc=acc, acc0=state['base']['acc0'], delta=acc - state['base']['acc0'], steps=state['t'])

  return cont_init, cont_step, cont_eval


def switch_fns(s: Setup):
  """(init, step, evaluate) of ``switch``: zoo candidate ``hp['cand']`` with a fresh head, all of it
  fine-tuned."""

  def sw_init(key, hp, base):
    c = hp['cand']
    m = (jnp.arange(s.W) < hp['width']).astype(jnp.float32)
    head = init.normal(key, (s.W, s.C), 1.0) * m[:, None] / jnp.sqrt(hp['width'].astype(jnp.float32))
    params = dict(w1=base['zoo_w1'][c], b1=base['zoo_b1'][c], w2=head, b2=jnp.zeros((s.C,)))
    return dict(params=params, opt=s.opt_ft.init(params), mask=m, base=base, t=jnp.int32(0))

  def sw_step(state, hp, key):
    x, y = labelled_batch(s, state['base']['teacher'], key, s.B)
    (loss, acc), g = jax.value_and_grad(
      lambda p: _loss_and_accuracy(zoo.mlp(p, x, state['mask']), y), has_aux=True
    )(state['params'])
    upd, opt = s.opt_ft.update(g, state['opt'], state['params'])
    return (
      dict(state, params=optax.apply_updates(state['params'], upd), opt=opt, t=state['t'] + 1),
      dict(loss=loss, train_acc=acc),
    )

  def sw_eval(state, hp):
    x, y = eval_set(s, state['base']['teacher'], state['base']['eval_key'])
    acc = classification.accuracy(zoo.mlp(state['params'], x, state['mask']), y)
    p = state['params']
    inactive = jnp.maximum(
      jnp.max(jnp.abs(p['w1'] * (1 - state['mask']))),
      jnp.max(jnp.abs(p['w2'] * (1 - state['mask'])[:, None])),
    )
    return dict(
      acc=acc,
      acc0=state['base']['acc0'],
      delta=acc - state['base']['acc0'],
      steps=state['t'],
      inactive_max_abs=inactive,
    )

  return sw_init, sw_step, sw_eval


def budget_reached(field: str):
  """done(state, hp): the run has taken ``hp[field]`` updates."""
  return lambda s, hp: s['t'] >= hp[field]


# ---------------------------------------------------------------------------------------------------
# Naming and the cost model (host side, deterministic: what one step of each option costs)


def candidate_names(config) -> list[str]:
  return [f'{r}-{w}' for w, r in zip(as_tuple(config.zoo_widths), as_tuple(config.zoo_recipes))]


def macs_linear(config) -> int:
  return config.input_dim * config.num_classes


def macs_mlp(config, width: int, out: int | None = None) -> int:
  return config.input_dim * width + width * (config.num_classes if out is None else out)


def params_mlp(config, width: int) -> int:
  return config.input_dim * width + width + width * config.num_classes + config.num_classes


def flops_per_step(config, macs: int) -> float:
  """Forward + backward ≈ 3 forward passes, 2 FLOPs per multiply-add, per example of the batch."""
  return 6.0 * config.batch_size * macs
