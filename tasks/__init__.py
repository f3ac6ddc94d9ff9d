"""Pure-JAX environments: non-stationary and in-context / memory tasks.

See :mod:`tasks._base` for the API. ``tasks.make(name)`` returns an
environment and its default parameters; ``tasks.registered()`` lists names.
"""

# Importing the task modules registers their environments.
from tasks import (  # noqa: E402,F401  (imported to register the tasks)
    bandits,
    control,
    memory_chain,
    popgym,
    switching_mdp,
    two_colors,
    wrappers,
)
from tasks._base import (
    Box,
    Discrete,
    Environment,
    pytree_dataclass,
    static_field,
)
from tasks._registry import make, register, registered
from tasks.wrappers import AutoReset, PrevActionObs

__all__ = [
    "AutoReset",
    "Box",
    "Discrete",
    "Environment",
    "PrevActionObs",
    "make",
    "pytree_dataclass",
    "register",
    "registered",
    "static_field",
]
