"""Rotating peer-review assignment (SPEC M5.5), pure computation.

Each person in a cycle receives exactly ``reviewers_per_person`` distinct
reviewers, subject to hard constraints:

* nobody reviews themselves;
* nobody is reviewed by their direct manager, and (unless
  ``allow_reviewing_own_manager``) nobody reviews their own direct manager:
  a manager and a direct report are not peers;
* a (reviewer, reviewee) pair used in any of the last ``no_repeat_cycles``
  cycles is not used again (``symmetric_pairs=True`` also blocks the reverse
  direction);
* the load is balanced: the spread of reviews given (max − min over the
  reviewer pool) is the smallest achievable — at most 1 whenever the
  constraints allow it.

The problem is a degree-constrained bipartite subgraph problem; it is solved
exactly as a maximum flow with lower bounds (Dinic's algorithm), so an
assignment is found whenever one exists and :class:`AssignmentInfeasible` is
raised only when none exists. The choice among valid assignments is driven by
a seeded shuffle, so a given seed always yields the same assignment and
different cycles rotate through different pairs.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AssignmentInfeasible", "PeerReviewAssignment", "assign_peer_reviewers"]


class AssignmentInfeasible(ValueError):
    """No assignment satisfies the constraints; the message says why."""


@dataclass(frozen=True)
class PeerReviewAssignment:
    """One cycle's assignment: ``pairs`` are ``(reviewer, reviewee)`` tuples."""

    pairs: tuple[tuple[Any, Any], ...]
    reviews_given: Mapping[Any, int]

    @property
    def spread(self) -> int:
        """Max − min reviews given over the reviewer pool."""
        loads = list(self.reviews_given.values())
        return max(loads) - min(loads) if loads else 0

    def reviewers_of(self, person: Hashable) -> tuple[Any, ...]:
        return tuple(r for r, e in self.pairs if e == person)

    def reviewees_of(self, person: Hashable) -> tuple[Any, ...]:
        return tuple(e for r, e in self.pairs if r == person)


class _FlowNetwork:
    """Dinic's maximum flow, iterative (no recursion limit on long paths)."""

    def __init__(self, size: int) -> None:
        self.adjacent: list[list[int]] = [[] for _ in range(size)]
        self.head: list[int] = []
        self.capacity: list[int] = []

    def add_edge(self, source: int, target: int, capacity: int) -> int:
        """Add an edge; return its index (its residual twin is ``index ^ 1``)."""
        index = len(self.head)
        self.head += [target, source]
        self.capacity += [capacity, 0]
        self.adjacent[source].append(index)
        self.adjacent[target].append(index + 1)
        return index

    def _levels(self, source: int, sink: int) -> list[int] | None:
        level = [-1] * len(self.adjacent)
        level[source] = 0
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for edge in self.adjacent[node]:
                target = self.head[edge]
                if self.capacity[edge] > 0 and level[target] < 0:
                    level[target] = level[node] + 1
                    queue.append(target)
        return level if level[sink] >= 0 else None

    def max_flow(self, source: int, sink: int) -> int:
        total = 0
        while (level := self._levels(source, sink)) is not None:
            cursor = [0] * len(self.adjacent)
            while True:
                path: list[int] = []
                node = source
                while node != sink:
                    edges = self.adjacent[node]
                    while cursor[node] < len(edges):
                        edge = edges[cursor[node]]
                        target = self.head[edge]
                        if self.capacity[edge] > 0 and level[target] == level[node] + 1:
                            break
                        cursor[node] += 1
                    else:
                        if node == source:
                            break
                        level[node] = -1  # dead end for this phase
                        edge = path.pop()
                        node = self.head[edge ^ 1]
                        cursor[node] += 1
                        continue
                    path.append(edge)
                    node = target
                if node != sink:
                    break
                pushed = min(self.capacity[edge] for edge in path)
                for edge in path:
                    self.capacity[edge] -= pushed
                    self.capacity[edge ^ 1] += pushed
                total += pushed
        return total


def _solve(
    reviewers: Sequence[Any],
    reviewees: Sequence[Any],
    allowed: Mapping[Any, Sequence[Any]],
    per_person: int,
    low: int,
    high: int,
) -> list[tuple[Any, Any]] | None:
    """Pairs giving every reviewee ``per_person`` reviewers and every reviewer a
    load in ``[low, high]``, or ``None``. Max flow with lower bounds:
    S→r [low, high], r→e [0, 1], e→T [k, k], T→S [0, ∞)."""
    source, sink, super_source, super_sink = 0, 1, 2, 3
    r_index = {r: 4 + i for i, r in enumerate(reviewers)}
    e_index = {e: 4 + len(reviewers) + i for i, e in enumerate(reviewees)}
    network = _FlowNetwork(4 + len(reviewers) + len(reviewees))
    excess = [0] * len(network.adjacent)
    for reviewer in reviewers:
        node = r_index[reviewer]
        network.add_edge(source, node, high - low)
        excess[node] += low
        excess[source] -= low
    pair_edges: list[tuple[int, Any, Any]] = []
    for reviewer in reviewers:
        for reviewee in allowed[reviewer]:
            edge = network.add_edge(r_index[reviewer], e_index[reviewee], 1)
            pair_edges.append((edge, reviewer, reviewee))
    for reviewee in reviewees:
        excess[sink] += per_person
        excess[e_index[reviewee]] -= per_person
    network.add_edge(sink, source, len(reviewees) * per_person)
    required = 0
    for node, amount in enumerate(excess):
        if amount > 0:
            network.add_edge(super_source, node, amount)
            required += amount
        elif amount < 0:
            network.add_edge(node, super_sink, -amount)
    if network.max_flow(super_source, super_sink) != required:
        return None
    return [(r, e) for edge, r, e in pair_edges if network.capacity[edge] == 0]


def assign_peer_reviewers(
    people: Sequence[Hashable],
    managers: Mapping[Any, Any],
    *,
    reviewers_per_person: int,
    previous_cycles: Sequence[Iterable[tuple[Any, Any]]] = (),
    no_repeat_cycles: int = 0,
    seed: int | str = 0,
    reviewer_pool: Sequence[Hashable] | None = None,
    allow_reviewing_own_manager: bool = False,
    symmetric_pairs: bool = False,
) -> PeerReviewAssignment:
    """Assign reviewers for one cycle.

    ``people`` are the reviewees (ids: any hashable, ordered by ``str`` for
    determinism); ``managers`` maps a person to their direct manager's id (or
    is missing / ``None``). ``previous_cycles`` lists earlier cycles' pairs,
    oldest first; the last ``no_repeat_cycles`` of them are off limits.
    ``reviewer_pool`` defaults to ``people``. The same inputs and ``seed``
    always give the same assignment.
    """
    if reviewers_per_person < 0:
        raise ValueError("reviewers_per_person must be non-negative")
    if no_repeat_cycles < 0:
        raise ValueError("no_repeat_cycles must be non-negative")
    reviewees = sorted(dict.fromkeys(people), key=str)
    if len(reviewees) != len(people):
        raise ValueError("people must not repeat")
    pool_source = people if reviewer_pool is None else reviewer_pool
    reviewers = sorted(dict.fromkeys(pool_source), key=str)

    blocked: set[tuple[Any, Any]] = set()
    recent = previous_cycles[-no_repeat_cycles:] if no_repeat_cycles else ()
    for cycle in recent:
        for reviewer, reviewee in cycle:
            blocked.add((reviewer, reviewee))
            if symmetric_pairs:
                blocked.add((reviewee, reviewer))

    def allowed_pair(reviewer: Any, reviewee: Any) -> bool:
        if reviewer == reviewee or (reviewer, reviewee) in blocked:
            return False
        if managers.get(reviewee) == reviewer:
            return False
        return allow_reviewing_own_manager or managers.get(reviewer) != reviewee

    eligible_for: dict[Any, list[Any]] = {
        r: [e for e in reviewees if allowed_pair(r, e)] for r in reviewers
    }
    k = reviewers_per_person
    eligible = dict.fromkeys(reviewees, 0)
    for targets in eligible_for.values():
        for reviewee in targets:
            eligible[reviewee] += 1
    short = [f"{e} ({count})" for e, count in eligible.items() if count < k]
    if short:
        raise AssignmentInfeasible(
            f"{k} reviewers per person are needed but these people have fewer "
            f"eligible reviewers: {', '.join(short)}"
        )
    total = len(reviewees) * k
    if not reviewers:
        if total:
            raise AssignmentInfeasible("the reviewer pool is empty")
        return PeerReviewAssignment((), {})

    rng = random.Random(f"peer-review:{seed}")
    rng.shuffle(reviewers)
    floor_avg, ceil_avg = total // len(reviewers), -(-total // len(reviewers))

    # Fast path: a random sparse candidate graph solved at the best possible
    # spread (0 or 1). Success is optimal by construction; otherwise fall back
    # to the exact search over the full graph.
    width = max(4 * k, k + 8)
    sparse = {r: rng.sample(t, min(width, len(t))) for r, t in eligible_for.items()}
    reviewers_for: dict[Any, list[Any]] = {e: [] for e in reviewees}
    for reviewer in reviewers:
        for reviewee in eligible_for[reviewer]:
            reviewers_for[reviewee].append(reviewer)
    chosen = {r: set(t) for r, t in sparse.items()}
    for reviewee, candidates in reviewers_for.items():
        for reviewer in rng.sample(candidates, min(width, len(candidates))):
            if reviewee not in chosen[reviewer]:
                chosen[reviewer].add(reviewee)
                sparse[reviewer].append(reviewee)
    pairs = _solve(reviewers, reviewees, sparse, k, floor_avg, ceil_avg)
    if pairs is not None:
        return _result(pairs, reviewers)

    full = {}
    for reviewer in reviewers:
        targets = list(eligible_for[reviewer])
        rng.shuffle(targets)
        full[reviewer] = targets
    if _solve(reviewers, reviewees, full, k, 0, total) is None:
        raise AssignmentInfeasible(
            "no assignment satisfies the constraints: some set of people has too "
            "few eligible reviewers in common (relax no-repeat cycles or k)"
        )
    for spread in range(ceil_avg - floor_avg, total + 1):
        for low in range(floor_avg, max(ceil_avg - spread, 0) - 1, -1):
            pairs = _solve(reviewers, reviewees, full, k, low, low + spread)
            if pairs is not None:
                return _result(pairs, reviewers)
    raise AssertionError("unreachable: the unconstrained problem was feasible")


def _result(pairs: list[tuple[Any, Any]], reviewers: list[Any]) -> PeerReviewAssignment:
    loads = dict.fromkeys(sorted(reviewers, key=str), 0)
    for reviewer, _ in pairs:
        loads[reviewer] += 1
    ordered = sorted(pairs, key=lambda p: (str(p[1]), str(p[0])))
    return PeerReviewAssignment(tuple(ordered), loads)
