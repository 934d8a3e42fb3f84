"""The dashboard's rows and panels from findings: the write-up's numbers beside our effect, the status,
and whether the seeds sufficed, with the numbers behind it (synthetic results, no training)."""

import json

from exp.analysis import dashboard
from exp.analysis import findings as F


def _finding(outcome, claimed=38.0, power=0.93, need=6.0):
  c = F.check(
    'ratio',
    'the ROI ratio exceeds 1',
    {'ratio': 1.7, 'ci': [0.96, 6.5]},
    outcome,
    yes='ratio {ratio} {ci} above 1',
    no='ratio {ratio} {ci} at or below 1',
    unsure='ratio {ratio} {ci} straddles 1',
    claimed=claimed,
  )
  return F.finding(
    'roi',
    'Switching beats training',
    F.claim('a 38× return on investment', {'ROI ratio': 38.0, 'switch gain (points)': 19.0}),
    [c],
    effect={'name': 'Δ accuracy (points)', 'value': 14.8, 'ci95': [9.2, 20.3]},
    seeds={
      'n_a': 10,
      'n_b': 10,
      'paired': True,
      'power': power,
      'seeds_for_80': need,
      'suffices': power >= 0.8,
    },
  )


def _workdir(tmp_path, found):
  wd = tmp_path / 'w'
  wd.mkdir()
  res = {
    'experiment': 'model_switch',
    'config_sha256': 'ab',
    'complete': True,
    'runs': [],
    'analysis': {'findings': found},
  }
  (wd / 'results.json').write_text(json.dumps(res))
  return str(wd)


def test_a_row_shows_the_writeups_numbers_our_effect_status_and_seeds(tmp_path):
  rows = dashboard.load_findings([_workdir(tmp_path, [_finding(None), _finding(True, power=0.4, need=23.2)])])
  assert rows[0]['writeup'] == 'ROI ratio 38.0; switch gain (points) 19.0'
  md = dashboard.render_markdown(rows, missing=['distillation (failed)'])
  table = [ln for ln in md.splitlines() if ln.startswith('| model_switch')]
  assert table[0] == (
    '| model_switch | Switching beats training | ? inconclusive | ROI ratio 38.0; switch gain (points) 19.0 '
    '| Δ accuracy (points) = 14.8 [9.2, 20.3] | yes (power 0.930 at n 10; 6 for 80%) |'
  )
  assert table[1].startswith('| model_switch | Switching beats training | ✓ reproduced |')
  assert table[1].endswith('| no (power 0.400 at n 10; 24 for 80%) |')  # 23.2 seeds: 24 needed
  # The check's sentence with the write-up's number for the same quantity beside it.
  assert '  - ? ratio 1.70 [0.96, 6.50] straddles 1 (write-up: 38.0)' in md
  assert 'Not in this dashboard: distillation (failed).' in md


def test_the_png_has_one_panel_per_finding(tmp_path):
  rows = dashboard.load_findings([_workdir(tmp_path, [_finding(False), _finding(True), _finding(None)])])
  path = dashboard.render_png(rows, str(tmp_path / 'd.png'), missing=['x (failed)'])
  import matplotlib.image

  img = matplotlib.image.imread(path)
  assert img.shape[1] > img.shape[0] > 300  # three panels side by side, one row
  assert dashboard._checks_text(rows[0]) == 'claim checks: 0/1 hold, 1 fail, 0 undecided'
