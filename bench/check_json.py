#!/usr/bin/python3
"""Check the shape of an ftbench JSON file (Google Benchmark layout).

usage: check_json.py FILE [--smoke]

Checks the context keys, then every benchmark: name, run_name, run_type,
iterations, real_time, cpu_time, time_unit, threads, repetitions, min, max,
"verified": true and the stats object. Timings must be numbers >= 0; in a
smoke file (context "smoke": true, or --smoke) they may be 0, otherwise
real_time must be > 0 and min <= real_time <= max.

Standard library only. Exit status 0 when the file is well formed, 1 with
one line per problem otherwise, 2 on usage errors.
"""

import json
import math
import sys

CONTEXT_KEYS = {
    "date": str,
    "host_name": str,
    "executable": str,
    "num_cpus": int,
    "mhz_per_cpu": int,
    "library_build_type": str,
    "build_info": str,
    "gil_enabled": bool,
}
TIME_UNITS = {"ns", "us", "ms", "s"}
STATS_KEYS = ("owner_fraction", "brc_queued", "mutex_parks", "gc_collections",
              "world_pauses")


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError(f"duplicate key(s) {', '.join(dups)}")
    return dict(pairs)


def is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_context(ctx, problems):
    if not isinstance(ctx, dict):
        problems.append("context: not an object")
        return
    for key, kind in CONTEXT_KEYS.items():
        if key not in ctx:
            problems.append(f"context: missing {key!r}")
        elif not isinstance(ctx[key], kind) or (kind is int and
                                                isinstance(ctx[key], bool)):
            problems.append(f"context: {key!r} is not a {kind.__name__}")
    if isinstance(ctx.get("build_info"), str) and not ctx["build_info"]:
        problems.append("context: build_info is empty")


def check_stats(where, stats, problems):
    if not isinstance(stats, dict):
        problems.append(f"{where}: stats is not an object")
        return
    for key in STATS_KEYS:
        if key not in stats:
            problems.append(f"{where}: stats lacks {key!r}")
    fractions = ("owner_fraction", "sharded_fraction")
    for key in fractions:
        value = stats.get(key)
        if value is not None and not (is_number(value) and 0 <= value <= 1):
            problems.append(f"{where}: {key} {value!r} not in [0, 1]")
    for key, value in stats.items():
        if key not in fractions and not (isinstance(value, int)
                                            and value >= 0):
            problems.append(f"{where}: stats {key!r} is not a count")


def check_timing(where, b, smoke, problems):
    for key in ("real_time", "cpu_time", "min", "max"):
        if not is_number(b.get(key)) or b[key] < 0:
            problems.append(f"{where}: {key} must be a number >= 0, "
                            f"got {b.get(key)!r}")
            return
    if b.get("time_unit") not in TIME_UNITS:
        problems.append(f"{where}: time_unit {b.get('time_unit')!r}")
    if smoke:
        return
    if b["real_time"] <= 0:
        problems.append(f"{where}: real_time is 0 outside smoke mode")
    elif not b["min"] <= b["real_time"] <= b["max"]:
        problems.append(f"{where}: min <= real_time <= max does not hold")


def check_benchmark(i, b, smoke, names, problems):
    if not isinstance(b, dict):
        problems.append(f"benchmarks[{i}]: not an object")
        return
    name = b.get("name")
    where = f"benchmarks[{i}] ({name})"
    if not isinstance(name, str) or "/" not in name:
        problems.append(f"{where}: name must be '<workload>/threads:<N>'")
    elif name in names:
        problems.append(f"{where}: duplicate name")
    names.add(name)
    if b.get("run_type") != "iteration":
        problems.append(f"{where}: run_type is not 'iteration'")
    for key in ("iterations", "threads", "repetitions"):
        if not isinstance(b.get(key), int) or isinstance(b.get(key), bool) \
                or b[key] < 1:
            problems.append(f"{where}: {key} must be an integer >= 1")
    if not isinstance(b.get("run_name"), str):
        problems.append(f"{where}: run_name missing")
    check_timing(where, b, smoke, problems)
    if b.get("verified") is not True:
        problems.append(f"{where}: verified is not true")
    check_stats(where, b.get("stats"), problems)


def main(argv):
    args = [a for a in argv[1:] if a != "--smoke"]
    if len(args) != 1:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    try:
        with open(args[0]) as f:
            doc = json.load(f, object_pairs_hook=no_duplicate_keys)
    except (OSError, ValueError) as e:
        print(f"check_json: {args[0]}: {e}", file=sys.stderr)
        return 1
    problems = []
    if not isinstance(doc, dict):
        problems.append("top level is not an object")
        doc = {}
    check_context(doc.get("context"), problems)
    smoke = "--smoke" in argv or (isinstance(doc.get("context"), dict)
                                  and doc["context"].get("smoke") is True)
    benchmarks = doc.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks:
        problems.append("benchmarks: missing or empty list")
        benchmarks = []
    names = set()
    for i, b in enumerate(benchmarks):
        check_benchmark(i, b, smoke, names, problems)
    for p in problems:
        print(f"check_json: {args[0]}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_json: {args[0]}: {len(benchmarks)} benchmarks OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
