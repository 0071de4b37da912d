"""Running, checking and shrinking a simulated run.

A run is a list of steps drawn from a seed; each step names an action and carries its own
seed (for the action's choices and the faults injected during it). After every step the
safety invariants are checked, and every CHECKPOINT steps (and at the end) the system is
let settle: faults off, every callback that could still arrive delivered, reconciliation
run, then the liveness invariants. A failing run is shrunk to the shortest step list that
still fails, which is printed with the seed so it can be replayed.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from billing.errors import BillingError
from billing.providers.errors import ProviderError
from simulation import actions
from simulation.faults import Crash, FaultRates
from simulation.invariants import Checker
from simulation.world import World

CHECKPOINT = 100


@dataclass(frozen=True)
class Step:
    index: int
    action: str
    seed: int


@dataclass
class Result:
    seed: int
    steps_run: int = 0
    violations: list[str] = field(default_factory=list)
    failed_step: Step | None = None
    checked: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    credited: Counter[str] = field(default_factory=Counter)  # provider -> payments credited
    wallets: Counter[str] = field(default_factory=Counter)  # currency -> wallets checked
    refused: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def plan(seed: int, steps: int) -> list[Step]:
    rng = random.Random(seed)
    names = list(actions.ACTIONS)
    weights = [actions.ACTIONS[name][0] for name in names]
    return [Step(i, rng.choices(names, weights)[0], rng.getrandbits(64)) for i in range(steps)]


def execute(seed: int, steps: list[Step], rates: FaultRates | None = None) -> Result:
    rates = rates or FaultRates()
    result = Result(seed)
    world = World(seed, rates)
    with world.running():
        actions.set_up(world)
        checker = Checker(world)
        for number, step in enumerate(steps, start=1):
            result.steps_run = number
            result.actions[step.action] += 1
            world.faults.rng = random.Random(step.seed ^ 0x5EED)
            with world.faults.step():
                try:
                    actions.ACTIONS[step.action][1](world, random.Random(step.seed))
                except Crash:
                    world.faults.injected["invocation died"] += 1
                except (BillingError, ProviderError):
                    result.refused += 1  # the system said no: a normal answer
                except Exception as error:  # a 500 in AWS, a message into the DLQ
                    result.violations.append(f"unhandled {type(error).__name__}: {error}")
            result.violations += checker.safety()
            if not result.violations and number % CHECKPOINT == 0:
                result.violations += settle(world, checker)
            if result.violations:
                result.failed_step = step
                break
        else:
            result.violations += settle(world, checker)
        result.checked = checker.checked
        result.faults = world.faults.injected
        result.credited = checker.credited_by_provider()
        result.wallets = checker.wallets_checked()
    return result


def settle(world: World, checker: Checker) -> list[str]:
    """Faults off; what a provider still had pending is decided, every callback still owed
    is delivered (providers retry for days), reconciliation runs; then what must have
    happened has. The clock only moves forward."""
    rng = random.Random(0)
    for _ in range(20):
        world.yookassa.advance()
        due = [d.due for d in world.outbox.pending] + world.yookassa.scheduled()
        if not due:
            break
        world.clock.set(max(world.clock.now(), *due))
        world.yookassa.advance()
        actions.deliver_callbacks(world, rng)
    world.clock.advance(timedelta(minutes=1))
    actions.reconcile(world, rng)
    return checker.liveness()


def shrink(seed: int, steps: list[Step], rates: FaultRates, budget_s: float = 120.0) -> list[Step]:
    """The shortest sub-list of `steps` that still fails (delta debugging, within a budget)."""
    deadline = time.monotonic() + budget_s
    current = steps
    chunk = max(1, len(current) // 2)
    while chunk >= 1 and time.monotonic() < deadline:
        removed = False
        start = 0
        while start < len(current) and time.monotonic() < deadline:
            candidate = current[:start] + current[start + chunk :]
            if candidate and not execute(seed, candidate, rates).ok:
                current = candidate
                removed = True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return current
