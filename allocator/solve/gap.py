"""Generalized assignment problem (GAP) instances, fed through the allocation core.

A GAP has m agents with capacities and n jobs; job j on agent i costs c[i][j] and uses
r[i][j] of agent i's capacity; every job goes to exactly one agent. In the core's terms an
agent is an engineer with one week of capacity, a job is an opportunity with one required
demand that must be staffed, and cost is a pair-specific score: this is what the compiled
form's pair-specific hours and scores are for.

File format (OR-Library, Chu-Beasley, Yagiura): `m n`, the cost matrix (m rows of n), the
resource matrix (m rows of n), then the m capacities; whitespace-separated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from allocator.errors import InputIssue, InvalidInputError
from allocator.solve.compiled import BoolArray, CompiledProblem, IntArray

Sense = Literal["min", "max"]


@dataclass(frozen=True)
class GapInstance:
    """One GAP: costs and resources are (m, n) integer matrices."""

    name: str
    costs: IntArray
    resources: IntArray
    capacities: IntArray

    @property
    def agents(self) -> int:
        return int(self.costs.shape[0])

    @property
    def jobs(self) -> int:
        return int(self.costs.shape[1])

    def cost_of(self, agent_of_job: IntArray) -> int:
        """Total cost of an assignment given as the agent of each job."""
        return int(self.costs[agent_of_job, np.arange(self.jobs)].sum())

    def is_feasible(self, agent_of_job: IntArray) -> bool:
        used = np.zeros(self.agents, dtype=np.int64)
        np.add.at(used, agent_of_job, self.resources[agent_of_job, np.arange(self.jobs)])
        return bool((used <= self.capacities).all())


def read_gap(path: str | Path) -> GapInstance:
    """Read one instance file; a malformed file raises InvalidInputError naming the problem."""
    path = Path(path)
    try:
        tokens = path.read_text().split()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError([InputIssue(str(path), "", f"cannot be read: {error}")]) from None
    try:
        numbers = np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise InvalidInputError([InputIssue(str(path), "", "holds a non-integer", bad)]) from None
    if len(numbers) < 2 or numbers[0] <= 0 or numbers[1] <= 0:
        raise InvalidInputError([InputIssue(str(path), "", "must start with `m n` (both > 0)")])
    m, n = int(numbers[0]), int(numbers[1])
    expected = 2 + 2 * m * n + m
    if len(numbers) < expected:
        message = f"holds {len(numbers)} numbers; m={m}, n={n} needs {expected}"
        raise InvalidInputError([InputIssue(str(path), "", message)])
    costs = numbers[2 : 2 + m * n].reshape(m, n)
    resources = numbers[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    capacities = numbers[2 + 2 * m * n : expected]
    if (resources < 0).any() or (capacities < 0).any():
        raise InvalidInputError(
            [InputIssue(str(path), "", "resources and capacities must be >= 0")]
        )
    return GapInstance(path.name, costs, resources, capacities)


def compile_gap(instance: GapInstance, sense: Sense = "min") -> CompiledProblem:
    """The instance as a compiled allocation problem; maximising its objective minimises cost
    (`sense="min"`) or maximises profit (`sense="max"`). Pairs that cannot fit are left out."""
    m, n = instance.agents, instance.jobs
    grid_agent, grid_job = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    agent, job = grid_agent.ravel(), grid_job.ravel()
    hours = instance.resources[agent, job]
    fits = hours <= instance.capacities[agent]
    agent, job, hours = agent[fits], job[fits], hours[fits]
    cost = instance.costs[agent, job]
    return CompiledProblem(
        engineer_ids=[f"agent{i}" for i in range(m)],
        demand_ids=[f"job{j}" for j in range(n)],
        opportunity_ids=[f"job{j}" for j in range(n)],
        n_weeks=1,
        demand_opportunity=np.arange(n, dtype=np.int64),
        demand_required=np.ones(n, dtype=bool),
        demand_active=np.ones((n, 1), dtype=bool),
        opportunity_value=np.zeros(n, dtype=np.int64),
        opportunity_must_staff=np.ones(n, dtype=bool),
        engineer_available=instance.capacities.reshape(m, 1).astype(np.int64),
        engineer_load_slack=instance.capacities.reshape(m, 1).astype(np.int64),
        engineer_max_assignments=np.full(m, n, dtype=np.int64),
        pair_engineer=agent.astype(np.int64),
        pair_demand=job.astype(np.int64),
        pair_hours=hours.astype(np.int64),
        pair_fit=(-cost if sense == "min" else cost).astype(np.int64),
        pair_travel=np.zeros(len(agent), dtype=np.int64),
    )


def agents_of(problem: CompiledProblem, chosen: BoolArray) -> IntArray:
    """The agent of each job in a selection of pairs (-1 for a job left out)."""
    agent_of_job = np.full(problem.n_demands, -1, dtype=np.int64)
    agent_of_job[problem.pair_demand[chosen]] = problem.pair_engineer[chosen]
    return agent_of_job
