"""Family D (Noisy Student) on the smoke config: one in-process run, its invariants, the claim audit's
arithmetic, bad inputs and the report's sections; then, on synthetic run records (records_noisy_student.py,
no training), the findings driven to each status and the review's defects."""

import json
import math
import os

import numpy as np
import pytest
from conftest import complete_run, load_config, read_metrics, read_results
from records_noisy_student import records

from exp.analysis.findings import OUTCOME_WORD, headline_of, render_number
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import noisy_student

SPEC = 'configs/noisy_student.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


def _assert_texts(f):
  """Each check's sentence is its wording for its outcome, filled with its numbers."""
  for c in f['checks']:
    template = c['wordings'][OUTCOME_WORD[c['outcome']]]
    nums = {k: render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == template.format(**nums), c['name']


def _by(results, condition):
  return {
    r['seed']: r
    for r in results['runs']
    if r['arm'] == 'distill' and noisy_student.condition_of(r['grid']) == condition
  }


def test_smoke_run_has_every_condition_and_seed(smoke):
  cfg = load_config(SPEC)
  res = read_results(smoke)
  pre = [r for r in res['runs'] if r['arm'] == 'pretrain']
  assert len(pre) == cfg.num_seeds
  for cond in cfg.conditions:
    runs = _by(res, cond)
    assert sorted(runs) == list(range(cfg.num_seeds)), cond
    for r in runs.values():
      assert r['status'] == 'ok'
      for m in noisy_student.METRICS:
        assert m in r['metrics'] and m + '_early' in r['metrics']
      assert r['metrics']['heldout_unseen'] >= 1


def test_clean_condition_scores_its_training_inputs_without_noise(smoke):
  # With no deletion and no dropout, "training loss on noised inputs" is the clean training loss.
  for r in _by(read_results(smoke), 'clean').values():
    m = r['metrics']
    assert math.isclose(m['train_loss_noised'], m['train_loss_clean'], rel_tol=1e-5)
    assert math.isclose(m['train_loss_noised_early'], m['train_loss_clean_early'], rel_tol=1e-5)


def test_conditions_of_a_seed_share_data_labels_and_initial_student(smoke):
  res = read_results(smoke)
  conds = load_config(SPEC).conditions
  by = {c: _by(res, c) for c in conds}
  lines = read_metrics(smoke)
  for seed in by['clean']:
    assert len({by[c][seed]['metrics']['teacher_exact'] for c in conds}) == 1
    assert len({by[c][seed]['metrics']['heldout_unseen'] for c in conds}) == 1
    # Before any update every condition holds the same student: identical held-out loss at step 0.
    at0 = {
      l['metrics']['heldout_loss']
      for l in lines
      if l['arm'] == 'distill' and l['seed'] == seed and l['step'] == 0
    }
    assert len(at0) == 1


def test_early_snapshot_is_the_student_after_early_step_updates(smoke):
  # The logged held-out curve at step t describes the student after t updates; the snapshot evaluated
  # at the end must be that same student (scored on the same prompts).
  cfg = load_config(SPEC)
  res = read_results(smoke)
  lines = read_metrics(smoke)
  for cond in cfg.conditions:
    for seed, r in _by(res, cond).items():
      logged = [
        l['metrics']['heldout_loss']
        for l in lines
        if l['arm'] == 'distill'
        and l['seed'] == seed
        and l['step'] == cfg.early_step
        and noisy_student.condition_of(l['grid']) == cond
      ]
      assert len(logged) == 1
      assert math.isclose(r['metrics']['heldout_loss_curve_early'], logged[0], rel_tol=1e-4)


def test_claim_audit_recomputes_the_write_up_from_its_summary():
  a = noisy_student.claim_audit()
  assert abs(a['recomputed']['student']['t'] - 3.66) < 0.01
  assert abs(a['recomputed']['student']['p'] - 0.0018) < 0.0002
  assert abs(a['recomputed']['hedges_g'] - 1.568) < 0.005
  assert np.allclose(a['ci95']['noisy'], (3.85, 4.34), atol=0.006)
  assert np.allclose(a['ci95']['clean'], (3.53, 3.78), atol=0.006)
  assert abs(a['sd_ratio'] - 0.339 / 0.173) < 1e-9  # "2×" is the SD ratio ...
  assert abs(a['var_ratio'] - (0.339 / 0.173) ** 2) < 1e-9  # ... 3.84× in variance
  assert 0.05 < a['f_test']['p'] < 0.07  # F test not significant


def test_analysis_headline_and_report_sections(smoke):
  res = read_results(smoke)
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['claim_metric', 'heldout', 'variance']
  assert an['headline'] == headline_of(an['findings'][0])
  assert an['headline']['effect']['name'].startswith('Δ training loss on noised inputs')
  assert len(an['comparisons']) == 2 * len(noisy_student.METRICS)
  for row in an['comparisons'] + an['ablations']:
    p, hp = row['compare']['student']['p'], row['holm_p']
    assert hp is None or p is None or hp >= p - 1e-12
  # The claimed gap splits exactly into "worse on clean training inputs" + "scored on noised inputs".
  for dec in an['decomposition'].values():
    assert math.isclose(
      dec['gap']['mean'],
      dec['model_part']['mean'] + dec['measurement_part']['mean'],
      rel_tol=1e-6,
      abs_tol=1e-9,
    )
  for f in an['findings']:
    _assert_texts(f)
  report = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    "## The write-up's table",
    '4.10 ± 0.34',
    '3.84',
    '## All metrics',
    '## Noisy vs clean',
    '## Ablations',
    '## Findings',
    '## Is ten enough?',
    'seeds/group for 80% power',
    'plots/effect_sizes.png',
    'plots/curves.png',
    'plots/halfwidth_by_seeds.png',
  ):
    assert section in report, section
  for gone in ('## Verdict', '## Audit', 'Final training loss'):
    assert gone not in report, gone
  for name in ('effect_sizes.png', 'curves.png', 'halfwidth_by_seeds.png'):
    assert os.path.getsize(os.path.join(smoke, 'plots', name)) > 1000
  json.dumps(an, allow_nan=False)


@pytest.mark.parametrize(
  'key,value',
  [
    ('delete_p', 1.0),
    ('delete_p', -0.1),
    ('dropout', 1.0),
    ('dropout', -0.5),
    ('response_len', 20),  # sequence longer than the model's context window
    ('window', 12),
    ('early_step', 999),
    ('conditions', ('clean',)),
    ('conditions', ('clean', 'noisy', 'loud')),
    ('batch_size', 1000),
  ],
)
def test_bad_inputs_raise_config_error_and_write_nothing(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  expected = 'window' if key == 'response_len' else key
  assert e.value.key == expected
  assert not wd.exists()


def test_unknown_config_variant_is_rejected():
  with pytest.raises(ValueError, match='smoke'):
    load_config('configs/noisy_student.py:large')


def test_zero_noise_probabilities_are_accepted():
  noisy_student.validate(load_config(SPEC, delete_p=0.0, dropout=0.0))


@pytest.mark.parametrize('key', ['lr', 'pretrain_lr'])
def test_a_tuple_learning_rate_is_rejected(key):
  # One learning rate each: a tuple (a sweep) used to pass require_positive_floats.
  cfg = load_config(SPEC)
  with cfg.ignore_type():  # as a config file or an override without the type check would give it
    setattr(cfg, key, (1e-3, 2e-3))
  with pytest.raises(ConfigError) as e:
    noisy_student.validate(cfg)
  assert e.value.key == key


# ---------------------------------------------------------------------------------------------------------
# Findings on synthetic records

CFG10 = dict(num_seeds=10)
N, C = 'noisy', 'clean'


def _analyze(**kw):
  cfg = load_config(SPEC, **CFG10)
  return noisy_student.analysis.analyze(records(**kw), cfg)


def _finding(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def _check(f, name):
  return next(c for c in f['checks'] if c['name'] == name)


# The claim's metric: noisy − clean of the noised training loss after early_step updates.
CLAIMED = {(N, 'train_loss_noised_early'): 0.08, (N, 'train_loss_clean_early'): 0.04}


@pytest.mark.parametrize(
  'kw,status',
  [
    (dict(shift=CLAIMED), 'reproduced'),
    # Significantly lower with noise: reversed, and g far from the write-up's.
    (dict(shift={(N, 'train_loss_noised_early'): -0.08}), 'not reproduced'),
    # Significant by the paired test but a small g: direction holds, size does not.
    (dict(shift={(N, 'train_loss_noised_early'): 0.01}, noise_sd=0.001), 'partly'),
    # 3 seeds, a small gap: the direction straddles 0 and g's wide CI still holds the write-up's g.
    (dict(n_seeds=3, shift={(N, 'train_loss_noised_early'): 0.1}, noise_sd=0.05), 'inconclusive'),
  ],
)
def test_claim_metric_finding_status(kw, status):
  cfg = load_config(SPEC, num_seeds=kw.get('n_seeds', 10))
  f = _finding(noisy_student.analysis.analyze(records(**kw), cfg), 'claim_metric')
  _assert_texts(f)
  assert f['status'] == status


def test_claim_metric_lower_with_noise_reads_reversed():
  f = _finding(_analyze(shift={(N, 'train_loss_noised_early'): -0.08}), 'claim_metric')
  c = _check(f, 'increase')
  assert c['outcome'] is False and c['text'].startswith('reversed: ')
  assert 'not significant' not in c['text'] and 'no significant' not in c['text']


def test_claim_checks_compare_with_the_write_up_numbers():
  f = _finding(_analyze(shift=CLAIMED), 'claim_metric')
  inc, g = _check(f, 'increase'), _check(f, 'effect_size')
  assert inc['claimed'] == pytest.approx(4.097 - 3.657)
  assert g['claimed'] == pytest.approx(1.568) and g['numbers']['claimed_g'] == pytest.approx(1.568)
  lo, hi = g['numbers']['g_ci']
  assert g['outcome'] is (lo <= 1.568 <= hi)
  assert f['claim']['numbers']['t'] == '3.66' and f['claim']['numbers']['p'] == '0.0018'


def test_write_up_recomputation_is_a_check_that_can_fail(monkeypatch):
  f = _finding(_analyze(), 'claim_metric')
  c = _check(f, 'writeup_recomputes')
  assert c['role'] == 'audit' and c['outcome'] is True
  monkeypatch.setitem(noisy_student.CLAIM, 't', 4.2)  # a published t its summary does not give
  c = _check(_finding(_analyze(), 'claim_metric'), 'writeup_recomputes')
  assert c['outcome'] is False and '4.20' in c['text'] and 'do not match' in c['text']


@pytest.mark.parametrize(
  'gap,outcome',
  [(0.0, None), (-0.08, False)],
)
def test_measurement_share_needs_a_positive_gap(gap, outcome):
  # The noisy student is scored higher on its noised than on its clean inputs, but the whole gap is 0 or
  # negative: a share of it would be a nonsense percentage.
  an = _analyze(
    shift={(N, 'train_loss_noised_early'): gap, (N, 'train_loss_clean_early'): gap - 0.03}, noise_sd=0.02
  )
  dec = an['decomposition']['early']
  c = _check(_finding(an, 'claim_metric'), 'measurement_share')
  assert dec['measurement_share'] is None and c['numbers']['share'] is None
  assert c['outcome'] is outcome
  assert render_number(c['numbers']['gap_ci']) in c['text']  # the gap is shown


def test_measurement_share_with_a_positive_gap():
  c = _check(_finding(_analyze(shift=CLAIMED), 'claim_metric'), 'measurement_share')
  assert c['outcome'] is True
  assert c['numbers']['share'] == pytest.approx(50, abs=10)  # 0.04 of the 0.08 gap


@pytest.mark.parametrize(
  'shift,status',
  [
    ({(N, 'heldout_loss_early'): 0.08, (N, 'heldout_token_acc_early'): -0.08}, 'reproduced'),
    ({(N, 'heldout_loss_early'): -0.08, (N, 'heldout_token_acc_early'): 0.08}, 'not reproduced'),
    ({(N, 'heldout_loss_early'): 0.08, (N, 'heldout_token_acc_early'): 0.08}, 'partly'),
  ],
)
def test_heldout_finding_status(shift, status):
  f = _finding(_analyze(shift=shift), 'heldout')
  _assert_texts(f)
  assert f['status'] == status


def test_heldout_inconclusive_when_nothing_is_decided():
  # 3 seeds: the CIs are wide, so the direction is undecided while g's CI still holds 1.568.
  an = noisy_student.analysis.analyze(
    records(n_seeds=3, shift={(N, 'heldout_loss_early'): 0.1}, noise_sd=0.05), load_config(SPEC)
  )
  f = _finding(an, 'heldout')
  _assert_texts(f)
  assert [c['outcome'] for c in f['checks'] if c['role'] == 'claim'] == [None, True, None]
  assert f['status'] == 'inconclusive'


def test_claim_metric_alone_does_not_make_the_student_worse():
  # Only the claim's own metric moves (measurement): the claim finding reproduces, the held-out one
  # does not, and the dashboard rows say so separately.
  an = _analyze(shift={(N, 'train_loss_noised_early'): 0.08})
  rows = [headline_of(f) for f in an['findings']]
  assert rows[0]['status'] == 'reproduced'
  assert rows[1]['status'] == 'not reproduced'
  assert an['headline'] == rows[0]
  assert rows[1]['effect']['name'].startswith('Δ clean held-out loss')


@pytest.mark.parametrize(
  'factor,status', [(3.0, 'reproduced'), (1 / 3, 'not reproduced'), (1.0, 'inconclusive')]
)
def test_variance_finding_status_by_the_f_test(factor, status):
  scale = {(N, 'train_loss_noised_early'): factor, (N, 'train_loss_clean_early'): factor}
  an = _analyze(scale=scale)
  f = _finding(an, 'variance')
  _assert_texts(f)
  assert f['status'] == status
  c = _check(f, 'variance_f_test')
  v = an['variance']['early']['train_loss_noised']
  # The check decides on the F test only (its CI excludes 1 exactly when F p < 0.05) and shows the others.
  assert (v['f']['p'] < 0.05) is (c['outcome'] is not None)
  assert 'F test p' in c['text'] and 'Levene p' in c['text'] and 'Brown–Forsythe p' in c['text']
  assert render_number(v['levene']['p'], 'p') in c['text']
  assert c['claimed'] == 2.0


def test_write_up_variance_claim_checked_on_its_own_numbers():
  c = _check(_finding(_analyze(), 'variance'), 'writeup_variance_f_test')
  assert c['role'] == 'audit' and c['outcome'] is None  # F p 0.058: the CI straddles 1
  assert c['numbers']['var_ratio'] == pytest.approx((0.339 / 0.173) ** 2)
  assert 0.05 < c['numbers']['f_p'] < 0.07
  assert '3.84' in c['text'] and '1.96' in c['text'] and '0.058' in c['text']


def test_exact_match_check_survives_missing_cells_and_says_at_most():
  an = _analyze(exact=0.01)
  an['cells']['noisy']['early']['heldout_exact'] = None  # a cell with no finite runs
  an['cells']['clean']['final']['heldout_exact']['mean'] = None
  f = noisy_student.findings.build_findings(an, load_config(SPEC, **CFG10))
  c = _check(_finding({'findings': f}, 'heldout'), 'exact_match_floor')
  assert c['outcome'] is True and c['numbers']['max_pct'] == pytest.approx(1.0)
  assert 'at most 1.00%' in c['text'] and 'below' in c['text'].split('(')[1]
  an['cells'] = {k: {r: {} for r in ('early', 'final')} for k in an['cells']}
  f = noisy_student.findings.build_findings(an, load_config(SPEC, **CFG10))
  assert _check(_finding({'findings': f}, 'heldout'), 'exact_match_floor')['outcome'] is None


def test_write_up_table_caption_names_the_regimes():
  an = _analyze()
  text = noisy_student.report._writeup_table(an)
  assert not text.startswith('Final training loss')
  assert 'after 5 updates' in text and 'after 20 updates' in text


def test_report_from_records_has_findings_and_power(tmp_path):
  class Log:
    def curves(self, *args):
      return np.array([]), np.array([])

  an = _analyze(shift=CLAIMED)
  md = noisy_student.report.make_report(an, [], Log(), load_config(SPEC, **CFG10), str(tmp_path))
  assert md.count('### ') == 3 and '## Is ten enough?' in md
  assert md.count('power at g (two-sample)') == 3  # statistics, noisy vs clean, ablations
  for f in an['findings']:
    for c in f['checks']:
      assert c['text'] in md
