"""A related-series query longer than `context.max_query_length` is cut into several along the alternatives
of one label: each alternative in exactly one chunk, in order, every chunk's query within the limit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import partial

from receiver.evidence.fetching import (
    chunk_alternatives,
    longest_alternation,
    member_queries,
    members_selector,
    query_fits,
    rated_selector,
)
from receiver.evidence.promql import regex_selector

PODS = [f"checkout-reconciliation-worker-7d9f8b6c5d-{i:05d}.shop+canary" for i in range(300)]
LIMIT = 16_384


def pod_query(pods: Sequence[str]) -> str:
    return "rate(" + regex_selector("http_requests_total", {"namespace": "shop"}, {"pod": pods}) + "[5m])"


def test_every_alternative_is_in_exactly_one_chunk_in_order_and_each_chunk_fits() -> None:
    assert len(pod_query(PODS).encode()) > LIMIT

    chunks = chunk_alternatives(PODS, lambda run: query_fits(pod_query(run), LIMIT))

    assert len(chunks) == 2
    assert [pod for chunk in chunks for pod in chunk] == PODS
    assert all(len(pod_query(chunk).encode()) <= LIMIT for chunk in chunks)


def test_each_chunk_is_the_longest_run_that_fits() -> None:
    chunks = chunk_alternatives(PODS, lambda run: query_fits(pod_query(run), 3000))

    assert [pod for chunk in chunks for pod in chunk] == PODS
    for chunk, following in itertools.pairwise(chunks):
        assert len(pod_query(chunk)) <= 3000 < len(pod_query([*chunk, following[0]]))


def test_an_alternative_that_cannot_fit_alone_is_a_chunk_of_its_own() -> None:
    values = ["a", "b", "x" * 500, "c"]

    chunks = chunk_alternatives(values, lambda run: len("|".join(run)) <= 100)

    assert [list(c) for c in chunks] == [["a", "b"], ["x" * 500], ["c"]]


def test_the_limit_counts_bytes_as_the_backend_does() -> None:
    assert query_fits("é" * 8, 16) and not query_fits("é" * 9, 16)


def test_a_query_that_fits_is_sent_whole() -> None:
    members = [{"__name__": "up", "namespace": "shop", "pod": pod} for pod in PODS[:10]]
    render = partial(rated_selector, "up", "5m")

    assert member_queries(members, render, LIMIT) == [(members, render(members))]


def test_long_member_queries_are_cut_along_the_longest_alternation() -> None:
    members = [
        {"namespace": "shop", "pod": pod, "container": container, "id": f"/kubepods/{pod}/{container}"}
        for pod in PODS
        for container in ("server", "istio-proxy")
    ]
    render = partial(rated_selector, "container_cpu_usage_seconds_total", "150s")

    queries = member_queries(members, render, LIMIT)

    assert longest_alternation(members) == "id" and len(queries) > 1
    assert sorted(id(m) for part, _ in queries for m in part) == sorted(id(m) for m in members)
    assert all(query == render(part) and len(query.encode()) <= LIMIT for part, query in queries)
    ids = [m["id"] for part, _ in queries for m in part]
    assert ids == sorted(ids)  # the alternation's order


def test_a_split_restricted_to_some_labels_keeps_each_of_their_values_in_one_chunk() -> None:
    members = [
        {"namespace": "shop", "pod": pod, "container": container, "id": f"/kubepods/{pod}/{container}"}
        for pod in PODS
        for container in ("server", "istio-proxy")
    ]
    render = partial(members_selector, "container_memory_working_set_bytes")

    queries = member_queries(members, render, LIMIT, split=("namespace", "pod", "container"))

    pods = [{m["pod"] for m in part} for part, _ in queries]
    assert len(queries) > 1 and sum(map(len, pods)) == len(PODS)  # no pod's containers in two chunks
    assert all(len(query.encode()) <= LIMIT for _, query in queries)
