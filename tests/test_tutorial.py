"""docs/tutorial.md cannot rot: its code blocks are the files of examples/my_lab/, its smoke command runs
through run.py, its pandas snippet runs on the result, and its family reports a finding."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, read_results

from exp.analysis.findings import STATUSES
from exp.core import catalogue, registry
from exp.core.validate import ConfigError

TUTORIAL = os.path.join(ROOT, 'docs', 'tutorial.md')


def blocks():
  text = open(TUTORIAL, encoding='utf-8').read()
  return re.findall(r'```(\w+)([^\n]*)\n(.*?)```', text, re.S)


def test_the_tutorials_code_is_the_example_lab():
  files = {info.strip(): body for lang, info, body in blocks() if lang == 'python' and info.strip()}
  assert sorted(files) == ['examples/my_lab/adam_vs_sgd.py', 'examples/my_lab/config.py']
  for path, body in files.items():
    assert open(os.path.join(ROOT, path), encoding='utf-8').read() == body, (
      f'{path} differs from the tutorial'
    )


def test_the_tutorial_runs_and_reports_a_finding(tmp_path, monkeypatch):
  commands = [
    line
    for lang, _, body in blocks()
    if lang == 'bash'
    for line in body.splitlines()
    if line.startswith('PYTHONPATH=examples python run.py') and ':smoke' in line
  ]
  assert len(commands) == 1
  wd = str(tmp_path / 'smoke')
  argv = commands[0].split()[1:]  # after the PYTHONPATH= assignment
  argv = [f'--workdir={wd}' if a.startswith('--workdir=') else a for a in argv]
  env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, 'examples'))
  proc = subprocess.run(
    [sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  results = read_results(wd)
  [finding] = results['analysis']['findings']
  assert finding['status'] in STATUSES and finding['seeds']['n_a'] == 3
  assert 'Adam beats SGD with momentum' in open(os.path.join(wd, 'report.md')).read()
  assert len(results['runs']) == 2 * 5 * 3  # arms x learning rates x smoke seeds
  # The pandas snippet of the tutorial, on this workdir.
  [snippet] = [body for lang, info, body in blocks() if lang == 'python' and not info.strip()]
  scope = {}
  exec(snippet.replace('/tmp/adam_sgd', wd), scope)  # noqa: S102 - the tutorial's own code
  assert scope['table']['count'].sum() == len(results['runs'])
  assert list(scope['best'].unstack('arm').columns) == ['adam', 'sgdm']
  # Bad input, as the tutorial promises: refused by the family's validate (run.py: one line, exit 2).
  monkeypatch.syspath_prepend(os.path.join(ROOT, 'examples'))
  config = catalogue.load_config_file('examples/my_lab/config.py:smoke')
  config.lrs = (-1.0,)
  with pytest.raises(ConfigError, match='lrs: must contain positive numbers only'):
    registry.family_module(config).validate(config)
