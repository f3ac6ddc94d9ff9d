"""bootstrap_meta: meta-gradients as drop-in optax transformations.

Learn a learner's hyperparameters while it learns, by unrolled (MG),
bootstrapped (BMG), optimistic and context-conditioned meta-gradients.

Two layers:

* the functional layer — :func:`hyper_optimizer`, :func:`inner_step`,
  :func:`unroll`, :func:`mg_loss`, :func:`bootstrap_target`,
  :func:`bmg_loss`, matching functions, the optimistic meta-update and the
  context tracker; small pure functions, each jittable and vmappable;
* the drop-in transform — :func:`meta_learned`, an
  ``optax.GradientTransformationExtraArgs``.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from bootstrap_meta._bijections import (
    Bijection,
    MetaParam,
    constrain,
    exp_bijection,
    identity_bijection,
    init_meta_params,
    interval,
    interval_bijection,
    positive,
    sigmoid_bijection,
    softplus_bijection,
    unconstrained,
    unit_interval,
)
from bootstrap_meta._context import (
    ContextState,
    context_features,
    context_init,
    context_update,
    mlp_apply,
    mlp_init,
)
from bootstrap_meta._inner import (
    HyperOptimizer,
    LearnerState,
    hyper_optimizer,
    inner_step,
    optimizer_hyperparam_names,
    unroll,
)
from bootstrap_meta._matching import (
    epsilon_greedy_kl,
    policy_kl,
    policy_kl_plus_value,
    squared_euclidean,
)
from bootstrap_meta._methods import BMG, MG, Contextual, Optimistic
from bootstrap_meta._objectives import (
    BMGAux,
    BootstrapTarget,
    average_velocity,
    bmg_loss,
    bootstrap_target,
    mg_loss,
)
from bootstrap_meta._optimistic import OptimisticState, optimistic_meta_update
from bootstrap_meta._transform import (
    MetaLearnedState,
    find_meta_state,
    meta_learned,
)

__version__ = "0.1.0"

__all__ = [
    "BMG",
    "BMGAux",
    "Bijection",
    "BootstrapTarget",
    "ContextState",
    "Contextual",
    "HyperOptimizer",
    "LearnerState",
    "MG",
    "MetaLearnedState",
    "MetaParam",
    "Optimistic",
    "OptimisticState",
    "average_velocity",
    "bmg_loss",
    "bootstrap_target",
    "constrain",
    "context_features",
    "context_init",
    "context_update",
    "epsilon_greedy_kl",
    "exp_bijection",
    "find_meta_state",
    "hyper_optimizer",
    "identity_bijection",
    "init_meta_params",
    "inner_step",
    "interval",
    "interval_bijection",
    "meta_learned",
    "mg_loss",
    "mlp_apply",
    "mlp_init",
    "optimistic_meta_update",
    "optimizer_hyperparam_names",
    "policy_kl",
    "policy_kl_plus_value",
    "positive",
    "sigmoid_bijection",
    "softplus_bijection",
    "squared_euclidean",
    "unconstrained",
    "unit_interval",
    "unroll",
]
