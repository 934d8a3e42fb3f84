"""Family H (self-modifying): the smoke config run to completion (records, invariants, report), vmapped =
alone, bad input (one line, exit 2, nothing written), and every status of every finding on synthetic run
records (no training)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import records_self_modifying as R
from conftest import complete_run, load_config, read_results, run_cli

from exp.analysis import findings as F
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import self_modifying
from exp.families.self_modifying import analysis as sm_analysis

SPEC = 'configs/self_modifying.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


def test_one_run_per_cell_and_seed_with_all_metrics(smoke):
  cfg = load_config(SPEC)
  runs = read_results(smoke)['runs']
  n_cells = len(cfg.architectures) * len(cfg.objectives) * len(cfg.splits)
  assert len(runs) == n_cells * cfg.num_seeds
  for r in runs:
    assert r['arm'] == 'factorial' and r['status'] == 'ok'
    m = r['metrics']
    assert set(m) >= {'val_acc', 'test_acc', 'cos_mean', 'cos_frac_neg', 'units_per_event', 'width'}
    if r['grid']['selfmod'] == 0:  # frozen masks: no event, the width never moves
      assert m['events'] == 0 and m['width'] == cfg.width and m['units_per_event'] == 0
    else:  # an event after every round but the last
      assert m['events'] == cfg.num_steps - 1 and m['units_per_event'] > 0
      assert cfg.min_width <= m['width'] <= cfg.max_width
    if r['grid']['objective'] == 0:  # no auxiliary objective: no auxiliary gradient
      assert m['cos_mean'] == 0.0
    assert 0.0 <= m['cos_frac_neg'] <= 1.0


def test_vmapped_run_equals_the_run_alone_and_cells_of_a_seed_share_their_start():
  cfg = load_config(SPEC)
  arm = self_modifying.build(cfg).arms[0]
  key = runner.seed_key(0, 1)
  pick = [1, 10]  # fixed/none/tail and selfmod/pcgrad/random: different in every factor
  hps = {k: jnp.asarray(v[pick]) for k, v in arm.grid.items()}

  def run(hp):
    start = arm.init(key, hp)
    state = start
    state, _ = arm.step(state, hp, jax.random.fold_in(key, 0))  # a round of updates + an event
    return start, state['params']

  (start, batched) = jax.jit(jax.vmap(run))(hps)
  # common random numbers: every cell of a seed starts from the same file and parameters
  for leaf in jax.tree.leaves((start['data'], start['params'], start['masks'])):
    np.testing.assert_array_equal(np.asarray(leaf)[0], np.asarray(leaf)[1])
  assert not np.array_equal(
    np.asarray(start['train_idx'])[0], np.asarray(start['train_idx'])[1]
  )  # splits differ
  single = jax.jit(run)
  for i in range(2):
    _, alone = single({k: v[i] for k, v in hps.items()})
    for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(batched)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  'key, value',
  [
    ('modify_every', 0),
    ('modify_every', -3),
    ('entropy_coef', -0.1),
    ('aux_coef', -1.0),
    ('width', 13),  # beyond max_width 12
    ('objectives', ('none', 'dropout')),
    ('architectures', ('fixed', 'growing')),
  ],
)
def test_bad_input_raises_config_error_before_anything_is_written(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  assert e.value.key == key
  assert not wd.exists()


def test_bad_input_from_the_command_line_is_one_line_exit_2(tmp_path):
  wd = tmp_path / 'w'
  p = run_cli(f'--config={SPEC}', f'--workdir={wd}', '--config.modify_every=0')
  assert p.returncode == 2
  assert len(p.stderr.strip().splitlines()) == 1 and 'modify_every' in p.stderr
  assert not wd.exists()


# ---------------------------------------------------------------------------------------------------
# Findings on synthetic records

COS_ALL = {'entropy': 0.3, 'aux': 0.3, 'pseudo': 0.3, 'entropy_aux': 0.3, 'pcgrad': 0.3}
SCENARIOS = {
  'writeup': lambda: (
    R.runs(
      arch=(5.0, 5.0),
      obj={'pseudo': 8.0, 'entropy': 8.0, 'entropy_aux': 15.0, 'aux': 3.0},
      cliff=13.0,
      cos={'entropy_aux': -0.5, 'pcgrad': -0.5, 'entropy': -0.3, 'pseudo': -0.3, 'aux': -0.1},
      coupling=2.0,
    ),
    R.shift(auc_tail=0.7),
  ),
  'null': lambda: (R.runs(cos=COS_ALL), R.shift()),
  'split_only': lambda: (R.runs(cliff=13.0, cos=COS_ALL), R.shift(auc_tail=0.7)),
  'noisy': lambda: (
    R.runs(
      noise=30.0,
      seeds=3,
      objectives=('none', 'pseudo', 'entropy_aux', 'pcgrad'),
      cos={'pseudo': -0.02, 'entropy_aux': -0.02, 'pcgrad': -0.02},
    ),
    R.shift(0.55, 0.55, sd=0.1, seeds=3),
  ),
  'mixed': lambda: (
    R.runs(
      arch=(0.0, 6.0),
      obj={'pseudo': 8.0},
      cos={'entropy_aux': -0.5, 'pcgrad': -0.5, 'entropy': -0.3, 'pseudo': 0.3, 'aux': 0.1},
    ),
    R.shift(auc_tail=0.7),
  ),
}
_CACHE = {}


def scenario(name):
  if name not in _CACHE:
    runs, sh = SCENARIOS[name]()
    objs = tuple(o for o in R.ALL if any(r['grid']['objective'] == R.OBJECTIVES.index(o) for r in runs))
    cfg = load_config(SPEC, objectives=objs)
    _CACHE[name] = sm_analysis.analyze(runs, cfg, shift_fn=lambda config, seeds: sh)
  return _CACHE[name]


def found(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def assert_worded(f):
  for c in f['checks']:
    word = c['wordings'][{True: 'yes', False: 'no', None: 'inconclusive'}[c['outcome']]]
    nums = {k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == word.format(**nums)


RP, P, NR, I = 'reproduced', 'partly', 'not reproduced', 'inconclusive'


@pytest.mark.parametrize(
  'name, expected',
  [
    ('writeup', dict(numbers=RP, fixed_beats_selfmod=RP, drop_source=RP, conflict=RP, pcgrad=RP, split=RP)),
    ('null', dict(numbers=NR, fixed_beats_selfmod=NR, drop_source=NR, conflict=NR, pcgrad=P, split=NR)),
    ('split_only', dict(numbers=NR, fixed_beats_selfmod=NR, drop_source=P, split=RP)),
    ('noisy', dict(numbers=I, fixed_beats_selfmod=I, drop_source=I, conflict=I, pcgrad=I, split=I)),
    ('mixed', dict(numbers=P, fixed_beats_selfmod=P, conflict=P, split=P)),
  ],
)
def test_findings_status_and_wording(name, expected):
  an = scenario(name)
  assert [f['name'] for f in an['findings']] == [
    'numbers',
    'fixed_beats_selfmod',
    'drop_source',
    'conflict',
    'pcgrad',
    'split',
  ]
  got = {k: found(an, k)['status'] for k in expected}
  assert got == expected
  for f in an['findings']:
    assert_worded(f)
  assert an['headline'] == F.headline_of(an['findings'][0])


def test_checks_read_the_numbers():
  an = scenario('writeup')
  drop = next(c for c in found(an, 'numbers')['checks'] if c['name'] == 'drop_entropy_aux')
  assert drop['numbers']['mean'] == pytest.approx(20.0, abs=1.5)  # arch 5 + objective 15
  assert drop['claimed'] == pytest.approx(69.80 - 42.76)
  cliff = next(c for c in found(an, 'split')['checks'] if c['name'] == 'cliff')
  assert cliff['numbers']['mean'] == pytest.approx(13.0, abs=1.0) and cliff['claimed'] == 13.0
  d = an['decomposition']['entropy_aux']  # the path parts add up to the total, seed by seed
  parts = np.add(np.add(d['split']['values'], d['arch']['values']), d['objective']['values'])
  np.testing.assert_allclose(parts, d['total']['values'], atol=1e-9)
  assert an['conflict']['correlation']['r'] < -0.3
  assert an['anova']['random']['arch']['p'] < 0.05 and an['anova']['random']['n_subjects'] == 10
  for f in an['findings']:
    assert f['seeds'] is None or f['seeds']['n_a'] == 10


def test_anova_matches_a_hand_computed_balanced_design():
  rng = np.random.default_rng(3)
  v = rng.normal(70, 3, size=(4, 2, 2))  # seeds × architecture × objective
  v[:, 1] -= 2.0
  vals = {
    sm_analysis.cell_name(x, o, 'random'): v[:, i, j]
    for i, x in enumerate(('fixed', 'selfmod'))
    for j, o in enumerate(('none', 'pseudo'))
  }
  a = sm_analysis.anova(vals, [0, 1, 2, 3], ('none', 'pseudo'), ('fixed', 'selfmod'), 'random')
  # architecture main effect by hand: SS_A / (SS_{A×seed} / (n − 1)) on the seed × architecture means
  m = v.mean(axis=2)
  g = m.mean()
  ss_a = 2 * 4 * np.sum((m.mean(axis=0) - g) ** 2)
  resid = m - m.mean(axis=1, keepdims=True) - m.mean(axis=0, keepdims=True) + g
  ss_err = 2 * np.sum(resid**2)
  assert a['n_subjects'] == 4 and (a['arch']['df1'], a['arch']['df2']) == (1.0, 3.0)
  assert a['arch']['F'] == pytest.approx(ss_a / (ss_err / 3), rel=1e-8)


def test_smoke_report_sections(smoke):
  res = read_results(smoke)
  assert [f['name'] for f in res['analysis']['findings']][0] == 'numbers'
  for f in res['analysis']['findings']:
    assert_worded(f)
  text = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '## Accuracy per cell',
    '## Repeated-measures ANOVA',
    '## Gradient conflict',
    '## Architecture churn',
    '## Split shift',
    '## Findings',
    '## Is ten enough?',
    '](plots/accuracy.png)',
  ):
    assert section in text, section
  assert os.path.getsize(os.path.join(smoke, 'plots', 'accuracy.png')) > 1000
