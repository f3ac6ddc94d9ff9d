"""Smoke tests of the demo launcher (``launch/run_demo.py``) at a tiny size.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

import math

import pytest

from launch import run_demo

_TINY = dict(steps=60, log_every=30, batch_size=16, hidden=8, num_train=256,
             learning_rate=3e-3, target_learning_rate=3e-3,
             verbose=False)


def test_bmg_learns_and_moves_hyperparameters():
  config = run_demo.DemoConfig(method="bmg", second="b1", K=1, L=2, **_TINY)
  m = run_demo.run(config=config)
  assert all(math.isfinite(v) for v in m.values()), m
  assert m["meta/num_skipped"] == 0
  # Training reduced the held-out loss well below its starting value.
  assert m["meta/test_loss"] < 0.7 * m["initial/test_loss"], m
  assert m["fixed/test_loss"] < 0.7 * m["initial/test_loss"], m
  # 60 meta-steps of Adam(3e-3) move the raw (logit) learning rate by up to
  # ~0.18, hence log-lr by up to 0.18 (1 - lr / max_lr) < 0.2.
  moved = abs(math.log(m["meta/learning_rate"] / config.learning_rate))
  assert 1e-2 < moved < 0.2, m
  assert 0.0 < m["meta/b1"] < 1.0 and m["meta/b1"] != config.b1


def test_zero_meta_learning_rate_reproduces_fixed_adamw():
  """With a frozen meta-optimiser the learner is exactly the fixed AdamW."""
  config = run_demo.DemoConfig(method="mg", second="weight_decay", K=1,
                               meta_learning_rate=0.0, **_TINY)
  m = run_demo.run(config=config)
  assert m["meta/learning_rate"] == pytest.approx(config.learning_rate,
                                                  rel=1e-6)
  assert m["meta/weight_decay"] == pytest.approx(config.weight_decay,
                                                 rel=1e-6)
  assert m["meta/test_loss"] == pytest.approx(m["fixed/test_loss"], rel=1e-4)
  assert m["meta/train_loss"] == pytest.approx(m["fixed/train_loss"],
                                               rel=1e-4)
  assert m["meta/test_loss"] < m["initial/test_loss"]


@pytest.mark.parametrize("bad, match", [
    (dict(method="adam"), "valid: \\('bmg', 'mg', 'optimistic'\\)"),
    (dict(second="eps"), "valid: \\('b1', 'weight_decay'\\)"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(batch_size=-1), "batch_size must be >= 1"),
    (dict(steps=100, log_every=30), "must divide"),
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
    (dict(b1=1.0), "b1 must lie in"),
    (dict(max_learning_rate=1e-4), "must exceed learning_rate"),
])
def test_invalid_config_raises_before_compute(bad, match):
  with pytest.raises(ValueError, match=match):
    run_demo.DemoConfig(**bad)
