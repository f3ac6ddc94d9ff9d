"""Type aliases shared across :mod:`bootstrap_meta`."""

from typing import Any

import jax

Array = jax.Array
Params = Any  # A pytree of learner parameters `x`.
MetaParams = Any  # A pytree of unconstrained meta-parameters `w` (or `ω`).
PyTree = Any
Batch = Any  # Whatever a loss function consumes; opaque to the library.
