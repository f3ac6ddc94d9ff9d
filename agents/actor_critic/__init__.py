"""An actor-critic agent with a resettable core, meta-learned by MG or BMG.

Layout as acme's agents: ``config`` (frozen dataclass), ``networks``
(haiku, transformed to pure functions), ``losses`` (rlax λ-returns, A2C,
PPO-clip), ``ppo`` (recurrent PPO: epochs × minibatches of whole
environment sequences), ``acting`` (``lax.scan`` rollouts),
``hyperparams`` (bijections and context of the meta-parameters),
``learning`` (inner and meta steps built on :mod:`bootstrap_meta`) and
``training`` (one jittable ``train(key)``).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.training import make_train

__all__ = ["ActorCriticConfig", "make_train"]
