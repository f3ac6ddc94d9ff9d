"""Actor-critic agents with resettable S5 (and LSTM/GRU/MLP) cores.

Haiku and rlax are used only inside this package. The recurrent cores
(:mod:`agents.cores`) share one interface: ``initial_state(batch_size)``,
``step(x [B, D], reset [B], state)`` and ``unroll(x [T, B, D], resets [T, B],
state)``; build one by name with :func:`make_core`. The S5 maths is in
:mod:`agents.s5`.
"""

from agents import s5
from agents.cores import (
  CORE_NAMES,
  S5SSM,
  GRUCore,
  LSTMCore,
  MLPCore,
  MLPState,
  S5Block,
  S5Core,
  S5State,
  make_core,
)

__all__ = [
  "CORE_NAMES",
  "GRUCore",
  "LSTMCore",
  "MLPCore",
  "MLPState",
  "S5Block",
  "S5Core",
  "S5SSM",
  "S5State",
  "make_core",
  "s5",
]
