"""Two local processes (2 CPU devices each, gloo collectives) run one job: the results of one process,
only process 0 writes, and their checkpoint resumes in a single process."""

import os
import shutil
import socket
import subprocess
import sys

from conftest import (
  PLUGINS,
  ROOT,
  WALK,
  WALK_3,
  WALK_3_FLAGS,
  load_config,
  read_metrics,
  read_results,
  same_runs,
)

from exp.core import runner


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_and_resume_in_one(walk_three_seeds, tmp_path):
  work = tmp_path / 'mp'
  port = _free_port()
  env = dict(os.environ, PYTHONPATH=PLUGINS, JAX_NUM_CPU_DEVICES='2', JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  procs = [
    subprocess.Popen(
      [
        sys.executable,
        os.path.join(ROOT, 'run.py'),
        f'--config={WALK}',
        f'--workdir={work}',
        *WALK_3_FLAGS,
        f'--coordinator_address=localhost:{port}',
        '--num_processes=2',
        f'--process_id={i}',
      ],
      cwd=ROOT,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for i in (0, 1)
  ]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-2000:]
  one = read_results(walk_three_seeds)
  same_runs(read_results(work)['runs'], one['runs'])  # sharded over 4 devices of 2 processes
  # Only process 0 wrote: every metrics line once, the report printed by process 0 alone.
  assert len(read_metrics(work)) == len(read_metrics(walk_three_seeds))
  assert '# Toy walk' in outs[0][0] and '# Toy walk' not in outs[1][0]

  # Preempted after its first chunk: drop what came later and resume in one process.
  os.remove(work / 'results.json')
  ck = work / 'checkpoints'
  steps = sorted(int(d) for d in os.listdir(ck) if d.isdigit())
  for s in steps[1:]:
    shutil.rmtree(ck / str(s))
  assert (ck / str(steps[0]) / 'state').is_dir()
  resumed = runner.run(load_config(WALK, **WALK_3), str(work), quiet=True)
  assert resumed.status == 'complete'
  same_runs(resumed.results['runs'], one['runs'])


def test_incomplete_multiprocess_flags_are_one_line_exit_2(tmp_path):
  from conftest import run_cli

  out = run_cli(f'--config={WALK}', f'--workdir={tmp_path / "w"}', '--num_processes=2')
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith('tenfold: --coordinator_address')
  assert not (tmp_path / 'w').exists()
  out = run_cli(
    f'--config={WALK}',
    f'--workdir={tmp_path / "w"}',
    '--coordinator_address=localhost:1',
    '--num_processes=2',
    '--process_id=2',
  )
  assert out.returncode == 2 and '--process_id' in out.stderr and not (tmp_path / 'w').exists()
