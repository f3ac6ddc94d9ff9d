"""Fixtures for the launcher tests."""

import pytest
from absl import flags


@pytest.fixture(autouse=True, scope="session")
def _parsed_flags():
  """Flag values outside ``app.run``: parse an empty command line once."""
  if not flags.FLAGS.is_parsed():
    flags.FLAGS(["test"])
