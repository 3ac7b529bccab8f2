"""The SymPy symbols shared by every vgmath formula."""

from __future__ import annotations

import sympy as sp

__all__ = ["depth_symbol", "fan_in", "fan_out", "gain", "layer_symbol", "q", "x"]

#: The activation's argument (a real number).
x = sp.Symbol("x", real=True)
#: A pre-activation second moment q = E[h^2] (positive).
q = sp.Symbol("q", positive=True)
#: The depth L of a network (positive integer).
depth_symbol = sp.Symbol("L", integer=True, positive=True)
#: A layer index l (non-negative integer).
layer_symbol = sp.Symbol("l", integer=True, nonnegative=True)
#: Fan-in and fan-out of a dense layer.
fan_in = sp.Symbol("n_in", integer=True, positive=True)
fan_out = sp.Symbol("n_out", integer=True, positive=True)
#: An initialisation gain (multiplies the standard deviation).
gain = sp.Symbol("g", positive=True)
