"""The POPGym family in JAX, with the original POPGym semantics.

Importing this package registers every POPGym task at Easy/Medium/Hard.

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from tasks.popgym import (  # noqa: F401  (imported to register the tasks)
    autoencode,
    battleship,
    concentration,
    count_recall,
    higher_lower,
    minesweeper,
    multiarmed_bandit,
    repeat,
    stateless_control,
)
