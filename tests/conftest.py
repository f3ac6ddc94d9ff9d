"""Test-wide settings: rank promotion raises, as in rlax's tests."""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
