"""The README gives exactly two commands, and the second is what CI runs.

A helper once replaced the README by 10,000 copies of one paragraph and CI
still passed: these checks pin the parts a user depends on (the two
commands, the section list) and a sane size.
"""

import pathlib
import re

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_README = _ROOT / "README.md"


def _section(text: str, title: str) -> str:
  start = text.index(f"## {title}\n")
  end = text.find("\n## ", start + 1)
  return text[start:end if end >= 0 else None]


def _bash_blocks(text: str) -> list[str]:
  return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_readme_is_one_document_of_sane_size():
  text = _README.read_text()
  assert text.startswith("# bootstrap_meta\n")
  assert len(text) < 50_000, f"README.md is {len(text)} characters"
  headings = re.findall(r"^## (.+)$", text, re.M)
  assert len(headings) == len(set(headings)), headings
  for title in ("Two commands", "Tasks", "Agents", "Experiments"):
    assert title in headings


def test_two_commands_and_ci_runs_the_second():
  commands = _bash_blocks(_section(_README.read_text(), "Two commands"))
  assert len(commands) == 2, commands
  run, test = commands
  assert run.startswith("python3 -m venv .venv && ") and "launch." in run
  assert test.startswith("python3 -m venv .venv && ")
  pytest_command = test.split(".venv/bin/python -m ", 1)[1]
  ci = (_ROOT / ".ci" / "run").read_text()
  assert f"python -m {pytest_command}\n" in ci
