"""A Q(λ) agent whose ε-greedy ε is fixed or meta-learned by BMG with K = 0.

Peng's Q(λ) (λ = 0.9, γ = 0.99) on one stream, an MLP Q-network, Adam with
ε = 1e-4 (Luketina et al., A.1), and ε either fixed, one meta-learned scalar,
or ``g_ω(sg(c))`` of a per-step context of reward (and q, TD error),
meta-learned by update-free bootstrapped meta-gradients: the meta-loss is
the KL from the greedy policy of a target ``L`` learner updates ahead to
the ε-greedy policy, which depends on ε directly, so no update is
differentiated ("efficient exploration without backpropagating through the
update rule").

The paper updates every step. On a CPU this agent updates once per rollout
of ``T`` steps (default 16) on the rollout's truncated λ-returns: per-step
updates over a sliding window would cost about ``T`` times more compute.
The inner step size is therefore swept (the paper's 3e-5 is for per-step
updates).

Layout as :mod:`agents.actor_critic`: ``config`` (frozen dataclass),
``networks`` (haiku), ``acting`` (ε-greedy ``lax.scan`` rollouts with the
context tracker), ``learning`` (Q(λ) step and the BMG ε step built on
:mod:`bootstrap_meta`) and ``training`` (one jittable ``train(key)``).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from agents.q_lambda.config import QLambdaConfig
from agents.q_lambda.training import make_train

__all__ = ["QLambdaConfig", "make_train"]
