"""Family D (Noisy Student) on the smoke config: one in-process run, its invariants, the claim audit's
arithmetic, bad inputs, and the report's sections."""

import json
import math
import os

import numpy as np
import pytest
from conftest import complete_run, load_config, read_metrics, read_results

from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import noisy_student

SPEC = 'configs/noisy_student.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


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
  h = an['headline']
  assert set(h) >= {'finding', 'claim', 'result', 'effect', 'verdict', 'reproduced'}
  assert h['effect']['name'].startswith("Hedges' g")
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
  report = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    "## The write-up's table",
    '4.10 ± 0.34',
    '3.84',
    '## All metrics',
    '### Noisy vs clean',
    '### Ablations',
    '## Audit',
    '## Verdict',
    'plots/effect_sizes.png',
    'plots/curves.png',
  ):
    assert section in report, section
  for name in ('effect_sizes.png', 'curves.png'):
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
