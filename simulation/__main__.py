"""`python -m simulation --seed 42 --steps 20000 [--seeds 3] [--no-shrink]`
(`make simulate SEED=42 STEPS=20000 SEEDS=3`).

Prints, per seed, the steps run, the invariants checked, the faults injected by kind and
the violations; on a violation, the shortest step list that reproduces it. Exit code 1 if
any seed failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter

from simulation.faults import FaultRates
from simulation.run import Result, execute, plan, shrink


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulation")
    parser.add_argument("--seed", type=int, default=None, help="first seed (random if unset)")
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed on")
    parser.add_argument("--no-shrink", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "simulation")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "simulation")
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    totals = Counter[str]()
    failed = 0
    for seed in range(first, first + args.seeds):
        began = time.monotonic()
        result = execute(seed, plan(seed, args.steps))
        print(summary(result, time.monotonic() - began))
        totals.update(result.checked)
        if not result.ok:
            failed += 1
            if not args.no_shrink:
                steps = plan(seed, result.steps_run)
                shortest = shrink(seed, steps, FaultRates())
                print(f"  shortest failing run ({len(shortest)} steps), replay with --seed {seed}:")
                for step in shortest:
                    print(f"    step {step.index}: {step.action} (seed {step.seed})")
    print(f"{args.seeds} seeds, {failed} failed; invariant checks: {sum(totals.values())}")
    return 1 if failed else 0


def summary(result: Result, seconds: float) -> str:
    faults = ", ".join(f"{kind} {n}" for kind, n in sorted(result.faults.items())) or "none"
    checked = ", ".join(f"{kind} {n}" for kind, n in sorted(result.checked.items()))
    credited = ", ".join(f"{kind} {n}" for kind, n in sorted(result.credited.items()))
    wallets = ", ".join(f"{currency} {n}" for currency, n in sorted(result.wallets.items()))
    lines = [
        f"seed {result.seed}: {result.steps_run} steps in {seconds:.1f} s,"
        f" {result.refused} refused by the system,"
        f" violations: {len(result.violations)}",
        f"  invariants checked: {checked}",
        f"  payments credited: {credited or 'none'}; wallets checked: {wallets or 'none'}",
        f"  faults injected: {faults}",
    ]
    if result.failed_step is not None:
        step = result.failed_step
        lines.append(f"  failed at step {step.index} ({step.action}):")
    lines += [f"    {violation}" for violation in result.violations[:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
