"""Findings as data: checks whose wording cannot contradict their numbers, the status rule, rendering."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exp.analysis import dashboard, report
from exp.analysis import findings as F

WORD = {True: 'yes', False: 'no', None: 'inconclusive'}


def _above_check(ci, bound):
  return F.check(
    'above',
    'the effect is positive',
    {'ci': ci, 'bound': bound},
    F.above(ci, bound),
    yes='CI {ci} lies above {bound}',
    no='CI {ci} lies at or below {bound}',
    unsure='CI {ci} straddles {bound}',
  )


def test_predicates_are_three_valued():
  assert F.above([0.2, 0.5], 0.1) is True and F.above([-0.2, 0.05], 0.1) is False
  assert F.above([0.0, 0.3], 0.1) is None and F.above([None, 0.3], 0.1) is None
  assert (
    F.below([0.2, 0.5], 0.6) is True
    and F.below([0.7, 0.9], 0.6) is False
    and F.below([0.5, 0.7], 0.6) is None
  )
  assert F.within([-0.1, 0.1], -0.15, 0.15) is True and F.within([0.2, 0.3], -0.15, 0.15) is False
  assert F.within([0.1, 0.2], -0.15, 0.15) is None and F.within([float('nan'), 0.1], -1, 1) is None
  assert F.significant(0.01) is True and F.significant(0.2) is False and F.significant(None) is None
  assert F.compare(3, '>=', 3) is True and F.compare(None, '<', 1) is None
  assert F.all_of(True, None) is None and F.all_of(True, False, None) is False and F.all_of(True, True)
  assert F.any_of(False, None) is None and F.any_of(False, True, None) is True and F.any_of(False) is False
  assert F.negate(None) is None and F.negate(True) is False


def test_a_wording_must_show_every_number():
  with pytest.raises(ValueError, match='missing'):
    F.check('x', 's', {'a': 1, 'b': 2}, True, yes='{a}', no='{a} {b}', unsure='{a} {b}')
  with pytest.raises(ValueError, match='unknown'):
    F.check('x', 's', {'a': 1}, True, yes='{a} {c}', no='{a}', unsure='{a}')
  with pytest.raises(ValueError, match='outcome'):
    F.check('x', 's', {'a': 1}, 'maybe', yes='{a}', no='{a}', unsure='{a}')


@settings(max_examples=150, deadline=None)
@given(
  lo=st.floats(-1e3, 1e3, allow_nan=False),
  width=st.floats(0, 1e3, allow_nan=False),
  bound=st.floats(-1e3, 1e3, allow_nan=False),
)
def test_no_check_renders_a_wording_its_numbers_contradict(lo, width, bound):
  ci = [lo, lo + width]
  c = _above_check(ci, bound)
  truth = True if ci[0] > bound else False if ci[1] <= bound else None
  assert c['outcome'] is truth
  assert c['text'] == c['wordings'][WORD[truth]].format(ci=F.render_number(ci), bound=F.render_number(bound))
  # the sentence names its own outcome: "above" only when the whole CI is above
  assert ('lies above' in c['text']) == (truth is True)
  assert ('straddles' in c['text']) == (truth is None)


@settings(max_examples=100, deadline=None)
@given(
  st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=6),
  st.lists(st.sampled_from([True, False, None]), max_size=3),
)
def test_status_rule(claim_outcomes, audit_outcomes):
  checks = [{'outcome': o, 'role': 'claim'} for o in claim_outcomes]
  checks += [{'outcome': o, 'role': 'audit'} for o in audit_outcomes]
  s = F.status_of(checks)
  n_t, n_f = claim_outcomes.count(True), claim_outcomes.count(False)
  expected = (
    'reproduced'
    if n_t == len(claim_outcomes)
    else 'partly'
    if n_t and n_f
    else 'not reproduced'
    if n_f
    else 'inconclusive'
  )
  assert s == expected and s in F.STATUSES


def _finding(outcomes):
  checks = [
    _above_check([0.5, 1.0] if o else [-1.0, -0.5] if o is False else [-0.5, 0.5], 0.0) for o in outcomes
  ]
  for i, c in enumerate(checks):
    c['name'] = f'c{i}'
  audit = F.check(
    'aud',
    'an audit',
    {'x': 2.0},
    F.compare(2.0, '>', 1.0),
    yes='{x} > 1',
    no='{x} <= 1',
    unsure='{x}?',
    role='audit',
  )
  return F.finding(
    'f',
    'A finding',
    F.claim('the effect is positive', {'g': 1.57}),
    checks + [audit],
    effect={'name': 'g', 'value': 0.7, 'ci95': [0.2, 1.2]},
    seeds={
      'effect': 0.7,
      'power': 0.3,
      'seeds_for_80': 34.0,
      'suffices': False,
      'n_a': 10,
      'paired': False,
      'halfwidth_by_k': {'k': [3, 5, 10], 'halfwidth': [2.0, 1.4, 0.9], 'n': 10},
    },
  )


@pytest.mark.parametrize(
  'outcomes, status',
  [
    ((True, True), 'reproduced'),
    ((True, False), 'partly'),
    ((False, False), 'not reproduced'),
    ((True, None), 'inconclusive'),
  ],
)
def test_finding_status_rendering_and_json(outcomes, status):
  f = _finding(outcomes)
  assert f['status'] == status
  assert json.loads(json.dumps(f)) == f  # plain data: stored in results.json as it is
  md = F.render_finding(f)
  assert f'{status}' in md and all(c['text'] in md for c in f['checks'])
  assert '**Audit.**' in md and 'g 1.57' in md
  h = F.headline_of(f)
  assert h['status'] == status and h['reproduced'] == {'reproduced': True, 'not reproduced': False}.get(
    status
  )
  assert h['seeds_suffice'] is False


def test_repeated_check_names_are_refused():
  c = _above_check([1, 2], 0)
  with pytest.raises(ValueError, match='repeat'):
    F.finding('f', 'F', F.claim('x'), [c, c])


def test_report_skeleton_orders_sections_and_shows_seeds():
  f = _finding((True, False))
  text = report.render_report(
    'T', 'How it was run.', [('Results', '| a |\n|---|\n| 1 |')], [f], ['/x/plots/h.png'], ['a note']
  )
  order = [
    text.index(s)
    for s in (
      '# T',
      'How it was run.',
      '## Results',
      '## Findings',
      '## Is ten enough?',
      '## Notes',
      '## Plots',
    )
  ]
  assert order == sorted(order)
  assert '| A finding | g 0.700 | 10 | 0.300 | 34 | 2.00 | 1.40 | 0.900 | no |' in text
  assert '![h.png](plots/h.png)' in text


def test_dashboard_reads_findings_and_shows_partly_as_partly(tmp_path):
  wd = tmp_path / 'w'
  wd.mkdir()
  res = {
    'experiment': 'x',
    'config_sha256': 'ab',
    'complete': True,
    'runs': [],
    'analysis': {
      'findings': [_finding((True, False)), _finding((True, True))],
      'headline': {'finding': 'old'},
    },
  }
  (wd / 'results.json').write_text(json.dumps(res))
  rows = dashboard.load_findings([str(wd)])
  assert [r['state'] for r in rows] == ['partly', 'reproduced'] and rows[0]['seeds_suffice'] is False
  md = dashboard.render_markdown(rows)
  assert '◐ partly' in md and '✗' not in md.split('## 1.')[0]
  assert not math.isnan(rows[0]['effect']['value'])
