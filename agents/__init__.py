"""Actor-critic agents with resettable S5 (and LSTM/GRU/MLP) cores.

Haiku and rlax are used only inside this package.
"""
