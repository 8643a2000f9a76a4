"""A series' value as a share of its limit, when its name says it is one (a percent, ratio or utilisation).

A resource at AT_LIMIT of its limit or more is saturated: a pod at 100 % of its CPU is throttled, one whose
memory rose to 70 % is not short of memory, however far each moved.
"""

from __future__ import annotations

import functools
import re

# The level of most saturation alerts in the rule corpus (`used / max * 100 > 90`, `> 0.9 * limit`), not
# chosen on any benchmark.
AT_LIMIT = 0.9
_PERCENT = re.compile(r"percent|pct")
_SHARE = re.compile(r"(^|_)ratio|fraction|utili[sz]ation")  # not a du_ratio_n
_HEADROOM = re.compile(r"free|avail|idle|remaining|headroom")  # a share left over, not one in use
# A share of 1 can overshoot a little (CPU above its request); above this it can only be a percentage.
_SHARE_CEILING = 1.5


def utilisation(metric: str, value: float) -> float | None:
    """`value` of a series as a share of its limit, when its name says it is one: a percent (/ 100), or a
    ratio, fraction or utilisation (as is; / 100 above 1.5, where it can only be a percentage). None for
    a share of what is left (free, available, idle)."""
    name = metric.lower()
    if _HEADROOM.search(name):
        return None
    if _PERCENT.search(name):
        return value / 100.0
    if _SHARE.search(name):
        return value / 100.0 if value > _SHARE_CEILING else value
    return None


# A resource's use and the series of its size, named alike (`process_open_fds` / `process_max_fds`,
# `hikaricp_connections_active` / `hikaricp_connections_max`, `go_sql_in_use_connections` /
# `go_sql_max_open_connections`, `jvm_memory_used_bytes` / `jvm_memory_max_bytes`, cAdvisor's
# `container_memory_usage_bytes` and `container_memory_working_set_bytes` /
# `container_spec_memory_limit_bytes`): the same words once the
# use words and the limit words are left out.
_USE_WORDS = frozenset(
    {
        "in",
        "use",
        "inuse",
        "used",
        "active",
        "busy",
        "open",
        "current",
        "usage",
        "working",
        "set",
        "allocated",  # node_exporter's `node_filefd_allocated` / `node_filefd_maximum`
        "entries",  # node_exporter's `node_nf_conntrack_entries` / `node_nf_conntrack_entries_limit`
    }
)  # `working_set`: the memory a container is using, what the kubelet evicts and the kernel OOM-kills on
_LIMIT_WORDS = frozenset({"max", "maximum", "limit", "limits", "size", "capacity", "spec"})
# Words that say a size is configured (Micrometer's `tomcat_threads_config_max_threads` of
# `tomcat_threads_busy_threads`), left out of a size's name beside a size word.
_SET_WORDS = frozenset({"config", "configured"})
# Exporters whose use and size are named apart (the same labels on both): the connections a server holds
# and the most it accepts.
_NAMED_APART = {
    "mysql_global_status_threads_connected": "mysql_global_variables_max_connections",  # mysqld_exporter
    "redis_connected_clients": "redis_config_maxclients",  # redis_exporter
}


def names_a_size(metric: str) -> bool:
    """Whether a metric's name has a size word (`_LIMIT_WORDS`): `process_max_fds`, `*_limit_bytes`; or
    is a size an exporter names apart from its use (`_NAMED_APART`)."""
    return not _LIMIT_WORDS.isdisjoint(metric.lower().split("_")) or metric in _NAMED_APART.values()


def is_limit_of(limit_metric: str, metric: str) -> bool:
    """Whether `limit_metric` names the size of what `metric` names the use of (`_USE_WORDS`,
    `_LIMIT_WORDS`): `demo_db_pool_max` of `demo_db_pool_in_use`, or of what is left of it (`left_of`:
    `node_filesystem_size_bytes` of `node_filesystem_avail_bytes`); or an exporter names the two apart
    (`_NAMED_APART`: `redis_config_maxclients` of `redis_connected_clients`)."""
    if _NAMED_APART.get(metric) == limit_metric:
        return True
    used = use_of(metric) or left_of(metric)
    return used is not None and used == size_of(limit_metric)


def may_have_limit(metric: str) -> bool:
    """Whether a metric names the use of something a size series may bound, or what is left of it
    (`is_limit_of`)."""
    return metric in _NAMED_APART or use_of(metric) is not None or left_of(metric) is not None


# Words that name what is left of a resource (`node_filesystem_avail_bytes`, `*_free_bytes`,
# `kubelet_volume_stats_available_bytes`), whose size a series beside it may give
# (`node_filesystem_size_bytes`, `kubelet_volume_stats_capacity_bytes`).
_LEFT_WORDS = frozenset({"avail", "available", "free", "remaining", "headroom"})


@functools.lru_cache(maxsize=8192)
def left_of(metric: str) -> tuple[str, ...] | None:
    """What a metric names the part left of, as its words less the headroom words
    (`node_filesystem_avail_bytes`: node, filesystem, bytes); None for a name without one, or with a size
    word."""
    words = metric.lower().split("_")
    if _LEFT_WORDS.isdisjoint(words) or not _LIMIT_WORDS.isdisjoint(words):
        return None
    return tuple(w for w in words if w not in _LEFT_WORDS)


@functools.lru_cache(maxsize=8192)
def use_of(metric: str) -> tuple[str, ...] | None:
    """What a metric names the use of, as its words less the use words (`demo_db_pool_in_use`: demo, db,
    pool); None for a name with no use word, a size word, or a headroom word."""
    words = metric.lower().split("_")
    if (
        not _USE_WORDS.intersection(words)
        or _LIMIT_WORDS.intersection(words)
        or _HEADROOM.search(metric.lower())
    ):
        return None
    return tuple(w for w in words if w not in _USE_WORDS)


@functools.lru_cache(maxsize=8192)
def size_of(metric: str) -> tuple[str, ...] | None:
    """What a metric names the size of, as its words less the use and size words (`demo_db_pool_max`: demo,
    db, pool); None for a name with no size word."""
    words = metric.lower().split("_")
    if not _LIMIT_WORDS.intersection(words):
        return None
    return tuple(w for w in words if w not in _USE_WORDS and w not in _LIMIT_WORDS and w not in _SET_WORDS)
