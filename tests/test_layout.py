"""The layout rules of docs/design.md that a reviewer would otherwise check by hand."""

import ast
import os
import re

from conftest import ROOT

SOURCE_DIRS = ('exp', 'models', 'losses', 'configs')


def _py_files(*dirs):
  for d in dirs:
    for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
      for name in files:
        if name.endswith('.py'):
          yield os.path.join(dirpath, name)


def test_no_family_file_over_400_lines():
  long = {
    os.path.relpath(p, ROOT): n
    for p in _py_files('exp/families')
    if (n := sum(1 for _ in open(p, encoding='utf-8'))) > 400
  }
  assert not long, long


def test_no_function_over_80_lines():
  long = []
  for p in list(_py_files(*SOURCE_DIRS)) + [os.path.join(ROOT, 'run.py')]:
    tree = ast.parse(open(p, encoding='utf-8').read())
    for node in ast.walk(tree):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if node.end_lineno - node.lineno + 1 > 80:
          long.append(f'{os.path.relpath(p, ROOT)}:{node.lineno} {node.name}')
  assert not long, long


def test_a_family_never_imports_another_family():
  pattern = re.compile(r'^\s*(?:from|import)\s+exp\.families\.(\w+)', re.M)
  bad = []
  for p in _py_files('exp/families'):
    own = os.path.relpath(p, os.path.join(ROOT, 'exp', 'families')).split(os.sep)[0]
    bad += [f'{own} imports {m}' for m in pattern.findall(open(p, encoding='utf-8').read()) if m != own]
  assert not bad, bad


def test_every_registered_family_has_a_config_a_docs_page_and_tests():
  from exp.core import registry

  for name in registry.registered():
    for path in (f'configs/{name}.py', f'docs/families/{name}.md', f'tests/families/test_{name}.py'):
      assert os.path.isfile(os.path.join(ROOT, path)), path


def test_code_cites_only_documents_that_exist():
  """Comments and docstrings point at docs/ paths that are in the repository (not at private notes)."""
  cited = re.compile(r'(docs/[\w/.-]+\.md|\b[A-Z]+\.md\b)')
  missing = set()
  for p in list(_py_files(*SOURCE_DIRS, 'tests')) + [os.path.join(ROOT, 'run.py')]:
    for ref in cited.findall(open(p, encoding='utf-8').read()):
      if ref != 'README.md' and not os.path.isfile(os.path.join(ROOT, ref)):
        missing.add(f'{os.path.relpath(p, ROOT)} -> {ref}')
  assert not missing, sorted(missing)
