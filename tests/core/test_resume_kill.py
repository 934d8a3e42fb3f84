"""A run killed with SIGKILL mid-way and rerun ends identical to an uninterrupted one; torn and corrupt
checkpoints are skipped."""

import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import ROOT, load_config, read_metrics, read_results

from exp.core import runner

# rl_step with converge_prob=1.0 never finishes early: 30 chunks, each followed by a checkpoint.
OVERRIDES = dict(
  arms=('rl_step',), num_seeds=2, num_steps=300, chunk_steps=10, log_every=10, converge_prob=1.0
)
FLAGS = [
  '--config.arms=rl_step',
  '--config.num_seeds=2',
  '--config.num_steps=300',
  '--config.chunk_steps=10',
  '--config.log_every=10',
  '--config.converge_prob=1.0',
]


def _steps(ckdir):
  return sorted(int(d) for d in os.listdir(ckdir) if d.isdigit()) if os.path.isdir(ckdir) else []


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
  ref = str(tmp_path / 'ref')
  assert runner.run(load_config(**OVERRIDES), ref, quiet=True).status == 'complete'

  work = str(tmp_path / 'killed')
  cmd = [
    sys.executable,
    os.path.join(ROOT, 'run.py'),
    '--config=configs/memorization.py:smoke',
    f'--workdir={work}',
    *FLAGS,
  ]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

  done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'falling back' in done.stdout + done.stderr
  assert 'resuming from checkpoint' in done.stdout
  assert read_results(work)['runs'] == read_results(ref)['runs']
  assert read_metrics(work) == read_metrics(ref)
