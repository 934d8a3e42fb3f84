"""Reporting layer: number formatting, markdown tables, verdicts, plots and the dashboard CLI."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from exp.analysis import dashboard, plots, report
from exp.analysis.report import MISSING, fmt, fmt_p
from exp.core import workdir

NAN = float('nan')

# Compare dicts as exp.stats.compare returns them (difference = a − b), hand-made.
BIG = {
  'n_a': 10,
  'n_b': 10,
  'mean_a': 2.0,
  'mean_b': 129.0,
  'mean_diff': -127.0,
  'mean_diff_ci95': [-156.0, -98.0],
  'student': {'t': -9.1, 'df': 18.0, 'p': 2e-8},
  'welch': {'t': -9.1, 'df': 9.2, 'p': 1e-5},
  'mann_whitney': {'u': 0.0, 'p': 0.00018},
  'hedges_g': -3.9,
  'hedges_g_ci95': [-5.4, -2.4],
  'g_av': -3.9,
}
SMALL = {
  'n_a': 10,
  'n_b': 10,
  'mean_a': 4.1,
  'mean_b': 3.8,
  'mean_diff': 0.3,
  'mean_diff_ci95': [-0.2, 0.8],
  'student': {'t': 1.2, 'df': 18.0, 'p': 0.24},
  'welch': {'t': 1.2, 'df': 17.1, 'p': 0.25},
  'mann_whitney': {'u': 60.0, 'p': 0.3},
  'hedges_g': 0.52,
  'hedges_g_ci95': [-0.37, 1.41],
  'paired': {'t': 1.5, 'df': 9.0, 'p': 0.17},
  'g_av': 0.5,
}
# After a JSON round trip nan becomes None.
NOTED = {
  'n_a': 10,
  'n_b': 0,
  'mean_a': 2.0,
  'mean_b': None,
  'mean_diff': None,
  'mean_diff_ci95': [None, None],
  'student': {'t': None, 'df': None, 'p': None},
  'welch': {'t': None, 'df': None, 'p': None},
  'mann_whitney': {'u': None, 'p': None},
  'hedges_g': None,
  'hedges_g_ci95': [None, None],
  'g_av': None,
  'note': 'all RL-Step runs censored; no t-test',
}


# --- fmt -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
  'x, want',
  [
    (None, MISSING),
    (NAN, MISSING),
    (np.float64('nan'), MISSING),
    ('text', 'text'),
    (10, '10'),
    (np.int64(-7), '−7'),
    (0, '0'),
    (0.0, '0'),
    (3.657, '3.66'),
    (3.6, '3.60'),
    (-9.1, '−9.10'),
    (0.0018, '0.00180'),
    (127.3, '127'),
    (9.996, '10.0'),
    (999.6, '1000'),
    (12345.6, '12346'),
    (999999.4, '999999'),
    (1.5e6, '1.50e+06'),
    (2.3e-5, '2.30e−05'),
    (float('inf'), '∞'),
  ],
)
def test_fmt(x, want):
  assert fmt(x) == want


@pytest.mark.parametrize(
  'p, want',
  [
    (0.0009, '<0.001'),
    (1e-12, '<0.001'),
    (0.001, '0.001'),
    (0.0318, '0.032'),
    (0.05, '0.050'),
    (1.0, '1.000'),
    (None, MISSING),
    (NAN, MISSING),
  ],
)
def test_fmt_p(p, want):
  assert fmt_p(p) == want == fmt(p, p=True)


def test_fmt_digits_and_counts():
  assert fmt(3.14159, digits=2) == '3.1'
  assert fmt(3.14159, digits=5) == '3.1416'
  assert (
    report.fmt_count(18.0) == '18' and report.fmt_count(9.23) == '9.2' and report.fmt_count(None) == MISSING
  )
  assert report.fmt_same([-127.0, -156.0, -98.0]) == ['−127', '−156', '−98']
  assert report.fmt_same([0.52, -0.37, 1.41]) == ['0.52', '−0.37', '1.41']
  assert report.fmt_same([None, 1.0, NAN]) == [MISSING, '1.00', MISSING]


# --- tables ----------------------------------------------------------------------------------------------


def test_markdown_table_shape_and_escaping():
  t = report.markdown_table(['a', 'b'], [['x|y', 1.5], ['z', None]])
  lines = t.splitlines()
  assert lines[0] == '| a | b |' and lines[1] == '|:---|---:|'
  assert lines[2] == '| x\\|y | 1.50 |' and lines[3] == f'| z | {MISSING} |'
  with pytest.raises(ValueError):
    report.markdown_table(['a', 'b'], [[1]])


def test_group_table():
  d1 = {
    'n': 10.0,
    'n_dropped': 0.0,
    'mean': 129.3,
    'sd': 40.2,
    'sem': 12.7,
    'median': 120.0,
    'ci95': [95.7, 162.9],
  }
  d2 = {'n': 8, 'n_dropped': 2, 'mean': None, 'sd': None, 'sem': None, 'median': None, 'ci95': [None, None]}
  lines = report.group_table([('RL-EoE', d1), ('RL-Step', d2)]).splitlines()
  assert lines[0] == '| group | n | mean ± 95% CI half-width | [CI lo, hi] | SD | median |'
  assert len(lines) == 2 + 2
  assert lines[2] == '| RL-EoE | 10 | 129 ± 34 | [96, 163] | 40.2 | 120 |'
  assert lines[3].startswith('| RL-Step | 8 (2 dropped) | – ± – |')


def test_comparison_table_and_holm():
  text = report.comparison_table([('SL vs RL-EoE', BIG), ('noise vs clean', SMALL), ('SL vs RL-Step', NOTED)])
  table, notes = text.split('\n\n')
  lines = table.splitlines()
  assert lines[0] == (
    '| comparison | Δ mean [95% CI] | Student t (df) | p | Holm p | Welch p | paired p | '
    "Mann–Whitney p | Hedges' g [95% CI] |"
  )
  assert len(lines) == 2 + 3
  assert lines[2] == (
    '| SL vs RL-EoE | −127 [−156, −98] | −9.10 (18) | <0.001 | <0.001 | <0.001 | – | '
    '<0.001 | −3.90 [−5.40, −2.40] |'
  )
  # Holm over the two finite p-values (2e-8, 0.24): 2·2e-8, max(that, 1·0.24); the nan row stays "–"
  assert [ln.split(' | ')[4] for ln in lines[2:]] == ['<0.001', '0.240', MISSING]
  assert lines[4].startswith('| SL vs RL-Step [1] |')
  assert notes == '[1] all RL-Step runs censored; no t-test'
  # no paired test anywhere → exactly the documented columns; holm=False drops the Holm column
  plain = report.comparison_table([('a vs b', BIG)], holm=False).splitlines()[0]
  assert plain == (
    "| comparison | Δ mean [95% CI] | Student t (df) | p | Welch p | Mann–Whitney p | Hedges' g [95% CI] |"
  )


def test_holm_hand_values():
  got = report.holm_adjust([0.01, 0.04, 0.03, None, 0.005])
  assert got[:3] == pytest.approx([0.03, 0.06, 0.06]) and got[4] == pytest.approx(0.02) and math.isnan(got[3])
  assert report.holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
  text = report.comparison_table([(f'c{i}', {'student': {'p': p}}) for i, p in enumerate([0.01, 0.04, 0.03])])
  assert [ln.split(' | ')[4] for ln in text.splitlines()[2:]] == ['0.030', '0.060', '0.060']


# --- verdicts --------------------------------------------------------------------------------------------


def test_verdict_significant_large():
  v = report.verdict('SL vs RL-EoE', BIG, holm_p=4e-8)
  assert v == (
    'SL vs RL-EoE: SL lower by 127 (95% CI 98–156); Student t(18) = −9.10, p < 0.001 '
    "(Holm p < 0.001); Hedges' g = −3.90 [−5.40, −2.40]: large, significant."
  )


def test_verdict_not_significant():
  v = report.verdict('noise vs clean', SMALL)
  assert 'noise higher by 0.300 (95% CI −0.200 to 0.800)' in v
  # The CI shown is the paired one, so the test quoted is the paired t, not Student's unpaired p = 0.240.
  assert 'paired t(9) = 1.50, p = 0.170' in v and 'p = 0.240' not in v
  assert v.endswith(': medium, not significant.')


def test_verdict_decides_on_the_test_whose_ci_it_shows():
  # The review's case: a paired CI 0.219–0.408 beside Student p = 0.505 read "not significant" although
  # the paired p was 3.7e-5.
  cmp = dict(
    SMALL, mean_diff=0.31, mean_diff_ci95=[0.219, 0.408], student={'t': 0.68, 'df': 18.0, 'p': 0.505}
  )
  cmp['paired'] = {'t': 7.9, 'df': 9.0, 'p': 3.7e-5}
  v = report.verdict('a vs b', cmp)
  assert 'paired t(9)' in v and 'p < 0.001' in v and v.endswith('significant.') and 'not significant' not in v
  unpaired = {k: x for k, x in cmp.items() if k != 'paired'}
  w = report.verdict('a vs b', unpaired)
  assert 'Student t(18)' in w and 'p = 0.505' in w and w.endswith('not significant.')
  v = report.verdict('noise vs clean', SMALL, alpha=0.3, holm_p=0.6)
  assert 'not significant after Holm correction (uncorrected p = 0.170)' in v
  assert report.effect_size_word(0.1) == 'negligible' and report.effect_size_word(-0.3) == 'small'


def test_verdict_noted_nan():
  v = report.verdict('SL vs RL-Step', NOTED)
  assert 'not testable' in v and 'effect size undetermined' in v
  assert v.endswith('Note: all RL-Step runs censored; no t-test.')
  assert report.verdict('x', None).startswith('x: difference –')


def test_write_atomic(tmp_path):
  p = tmp_path / 'sub' / 'r.md'
  assert workdir.write_atomic(p, 'hello') == str(p)
  assert p.read_text() == 'hello' and os.listdir(p.parent) == ['r.md']


def test_with_real_stats_if_present():
  stats = pytest.importorskip('exp.analysis.stats')
  rng = np.random.default_rng(0)
  a, b = rng.normal(0, 1, 10), rng.normal(2, 1, 10)
  lines = report.group_table([('a', stats.describe(a)), ('b', stats.describe(b))]).splitlines()
  assert len(lines) == 4 and MISSING not in lines[2]
  cmp = json.loads(json.dumps(stats.compare(a, b, paired=True)))
  assert report.comparison_table([('a vs b', cmp)]).count('\n') == 2
  assert report.verdict('a vs b', cmp).startswith('a vs b: a lower by')


# --- plots -----------------------------------------------------------------------------------------------


def _png(path):
  data = open(path, 'rb').read()
  assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 1000
  return True


def test_plots_write_png_with_nan(tmp_path):
  rng = np.random.default_rng(0)
  steps = np.arange(1, 21) * 10
  a = rng.normal(1, 0.1, (5, 20)).cumsum(axis=1)
  a[1, 3:] = np.nan
  a[:, 0] = np.nan
  one = np.full((3, 20), np.nan)
  one[0] = 1.0  # a single finite seed: mean but no band
  assert _png(
    plots.curves_with_bands(
      tmp_path / 'c.png',
      steps,
      {'a': a, 'one': one, 'all nan': one * np.nan},
      't',
      'step',
      'loss',
      logx=True,
      logy=True,
    )
  )
  assert _png(
    plots.strip_plot(
      tmp_path / 's.png',
      {'SL': [2, 2, 3, np.nan], 'RL': rng.lognormal(4, 1, 10), 'none': [None, None], 'empty': []},
      't',
      'episodes',
      logy=True,
    )
  )
  n = np.repeat([10.0, 100.0, 500.0], 5)
  fit = {
    'exponent': 0.9,
    'prefactor': 2.0,
    'r2': 0.97,
    'exponent_se': 0.03,
    'exponent_ci95': [0.84, 0.96],
    'n': 15,
    'p_exponent_eq_0': 1e-9,
    'p_exponent_eq_1': 0.01,
  }
  series = {
    'RL-EoE': {'x': n, 'y': 2 * n**0.9 * rng.lognormal(0, 0.2, 15), 'fit': fit},
    'RL-Step': {
      'x': [10.0, 10.0],
      'y': [7000.0, np.nan],
      'fit': None,
      'censored_x': [100.0, 500.0],
      'censored_y': 10000,
    },
    'nan fit': {'x': n, 'y': n, 'fit': {'exponent': None, 'prefactor': None, 'exponent_ci95': [None, None]}},
  }
  assert _png(plots.loglog_fit(tmp_path / 'l.png', series, 't', 'N', 'episodes'))
  x = np.repeat(np.linspace(-4, 0, 9), 5)
  y = (x > -2).astype(float)
  tfit = {
    'kind': 'binary',
    'center': -2.1,
    'scale': 0.2,
    'width_10_90': 0.88,
    'center_ci95': [-2.4, -1.8],
    'width_ci95': [0.5, 1.2],
    'lower': 0.0,
    'upper': 1.0,
    'aic': 10.0,
    'n': 45,
  }
  step = dict(tfit, scale=0.0, center_ci95=[NAN, NAN])
  bad = dict(tfit, center=None, scale=None, center_ci95=[None, None])
  assert _png(
    plots.threshold_plot(
      tmp_path / 't.png',
      {
        'r8': {'x': x, 'y': y, 'fit': tfit},
        'step': {'x': x, 'y': 1 - y, 'fit': step},
        'nan': {'x': x, 'y': y * 0.5, 'fit': bad},
        'none': {'x': x, 'y': y, 'fit': None},
      },
      't',
      'log10 lr',
      'P(collapse)',
    )
  )
  assert _png(
    plots.forest_plot(
      tmp_path / 'f.png',
      [('SL vs RL', -3.9, [-5.4, -2.4]), ('nan', NAN, [None, None]), ('small', 0.1, (-0.7, 0.9))],
      'effects',
    )
  )
  assert _png(plots.forest_plot(tmp_path / 'f0.png', [], 'empty'))
  assert _png(plots.loglog_fit(tmp_path / 'l0.png', {}, 'empty', 'x', 'y'))
  assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_mean_ci95_ignores_nan():
  v = np.array([[1.0, np.nan], [3.0, 5.0], [np.nan, np.nan]])
  mean, half, n = plots.mean_ci95(v)
  assert mean.tolist() == [2.0, 5.0] and n.tolist() == [2, 1]
  assert half[0] == pytest.approx(12.7062047, rel=1e-6) and math.isnan(half[1])  # t(0.975, 1) · 1.414/√2


# --- dashboard -------------------------------------------------------------------------------------------


def _results(experiment, headline, complete=True):
  return {
    'experiment': experiment,
    'config_sha256': 'ab' * 32,
    'complete': complete,
    'runs': [{'arm': 'sl', 'seed': s, 'grid': {}, 'status': 'ok', 'metrics': {}} for s in range(3)],
    'analysis': {'headline': headline},
  }


def _workdir(tmp_path, name, payload):
  wd = tmp_path / name
  wd.mkdir()
  (wd / 'results.json').write_text(payload if isinstance(payload, str) else json.dumps(payload))
  return str(wd)


HEAD_A = {
  'finding': 'SL beats RL-EoE on memorization',
  'claim': 'exponent 0.89, g = −8.2',
  'result': 'RL-EoE episodes scale as N^0.91 [0.85, 0.97]',
  'effect': {'name': "Hedges' g", 'value': -6.1, 'ci95': [-8.2, -4.0]},
  'verdict': 'Reproduced; g only on the log scale.',
  'reproduced': True,
}
HEAD_B = {
  'finding': 'Token noise raises distillation loss',
  'claim': 'g = 1.568',
  'result': 'held-out Δ = 0.01',
  'effect': None,
  'verdict': 'Not reproduced on held-out loss.',
  'reproduced': False,
}


def test_dashboard_end_to_end(tmp_path, capsys):
  a = _workdir(tmp_path, 'a', _results('memorization', HEAD_A))
  b = _workdir(tmp_path, 'b', _results('noisy_student', HEAD_B, complete=False))
  out = tmp_path / 'out'
  assert dashboard.main(['--out', str(out), a, b]) == 0
  md = (out / 'dashboard.md').read_text()
  assert HEAD_A['finding'] in md and HEAD_B['finding'] in md
  assert 'noisy_student (incomplete)' in md and "Hedges' g = −6.10 [−8.20, −4.00]" in md
  rows = [ln for ln in md.splitlines() if ln.startswith('| ') and 'finding' not in ln]
  assert len(rows) == 2
  assert _png(out / 'dashboard.png')
  assert sorted(os.listdir(out)) == ['dashboard.md', 'dashboard.png']


def _bad(tmp_path, capsys, argv):
  out = tmp_path / 'out'
  assert dashboard.main(['--out', str(out), *argv] if argv is not None else [str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and err.startswith('dashboard: error:')
  assert not out.exists()
  return err


def test_dashboard_bad_inputs(tmp_path, capsys):
  good = _workdir(tmp_path, 'good', _results('m', HEAD_A))
  assert 'no workdirs' in _bad(tmp_path, capsys, [])
  assert 'does not exist' in _bad(tmp_path, capsys, [good, str(tmp_path / 'missing')])
  (tmp_path / 'empty').mkdir()
  assert 'results.json' in _bad(tmp_path, capsys, [str(tmp_path / 'empty')])
  assert 'not valid JSON' in _bad(tmp_path, capsys, [_workdir(tmp_path, 'torn', '{"analysis": ')])
  err = _bad(tmp_path, capsys, [good, _workdir(tmp_path, 'nohead', _results('m', None))])
  assert 'nohead' in err and 'analysis.headline' in err and 'python run.py' in err
  assert '--out' in _bad(tmp_path, capsys, None)  # --out missing


def test_dashboard_cli_module(tmp_path):
  proc = subprocess.run(
    [sys.executable, '-m', 'exp.analysis.dashboard', '--out', str(tmp_path / 'o')],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'no workdirs' in proc.stderr


def test_fmt_mean_ci_each_case():
  d = {'mean': 0.523, 'ci95': (0.42, 0.62)}
  assert report.fmt_mean_ci(d) == '0.523 ± 0.100'  # shared decimals
  assert report.fmt_mean_ci(d, 2) == '0.52 ± 0.10'
  assert report.fmt_mean_ci({'mean': 0.523, 'ci95': (None, None)}) == '0.523'  # one seed: no CI
  assert report.fmt_mean_ci({'mean': 0.523, 'ci95': (float('nan'), 0.6)}) == '0.523'
  assert report.fmt_mean_ci({'mean': 0.523}) == '0.523'
  assert report.fmt_mean_ci({'mean': float('nan'), 'ci95': (0.0, 1.0)}) == report.MISSING
  assert report.fmt_mean_ci({'mean': None}) == report.MISSING
  assert report.fmt_mean_ci(None) == report.MISSING
