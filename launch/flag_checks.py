"""absl flag validators for the launchers: one line per bad value.

A bad flag value must fail while absl parses the command line, before any
compute, as one line naming the flag, its value and what is valid::

  FATAL Flags parsing error: flag --method=sgd: must be one of ('fixed', ...)

Each launcher therefore has a ``register_validators()`` that its
``__main__`` block calls before ``app.run(main)``, built from these helpers
(each a ``flags.register_validator`` or
``flags.register_multi_flags_validator``). They are registered only when the
launcher runs as a program, never at import: the tests and notebooks import
several launchers into one process, where flag names are shared
(``allow_override``), absl validators are global, and one launcher's choices
(``--method=none`` for POPGym) are another's errors. ``build_config()``
keeps its own ``ValueError`` checks for callers that build configs in
Python.

A flag the chosen method or context ignores is refused when it is given on
the command line (``FLAGS[name].present``; :func:`refuse_unless`), with the
reason, rather than recorded in ``config.json`` with a value that did
nothing.

This module defines no flags (``run_demo`` uses it without the shared
flags of :mod:`launch.common_flags`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from absl import flags

__all__ = ["at_least", "check", "fixed_context_error",
           "fixed_has_no_context", "greater_than", "is_number", "numbers_in",
           "one_of", "refuse", "refuse_unless", "rule", "within"]


def check(name: str, predicate: Callable[[Any], bool], must: str) -> None:
  """``--name`` must satisfy ``predicate``; ``must`` says how.

  absl reports a failure as ``flag --name=value: <must>``.
  """
  flags.register_validator(name, predicate, message=must)


def is_number(value: Any) -> bool:
  """Whether ``value`` is a real number (not a bool)."""
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def at_least(bound: float, *names: str) -> None:
  """Each of ``--names`` must be ``>= bound``."""
  for name in names:
    check(name, lambda v, b=bound: is_number(v) and v >= b,
          f"must be >= {bound}")


def greater_than(bound: float, *names: str) -> None:
  """Each of ``--names`` must be ``> bound``."""
  for name in names:
    check(name, lambda v, b=bound: is_number(v) and v > b,
          f"must be > {bound}")


def within(name: str, low: float, high: float, *, closed: str = "[]",
           why: str = "") -> None:
  """``--name`` must lie in an interval; ``closed`` is ``"[]"``, ``"()"``,
  ``"[)"`` or ``"(]"``; ``why`` is appended to the message."""
  lo = (lambda v: v >= low) if closed[0] == "[" else (lambda v: v > low)
  hi = (lambda v: v <= high) if closed[1] == "]" else (lambda v: v < high)
  check(name, lambda v: is_number(v) and lo(v) and hi(v),
        f"must be in {closed[0]}{low}, {high}{closed[1]}{why}")


def one_of(name: str, valid: Sequence[str]) -> None:
  """``--name`` (or each item of a list flag) must be one of ``valid``."""
  valid = tuple(valid)

  def ok(value):
    if isinstance(value, list):
      return all(v in valid for v in value)
    return value in valid

  is_list = isinstance(flags.FLAGS[name].value, list)
  check(name, ok, f"{'each item ' if is_list else ''}must be one of {valid}")


def numbers_in(name: str, predicate: Callable[[float], bool], must: str, *,
               kind: type = float, distinct: bool = False) -> None:
  """A list flag of numbers: every item parses as ``kind`` and satisfies
  ``predicate``; ``must`` says how (e.g. ``"integers >= 1"``)."""

  def ok(values):
    try:
      parsed = [kind(v) for v in values]
    except (TypeError, ValueError):
      return False
    if distinct and len(set(parsed)) != len(parsed):
      return False
    return bool(parsed) and all(predicate(v) for v in parsed)

  check(name, ok, f"must be a non-empty list of {must}"
        + (", without repeats" if distinct else ""))


def rule(names: Sequence[str],
         error: Callable[[Mapping[str, Any]], str | None]) -> None:
  """A check across flags: ``error(values)`` returns the message of a
  violation (or ``None``); ``values`` maps each of ``names`` to its value.

  absl reports it as ``flags a=1, b=2: <message>``.
  """

  def checker(values):
    message = error(values)
    if message:
      raise flags.ValidationError(message)
    return True

  flags.register_multi_flags_validator(list(names), checker)


def fixed_context_error(method: str, context: str) -> str | None:
  """The one-line error for a context given to ``method="fixed"`` (a fixed
  hyperparameter has no meta-parameters, so nothing reads a context), or
  ``None``; shared by the flag rule and the launchers' config builders."""
  if method == "fixed" and context != "none":
    return (f"--method=fixed has no meta-parameters, so no context "
            f"(got --context={context}): use --context=none, or "
            f"--method=mg / bmg.")
  return None


def fixed_has_no_context() -> None:
  """``--method=fixed`` takes only ``--context=none``
  (:func:`fixed_context_error`)."""
  rule(["method", "context"],
       lambda v: fixed_context_error(v["method"], v["context"]))


def refuse(name: str, why: str) -> None:
  """``--name`` must not be given on the command line; ``why`` says why
  (e.g. the launcher ignores it)."""
  check(name, lambda _: not flags.FLAGS[name].present, why)


def refuse_unless(names: Sequence[str], *, flag: str,
                  values: Sequence[str], why: str = "") -> None:
  """Each of ``names`` may be given only when ``--flag`` is in ``values``.

  For flags the other choices of ``--flag`` ignore (``--entropy_weight``
  with a meta-learned weight): absl reports, e.g., ``flags method=mg,
  entropy_weight=0.2: --entropy_weight is used only with --method=fixed,
  so it would be ignored with --method=mg; <why>``.

  Args:
    names: the flags that only some choices use.
    flag: the choosing flag (``"method"``).
    values: the choices that use them.
    why: what the other choices do instead.
  """
  values = tuple(values)
  used = " or ".join(f"--{flag}={v}" for v in values)
  for name in names:
    def error(v, name=name):
      if flags.FLAGS[name].present and v[flag] not in values:
        return (f"--{name} is used only with {used}, so it would be "
                f"ignored with --{flag}={v[flag]}" + (f"; {why}" if why
                                                        else "."))
      return None

    rule([flag, name], error)
