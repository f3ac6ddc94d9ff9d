"""RELIABILITY.md is the current output of ``make_report`` (its counts are
the lengths of the reliability tests' case tables)."""

from tests.reliability import make_report


def test_reliability_md_is_current():
  assert make_report.PATH.read_text() == make_report.render(), (
      "RELIABILITY.md is stale: run python -m tests.reliability.make_report")
