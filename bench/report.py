#!/usr/bin/python3
"""Merge the runs of `./ftrt compare` into results.json, report.md and plots.

Input: a raw directory holding one Google-Benchmark JSON file per process
(bench x build x repetition, all written with --reps 1) and manifest.tsv,
one row per process:
    bench  flavour  preset  env  rep  exit_code  milliseconds  json  log
Output in --out: results.json (every run merged, machine facts, summary),
report.md (median per build, ratio to the reference build, compare.py's
view), gbench-<flavour>.json (each build's runs in one Google-Benchmark
file, what compare.py reads) and PNG plots made with gnuplot.

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

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
# Benchmarks whose real_time is the wall time of one unit of work per thread,
# so N * t1 / tN is the throughput gain at N threads (DESIGN.md §7).
SCALING_BENCHES = {"ftbench", "bench_objects_workloads"}
THREADS_RE = re.compile(r"^(.*?)/threads:(\d+)(.*)$")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True, help="directory with manifest.tsv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--flavours", required=True,
                    help="comma list; the first is the reference for ratios")
    ap.add_argument("--flavour-info", action="append", default=[],
                    help="name|preset|env, one per flavour")
    ap.add_argument("--compare-py", default="/usr/share/benchmark/compare.py")
    ap.add_argument("--baseline", help="an earlier results.json")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--threads", default="")
    ap.add_argument("--mode", default="full")
    return ap.parse_args()


# ---------------------------------------------------------------- machine


def run_text(cmd, cwd=None):
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def machine_info(root):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    commit = run_text(["git", "rev-parse", "HEAD"], cwd=root) or "unknown"
    dirty = bool(run_text(["git", "status", "--porcelain"], cwd=root))
    gcc = run_text(["gcc", "--version"]).splitlines()
    return {
        "cpu_model": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "cpus_total": os.cpu_count(),
        "memory_gib": round(mem_kib / 1048576, 1),
        "kernel": os.uname().release,
        "compiler": gcc[0] if gcc else "unknown",
        "mimalloc": run_text(["dpkg-query", "-W", "-f=${Version}",
                              "libmimalloc-dev"]) or "unknown",
        "git_commit": commit,
        "git_dirty": dirty,
    }


# ---------------------------------------------------------------- loading


def load_manifest(raw):
    rows = []
    with open(os.path.join(raw, "manifest.tsv")) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9:
                continue
            bench, flavour, preset, env, rep, rc, ms, js, log = cols
            rows.append({"bench": bench, "flavour": flavour, "preset": preset,
                         "env": "" if env == "-" else env, "rep": int(rep),
                         "exit_code": int(rc), "seconds": int(ms) / 1000.0,
                         "json": js, "log": log})
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
        path = os.path.join(raw, row["json"])
        if row["exit_code"] != 0:
            problems.append(f"{row['bench']} in {row['flavour']} rep "
                            f"{row['rep']}: exit {row['exit_code']} "
                            f"(log raw/{row['log']})")
        try:
            with open(path) as f:
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


# ---------------------------------------------------------------- summary


def keys_for(rows):
    """Benchmark name -> key; prefixed by the executable only when two
    executables report the same name."""
    owners = {}
    for row in rows:
        for b in row["benchmarks"]:
            owners.setdefault(b["name"], set()).add(row["bench"])
    return lambda bench, name: (f"{bench}:{name}" if len(owners[name]) > 1
                                else name)


def to_ns(entry, field="real_time"):
    value = entry.get(field)
    if not isinstance(value, (int, float)):
        return None
    return value * UNIT_NS.get(entry.get("time_unit", "ns"), 1.0)


def summarize(rows, flavours):
    key_of = keys_for(rows)
    samples, order, bench_of = {}, [], {}
    for row in rows:
        for b in row["benchmarks"]:
            if b.get("error_occurred"):
                continue
            key = key_of(row["bench"], b["name"])
            if key not in samples:
                samples[key] = {}
                order.append(key)
                bench_of[key] = row["bench"]
            ns = to_ns(b)
            if ns is not None:
                samples[key].setdefault(row["flavour"], []).append(ns)
    summary = {}
    for key in order:
        entry = {"bench": bench_of[key]}
        for fl in flavours:
            vals = samples[key].get(fl)
            if not vals:
                continue
            med = statistics.median(vals)
            entry[fl] = {
                "n": len(vals), "median_ns": med,
                "min_ns": min(vals), "max_ns": max(vals),
                "spread_pct": (max(vals) - min(vals)) / med * 100 if med else 0,
                "samples_ns": vals,
            }
        summary[key] = entry
    return summary, key_of


def ratios(summary, flavours):
    ref = flavours[0]
    out = {}
    for fl in flavours[1:]:
        out[fl] = {}
        for key, entry in summary.items():
            if ref in entry and fl in entry and entry[ref]["median_ns"] > 0:
                out[fl][key] = entry[fl]["median_ns"] / entry[ref]["median_ns"]
    return out


def geomean(values):
    values = [v for v in values if v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def scaling(summary, flavours):
    """{base name: {flavour: {threads: N*t1/tN}}} for workload benchmarks."""
    groups = {}
    for key, entry in summary.items():
        if entry["bench"] not in SCALING_BENCHES:
            continue
        name = key[len(entry["bench"]) + 1:] if key.startswith(
            entry["bench"] + ":") else key
        m = THREADS_RE.match(name)
        if m:
            groups.setdefault(m.group(1) + m.group(3), {})[int(m.group(2))] = entry
    out = {}
    for base, by_threads in groups.items():
        if 1 not in by_threads:
            continue
        out[base] = {}
        for fl in flavours:
            if fl not in by_threads[1]:
                continue
            t1 = by_threads[1][fl]["median_ns"]
            out[base][fl] = {n: n * t1 / e[fl]["median_ns"]
                             for n, e in sorted(by_threads.items())
                             if fl in e and e[fl]["median_ns"] > 0}
    return out


# ---------------------------------------------------------------- compare.py


def write_gbench(out, rows, flavour, key_of):
    """All runs of one build as one Google-Benchmark file (repetitions under
    the same name), entries otherwise as the benchmark wrote them."""
    context, benchmarks = {}, []
    for row in rows:
        if row["flavour"] != flavour:
            continue
        context = context or dict(row["context"])
        for b in row["benchmarks"]:
            b = dict(b)
            b["name"] = key_of(row["bench"], b["name"])
            b["run_name"] = b["name"]
            b["run_type"] = "iteration"
            b["repetitions"] = 0
            b["repetition_index"] = row["rep"] - 1
            benchmarks.append(b)
    # Medians as Google Benchmark writes them for --benchmark_repetitions,
    # so compare.py -a shows one line per benchmark (plus its U test).
    by_name = {}
    for b in benchmarks:
        by_name.setdefault(b["name"], []).append(b)
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


def gnuplot_terminal(gnuplot):
    """A format string for `set terminal`, taking the size in pixels."""
    probe = subprocess.run([gnuplot, "-e", "set terminal pngcairo"],
                           capture_output=True, text=True)
    if probe.returncode == 0 and not probe.stderr.strip():
        return "pngcairo size {w},{h} noenhanced font ',10'"
    return "png size {w},{h} noenhanced"


def plot_ratios(out, gnuplot, term, summary, rat, flavours):
    """One bar chart per benchmark executable: each build's median time over
    the reference build's, bars growing from 1 on a log scale (up = slower,
    down = faster)."""
    others = [fl for fl in flavours[1:] if rat.get(fl)]
    by_bench = {}
    for key, entry in summary.items():
        if any(key in rat[fl] for fl in others):
            by_bench.setdefault(entry["bench"], []).append(key)
    pngs = []
    for bench, keys in by_bench.items():
        data = os.path.join(out, f"ratios-{bench}.dat")
        with open(data, "w") as f:
            f.write("# index\tbenchmark\t" + "\t".join(others) + "\n")
            for i, k in enumerate(keys):
                f.write(f"{i}\t{k}\t" + "\t".join(
                    f"{rat[fl][k]:.6g}" if k in rat[fl] else "NaN"
                    for fl in others) + "\n")
        width = 0.8 / len(others)
        cols = ", ".join(
            f"'{data}' using ($1 + {(j - (len(others) - 1) / 2) * width:.4f})"
            f":(1):($1 + {(j - (len(others) - 1) / 2) * width - width / 2:.4f})"
            f":($1 + {(j - (len(others) - 1) / 2) * width + width / 2:.4f})"
            f":(1):{j + 3} with boxxyerror fs solid 0.8 border -1 "
            f"title '{fl}/{flavours[0]}'"
            for j, fl in enumerate(others))
        tics = ", ".join(f'"{k}" {i}' for i, k in enumerate(keys))
        png = os.path.join(out, f"ratios-{bench}.png")
        w = max(900, 60 + 28 * len(keys) * max(1, len(others)))
        longest = max(len(k) for k in keys)
        script = f"""
set terminal {term.format(w=w, h=420 + 6 * longest)}
set output '{png}'
set datafile separator "\\t"
set datafile missing "NaN"
set title "{bench}: median time relative to {flavours[0]} (log scale; below 1 = faster)"
set key outside top center horizontal
set xtics ({tics}) rotate by 90 right scale 0
set logscale y 2
set grid ytics
set xrange [-0.6:{len(keys) - 0.4}]
plot {cols}, 1 with lines lc rgb 'black' dt 2 notitle
"""
        if run_gnuplot(gnuplot, script):
            pngs.append(png)
    return pngs


def plot_scaling(out, gnuplot, term, scal):
    pngs = []
    for base, by_fl in scal.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("_") or "bench"
        data = os.path.join(out, f"scaling-{safe}.dat")
        threads = sorted({n for d in by_fl.values() for n in d})
        fls = list(by_fl)
        with open(data, "w") as f:
            for n in threads:
                f.write(f"{n}\t" + "\t".join(
                    f"{by_fl[fl][n]:.6g}" if n in by_fl[fl] else "NaN"
                    for fl in fls) + "\n")
        png = os.path.join(out, f"scaling-{safe}.png")
        cols = ", ".join(f"'{data}' using 1:{i + 2} with linespoints "
                         f"title '{fl}'" for i, fl in enumerate(fls))
        script = f"""
set terminal {term.format(w=800, h=560)}
set output '{png}'
set datafile separator "\\t"
set datafile missing "NaN"
set title "{base}: throughput scaling N*t1/tN"
set xlabel "threads"
set xtics 1
set ylabel "speed-up over 1 thread"
set key outside top center horizontal
set grid
set xrange [0.8:{max(threads) * 1.1}]
set yrange [0:*]
plot {cols}, x with lines lc rgb 'gray' dt 2 title 'linear'
"""
        if run_gnuplot(gnuplot, script):
            pngs.append(png)
    return pngs


def run_gnuplot(gnuplot, script):
    p = subprocess.run([gnuplot], input=script, capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.stderr.write("gnuplot: " + p.stderr)
    return p.returncode == 0


# ---------------------------------------------------------------- report.md


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:"
                            for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def report_md(res, flavours, problems, scal, baseline_rows, pngs):
    m = res["machine"]
    ref = flavours[0]
    out = [f"# ftrt compare, {res['created']}", ""]
    out.append(f"- machine: {m['cpu_model']}, {m['nproc']} CPUs online, "
               f"{m['memory_gib']} GiB, Linux {m['kernel']}")
    out.append(f"- compiler: {m['compiler']}; mimalloc {m['mimalloc']}")
    out.append(f"- commit: {m['git_commit'][:12]}"
               f"{' (with local changes)' if m['git_dirty'] else ''}")
    s = res["settings"]
    out.append(f"- mode: {s['mode']}, {s['reps']} repetitions per build, "
               f"builds interleaved within each repetition"
               f"{', threads ' + s['threads'] if s['threads'] else ''}")
    for fl in res["flavours"]:
        bi = fl.get("build_info") or "(no build_info in the JSON context)"
        env = f" with {fl['env']}" if fl["env"] else ""
        out.append(f"- **{fl['name']}**: preset {fl['preset']}{env}: `{bi}`")
    out += ["", f"## Median time per build, and ratio to {ref}", "",
            f"Median over repetitions (spread = (max-min)/median). Ratio "
            f"= build/{ref} median time: below 1 is faster than {ref}.", ""]
    header = ["benchmark"] + flavours + [f"{fl}/{ref}" for fl in flavours[1:]]
    rows = []
    for key, entry in res["summary"].items():
        r = [key]
        for fl in flavours:
            e = entry.get(fl)
            r.append(f"{fmt_time(e['median_ns'])} ±{e['spread_pct']:.0f}%"
                     if e else "-")
        for fl in flavours[1:]:
            v = res["ratios"].get(fl, {}).get(key)
            r.append(f"{v:.3f}" if v is not None else "-")
        rows.append(r)
    gm = ["**geometric mean**"] + [""] * len(flavours) + [
        f"**{res['geomean'][fl]:.3f}**" if res["geomean"].get(fl) else "-"
        for fl in flavours[1:]]
    rows.append(gm)
    out += [md_table(header, rows), ""]
    if scal:
        out += ["## Throughput scaling", "",
                "N·t1/tN per workload (1 = no gain from more threads, N = "
                "linear).", ""]
        threads = sorted({n for b in scal.values() for d in b.values()
                          for n in d})
        rows = []
        for base, by_fl in scal.items():
            for fl, d in by_fl.items():
                rows.append([base, fl] + [f"{d[n]:.2f}" if n in d else "-"
                                          for n in threads])
        out += [md_table(["workload", "build"] + [f"{n} thr" for n in threads],
                         rows), ""]
    if "baseline" in res:
        out += ["## Change against the baseline", "",
                f"Baseline: {res['baseline']['path']} (commit "
                f"{res['baseline']['commit'][:12]}). Change = new/old - 1 of "
                f"the median time; negative is faster.", ""]
        out += [md_table(["benchmark", "build", "old", "new", "change"],
                         baseline_rows) if baseline_rows else
                "No benchmark and build in common with the baseline.", ""]
    if pngs:
        out += ["## Plots", ""] + [f"- {os.path.basename(p)}" for p in pngs]
        out.append("")
    if problems:
        out += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    cp = res["compare_py"]
    out += [f"## compare.py ({ref} → {cp['new']})", "",
            f"libbenchmark-tools' compare.py on gbench-{ref}.json and "
            f"gbench-{cp['new']}.json (exit {cp['exit_code']}; Time/CPU "
            f"columns are the relative change of the medians, + is slower; "
            f"its U test runs from 9 repetitions on).", "", "```",
            cp["output"], "```", ""]
    return "\n".join(out)


def baseline_table(path, summary, flavours):
    with open(path) as f:
        old = json.load(f)
    rows = []
    for key, entry in summary.items():
        for fl in flavours:
            o = old.get("summary", {}).get(key, {}).get(fl)
            n = entry.get(fl)
            if o and n and o.get("median_ns"):
                rows.append([key, fl, fmt_time(o["median_ns"]),
                             fmt_time(n["median_ns"]),
                             f"{(n['median_ns'] / o['median_ns'] - 1) * 100:+.1f}%"])
    info = {"path": path,
            "commit": old.get("machine", {}).get("git_commit", "unknown"),
            "created": old.get("created", "")}
    return rows, info


# ---------------------------------------------------------------- main


def build_info_of(rows, flavour):
    for row in rows:
        if row["flavour"] == flavour and row["context"]:
            ctx = row["context"]
            return ctx.get("build_info") or ctx.get("ftrt_build_info") or \
                ctx.get("build") or ""
    return ""


def main():
    args = parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flavours = [f for f in args.flavours.split(",") if f]
    os.makedirs(args.out, exist_ok=True)
    rows = load_manifest(args.raw)
    problems = load_runs(args.raw, rows)
    summary, key_of = summarize(rows, flavours)
    rat = ratios(summary, flavours)
    scal = scaling(summary, flavours)
    info = {}
    for item in args.flavour_info:
        name, preset, env = (item.split("|") + ["", ""])[:3]
        info[name] = {"name": name, "preset": preset, "env": env}
    res = {
        "schema": "ftrt-compare/1",
        "created": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"),
        "machine": machine_info(root),
        "settings": {"mode": args.mode, "reps": args.reps,
                     "threads": args.threads},
        "flavours": [dict(info.get(fl, {"name": fl, "preset": "", "env": ""}),
                          build_info=build_info_of(rows, fl))
                     for fl in flavours],
        "reference": flavours[0],
        "summary": summary,
        "ratios": rat,
        "geomean": {fl: geomean(list(rat[fl].values())) for fl in rat},
        "scaling": {b: {fl: {str(n): v for n, v in d.items()}
                        for fl, d in by.items()} for b, by in scal.items()},
        "problems": problems,
        "runs": rows,
    }

    # compare.py reads the reference build against the FT build (the second).
    gb = {fl: write_gbench(args.out, rows, fl, key_of) for fl in flavours}
    new = flavours[1] if len(flavours) > 1 else flavours[0]
    reps = max((r["rep"] for r in rows), default=0)
    res["compare_py"] = dict(run_compare_py(args.compare_py, gb[flavours[0]],
                                            gb[new], reps), new=new)
    baseline_rows = []
    if args.baseline:
        baseline_rows, res["baseline"] = baseline_table(args.baseline,
                                                        summary, flavours)
    pngs = []
    gnuplot = shutil.which("gnuplot")
    if gnuplot:
        term = gnuplot_terminal(gnuplot)
        pngs += plot_ratios(args.out, gnuplot, term, summary, rat, flavours)
        pngs += plot_scaling(args.out, gnuplot, term, scal)
    else:
        problems.append("gnuplot not found: no plots")
    res["plots"] = [os.path.basename(p) for p in pngs]

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report_md(res, flavours, problems, scal, baseline_rows, pngs))
    if res["compare_py"]["exit_code"] != 0:
        sys.stderr.write("compare.py could not read the benchmark JSON:\n" +
                         res["compare_py"]["output"] + "\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
