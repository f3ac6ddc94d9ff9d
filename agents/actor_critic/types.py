"""Type aliases shared by the actor-critic agent (acme's ``types.py``)."""

from typing import Any

import jax

Array = jax.Array
Params = Any  # Haiku parameters of the agent network.
MetaParams = Any  # Raw meta-parameters `w`, or the context MLPs' `ω`.
CoreState = Any  # The recurrent core's NamedTuple state, leaves [B, ...].
PRNGKey = jax.Array  # A typed key from `jax.random.key`.
Metrics = dict[str, jax.Array]  # Flat dict of scalars with stable keys.
