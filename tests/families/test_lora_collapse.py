"""Family B (LoRA mode collapse) on the smoke config: results shape, invariants, bad input, the report.

One in-process smoke run (both arms) is shared by the module; the analysis is also checked on hand-built runs
whose threshold is known exactly.
"""

import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import records_lora_collapse as rec
from conftest import complete_run, load_config, read_results

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import lora_collapse
from exp.families.lora_collapse import analysis as lc_analysis
from exp.families.lora_collapse.audit import CLAIM_RUNS

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
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['threshold', 'binary']
  assert an['headline'] == F.headline_of(an['findings'][0])
  for f in an['findings']:
    assert_texts_match_outcomes(f)


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
  status = {f['name']: f['status'] for f in an['findings']}
  assert status == {'threshold': 'reproduced', 'binary': 'reproduced'}
  assert an['headline']['reproduced'] is True
  rank_shift = _check(an, 'threshold', 'rank_shift')
  assert rank_shift['outcome'] is True and rank_shift['role'] == 'audit'


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
    '## Accuracy and collapse vs learning rate: classify',
    '## Threshold',
    '## Rank effect on the threshold',
    '## Collapse diagnostics',
    '## Findings',
    '### Collapse above a learning-rate threshold: ',
    '### Binary, not gradual: ',
    '## Is ten enough?',
    'power at this effect',
    'plots/collapse_classify.png',
    'plots/accuracy_vs_lr.png',
    'plots/halfwidth_by_seeds.png',
  ):
    assert section in text, section
  for old in ('## Audit', '## Verdict'):
    assert old not in text
  for name in ('collapse_classify.png', 'accuracy_vs_lr.png', 'halfwidth_by_seeds.png'):
    assert os.path.getsize(os.path.join(smoke, 'plots', name)) > 1000


# ---------------------------------------------------------------------------------------------------------
# Findings on synthetic records (no training)

OUTCOME = {True: 'yes', False: 'no', None: 'inconclusive'}
SEEDS = range(4)


def assert_texts_match_outcomes(f):
  """Every check prints the wording of its own outcome, filled with its own numbers."""
  for c in f['checks']:
    rendered = {k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == c['wordings'][OUTCOME[c['outcome']]].format(**rendered), c['name']
  assert f['status'] == F.status_of(f['checks'])


def _cfg(**kw):
  return load_config('configs/lora_collapse.py', num_seeds=len(SEEDS), arms=('classify',), n_boot=20, **kw)


def _analyze(rule, cfg=None):
  cfg = cfg or _cfg()
  runs = rec.grid_runs(cfg.lrs, cfg.ranks, SEEDS, rule)
  return lora_collapse.analyze(runs, cfg), runs, cfg


def _finding(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def _check(an, finding, name):
  return next(c for c in _finding(an, finding)['checks'] if c['name'] == name)


def test_findings_reproduced_on_a_sharp_threshold():
  an, _, _ = _analyze(rec.sharp({8: 0.1, 32: 0.0562}))
  for name in ('threshold', 'binary'):
    f = _finding(an, name)
    assert f['status'] == 'reproduced', [c['text'] for c in f['checks'] if c['outcome'] is not True]
    assert_texts_match_outcomes(f)
  f1 = _finding(an, 'threshold')
  assert f1['effect']['value'] == pytest.approx(0.5 + 0.015 - rec.BASE_ACC)
  assert f1['seeds']['paired'] is True and f1['seeds']['n_a'] == len(SEEDS)


def test_findings_not_reproduced_without_collapse():
  an, _, _ = _analyze(rec.nothing)
  f1, f2 = _finding(an, 'threshold'), _finding(an, 'binary')
  assert f1['status'] == 'not reproduced'
  assert _check(an, 'threshold', 'threshold_classify_r8')['outcome'] is False
  assert _check(an, 'threshold', 'sides_classify_r8')['outcome'] is False
  # nothing near a threshold to call intermediate or not: the "binary" claim cannot be judged
  assert f2['status'] == 'inconclusive'
  assert an['headline']['status'] == 'not reproduced' and an['headline']['reproduced'] is False
  for f in (f1, f2):
    assert_texts_match_outcomes(f)


def test_findings_partly_and_not_reproduced_on_a_gradual_transition():
  # rank 8 sharp, rank 32 gradual: each finding holds at one rank and fails at the other
  an, _, _ = _analyze(rec.by_rank({8: rec.sharp({8: 0.1}), 32: rec.gradual(-2.5, 0.5)}))
  assert _finding(an, 'binary')['status'] == 'partly'
  assert _check(an, 'binary', 'intermediate_classify_r8')['outcome'] is True
  assert _check(an, 'binary', 'intermediate_classify_r32')['outcome'] is False
  assert _finding(an, 'threshold')['status'] == 'partly'
  for f in an['findings']:
    assert_texts_match_outcomes(f)
  # gradual at both ranks: the "binary" claim fails everywhere
  an, _, _ = _analyze(rec.gradual(-2.5, 0.5))
  f2 = _finding(an, 'binary')
  assert f2['status'] == 'not reproduced'
  assert_texts_match_outcomes(f2)
  assert _check(an, 'binary', 'intermediate_classify_r8')['outcome'] is False


def test_threshold_and_accuracy_fits_bootstrap_whole_seeds(monkeypatch):
  """Defect: every grid point of a seed shares its data, so the bootstrap must resample seeds, not runs."""
  calls = []
  real = stats.logistic_threshold

  def spy(x, y, kind='binary', n_boot=1000, seed=0, groups=None, **kw):
    calls.append((kind, n_boot, None if groups is None else list(groups), len(x)))
    return real(x, y, kind=kind, n_boot=n_boot, seed=seed, groups=groups, **kw)

  monkeypatch.setattr(lc_analysis.stats, 'logistic_threshold', spy)
  an, runs, cfg = _analyze(rec.by_rank({8: rec.sharp({8: 0.1}), 32: rec.gradual(-2.5, 0.5)}))
  boot = [c for c in calls if c[1] > 0]
  assert {c[0] for c in boot} == {'binary', '4pl'}
  for kind, _, groups, n in boot:
    assert groups is not None and len(groups) == n and set(groups) == set(SEEDS), kind
  # and the CI shown is the seed bootstrap's
  by_lr = lc_analysis.cells_by_rank(runs, 'classify')[32]
  x, y, seeds = lc_analysis.collapse_points(by_lr)
  want = real(x, y, kind='binary', n_boot=cfg.n_boot, seed=cfg.seed, groups=seeds)
  assert an['arms']['classify']['by_rank']['32']['fit']['center_ci95'] == pytest.approx(want['center_ci95'])


def _report(an, runs, cfg, tmp_path):
  return lora_collapse.make_report(an, runs, None, cfg, str(tmp_path))


def test_audit_sentences_follow_their_numbers(tmp_path):
  """Defects: "that is where the intermediate runs come from" with no intermediate runs, "entropy just above
  0.1" whatever the entropy, "barely learns" whatever the gain: each is now a check on its numbers."""
  cfg = _cfg()
  base = rec.sharp({8: 0.1, 32: 0.0562})

  def rule(rank, x, s):  # above the onset, seed 0 at rank 8 gives 2 outputs at entropy 0.5: not collapsed
    if rank == 8 and s == 0 and x > -0.3:
      return {'acc': rec.BASE_ACC, 'collapsed': False, 'num_distinct': 2, 'entropy': 0.5}
    return base(rank, x, s)

  an, runs, _ = _analyze(rule, cfg)
  text = _report(an, runs, cfg, tmp_path)
  g8 = an['arms']['classify']['by_rank']['8']
  assert g8['binary']['intermediate_n'] == 0 and g8['approach'] is not None
  src = _check(an, 'binary', 'from_approach_classify_r8')
  assert src['outcome'] is False and src['numbers']['inter'] == 0
  assert 'that is where the intermediate runs come from' not in text
  esc = _check(an, 'binary', 'escape_classify_r8')
  assert esc['outcome'] is False and esc['numbers']['entropy_max'] == 0.5
  assert 'just above 0.1' not in text
  # the smallest lr already reaches 0.5 accuracy against a 0.03 base: it learns
  for r in ('8', '32'):
    assert _check(an, 'threshold', f'barely_classify_r{r}')['outcome'] is False
  assert 'barely learns' not in text
  for f in an['findings']:
    assert_texts_match_outcomes(f)


def test_claim_numbers_come_from_the_write_up_runs_and_audit_has_no_dead_fields():
  an, _, _ = _analyze(rec.sharp({8: 0.1, 32: 0.0562}))
  assert 'max_width' not in an['audit']
  numbers = _finding(an, 'threshold')['claim']['numbers']
  for r in CLAIM_RUNS:
    label = f'lr {r["lr"]:g} r{r["rank"]} ({"collapsed" if r["collapsed"] else "working"})'
    assert numbers[label] == r['accuracy']


@pytest.mark.parametrize(
  'key,value',
  [
    ('band_decades', 'x'),
    ('band_decades', 0.0),
    ('intermediate_band', ('a', 'b')),
    ('intermediate_band', (0.5, 0.2)),
    ('max_intermediate', None),
    ('max_intermediate', 1.5),
    ('max_width_decades', '1'),
  ],
)
def test_analysis_settings_are_type_checked(key, value):
  """Defect: these four settings were compared without a type check (a string raised TypeError, a bool
  passed). A config file can set any type, so the check runs on an untyped copy of the config."""
  cfg = ml_collections.ConfigDict(load_config(SPEC).to_dict(), type_safe=False)
  setattr(cfg, key, value)
  with pytest.raises(ConfigError) as e:
    lora_collapse.validate(cfg)
  assert e.value.key == key
