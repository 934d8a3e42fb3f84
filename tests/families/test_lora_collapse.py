"""Family B (LoRA mode collapse) on the smoke config: results shape, invariants, bad input, the report.

One in-process smoke run (both arms) is shared by the module; the analysis is also checked on hand-built runs
whose threshold is known exactly.
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import complete_run, load_config, read_results

from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import lora_collapse

SPEC = 'configs/lora_collapse.py:smoke'
ARMS = ('classify',)  # the smoke run compiles one arm; the sequence arm's programs are checked at init below


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC, arms=ARMS)


def test_smoke_run_has_every_run_and_metric(smoke):
  cfg = load_config(SPEC, arms=ARMS)
  res = read_results(smoke)
  assert res['experiment'] == 'lora_collapse' and res['complete']
  by_arm = {}
  for r in res['runs']:
    by_arm.setdefault(r['arm'], []).append(r)
  assert len(by_arm['pretrain']) == cfg.num_seeds
  for arm in cfg.arms:
    runs = by_arm[arm]
    assert len(runs) == len(cfg.lrs) * len(cfg.ranks) * cfg.num_seeds
    assert {r['grid']['rank'] for r in runs} == set(cfg.ranks)
    assert {round(r['grid']['lr'], 6) for r in runs} == {round(float(np.float32(lr)), 6) for lr in cfg.lrs}
    for r in runs:
      m = r['metrics']
      assert set(m) >= {
        'heldout_acc',
        'train_acc',
        'num_distinct',
        'normalized_entropy',
        'collapsed',
        'modal_output',
        'modal_fraction',
        'dead_relu',
        'logit_var',
        'base_heldout_acc',
      }
  # The pretrained base learned mapping 1 (far above chance) and knows nothing of mapping 2.
  for r in by_arm['pretrain']:
    assert r['metrics']['heldout_acc_classify'] > 3 / cfg.num_answers
  head = res['analysis']['headline']
  assert set(head) >= {'finding', 'claim', 'result', 'effect', 'verdict', 'reproduced'}
  assert head['reproduced'] in (True, False, None)


def test_collapse_detector_fields_are_consistent(smoke):
  for r in read_results(smoke)['runs']:
    if r['arm'] == 'pretrain':
      continue
    m = r['metrics']
    assert m['num_distinct'] >= 1
    assert m['collapsed'] == int(m['num_distinct'] == 1 or m['normalized_entropy'] < 0.1)
    assert (m['modal_fraction'] == 1.0) == (m['num_distinct'] == 1)
    assert 0.0 <= m['dead_relu'] <= 1.0 and m['logit_var'] >= 0.0
    # Every run of a seed evaluates the same frozen base on the same prompts.
  base = {}
  for r in read_results(smoke)['runs']:
    if r['arm'] != 'pretrain':
      base.setdefault((r['arm'], r['seed']), set()).add(r['metrics']['base_heldout_acc'])
  assert all(len(v) == 1 for v in base.values())


def test_lora_starts_at_the_base_and_grid_points_share_data():
  """At init the adapted model computes the base's function (B = 0), whatever the lr and rank; the grid points
  of one seed share data and adapter init (common random numbers). One compiled program for both arms."""
  cfg = load_config(SPEC)
  exp = lora_collapse.build(cfg)
  hp_a = {'lr': jnp.float32(1e-3), 'rank': jnp.int32(min(cfg.ranks))}
  hp_b = {'lr': jnp.float32(1.0), 'rank': jnp.int32(max(cfg.ranks))}

  # A stand-in base of the right shapes, drawn on the host (no pretraining program to compile).
  shapes = jax.eval_shape(lambda k: exp.pretrain_output(exp.pretrain.init(k, {})), jax.random.key(0))
  rng = np.random.default_rng(0)
  top = min(cfg.vocab, cfg.num_answers, cfg.digit_base)  # valid for tokens, answers and digits alike
  base = jax.tree.map(
    lambda s: (
      rng.normal(0, 0.3, s.shape).astype(s.dtype)
      if s.dtype == np.float32
      else rng.integers(0, top, s.shape).astype(s.dtype)
    ),
    shapes,
  )

  @jax.jit
  def at_init(key):
    out = {}
    for arm in exp.arms:
      a, b = arm.init(key, hp_a, base), arm.init(key, hp_b, base)
      out[arm.name] = (
        a['lora'],
        b['lora'],
        a['data'],
        b['data'],
        arm.evaluate(a, hp_a),
        arm.evaluate(b, hp_b),
      )
    return out

  for name, (la, lb, da, db, ea, eb) in at_init(runner.seed_key(0, 0)).items():
    assert jax.tree.all(jax.tree.map(np.array_equal, la, lb)), name
    assert jax.tree.all(jax.tree.map(np.array_equal, da, db)), name
    for ev in (ea, eb):
      assert float(ev['heldout_acc']) == float(ev['base_heldout_acc']), name
      assert float(ev['dead_relu']) == float(ev['base_dead_relu']), name
      # the same numbers through a differently fused program: equal up to float rounding
      assert float(ev['logit_var']) == pytest.approx(float(ev['base_logit_var']), rel=1e-5), name


def test_analysis_of_a_known_sharp_threshold():
  """Hand-built runs: rank 8 collapses at lr >= 0.1, rank 32 at lr >= 0.0562 (a quarter decade lower), every
  seed the same: the fit is a step between the grid points, nothing is intermediate, Δc = −0.25."""
  cfg = load_config('configs/lora_collapse.py', num_seeds=4, arms=('classify',), n_boot=50)
  runs = []
  for lr in cfg.lrs:
    lr32 = float(np.float32(lr))
    for rank, thr in ((8, 0.1), (32, 0.0562)):
      for s in range(4):
        col = lr32 >= thr * 0.999
        acc = 0.03 if col else 0.5 + 0.01 * s
        runs.append(
          {
            'arm': 'classify',
            'seed': s,
            'grid': {'lr': lr32, 'rank': rank},
            'status': 'ok',
            'metrics': {
              'heldout_acc': acc,
              'train_acc': acc,
              'base_heldout_acc': 0.03,
              'num_distinct': 1 if col else 30,
              'normalized_entropy': 0.0 if col else 0.5,
              'collapsed': int(col),
              'modal_output': 7 if col else 3,
              'modal_fraction': 1.0 if col else 0.1,
              'dead_relu': 0.5 if col else 0.1,
              'logit_var': 0.0 if col else 3.0,
              'base_dead_relu': 0.01,
              'base_logit_var': 4.0,
              'base_num_distinct': 30,
            },
          }
        )
  an = lora_collapse.analyze(runs, cfg)
  g8, g32 = an['arms']['classify']['by_rank']['8'], an['arms']['classify']['by_rank']['32']
  assert g8['fit']['width_10_90'] == 0.0
  assert math.isclose(g8['fit']['center'], 0.5 * (math.log10(0.0562) + math.log10(0.1)), abs_tol=1e-3)
  assert g8['onset'] == pytest.approx([0.0562, 0.1], rel=1e-3)
  assert g8['binary']['intermediate_n'] == 0 and g32['binary']['intermediate_n'] == 0
  assert g8['edge']['collapsed_below'] == 0 and g8['edge']['collapsed_above'] == 4
  re = an['arms']['classify']['rank_effect']
  assert re['delta_c'] == pytest.approx(-0.25, abs=0.01)
  assert re['per_seed']['compare']['mean_diff'] == pytest.approx(-0.25, abs=0.01)
  assert an['headline']['reproduced'] is True
  assert an['audit']['attribution'] == 'both'


@pytest.mark.parametrize(
  'key,value',
  [
    ('ranks', (8, 33)),  # rank above the 32-answer head (min(fan_in, fan_out) = 32)
    ('ranks', (0,)),
    ('ranks', ()),
    ('alpha_per_rank', 0.0),
    ('alpha_per_rank', -2.0),
    ('lrs', ()),
    ('lrs', (1e-3, -0.1)),
    ('lrs', (0.0,)),
  ],
)
def test_bad_input_raises_config_error_naming_the_key(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})
  workdir = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(workdir))
  assert e.value.key == key
  assert not workdir.exists()


def test_unknown_config_variant_is_rejected():
  with pytest.raises(ValueError, match='smoke'):
    load_config('configs/lora_collapse.py:nope')


def test_report_has_its_sections_and_plots(smoke):
  text = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '## Claim vs toy',
    '## Accuracy and collapse vs learning rate',
    '## Threshold',
    '## Rank effect on the threshold',
    '## Collapse diagnostics',
    '## Audit',
    '## Verdict',
    '![collapse_classify](plots/collapse_classify.png)',
    'plots/accuracy_vs_lr.png',
  ):
    assert section in text, section
  for name in ('collapse_classify.png', 'accuracy_vs_lr.png'):
    assert os.path.getsize(os.path.join(smoke, 'plots', name)) > 1000
