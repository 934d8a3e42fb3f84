"""A run killed with SIGKILL mid-way and rerun ends identical to an uninterrupted one; torn and corrupt
checkpoints are skipped."""

import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import PLUGINS, ROOT, load_config, read_metrics, read_results

from exp.core import runner

# The walk's `long` variant never finishes early (tol 0): 60 chunks of 10 steps, each followed by a
# checkpoint.
LONG = 'tests/plugins/toylab/config.py:long'


def _steps(ckdir):
  return sorted(int(d) for d in os.listdir(ckdir) if d.isdigit()) if os.path.isdir(ckdir) else []


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
  ref = str(tmp_path / 'ref')
  assert runner.run(load_config(LONG), ref, quiet=True).status == 'complete'

  work = str(tmp_path / 'killed')
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'run.py'),
    f'--config={LONG}',
    f'--workdir={work}',
  ]
  env = dict(os.environ, PYTHONPATH=PLUGINS)
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 120
  while time.time() < deadline and len(_steps(os.path.join(work, 'checkpoints'))) < 3:
    time.sleep(0.05)
  time.sleep(0.1)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL, 'the run finished before it could be killed'
  assert not os.path.exists(os.path.join(work, 'results.json'))

  # Debris a crash can leave: a torn save and a finalized-looking but corrupt newer step.
  ck = os.path.join(work, 'checkpoints')
  last = _steps(ck)[-1]
  os.makedirs(os.path.join(ck, f'{last + 500}.orbax-checkpoint-tmp', 'progress'))
  shutil.copytree(os.path.join(ck, str(last)), os.path.join(ck, str(last + 100)))
  for dirpath, _, files in os.walk(os.path.join(ck, str(last + 100), 'progress')):
    for name in files:
      open(os.path.join(dirpath, name), 'w').write('{torn')

  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'falling back' in done.stdout + done.stderr
  assert 'resuming from checkpoint' in done.stdout
  assert read_results(work)['runs'] == read_results(ref)['runs']
  assert read_metrics(work) == read_metrics(ref)
