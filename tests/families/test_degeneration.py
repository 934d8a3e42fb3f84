"""Family G (degeneration): the smoke config run to completion (records, per-sample metrics against the
plain-Python definitions, report), bad input (one line, exit 2, nothing written), and the findings on
synthetic run records: every status of every finding and every check's wording."""

import os

import numpy as np
import pytest
import records_degeneration as R
from conftest import load_config, read_results, run_cli

from exp.analysis import findings as F
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import degeneration as G

SPEC = 'configs/degeneration.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  from conftest import complete_run

  return complete_run(tmp_path_factory, SPEC)


def test_smoke_runs_every_arm_and_seed_with_consistent_metrics(smoke):
  cfg = load_config(SPEC)
  res = read_results(smoke)
  runs = [r for r in res['runs'] if r['arm'] != 'pretrain']
  assert {(r['arm'], r['seed']) for r in runs} == {(a, s) for a in G.ARMS for s in range(cfg.num_seeds)}
  for r in runs:
    m = r['metrics']
    assert r['status'] == 'ok'
    toks = np.array(m['tokens'])
    assert toks.shape == (cfg.eval_batch, cfg.seq_len - 1)
    for row, n, rep2, loop in zip(toks, m['length'], m['rep2'], m['loop']):
      seq = row[: int(n)].tolist()
      assert 2 not in seq and (n == len(row) or row[int(n)] == 2)  # length = tokens before EOS
      assert np.all(row[int(n) + 1 :] == 0)  # PAD after EOS
      grams = [tuple(seq[i : i + 2]) for i in range(len(seq) - 1)]
      want = 1 - len(set(grams)) / len(grams) if grams else None
      assert (rep2 is None and want is None) or rep2 == pytest.approx(want, abs=1e-6)
      assert loop in (0.0, 1.0)
    assert 0.0 <= m['judge_mean'] <= 10.0
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['mechanism', 'detection', 'writeup']
  text = open(os.path.join(smoke, 'report.md')).read()
  assert '## Findings' in text and 'AUROC' in text


def test_arms_of_a_seed_share_the_pretrained_generator_and_eval_noise(smoke):
  # Before any update the arms would sample the same jokes; the pretraining stage ran once per seed.
  res = read_results(smoke)
  pre = [r for r in res['runs'] if r['arm'] == 'pretrain']
  assert sorted(r['seed'] for r in pre) == [0, 1]
  assert len(os.listdir(os.path.join(smoke, 'pretrain'))) == 1


@pytest.mark.parametrize(
  'key, value',
  [
    ('rep_ns', (0, 2)),  # n < 1
    ('seq_len', 20),  # beyond the generator's context window (16)
    ('seq_len', 10),  # shorter than the longest joke
    ('judge_window', 17),
    ('baseline_decay', 1.0),
    ('eval_batch', 1),
    ('auroc_bound', 0.4),
  ],
)
def test_bad_values_raise_config_error_before_anything_is_written(tmp_path, key, value):
  cfg = load_config('configs/degeneration.py', **{key: value})
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  assert e.value.key == key
  assert not wd.exists()


def test_bad_input_on_the_command_line_is_one_line_exit_2(tmp_path):
  wd = tmp_path / 'w'
  p = run_cli(f'--config={SPEC}', '--config.seq_len=40', f'--workdir={wd}')
  assert p.returncode == 2
  assert len(p.stderr.strip().splitlines()) == 1 and 'seq_len' in p.stderr
  assert not wd.exists()


# ---------------------------------------------------------------------------------------------------
# Findings on synthetic records


SCENARIOS = {
  # loops only under the order-blind discriminator, distinct, liked by the judge
  'mechanism': lambda: R.runs(
    {'mle': 0.0, 'blind': 0.5, 'aware': 0.1}, per_arm={'mle': {'judge_clean': 4.0}}
  ),
  # one identical loop everywhere, disliked by the judge
  'collapse': lambda: R.runs({'mle': 0.0, 'blind': 0.9, 'aware': 0.9}, same_loop=True, judge_loop=1.0),
  # no loops at all; the blind arm repeats one clean joke and the judge likes it less
  'none': lambda: R.runs(
    {'mle': 0.0, 'blind': 0.0, 'aware': 0.0}, per_arm={'blind': {'judge_clean': 3.0, 'same_clean': True}}
  ),
  # the same loop share in every arm
  'noisy': lambda: R.runs({'mle': 0.15, 'blind': 0.15, 'aware': 0.15}, noise=0.08),
  # seq-rep carries no signal, the judge and dedup both catch the (identical) loops
  'blindmetric': lambda: R.runs(
    {'mle': 0.0, 'blind': 0.5, 'aware': 0.5}, rep_signal=False, same_loop=True, judge_loop=1.0
  ),
  # identical loops the judge likes
  'liked_dups': lambda: R.runs({'mle': 0.0, 'blind': 0.5, 'aware': 0.5}, same_loop=True, judge_loop=8.0),
}
_CACHE = {}


def scenario(name):
  if name not in _CACHE:
    cfg = load_config(SPEC, min_loops=3, n_baselines=2)
    _CACHE[name] = G.analyze(SCENARIOS[name](), cfg)
  return _CACHE[name]


def status(an, name):
  return next(f for f in an['findings'] if f['name'] == name)['status']


def assert_worded(f):
  for c in f['checks']:
    word = c['wordings'][F.OUTCOME_WORD[c['outcome']]]
    nums = {k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == word.format(**nums)


@pytest.mark.parametrize(
  'name, mechanism, detection, writeup',
  [
    ('mechanism', 'reproduced', 'reproduced', 'reproduced'),
    ('collapse', 'partly', 'partly', 'not reproduced'),
    ('none', 'not reproduced', 'inconclusive', 'inconclusive'),
    ('noisy', 'inconclusive', 'reproduced', 'reproduced'),
    ('blindmetric', 'partly', 'not reproduced', 'not reproduced'),
    ('liked_dups', 'partly', 'partly', 'partly'),
  ],
)
def test_every_status_of_every_finding(name, mechanism, detection, writeup):
  an = scenario(name)
  assert (status(an, 'mechanism'), status(an, 'detection'), status(an, 'writeup')) == (
    mechanism,
    detection,
    writeup,
  )
  for f in an['findings']:
    assert_worded(f)
  assert an['headline']['finding'] == an['findings'][0]['title']


def test_check_outcomes_and_numbers():
  an = scenario('mechanism')
  mech = {c['name']: c for c in an['findings'][0]['checks']}
  assert mech['loops_rise']['outcome'] is True and mech['aware_fewer']['role'] == 'audit'
  assert mech['loops_rise']['numbers']['mean_b'] == 0.0
  det = {c['name']: c for c in an['findings'][1]['checks']}
  assert det['metric_flags']['numbers']['auroc'] == pytest.approx(1.0)
  assert det['dedup_misses']['numbers']['auroc'] == pytest.approx(0.5)  # no loop is a duplicate
  wr = {c['name']: c for c in an['findings'][2]['checks']}
  assert wr['judge_high']['claimed'] == 7.9
  assert an['findings'][0]['seeds']['n_a'] == 4
  none = scenario('none')
  assert all(v is None for v in none['detection']['rep4'])  # no loops: no AUROC
