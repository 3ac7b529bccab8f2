"""Hostile command lines (from the issue "safe under hostile input and faults").

Each entry is ``(argv, allowed exit codes)``. Every one must end within
:data:`TIME_LIMIT` seconds with at most one line on stderr and no traceback. Exit codes are
those of :mod:`vgmath.cli.main` (0 ok, 1 could not be completed, 2 usage / refused).
"""

from __future__ import annotations

TIME_LIMIT = 5.0

_TANH_SUM = "+".join(["tanh(x)"] + [f"tanh(x-{k})" for k in range(1, 10)])

CORPUS: list[tuple[list[str], set[int]]] = [
    # hangs and memory blow-ups from short strings
    (["derive", "2**x**10**10"], {2}),
    (["derive", "exp(exp(exp(x)))"], {2}),
    (["derive", "x**1e300"], {2}),
    (["derive", "tanh(tanh(tanh(x)))"], {5}),
    (["derive", _TANH_SUM], {5}),
    (["derive", "9**9**9**9*x"], {2}),
    (["derive", "sin(exp(exp(x)))"], {2, 5}),
    # tracebacks instead of one line
    (["derive", "1e1000*x"], {2}),
    (["derive", "tanh(10**100)*x"], {0, 5}),
    (["predict", "relu", "--init", "custom", "--init-param", "sigma_w2=1e300",
      "--depth", "15"], {0}),
    (["predict", "relu", "--init", "custom", "--init-param", "sigma_w2=1e300",
      "--depth", "15", "--json", "--exact"], {0}),
    (["predict", "tanh", "--depth", "1" + "0" * 5000], {2}),
    (["predict", "tanh", "--depth", "10000000"], {2}),
    # no size check before allocating
    (["simulate", "tanh", "--depth", "10000", "--width", "100000", "--trials", "10"], {2}),
    (["simulate", "tanh", "--depth", "10000", "--width", "100000", "--trials", "10",
      "--method", "dense"], {2}),
    (["simulate", "tanh", "--depth", "1000", "--width", "100000", "--trials", "10",
      "--init", "orthogonal", "--method", "dense"], {2}),
    (["simulate", "tanh", "--depth", "10000", "--width", "100000", "--trials", "10",
      "--init", "orthogonal"], {2}),
    (["simulate", "tanh", "--depth", "5", "--width", "4", "--trials", "10",
      "--max-memory", "1K"], {2}),
    # accepted nonsense
    (["derive", "1/(x-0.123)"], {2}),
    (["derive", "tan(x)"], {2}),
    (["derive", "log(x+50.01)"], {2}),
    (["derive", "heaviside(x)"], {2}),
    (["simulate", "1/(x-0.123)", "--depth", "5", "--trials", "10"], {2}),
    (["derive", "x+sin(x)"], {5}),
    # smaller
    (["simulate", "tanh", "--depth", "3", "--width", "4", "--trials", "5", "--out", ""], {2}),
    (["predict", "tanh", "--sigma-b2", "nan"], {2}),
    (["predict", "tanh", "--sigma-b2", "-inf"], {2}),
    (["derive", "leaky_relu", "--param", "slope=0.1", "--param", "slope=0.2"], {2}),
    (["derive", "-x"], {0}),
    (["simulate", "--arch", "lstm", "--steps", "5", "--width", "4", "--trials", "5"], {0}),
    (["simulate", "--depth", "3"], {2}),
    (["derive", "__import__('os').system('touch PWN')"], {2}),
    (["derive", "x" * 3000], {2}),
    (["derive", "(" * 200 + "x" + ")" * 200], {0, 2}),
    (["derive", "tanh(" * 60 + "x" + ")" * 60], {2}),
    (["derive", "\x00x"], {2}),
    (["critical", "tanh", "--sigma-b2", "1e400"], {2, 5}),
    (["sweep", "--activations", "tanh", "--inits", "xavier", "--depths", "10000000",
      "--out", "never.csv"], {2}),
]
