#!/usr/bin/python3
"""Merge the runs of `./ftrt compare` into results.json, report.md and plots.

Input: a raw directory holding one Google-Benchmark JSON file per process
and manifest.tsv, one row per process:
    bench flavour preset env rep exit_code milliseconds json log busy% kind
    others%
(the last three are optional: how busy the CPUs were just before the
process started, what it ran, and the share of the machine other processes
used while it ran). Kinds: `threads` runs every workload at
every thread count in one ftbench process (--reps 1); `processes` the same
with --processes (the multiprocessing baseline); `rss` one ftbench process
per build at the default units, for peak RSS only (its times are not used);
`micro` a bench_* micro-benchmark. raw/ftbench-list.txt is `ftbench --list`
of the reference build: the default unit of each workload.

Output in --out: results.json (every run, machine facts, summary), report.md
(issue 6's items: single-thread overhead FT/GIL with the geometric mean,
scaling N*t1/tN for threads and processes, the ablation table, the owner
fraction of refcount operations, peak RSS per build, the counter_race lost
updates; then the micro-benchmarks' table and compare.py's view),
gbench-<flavour>.json (each build's runs as one Google-Benchmark file, what
compare.py reads) and PNG plots drawn with gnuplot.

Unit normalization: under `--seconds` every ftbench process sizes each unit
to take about that long on one thread, so two builds (and two repetitions)
time different amounts of work. Every ftbench time is therefore rescaled to
the workload's default unit (from --list): linear workloads by
default/unit_size, exponential ones (fib) by growth**(default - unit_size).
All ratios below are between such normalized times, so they compare equal
work; results.json keeps the raw samples and unit sizes too.

Runs under the system /usr/bin/python3 with the standard library only.
Exit status: 0; 3 when compare.py could not read our JSON (a format bug).
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

SCHEMA = "ftrt-compare/2"
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
WORKLOAD_BENCH = "ftbench"
WORKLOAD_RE = re.compile(r"^(.+)/(threads|processes):(\d+)$")
LIST_RE = re.compile(r"^(\S+)\s+(shared|unshared)\s+unit=(\d+)\s*(.*)$")
# How one more unit multiplies a workload's time, for the workloads where it
# is not linear: mirrors `.growth` in bench/ftbench/workloads_*.c (an entry's
# own "unit_growth" field wins, should ftbench ever write one).
GROWTH = {"fib": 1.6180339887}
# Keys of an ftbench entry that are not workload extras.
STANDARD_KEYS = {
    "name", "run_name", "run_type", "repetitions", "repetition_index",
    "threads", "processes", "iterations", "unit_size", "real_time",
    "cpu_time", "time_unit", "min", "max", "samples", "throughput",
    "items_per_second", "shared", "verified", "stats", "peak_rss_kb",
    "error_occurred", "error_message", "aggregate_name", "unit_growth",
}
# A run where other processes used this much of the CPUs gets a warning.
OTHERS_WARN_PCT = 10
# Issue 6's aims, checked in the report (never a failure of the command).
AIM_OVERHEAD = 1.05
# Issue 8 (sharded reference counts): the FT build with and without them,
# as (sharding on, sharding off) flavour pairs, the first pair present wins.
SHARD_PAIRS = (("ft-shard", "ft"), ("ft", "ft-noshard"))
AIM_SHARD_READ = 1.8        # read_shared 2-thread scaling with sharding on
AIM_SHARD_ONE_THREAD = 1.02 # no workload slower by more than 2% at 1 thread
AIM_SCALE = 1.9
AIM_GIL_FLAT = 1.05
AIM_FT_SCALING = ("fib", "sum_loop", "list_append", "dict_setget",
                  "int_churn", "tuple_churn")
AIM_BOTH_SCALING = ("io_bound", "detached_compute")
# Workloads that hardly touch the runtime: shown, but also left out of a
# second geometric mean so they cannot hide the interpreter-like overhead.
RUNTIME_LIGHT = ("io_bound", "detached_compute")
BRC_PAPER = "98.3% of refcount operations on the owner thread in its " \
            "client programs, 89.9% in its servers (Choi et al., PACT 2018)"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True, help="directory with manifest.tsv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--flavours", required=True,
                    help="comma list; the first is the reference (gil)")
    ap.add_argument("--flavour-info", action="append", default=[],
                    help="name|preset|env, one per flavour")
    ap.add_argument("--compare-py", default="/usr/share/benchmark/compare.py")
    ap.add_argument("--baseline", help="an earlier results.json")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--threads", default="")
    ap.add_argument("--ftbench-args", default="")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--wall-s", type=int, default=0,
                    help="seconds the run took so far (builds included)")
    return ap.parse_args()


# ---------------------------------------------------------------- machine


def run_text(cmd, cwd=None):
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def proc_field(path, prefix):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_info(root):
    mem = proc_field("/proc/meminfo", "MemTotal:").split()
    gcc = run_text(["gcc", "--version"]).splitlines()
    return {
        "cpu_model": proc_field("/proc/cpuinfo", "model name"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpus_total": os.cpu_count(),
        "memory_gib": round(int(mem[0]) / 1048576, 1) if mem else 0,
        "kernel": os.uname().release,
        "compiler": gcc[0] if gcc else "unknown",
        "mimalloc": run_text(["dpkg-query", "-W", "-f=${Version}",
                              "libmimalloc-dev"]) or "unknown",
        "git_commit": run_text(["git", "rev-parse", "HEAD"], cwd=root)
        or "unknown",
        "git_dirty": bool(run_text(["git", "status", "--porcelain"],
                                   cwd=root)),
    }


# ---------------------------------------------------------------- loading


def load_manifest(raw):
    rows = []
    with open(os.path.join(raw, "manifest.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 9:
                continue
            bench, flavour, preset, env, rep, rc, ms, js, log = cols[:9]
            busy = int(cols[9]) if len(cols) > 9 and cols[9].isdigit() \
                else None
            kind = cols[10] if len(cols) > 10 else (
                "threads" if bench == WORKLOAD_BENCH else "micro")
            others = int(cols[11]) if len(cols) > 11 and cols[11].isdigit() \
                else None
            rows.append({"bench": bench, "flavour": flavour, "preset": preset,
                         "env": "" if env == "-" else env, "rep": int(rep),
                         "exit_code": int(rc), "seconds": int(ms) / 1000.0,
                         "json": js, "log": log, "busy_pct": busy,
                         "kind": kind, "others_pct": others})
    return rows


def timing_entries(doc):
    """The per-repetition entries of a Google-Benchmark file; a file holding
    only aggregates contributes its medians."""
    entries = [b for b in doc.get("benchmarks", [])
               if b.get("run_type", "iteration") != "aggregate"]
    if entries:
        return entries
    return [b for b in doc.get("benchmarks", [])
            if b.get("aggregate_name") == "median"]


def load_runs(raw, rows):
    problems = []
    for row in rows:
        row["context"], row["benchmarks"] = {}, []
        if row["exit_code"] != 0:
            problems.append(f"{row['json']} ({row['flavour']} rep "
                            f"{row['rep']}): exit {row['exit_code']} "
                            f"(log raw/{row['log']})")
        try:
            with open(os.path.join(raw, row["json"])) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            if row["exit_code"] == 0:
                problems.append(f"{row['json']}: unreadable JSON ({e})")
            continue
        row["context"] = doc.get("context", {})
        row["benchmarks"] = timing_entries(doc)
        for b in row["benchmarks"]:
            if b.get("error_occurred"):
                problems.append(f"{row['bench']}/{b.get('name')} in "
                                f"{row['flavour']}: {b.get('error_message')}")
    return problems


def load_workload_list(raw):
    """`ftbench --list` -> {name: {"unit", "shared", "description"}}, in
    the harness's order."""
    out = {}
    try:
        with open(os.path.join(raw, "ftbench-list.txt")) as f:
            for line in f:
                m = LIST_RE.match(line.rstrip("\n"))
                if m:
                    out[m.group(1)] = {"unit": int(m.group(3)),
                                       "shared": m.group(2) == "shared",
                                       "description": m.group(4).strip()}
    except OSError:
        pass
    return out


# ---------------------------------------------------------------- summary


def to_ns(entry, field="real_time"):
    value = entry.get(field)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return value * UNIT_NS.get(entry.get("time_unit", "ns"), 1.0)


def timing_rows(rows):
    """The rows whose times count (not the peak-RSS runs)."""
    return [r for r in rows if r.get("kind") != "rss"]


def keys_for(rows):
    """Benchmark name -> key: a workload's own name; a micro-benchmark's
    name prefixed by its executable when another executable (ftbench
    included) reports the same name."""
    owners = {}
    for row in rows:
        for b in row["benchmarks"]:
            owners.setdefault(b["name"], set()).add(row["bench"])
    return lambda bench, name: (
        f"{bench}:{name}" if bench != WORKLOAD_BENCH and len(owners[name]) > 1
        else name)


def workload_of(row, entry):
    """(workload, mode, threads) of an ftbench entry, else None."""
    if row["bench"] != WORKLOAD_BENCH:
        return None
    m = WORKLOAD_RE.match(entry.get("name", ""))
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def unit_factor(workload, entry, units):
    """What turns this entry's time into the time of the default unit."""
    n = entry.get("unit_size")
    unit = units.get(workload)
    if not isinstance(n, (int, float)) or n <= 0 or not unit:
        return 1.0
    growth = entry.get("unit_growth") or GROWTH.get(workload)
    if growth and growth > 1:
        return growth ** (unit - n)
    return unit / n


def extras_of(entry):
    return {k: v for k, v in entry.items()
            if k not in STANDARD_KEYS and isinstance(v, (int, float))
            and not isinstance(v, bool)}


def sample_of(row, entry, wl, units):
    ns = to_ns(entry)
    if ns is None:
        return None
    s = {"ns": ns, "raw_ns": ns, "rep": row["rep"]}
    if wl is None:
        return s
    factor = unit_factor(wl[0], entry, units)
    stats = entry.get("stats") or {}
    s.update(ns=ns * factor, unit_size=entry.get("unit_size"),
             owner_fraction=stats.get("owner_fraction"),
             rc_owner=stats.get("rc_owner_incref", 0)
             + stats.get("rc_owner_decref", 0),
             rc_shared=stats.get("rc_shared_incref", 0)
             + stats.get("rc_shared_decref", 0),
             rc_sharded=stats.get("rc_sharded_incref", 0)
             + stats.get("rc_sharded_decref", 0),
             shard_promoted=stats.get("shard_promoted", 0),
             brc_queued=stats.get("brc_queued", 0),
             mutex_parks=stats.get("mutex_parks", 0),
             gc_collections=stats.get("gc_collections", 0),
             peak_rss_kb=entry.get("peak_rss_kb"), extras=extras_of(entry))
    return s


def median_or_none(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def aggregate(samples, wl, units):
    vals = [s["ns"] for s in samples]
    med = statistics.median(vals)
    e = {"n": len(vals), "median_ns": med, "min_ns": min(vals),
         "max_ns": max(vals),
         "spread_pct": (max(vals) - min(vals)) / med * 100 if med else 0,
         "samples_ns": vals, "raw_samples_ns": [s["raw_ns"] for s in samples]}
    if wl is None:
        return e
    e.update(
        normalized_to_unit=units.get(wl[0]),
        unit_sizes=[s["unit_size"] for s in samples],
        owner_fraction=median_or_none([s["owner_fraction"] for s in samples]),
        peak_rss_kb=[s["peak_rss_kb"] for s in samples],
        extras={k: [s["extras"][k] for s in samples if k in s["extras"]]
                for k in sorted({k for s in samples for k in s["extras"]})})
    for k in ("rc_owner", "rc_shared", "rc_sharded", "shard_promoted",
              "brc_queued", "mutex_parks", "gc_collections"):
        e[k] = sum(s[k] or 0 for s in samples)
    return e


def summarize(rows, flavours, units):
    """{key: {"bench", ["workload", "mode", "threads"], flavour: entry}}
    in the order the benchmarks first appear."""
    key_of = keys_for(timing_rows(rows))
    samples, summary = {}, {}
    for row in timing_rows(rows):
        for b in row["benchmarks"]:
            if b.get("error_occurred"):
                continue
            wl = workload_of(row, b)
            s = sample_of(row, b, wl, units)
            key = key_of(row["bench"], b["name"])
            if key not in summary:
                summary[key] = {"bench": row["bench"]}
                if wl:
                    summary[key].update(workload=wl[0], mode=wl[1],
                                        threads=wl[2])
            if s is not None:
                samples.setdefault(key, {}).setdefault(
                    row["flavour"], []).append(s)
    for key, entry in summary.items():
        wl = (entry["workload"],) if "workload" in entry else None
        for fl in flavours:
            got = samples.get(key, {}).get(fl)
            if got:
                entry[fl] = aggregate(got, wl, units)
    return summary, key_of


def geomean(values):
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


class Workloads:
    """Lookups over the ftbench part of the summary."""

    def __init__(self, summary, listing):
        self.summary = summary
        found = []
        for entry in summary.values():
            if "workload" in entry and entry["workload"] not in found:
                found.append(entry["workload"])
        self.names = [w for w in listing if w in found] + \
            [w for w in found if w not in listing]
        self.listing = listing
        self.threads = {m: sorted({e["threads"] for e in summary.values()
                                   if e.get("mode") == m})
                        for m in ("threads", "processes")}

    def entry(self, w, mode, n, fl):
        return self.summary.get(f"{w}/{mode}:{n}", {}).get(fl)

    def time(self, w, mode, n, fl):
        e = self.entry(w, mode, n, fl)
        return e["median_ns"] if e else None

    def ratio(self, w, mode, n, num, den):
        a, b = self.time(w, mode, n, num), self.time(w, mode, n, den)
        return a / b if a and b else None

    def scaling(self, w, mode, n, fl):
        t1, tn = self.time(w, mode, 1, fl), self.time(w, mode, n, fl)
        return n * t1 / tn if t1 and tn else None

    def shared(self, w):
        return self.listing.get(w, {}).get("shared", False)

    def has(self, fl, mode="threads"):
        return any(self.entry(w, mode, n, fl) for w in self.names
                   for n in self.threads[mode])


# ---------------------------------------------------------------- compare.py


def write_gbench(out, rows, flavour, key_of, units):
    """All runs of one build as one Google-Benchmark file (repetitions under
    the same name); ftbench times are the normalized ones, so that compare.py
    compares equal work."""
    context, benchmarks = {}, []
    for row in timing_rows(rows):
        if row["flavour"] != flavour:
            continue
        context = context or dict(row["context"])
        for b in row["benchmarks"]:
            b = dict(b)
            b.pop("samples", None)
            b.pop("stats", None)
            wl = workload_of(row, b)
            if wl:
                factor = unit_factor(wl[0], b, units)
                for field in ("real_time", "cpu_time", "min", "max"):
                    if isinstance(b.get(field), (int, float)):
                        b[field] *= factor
            b["name"] = key_of(row["bench"], b["name"])
            b.update(run_name=b["name"], run_type="iteration", repetitions=0,
                     repetition_index=row["rep"] - 1)
            benchmarks.append(b)
    by_name = {}
    for b in benchmarks:
        by_name.setdefault(b["name"], []).append(b)
    # Medians as Google Benchmark writes them for --benchmark_repetitions,
    # so compare.py -a shows one line per benchmark (plus its U test).
    for name, group in by_name.items():
        agg = {"name": name + "_median", "run_name": name,
               "run_type": "aggregate", "aggregate_name": "median",
               "aggregate_unit": "time", "repetitions": len(group),
               "iterations": len(group), "time_unit": group[0]["time_unit"]}
        for field in ("real_time", "cpu_time"):
            vals = [to_ns(b, field) for b in group]
            if all(v is not None for v in vals):
                agg[field] = statistics.median(vals) / UNIT_NS.get(
                    agg["time_unit"], 1.0)
        benchmarks.append(agg)
    path = os.path.join(out, f"gbench-{flavour}.json")
    with open(path, "w") as f:
        json.dump({"context": context, "benchmarks": benchmarks}, f, indent=1)
    return path


def run_compare_py(compare_py, old, new, reps):
    if not os.path.isfile(compare_py):
        return {"exit_code": -1, "output": f"{compare_py} not found"}
    # Its U test wants >= 9 repetitions and says so on every line otherwise.
    utest = [] if reps >= 9 else ["--no-utest"]
    try:
        p = subprocess.run(["/usr/bin/python3", compare_py, "--no-color",
                            "-a"] + utest + ["benchmarks", old, new],
                           capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"exit_code": -1, "output": str(e)}
    return {"exit_code": p.returncode,
            "output": (p.stdout + p.stderr).rstrip()}


# ---------------------------------------------------------------- plots


class Plotter:
    """gnuplot scripts written next to their data (plot-data/), PNGs in the
    output directory."""

    def __init__(self, out, gnuplot):
        self.out, self.gnuplot = out, gnuplot
        self.data = os.path.join(out, "plot-data")
        os.makedirs(self.data, exist_ok=True)
        probe = subprocess.run([gnuplot, "-e", "set terminal pngcairo"],
                               capture_output=True, text=True)
        self.term = ("pngcairo size {w},{h} noenhanced font ',10'"
                     if probe.returncode == 0 and not probe.stderr.strip()
                     else "png size {w},{h} noenhanced")
        self.pngs = []

    def draw(self, name, script, w, h):
        png = os.path.join(self.out, name + ".png")
        full = (f"set terminal {self.term.format(w=w, h=h)}\n"
                f"set output '{png}'\nset datafile separator \"\\t\"\n"
                f"set datafile missing \"NaN\"\n{script}")
        with open(os.path.join(self.data, name + ".gp"), "w") as f:
            f.write(full)
        p = subprocess.run([self.gnuplot], input=full, capture_output=True,
                           text=True)
        if p.returncode != 0:
            sys.stderr.write(f"gnuplot ({name}): {p.stderr}")
            return
        self.pngs.append(png)

    def table(self, name, header, rows):
        path = os.path.join(self.data, name + ".dat")
        with open(path, "w") as f:
            f.write("# " + "\t".join(header) + "\n")
            for r in rows:
                f.write("\t".join("NaN" if v is None else
                                  f"{v:.6g}" if isinstance(v, float) else
                                  str(v) for v in r) + "\n")
        return path

    def bars(self, name, title, labels, series, ref=1.0, aim=None,
             panel_only=False):
        """Bars growing from `ref` on a log-2 scale: one group per label, one
        bar per series ({title: [value per label]})."""
        data = self.table(name, ["index", "label"] + list(series),
                          [[i, lab] + [series[s][i] for s in series]
                           for i, lab in enumerate(labels)])
        k, width = len(series), 0.8 / max(1, len(series))
        plots = []
        for j, s in enumerate(series):
            mid = (j - (k - 1) / 2) * width
            plots.append(
                f"'{data}' using ($1+{mid:.4f}):({ref}):($1+{mid - width / 2:.4f})"
                f":($1+{mid + width / 2:.4f}):({ref}):{j + 3} with boxxyerror "
                f"fs solid 0.8 border -1 title '{s}'")
        plots.append(f"{ref} with lines lc rgb 'black' dt 2 notitle")
        if aim:
            plots.append(f"{aim} with lines lc rgb 'red' dt 3 "
                         f"title 'aim {aim}'")
        tics = ", ".join(f'"{lab}" {i}' for i, lab in enumerate(labels))
        script = (f"set title \"{title}\"\nset key outside top center horizontal\n"
                  f"set xtics ({tics}) rotate by 60 right scale 0\n"
                  f"set logscale y 2\nset grid ytics\n"
                  f"set xrange [-0.6:{len(labels) - 0.4}]\n"
                  f"plot {', '.join(plots)}\n")
        if panel_only:
            return script
        longest = max((len(lab) for lab in labels), default=4)
        self.draw(name, script, max(900, 80 + 26 * len(labels) * k),
                  440 + 5 * longest)
        return script

    def scaling_panel(self, name, title, curves, threads):
        """curves: {title: {n: speed-up}}; dashed for process curves."""
        data = self.table(name, ["threads"] + list(curves),
                          [[n] + [curves[c].get(n) for c in curves]
                           for n in threads])
        plots = [f"'{data}' using 1:{i + 2} with linespoints lw 2 "
                 f"{'dt 2 ' if 'processes' in c else ''}title '{c}'"
                 for i, c in enumerate(curves)]
        plots.append("x with lines lc rgb '#707070' dt 2 title 'linear'")
        return (f"set title \"{title}\"\nset xtics (" +
                ", ".join(str(n) for n in threads) + ")\n"
                f"set xrange [0.8:{max(threads) * 1.1}]\nset yrange [0:*]\n"
                "set grid\n"
                f"plot {', '.join(plots)}\n")


def scaling_curves(wls, w, flavours):
    curves = {}
    for fl in flavours:
        for mode in ("threads", "processes"):
            d = {n: wls.scaling(w, mode, n, fl) for n in wls.threads[mode]}
            d = {n: v for n, v in d.items() if v}
            if len(d) > 1:
                curves[f"{fl} {mode}" if mode == "processes" else fl] = d
    return curves


def draw_plots(plotter, wls, flavours, micro, rat):
    ref, ft = flavours[0], flavours[1]
    threads = sorted(set(wls.threads["threads"]) | set(wls.threads["processes"]))
    panels = []
    for w in wls.names:
        curves = scaling_curves(wls, w, flavours)
        if not curves:
            continue
        script = plotter.scaling_panel(
            f"scaling-{w}", f"{w}: N*t1/tN", curves, threads)
        plotter.draw(f"scaling-{w}", "set xlabel 'threads (or processes)'\n"
                     "set ylabel 'speed-up over 1'\n"
                     "set key outside top center horizontal\n" + script,
                     820, 560)
        panels.append("set key top left font ',7'\n" + script)
    if panels:
        cols = 4
        rows = (len(panels) + cols - 1) // cols
        plotter.draw("scaling", f"set multiplot layout {rows},{cols} "
                     "title 'throughput scaling N*t1/tN (dashed: processes)'\n"
                     + "".join(panels) + "unset multiplot\n",
                     1600, 360 * rows)
    over = [wls.ratio(w, "threads", 1, ft, ref) for w in wls.names]
    if any(over):
        labels = wls.names + ["geomean"]
        plotter.bars("overhead", f"single-thread time {ft}/{ref} "
                     "(log scale; above 1 = slower than the GIL build)",
                     labels, {f"{ft}/{ref}": over + [geomean(over)]},
                     aim=AIM_OVERHEAD)
    draw_ablation(plotter, wls, flavours)
    for bench, keys in micro.items():
        others = [fl for fl in flavours[1:] if any(k in rat.get(fl, {})
                                                   for k in keys)]
        if others:
            plotter.bars(f"ratios-{bench}", f"{bench}: median time relative "
                         f"to {ref} (log scale; below 1 = faster)", keys,
                         {f"{fl}/{ref}": [rat[fl].get(k) for k in keys]
                          for fl in others})


def draw_ablation(plotter, wls, flavours):
    ft, abl = flavours[1], flavours[2:]
    if not abl:
        return
    counts = ablation_counts(wls)
    scripts = []
    for n in counts:
        series = {f"{a}/{ft}": [wls.ratio(w, "threads", n, a, ft)
                                for w in wls.names] for a in abl}
        series = {k: v + [geomean(v)] for k, v in series.items() if any(v)}
        if series:
            scripts.append(plotter.bars(
                f"ablation-{n}", f"ablations at {n} thread(s): time relative "
                f"to {ft} (log scale; above 1 = slower)",
                wls.names + ["geomean"], series, panel_only=True))
    if scripts:
        plotter.draw("ablation", f"set multiplot layout {len(scripts)},1\n"
                     + "".join(scripts) + "unset multiplot\n",
                     max(1000, 70 * len(wls.names)), 520 * len(scripts))


def ablation_counts(wls):
    counts = [1]
    nproc = len(os.sched_getaffinity(0))
    more = [n for n in wls.threads["threads"] if n > 1]
    if more:
        counts.append(nproc if nproc in more else max(more))
    return counts


# ---------------------------------------------------------------- report.md


def fmt_time(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_x(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def fmt_pct(v):
    return "-" if v is None else f"{v * 100:.1f}%"


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:"
                            for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def timed(e):
    return f"{fmt_time(e['median_ns'])} ±{e['spread_pct']:.0f}%" if e else "-"


def section_header(res, flavours):
    m, s = res["machine"], res["settings"]
    out = [f"# ftrt compare, {res['created']}", "",
           f"- machine: {m['cpu_model']}, {m['nproc']} CPUs online "
           f"({m['cpus_total']} total), {m['memory_gib']} GiB, Linux "
           f"{m['kernel']}",
           f"- compiler: {m['compiler']}; mimalloc {m['mimalloc']}",
           f"- commit: {m['git_commit'][:12]}"
           f"{' (with local changes)' if m['git_dirty'] else ''}",
           f"- mode: {s['mode']}; {s['reps']} repetitions, each one process "
           f"per build running every workload at threads {s['threads']} "
           f"(`ftbench --reps 1 {s['ftbench_args']}`), builds interleaved "
           f"(order rotated) within each repetition; idle wait before each "
           f"process"]
    if s.get("wall_s"):
        out.append(f"- wall time: {s['wall_s']} s up to the report "
                   f"(builds included)")
    busy = [r["busy_pct"] for r in res["runs"] if r.get("busy_pct") is not None]
    if busy:
        out.append(f"- CPUs busy just before a process started: median "
                   f"{statistics.median(busy):.0f}%, max {max(busy)}% "
                   f"(over {len(busy)} processes)")
    others = [r["others_pct"] for r in res["runs"]
              if r.get("others_pct") is not None]
    if others:
        out.append(f"- share of the CPUs other processes used while the "
                   f"benchmarks ran: median {statistics.median(others):.0f}%, "
                   f"max {max(others)}%")
    warning = []
    if others and statistics.median(others) >= OTHERS_WARN_PCT:
        warning = ["", f"**Warning: other processes used a median "
                f"{statistics.median(others):.0f}% of the CPUs while the "
                f"benchmarks ran; times and above all scaling figures are "
                f"disturbed (on {m['nproc']} CPUs, one busy core caps "
                f"scaling near {max(1, m['nproc'] - 1)}x). Rerun on an idle "
                f"machine.**"]
    for fl in res["flavours"]:
        bi = fl.get("build_info") or "(no build_info in the JSON context)"
        env = f" with {fl['env']}" if fl["env"] else ""
        out.append(f"- **{fl['name']}**: preset {fl['preset']}{env}: `{bi}`")
    out += warning
    out += ["", "Workload times are medians over the repetitions of one "
            "unit per thread, rescaled to the workload's default unit "
            "(`ftbench --list`), so builds compare equal work; spread = "
            "(max-min)/median.", ""]
    return out


def section_overhead(wls, flavours):
    ref, ft = flavours[0], flavours[1]
    rows, ratios = [], []
    for w in wls.names:
        r = wls.ratio(w, "threads", 1, ft, ref)
        ratios.append(r)
        rows.append([w, timed(wls.entry(w, "threads", 1, ref)),
                     timed(wls.entry(w, "threads", 1, ft)), fmt_x(r, 3)])
    gm = geomean(ratios)
    heavy = geomean([r for w, r in zip(wls.names, ratios)
                     if w not in RUNTIME_LIGHT])
    rows.append(["**geometric mean**", "", "", f"**{fmt_x(gm, 3)}**"])
    rows.append([f"geometric mean without {', '.join(RUNTIME_LIGHT)}", "",
                 "", fmt_x(heavy, 3)])
    return ["## 1. Single-thread overhead", "",
            f"One thread, {ft} time over {ref} time (above 1 = the "
            f"free-threaded build is slower). Aim: geometric mean <= "
            f"{AIM_OVERHEAD} (CPython 3.14t: about 1.05-1.10).", "",
            md_table(["workload", ref, ft, f"{ft}/{ref}"], rows), ""], gm


def section_scaling(wls, flavours):
    ref, ft = flavours[0], flavours[1]
    tn = [n for n in wls.threads["threads"] if n > 1]
    rows = []
    for w in wls.names:
        for fl in flavours:
            if wls.entry(w, "threads", 1, fl):
                rows.append([w, fl] + [fmt_x(wls.scaling(w, "threads", n, fl))
                                       for n in tn])
    out = ["## 2. Throughput scaling", "",
           "N·t1/tN: every thread does one unit, so 1 = no gain from more "
           "threads and N = linear. " +
           f"{wls.threads['threads'][-1] if tn else ''} threads on "
           f"{len(os.sched_getaffinity(0))} CPUs can at best reach the CPU "
           "count (io_bound excepted).", "",
           md_table(["workload", "build"] + [f"{n} thr" for n in tn], rows),
           ""]
    pn = [n for n in wls.threads["processes"] if n > 1]
    pfl = [fl for fl in flavours if wls.has(fl, "processes")]
    if not pn or not pfl:
        return out
    header = ["workload"]
    for fl in pfl:
        header += [f"{fl} thr {n}" for n in pn] + \
                  [f"{fl} proc {n}" for n in pn]
    if ref in pfl and ft in flavours:
        header += [f"{ft} threads vs {ref} processes, {n}" for n in pn]
    rows = []
    for w in wls.names:
        r = [w]
        for fl in pfl:
            r += [fmt_x(wls.scaling(w, "threads", n, fl)) for n in pn]
            r += [fmt_x(wls.scaling(w, "processes", n, fl)) for n in pn]
        if ref in pfl and ft in flavours:
            for n in pn:
                a = wls.time(w, "processes", n, ref)
                b = wls.time(w, "threads", n, ft)
                r.append(fmt_x(a / b if a and b else None))
        rows.append(r)
    out += ["### Threads vs processes", "",
            "The multiprocessing baseline: `ftbench --processes` forks N "
            "processes, each with its own runtime (and its own global lock), "
            "one unit each. Scaling N·t1/tN per mode; the last columns are "
            f"the time of {ref} processes over {ft} threads at N (above 1 = "
            f"{ft} threads beat the GIL build's processes).", "",
            md_table(header, rows), ""]
    return out


def section_ablation(wls, flavours):
    ref, ft, abl = flavours[0], flavours[1], flavours[2:]
    if not abl:
        return ["## 3. Ablations", "", "Not run (only " +
                ", ".join(flavours) + "; `./ftrt compare` without --quick "
                "runs them).", ""]
    out = ["## 3. Ablations", "",
           "Each ablation's time over the full FT build's and over the GIL "
           "build's (above 1 = slower). ft-atomic: one atomic count instead "
           "of biased counting; ft-locked: container reads take the lock "
           "(FT_OPTIMISTIC_READS=OFF); ft-gil-on: the FT build run with "
           "FT_ENABLE_GIL=1.", ""]
    for n in ablation_counts(wls):
        header = ["workload"]
        for a in abl:
            header += [f"{a}/{ft}", f"{a}/{ref}"]
        rows, cols = [], {h: [] for h in header[1:]}
        for w in wls.names:
            r = [w]
            for a in abl:
                for den in (ft, ref):
                    v = wls.ratio(w, "threads", n, a, den)
                    cols[f"{a}/{den}"].append(v)
                    r.append(fmt_x(v, 3))
            rows.append(r)
        rows.append(["**geometric mean**"] +
                     [f"**{fmt_x(geomean(cols[h]), 3)}**" for h in header[1:]])
        out += [f"### {n} thread{'s' if n > 1 else ''}", "",
                md_table(header, rows), ""]
    return out


def section_owner(wls, flavours):
    ft = flavours[1]
    tn = wls.threads["threads"]
    top = tn[-1] if tn else 1
    rows = []
    total = {n: [0, 0] for n in tn}
    for w in wls.names:
        r = [w]
        for n in tn:
            e = wls.entry(w, "threads", n, ft)
            r.append(fmt_pct(e.get("owner_fraction")) if e else "-")
            if e:
                total[n][0] += e["rc_owner"]
                total[n][1] += e["rc_shared"]
        e = wls.entry(w, "threads", top, ft) or {}
        reps = max(1, e.get("n", 1))
        r += [f"{(e.get('rc_owner', 0) + e.get('rc_shared', 0)) / reps:.3g}",
              f"{e.get('brc_queued', 0) / reps:.3g}",
              f"{e.get('mutex_parks', 0) / reps:.3g}",
              f"{e.get('gc_collections', 0) / reps:.3g}"]
        rows.append(r)
    rows.append(["**all workloads (by operation count)**"] +
                [fmt_pct(o / (o + s)) if o + s else "-"
                 for o, s in total.values()] + ["", "", "", ""])
    return ["## 4. Owner-path refcount operations", "",
            f"Fraction of incref/decref in {ft} that took the owner (non-"
            f"atomic) path, per thread count; then, at {top} threads, per "
            "repetition: refcount operations, objects queued to their owner "
            "(BRC), mutex parks and collections. The BRC paper reports " +
            BRC_PAPER + ". Workloads that share objects on purpose "
            "(read_shared, producer_consumer, object_graph_shared, ...) sit "
            "far below; `-` = no refcount operation counted.", "",
            md_table(["workload"] + [f"{n} thr" for n in tn] +
                     [f"RC ops @{top}", f"queued @{top}", f"parks @{top}",
                      f"GCs @{top}"], rows), ""]


def rss_rows(rows, fl):
    return [r for r in rows if r["flavour"] == fl and r.get("kind") == "rss"
            and isinstance(r["context"].get("peak_rss_kb"), int)]


def rss_peak_workload(row):
    """The workload at which the process reached (95% of) its peak."""
    final = row["context"]["peak_rss_kb"]
    for b in row["benchmarks"]:
        if (b.get("peak_rss_kb") or 0) >= 0.95 * final:
            return b["name"]
    return None


def section_rss(rows, flavours):
    ref = flavours[0]
    got = {fl: rss_rows(rows, fl) for fl in flavours}
    if not any(got.values()):
        return ["## 5. Peak RSS per build", "", "No peak-RSS run.", ""]
    base = median_or_none([r["context"]["peak_rss_kb"] for r in got[ref]])
    table = []
    for fl in flavours:
        kb = median_or_none([r["context"]["peak_rss_kb"] for r in got[fl]])
        table.append([fl, f"{kb / 1024:.1f}" if kb else "-",
                      fmt_x(kb / base if kb and base else None),
                      (rss_peak_workload(got[fl][0]) if got[fl] else None)
                      or "-"])
    threads = {b.get("threads") for r in got[ref] for b in r["benchmarks"]}
    return ["## 5. Peak RSS per build", "",
            "getrusage's ru_maxrss of one ftbench process per build that ran "
            "every workload at the default units (equal work in every "
            f"build) on {', '.join(str(t) for t in sorted(threads))} "
            "threads: the high-water mark, reached in the workload named. "
            "The difference is the FT object header, per-thread heaps and "
            "frees deferred to a quiescent state.", "",
            md_table(["build", "peak RSS (MiB)", f"/{ref}",
                      "peak reached in"], table), ""]


def section_counters(wls, flavours):
    rows = []
    for fl in flavours:
        for n in wls.threads["threads"]:
            race = wls.entry("counter_race", "threads", n, fl)
            locked = wls.entry("counter_locked", "threads", n, fl)
            if not race and not locked:
                continue
            r = [fl, n]
            if race:
                lost = race["extras"].get("lost_updates", [])
                exp = race["extras"].get("expected_value", [])
                pct = [lo / e for lo, e in zip(lost, exp) if e]
                r += [f"{median_or_none(lost):.0f}" if lost else "-",
                      fmt_pct(median_or_none(pct)),
                      f"{min(lost)}..{max(lost)}" if lost else "-"]
            else:
                r += ["-", "-", "-"]
            if locked:
                lost = locked["extras"].get("lost_updates", [])
                r.append("exact" if lost and not any(lost) else
                         f"LOST {max(lost)}" if lost else "-")
            else:
                r.append("-")
            rows.append(r)
    if not rows:
        return []
    return ["## The `counter += 1` race", "",
            "counter_race: get, add, safepoint, store on a shared dict entry "
            "without a lock: updates are lost in both builds (a global lock "
            "switches threads at the safepoint between the get and the "
            "store). counter_locked does the same inside a critical section "
            "on the dict: exact. Lost updates of the whole run, median "
            "over the repetitions (each process sizes its unit, so also as a "
            "share of the expected final value) and their range.", "",
            md_table(["build", "threads", "race: lost updates",
                      "lost / expected", "range", "counter_locked"], rows),
            ""]


def section_aims(wls, flavours, gm):
    ref, ft = flavours[0], flavours[1]
    out, n = [], 2

    def check(ok, text):
        out.append(f"- {'met' if ok else '**missed**'}: {text}")

    if gm is not None:
        check(gm <= AIM_OVERHEAD, f"single-thread geometric mean {ft}/{ref} "
              f"{gm:.3f} (aim <= {AIM_OVERHEAD})")
    for w in AIM_FT_SCALING:
        a, b = wls.scaling(w, "threads", n, ft), wls.scaling(w, "threads", n, ref)
        if a is not None and b is not None:
            check(a >= AIM_SCALE and b <= AIM_GIL_FLAT,
                  f"{w}: {ft} {a:.2f}x at {n} threads (aim >= {AIM_SCALE}), "
                  f"{ref} {b:.2f}x (aim <= {AIM_GIL_FLAT})")
    for w in AIM_BOTH_SCALING:
        a, b = wls.scaling(w, "threads", n, ft), wls.scaling(w, "threads", n, ref)
        if a is not None and b is not None:
            check(min(a, b) >= AIM_SCALE, f"{w}: {ft} {a:.2f}x, {ref} "
                  f"{b:.2f}x at {n} threads (aim >= {AIM_SCALE} in both)")
    low = [(w, wls.scaling(w, "threads", n, ft)) for w in wls.names
           if wls.shared(w)]
    low = [(w, v) for w, v in low if v is not None]
    if low:
        bad = [f"{w} {v:.2f}x" for w, v in low if v < 1.0]
        check(not bad, f"no shared workload below 1.0x at {n} threads in {ft}"
              + (f" (below: {', '.join(bad)})" if bad else ""))
    if not out:
        return []
    return ["## Aims (issue 6)", "",
            f"Checked on this run ({n}-thread figures); a miss is reported, "
            "never a failure of the command.", ""] + out + [""]


def section_sharded(wls, flavours, summary):
    """Issue 8: the FT build with sharded counts against the one without."""
    pair = next((p for p in SHARD_PAIRS if p[0] in flavours and p[1] in flavours),
                None)
    if pair is None:
        return ["## Sharded reference counts (issue 8)", "",
                "Not run: no pair of FT flavours with and without "
                "FT_SHARDED_RC in this comparison.", ""]
    ft, off = pair
    tn = [n for n in wls.threads["threads"] if n > 1]
    n2 = tn[0] if tn else None
    rows, ratios = [], []
    for w in wls.names:
        r1 = wls.ratio(w, "threads", 1, ft, off)
        ratios.append(r1)
        row = [w, timed(wls.entry(w, "threads", 1, off)),
               timed(wls.entry(w, "threads", 1, ft)), fmt_x(r1, 3)]
        for n in tn:
            row += [fmt_x(wls.scaling(w, "threads", n, off)),
                    fmt_x(wls.scaling(w, "threads", n, ft))]
        e = wls.entry(w, "threads", tn[-1] if tn else 1, ft) or {}
        total = e.get("rc_owner", 0) + e.get("rc_shared", 0) + e.get("rc_sharded", 0)
        row.append(fmt_pct(e.get("rc_sharded", 0) / total) if total else "-")
        reps = max(1, e.get("n", 1))
        row.append(f"{e.get('shard_promoted', 0) / reps:.3g}")
        rows.append(row)
    rows.append(["**geometric mean**", "", "", f"**{fmt_x(geomean(ratios), 3)}**"]
                + [""] * (2 * len(tn) + 2))
    header = ["workload", f"{off} 1 thr", f"{ft} 1 thr", f"{ft}/{off}"]
    for n in tn:
        header += [f"{off} scaling {n}", f"{ft} scaling {n}"]
    top = tn[-1] if tn else 1
    header += [f"sharded RC ops @{top}", f"promoted/rep @{top}"]
    out = ["## Sharded reference counts (issue 8)", "",
           f"{ft} promotes objects whose foreign decrefs keep losing CAS "
           f"races (several threads counting them at once) to per-thread "
           f"counts (refcount/shard.c); {off} "
           "is the same FT build with FT_SHARDED_RC=OFF (biased counting "
           "only). One-thread time ratio (above 1 = sharding costs), scaling "
           "N·t1/tN of both, and the share of refcount operations that took "
           "the per-thread tables.", "", md_table(header, rows), ""]
    checks = []
    if n2 is not None:
        v = wls.scaling("read_shared", "threads", n2, ft)
        if v is not None:
            ok = v >= AIM_SHARD_READ
            checks.append(f"- {'met' if ok else '**missed**'}: read_shared "
                          f"{ft} {v:.2f}x at {n2} threads (aim >= "
                          f"{AIM_SHARD_READ}; {off}: "
                          f"{fmt_x(wls.scaling('read_shared', 'threads', n2, off))})")
    worst = [(w, r) for w, r in zip(wls.names, ratios) if r is not None]
    if worst:
        bad = [f"{w} {r:.3f}" for w, r in worst if r > AIM_SHARD_ONE_THREAD]
        checks.append(f"- {'met' if not bad else '**missed**'}: no workload "
                      f"slower than {AIM_SHARD_ONE_THREAD}x at 1 thread with "
                      "sharding on" + (f" (above: {', '.join(bad)})" if bad else ""))
    pairs = {k: e.get(ft) for k, e in summary.items()
             if k.startswith("refcount_pairs/") and e.get(ft)}
    own = pairs.get("refcount_pairs/own/threads:1")
    shd = pairs.get("refcount_pairs/foreign_contended_sharded/threads:2")
    if own and shd:
        r = shd["median_ns"] / own["median_ns"]
        checks.append(f"- {'met' if r <= 2 else '**missed**'}: shared "
                      f"incref+decref at 2 threads (one object, sharded) "
                      f"{r:.2f}x the owner pair (aim <= 2)")
    if checks:
        out += ["Aims (issue 8), from this run; a miss is reported, never a "
                "failure:", ""] + checks + [""]
    return out


def section_micro(summary, flavours, rat):
    ref = flavours[0]
    keys = [k for k, e in summary.items() if "workload" not in e]
    if not keys:
        return []
    header = ["benchmark"] + flavours + [f"{fl}/{ref}" for fl in flavours[1:]]
    rows, by_fl = [], {fl: [] for fl in flavours[1:]}
    for key in keys:
        entry = summary[key]
        r = [key] + [timed(entry.get(fl)) for fl in flavours]
        for fl in flavours[1:]:
            v = rat.get(fl, {}).get(key)
            by_fl[fl].append(v)
            r.append(fmt_x(v, 3))
        rows.append(r)
    rows.append(["**geometric mean**"] + [""] * len(flavours) +
                [f"**{fmt_x(geomean(by_fl[fl]), 3)}**" for fl in flavours[1:]])
    return ["## Micro-benchmarks", "",
            "The bench_* executables (each carries its own baselines; see "
            f"its source). Median time per build and ratio to {ref} (below 1 "
            "= faster); builds without a figure did not run it.", "",
            md_table(header, rows), ""]


def section_baseline(res, table, flavours):
    b = res["baseline"]
    out = ["## Change against the baseline", "",
           f"Baseline: {b['path']} ({b['created']}, commit "
           f"{b['commit'][:12]}, mode {b['mode']}). new/old of the median "
           f"time per benchmark and build: below 1 is faster now."]
    if b.get("note"):
        out.append(b["note"])
    out.append("")
    if not table:
        return out + ["No benchmark and build in common with the baseline.",
                      ""]
    fls = [fl for fl in flavours if fl in b["geomean"]]
    rows = [[key] + [fmt_x(d.get(fl), 3) for fl in fls]
            for key, d in table.items()]
    rows.append(["**geometric mean**"] +
                [f"**{fmt_x(b['geomean'][fl][0], 3)}**" for fl in fls])
    return out + [md_table(["benchmark"] + [f"{fl} new/old" for fl in fls],
                           rows), ""]


def report_md(res, rows, flavours, wls, problems, baseline_rows, pngs):
    out = section_header(res, flavours)
    if "baseline" in res:
        out += section_baseline(res, baseline_rows, flavours)
    if wls.names:
        over, gm = section_overhead(wls, flavours)
        out += over + section_scaling(wls, flavours) + \
            section_ablation(wls, flavours) + section_owner(wls, flavours) + \
            section_rss(rows, flavours) + \
            section_counters(wls, flavours) + \
            section_aims(wls, flavours, gm) + \
            section_sharded(wls, flavours, res["summary"])
    out += section_micro(res["summary"], flavours, res["ratios"])
    if pngs:
        out += ["## Plots", ""] + [f"- {os.path.basename(p)}" for p in pngs]
        out.append("")
    if problems:
        out += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    cp = res["compare_py"]
    out += [f"## compare.py ({flavours[0]} → {cp['new']})", "",
            f"libbenchmark-tools' compare.py on gbench-{flavours[0]}.json and "
            f"gbench-{cp['new']}.json (exit {cp['exit_code']}; Time/CPU "
            f"columns are the relative change of the medians, + is slower; "
            f"ftbench times normalized as above; its U test runs from 9 "
            f"repetitions on).", "", "```", cp["output"], "```", ""]
    return "\n".join(out)


def baseline_table(path, summary, flavours):
    """{key: {flavour: new/old}} for what both runs measured, and facts
    about the baseline."""
    with open(path) as f:
        old = json.load(f)
    table, per_fl = {}, {}
    for key, entry in summary.items():
        for fl in flavours:
            o = old.get("summary", {}).get(key, {}).get(fl)
            n = entry.get(fl)
            if o and n and o.get("median_ns"):
                r = n["median_ns"] / o["median_ns"]
                per_fl.setdefault(fl, []).append(r)
                table.setdefault(key, {})[fl] = r
    info = {"path": path,
            "commit": old.get("machine", {}).get("git_commit", "unknown"),
            "created": old.get("created", ""),
            "mode": old.get("settings", {}).get("mode", "?"),
            "schema": old.get("schema", "?"),
            "geomean": {fl: (geomean(v), len(v)) for fl, v in per_fl.items()}}
    if info["schema"] != SCHEMA:
        info["note"] = (f"The baseline's schema is {info['schema']}, not "
                        f"{SCHEMA}: its ftbench times may not be normalized "
                        "to the default unit, so ftbench ratios can mislead.")
    return table, info


def print_baseline(info):
    print(f"[report] change against {info['path']} (commit "
          f"{info['commit'][:12]}): new/old median time, below 1 = faster")
    for fl, (gm, n) in info["geomean"].items():
        print(f"[report]   {fl}: geometric mean {fmt_x(gm, 3)} over {n} "
              "benchmarks")


# ---------------------------------------------------------------- main


def build_info_of(rows, flavour):
    for row in rows:
        if row["flavour"] == flavour and row["context"]:
            ctx = row["context"]
            return ctx.get("build_info") or ctx.get("ftrt_build_info") or \
                ctx.get("build") or ""
    return ""


def ratios(summary, flavours):
    ref = flavours[0]
    out = {}
    for fl in flavours[1:]:
        out[fl] = {}
        for key, entry in summary.items():
            if ref in entry and fl in entry and entry[ref]["median_ns"] > 0:
                out[fl][key] = entry[fl]["median_ns"] / entry[ref]["median_ns"]
    return out


def scaling_json(wls, flavours):
    return {w: {fl: {m: {str(n): wls.scaling(w, m, n, fl)
                         for n in wls.threads[m]
                         if wls.scaling(w, m, n, fl) is not None}
                     for m in ("threads", "processes")}
                for fl in flavours} for w in wls.names}


def main():
    args = parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flavours = [f for f in args.flavours.split(",") if f]
    os.makedirs(args.out, exist_ok=True)
    rows = load_manifest(args.raw)
    problems = load_runs(args.raw, rows)
    listing = load_workload_list(args.raw)
    units = {w: d["unit"] for w, d in listing.items()}
    if any(r["bench"] == WORKLOAD_BENCH for r in rows) and not units:
        problems.append("raw/ftbench-list.txt missing: ftbench times are "
                        "not normalized to a common unit")
    summary, key_of = summarize(rows, flavours, units)
    wls = Workloads(summary, listing)
    rat = ratios(summary, flavours)
    info = {}
    for item in args.flavour_info:
        name, preset, env = (item.split("|") + ["", ""])[:3]
        info[name] = {"name": name, "preset": preset, "env": env}
    res = {
        "schema": SCHEMA,
        "created": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "machine": machine_info(root),
        "settings": {"mode": args.mode, "reps": args.reps,
                     "threads": args.threads,
                     "ftbench_args": args.ftbench_args,
                     "wall_s": args.wall_s},
        "flavours": [dict(info.get(fl, {"name": fl, "preset": "", "env": ""}),
                          build_info=build_info_of(rows, fl))
                     for fl in flavours],
        "reference": flavours[0],
        "workloads": {w: listing.get(w, {}) for w in wls.names},
        "summary": summary,
        "ratios": rat,
        "geomean": {fl: geomean(list(rat[fl].values())) for fl in rat},
        "scaling": scaling_json(wls, flavours),
        "problems": problems,
        "runs": rows,
    }
    gb = {fl: write_gbench(args.out, rows, fl, key_of, units)
          for fl in flavours}
    new = flavours[1] if len(flavours) > 1 else flavours[0]
    reps = max((r["rep"] for r in rows), default=0)
    res["compare_py"] = dict(run_compare_py(args.compare_py, gb[flavours[0]],
                                            gb[new], reps), new=new)
    baseline_rows = {}
    if args.baseline:
        baseline_rows, res["baseline"] = baseline_table(args.baseline,
                                                        summary, flavours)
        res["baseline"]["new_over_old"] = baseline_rows
        print_baseline(res["baseline"])
    pngs = []
    gnuplot = shutil.which("gnuplot")
    if gnuplot:
        plotter = Plotter(args.out, gnuplot)
        micro = {}
        for key, entry in summary.items():
            if "workload" not in entry:
                micro.setdefault(entry["bench"], []).append(key)
        draw_plots(plotter, wls, flavours, micro, rat)
        pngs = plotter.pngs
    else:
        problems.append("gnuplot not found: no plots")
    res["plots"] = [os.path.basename(p) for p in pngs]

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report_md(res, rows, flavours, wls, problems, baseline_rows,
                          pngs))
    if res["compare_py"]["exit_code"] != 0:
        sys.stderr.write("compare.py could not read the benchmark JSON:\n" +
                         res["compare_py"]["output"] + "\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
