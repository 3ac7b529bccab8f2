"""How often the finite-width prediction lies within 3 standard errors of simulation.

For every catalog activation × {xavier, he, lecun} at the given widths and depth, simulate
T networks (``vg.simulate``, seeded per config) and count, over the layers where the
simulated mean has a standard error, those where |prediction − simulated mean| ≤ 3 SE:
for ``vg.predict(chain, finite_width=True)`` and, beside it, for the mean-field
``vg.predict(chain)``. Layers whose per-network values are heavy-tailed (generalised-Pareto
k̂ > 0.5, where the standard error itself is not trustworthy) are counted separately. Also
prints the time per finite-width prediction.

    python benchmarks/finite_width.py                                # n = 32, 128, 512; T = 2000
    python benchmarks/finite_width.py --widths 32 --trials 500       # a quick look
    python benchmarks/finite_width.py --verify --widths 128 --trials 300 # verify's verdicts

``--typical`` instead checks the typical-value law: per config and layer, whether the
predicted E[ln(‖g^l‖²/n_l)] (``extras["ln_grad_mean"]``) lies within its allowance
(``extras["ln_grad_error"]``) plus 3 standard errors of the simulated mean of ln(‖g^l‖²/n_l).

    python benchmarks/finite_width.py --typical --widths 32 128     # T = 2000

``--false-alarms K`` runs ``vg.verify(chain, vg.predict(chain, finite_width=True))`` on K
independent simulations per config (seeds 500000 + k) and counts the verdicts: with the
prediction correct to within its stated errors, every FAIL is a false alarm (α = 0.01 per
run, Holm across layers).

    python benchmarks/finite_width.py --false-alarms 10 --widths 128 --trials 300

``--verify`` instead runs ``vg.verify(chain, trials=T, seed=0)`` per config (the default
claim: the finite-width prediction) and, on the same networks, the mean-field claim
``vg.verify(chain, vg.predict(chain), ...)``; it counts configs fully testable and passing
(no untestable layer), rejected, and inconclusive with the reasons of their untestable
layers.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import numpy as np

import vgmath as vg
from vgmath.montecarlo.simulation import simulate
from vgmath.verification.profile import NORMALISATION
from vgmath.verification.stats import typical_value_test
from vgmath.verification.tolerance import TAIL_K_MAX, tail_shape

QUANTITIES = ("grad_second_moment", "q")


def _configs(args: argparse.Namespace, n: int) -> Iterator[tuple[int, int, str, str, vg.Chain]]:
    """(catalog index, init index, activation, init, chain) of every config asked for."""
    for index, name in enumerate(vg.activations()):
        if args.activations and name not in args.activations:
            continue
        for j, init in enumerate(args.inits):
            yield index, j, name, init, vg.Chain(name, init=init, depth=args.depth, width=n)


def run(args: argparse.Namespace) -> None:
    for n in args.widths:
        hit_fw = hit_mf = total = heavy_total = heavy_fw = heavy_mf = 0
        times: list[float] = []
        worst: list[tuple[float, str]] = []
        print(f"\nwidth {n}, depth {args.depth}, T = {args.trials}")
        print(f"  {'config':22s} {'fw within 3 SE':>15} {'mf within 3 SE':>15} "
              f"{'heavy':>6} {'time':>7}")
        for index, j, name, init, chain in _configs(args, n):
            t0 = time.perf_counter()
            fw = vg.predict(chain, finite_width=True)
            times.append(time.perf_counter() - t0)
            mf = vg.predict(chain)
            sim = simulate(chain, trials=args.trials, seed=1000 * index + 10 * j + n)
            h_fw = h_mf = tot = hv = 0
            for qty in QUANTITIES:
                mean, se = sim.fields[qty], sim.fields[f"{qty}_se"]
                k = tail_shape(chain, sim.samples, qty)
                ok = np.isfinite(se) & (se > 0)
                heavy = ok & (k > TAIL_K_MAX)
                use = ok & ~heavy
                a = np.asarray(getattr(fw, qty))
                b = np.asarray(getattr(mf, qty))
                zf = np.abs(a - mean)[use] / se[use]
                zm = np.abs(b - mean)[use] / se[use]
                zf_h = np.abs(a - mean)[heavy] / se[heavy]
                zm_h = np.abs(b - mean)[heavy] / se[heavy]
                heavy_fw += int((zf_h <= 3).sum())
                heavy_mf += int((zm_h <= 3).sum())
                h_fw += int((zf <= 3).sum())
                h_mf += int((zm <= 3).sum())
                tot += int(use.sum())
                hv += int(heavy.sum())
                if zf.size:
                    worst.append((float(zf.max()), f"{name}+{init} {qty}"))
            hit_fw += h_fw
            hit_mf += h_mf
            total += tot
            heavy_total += hv
            print(f"  {name + ' + ' + init:22s} {h_fw:6d}/{tot:<8d} {h_mf:6d}/{tot:<8d} "
                  f"{hv:6d} {times[-1]:6.2f}s", flush=True)
        print(f"  width {n}: finite-width within 3 SE in {hit_fw}/{total} = "
              f"{hit_fw / max(total, 1):.3f} of layers; mean field {hit_mf}/{total} = "
              f"{hit_mf / max(total, 1):.3f}; heavy-tailed layers left out: {heavy_total}")
        print(f"  heavy-tailed layers (standard error not trustworthy): finite-width within 3 SE "
              f"in {heavy_fw}/{heavy_total}, mean field {heavy_mf}/{heavy_total}")
        worst.sort(reverse=True)
        print("  largest |z| (finite width): "
              + ", ".join(f"{w} {z:.1f}" for z, w in worst[:5]))
        print(f"  time per finite-width prediction: median {np.median(times):.3f} s, "
              f"max {np.max(times):.3f} s")


def typical(args: argparse.Namespace) -> None:
    for n in args.widths:
        print(f"\ntypical values at width {n}, depth {args.depth}, T = {args.trials}")
        print(f"  {'config':22s} {'max |error|':>11} {'allowance':>9} {'layer':>5} "
              f"{'max excess/SE':>13} {'beyond':>6}")
        beyond = total = 0
        for index, j, name, init, chain in _configs(args, n):
            law = vg.predict(chain, finite_width=True)
            sim = simulate(chain, trials=args.trials, seed=7000 + 10 * index + j + n)
            logs = np.asarray(sim.samples["ln_grad_second_moment"])
            if not np.isfinite(logs).all():
                print(f"  {name + ' + ' + init:22s} (a network's gradient is exactly 0)")
                continue
            allow = np.asarray(law.extras["ln_grad_error"])
            tt = typical_value_test(logs, law.extras["ln_grad_mean"], allow, 0.05)
            se = tt.se
            err = np.asarray(law.extras["ln_grad_mean"]) - tt.estimate
            excess = (np.abs(err) - allow) / se
            worst = int(np.argmax(np.abs(err)))
            out = int((excess > 3).sum())
            beyond += out
            total += err.size
            print(f"  {name + ' + ' + init:22s} {abs(err[worst]):11.3f} "
                  f"{allow[worst]:9.3f} {worst:5d} {excess.max():13.1f} {out:6d}",
                  flush=True)
        print(f"  width {n}: layers beyond allowance + 3 SE: {beyond}/{total}")


def false_alarms(args: argparse.Namespace) -> None:
    from collections import Counter

    for n in args.widths:
        tally: Counter[str] = Counter()
        typical = 0
        fails = []
        for _index, _j, name, init, chain in _configs(args, n):
            law = vg.predict(chain, finite_width=True)
            for k in range(args.false_alarms):
                sim = simulate(chain, trials=args.trials, seed=500_000 + k)
                v = vg.verify(chain, law, simulation=sim)
                tally[v.verdict.value] += 1
                typical += sum(t == "typical" for t in v.tested_on)
                if v.verdict.value == "FAIL":
                    fails.append(f"{name}+{init} seed {500_000 + k} layers "
                                 f"{v.rejected_layers}")
        runs = sum(tally.values())
        print(f"\nwidth {n}, depth {args.depth}, T = {args.trials}: {dict(tally)} over {runs} "
              f"runs; false alarms {tally['FAIL']}/{runs}; rows tested on the typical value "
              f"{typical}")
        for f in fails:
            print(f"  FAIL {f}")


def verdicts(args: argparse.Namespace) -> None:
    from collections import Counter

    for n in args.widths:
        print(f"\nverify at width {n}, depth {args.depth}, T = {args.trials}, seed 0")
        tally = {"finite width": Counter(), "mean field": Counter()}
        reasons = {"finite width": Counter(), "mean field": Counter()}
        layers = {"finite width": Counter(), "mean field": Counter()}
        for _index, _j, name, init, chain in _configs(args, n):
            sim = simulate(chain, trials=args.trials, seed=0)
            runs = {"finite width": vg.verify(chain, simulation=sim),
                    "mean field": vg.verify(chain, vg.predict(chain), simulation=sim)}
            cells = []
            for key, v in runs.items():
                verdict = v.verdict.value
                tally[key][verdict] += 1
                layers[key]["claimed"] += v.coverage.claimed
                layers[key]["untestable"] += len(v.untestable_layers)
                layers[key]["tolerance > 0.5"] += int(np.sum(v.tolerance > 0.5))
                why = Counter(k for k in v.reason_kinds if k and k != NORMALISATION)
                for r, c in why.items():
                    reasons[key][r] += c
                cells.append(f"{verdict:12s} {v.coverage.tested:3d}/{v.coverage.claimed:<3d}"
                             + (f" [{', '.join(sorted(why))}]" if why else ""))
            print(f"  {name + ' + ' + init:22s} fw: {cells[0]:40s} mf: {cells[1]}",
                  flush=True)
        for key in tally:
            print(f"  {key}: {dict(tally[key])}; layers {dict(layers[key])}; untestable "
                  f"reasons {dict(reasons[key])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[32, 128, 512])
    ap.add_argument("--depth", type=int, default=30)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--inits", nargs="+", default=["xavier", "he", "lecun"])
    ap.add_argument("--activations", nargs="*", default=None)
    ap.add_argument("--verify", action="store_true", help="verify's verdicts (see above)")
    ap.add_argument("--typical", action="store_true", help="the typical-value law (see above)")
    ap.add_argument("--false-alarms", type=int, default=0, metavar="K",
                    help="verify's false alarms over K seeds per config (see above)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"vgmath {vg.__version__}")
    print(f"command: python benchmarks/finite_width.py {' '.join(sys.argv[1:])}".rstrip())
    if args.verify:
        verdicts(args)
    elif args.typical:
        typical(args)
    elif args.false_alarms:
        false_alarms(args)
    else:
        run(args)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
