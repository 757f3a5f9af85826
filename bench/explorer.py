"""The explorer's part of bench/run: reduction, states per second on 1 and 2 cores, bytes per
state, and the same explorations by the explorer of the commit the work on issue 18 started
from (REFERENCE), built and run in the same run.

Each exploration is its own process; its time is the one mmusim prints (the search alone), its
memory the process's peak resident size (os.wait4).
"""

import glob
import os
import re
import subprocess

# The commit whose explorer (depth first, one thread, no reduction) the numbers are set against.
REFERENCE = "6d8ff3d"
LARGE = os.path.join("bench", "explore", "three-tasks-kvm-modern.json")
# Pairs of runs (one thread, then two) behind the 2-thread speed-up.
PAIRS = 5
DRIVERS = ("kvm", "gru", "xpmem", "pinning", "unsafe", "kvm-modern", "dmirror")

EXPLORE_LINE = re.compile(r"(\S+\.json): (\d+) schedules, (\d+) distinct states, (\d+) steps.* in ([\d.]+) s")
CHECK_LINE = re.compile(r"^  ([\w-]+): .*\((\d+) states, (\d+) steps(, cut short)?\)")


def build_reference(root, scratch):
    """The REFERENCE commit's mmusim, built in release in a worktree of its own."""
    tree = os.path.join(scratch, "tree")
    if not os.path.isdir(tree):
        subprocess.run(["git", "worktree", "add", "-f", "--detach", tree, REFERENCE], cwd=root, check=True, capture_output=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "mmusim"], cwd=tree, check=True, capture_output=True)
    return os.path.join(tree, ".build", "release", "mmusim")


def run(args, root):
    """Runs a command; its stdout and its peak resident size in bytes."""
    process = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    return out, usage.ru_maxrss * 1024


def explore(binary, path, root, *flags):
    """(distinct states, steps, seconds, peak bytes) of one exploration."""
    out, peak = run([binary, "explore", path, "--seconds", "900", *flags], root)
    m = EXPLORE_LINE.search(out)
    if not m:
        raise SystemExit(f"mmusim explore {path} {' '.join(flags)} printed no result:\n{out}")
    return int(m.group(3)), int(m.group(4)), float(m.group(5)), peak


def best(binary, path, root, *flags, runs=3):
    """The fastest of `runs` explorations (this machine's timings vary by a third from run to
    run, and a slow run says nothing of the code): the large exploration's figures."""
    return min((explore(binary, path, root, *flags) for _ in range(runs)), key=lambda run: run[2])


def check(binary, driver, root, *flags):
    """{workload: (states, steps)} of mmusim check of a built-in driver."""
    out, _ = run([binary, "check", os.path.join("drivers", driver + ".json"), "--jobs", "1", *flags], root)
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in map(CHECK_LINE.match, out.splitlines()) if m}


def section(root, release, scratch):
    """The markdown lines of the explorer's section, and its goal lines."""
    binary = os.path.join(release, "mmusim")
    print("building the reference explorer (" + REFERENCE + ") ...", flush=True)
    reference = build_reference(root, scratch)
    examples = sorted(glob.glob(os.path.join("examples", "explore", "*.json"), root_dir=root)) + [LARGE]

    print("running the explorer examples ...", flush=True)
    rows = []
    for path in examples:
        runs = 3 if path == LARGE else 1
        full = best(binary, path, root, "--jobs", "1", "--no-reduce", runs=runs)
        reduced = best(binary, path, root, "--jobs", "1", runs=runs)
        old = best(reference, path, root, runs=runs)
        rows.append((os.path.basename(path)[:-5], full, reduced, old))

    lines = [
        "## The explorer (release build, each exploration exhaustive)",
        "",
        f"Beside each exploration, the explorer of {REFERENCE} (depth first, one thread, no reduction: the",
        "commit the work on issue 18 started from), built and run in this same run. The breadth-first",
        "search explores the same states as it did; partial-order reduction explores fewer. States/s",
        "are distinct states over the search's seconds, one thread (the three-task row: the fastest of three runs).",
        "",
        "| example | states | steps | states, reduced | steps, reduced | steps cut | states/s | states/s, reduced | states/s, " + REFERENCE + " | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, full, reduced, old in rows:
        rate = full[0] / max(full[2], 1e-6)
        old_rate = old[0] / max(old[2], 1e-6)
        lines.append(
            f"| {name} | {full[0]} | {full[1]} | {reduced[0]} | {reduced[1]} | {full[1] / max(reduced[1], 1):.2f}x | {rate:.0f} | "
            f"{reduced[0] / max(reduced[2], 1e-6):.0f} | {old_rate:.0f} | {rate / max(old_rate, 1e-6):.2f}x |"
        )

    print("running the large exploration on 1 and 2 threads ...", flush=True)
    pairs = [(explore(binary, LARGE, root, "--jobs", "1"), explore(binary, LARGE, root, "--jobs", "2")) for _ in range(PAIRS)]
    one = min((pair[0] for pair in pairs), key=lambda run: run[2])
    two = min((pair[1] for pair in pairs), key=lambda run: run[2])
    ratios = sorted(pair[0][2] / pair[1][2] for pair in pairs)
    speedup = ratios[len(ratios) // 2]
    small = explore(binary, os.path.join("examples", "explore", "07-register-vs-exit.json"), root, "--jobs", "1")
    # Every interleaving of the large exploration, on one thread: its row's runs above.
    full_one = next(full for name, full, _, _ in rows if name == os.path.basename(LARGE)[:-5])
    per_state = (full_one[3] - small[3]) / max(full_one[0] - small[0], 1)
    lines += [
        "",
        f"The largest, {os.path.basename(LARGE)} (three tasks; the thread rows the fastest of {PAIRS} runs, every",
        "interleaving's the fastest of three, as in the table above):",
        "",
        "| run | states | seconds | states/s | peak resident MiB |",
        "|---|---:|---:|---:|---:|",
        f"| reduced, 1 thread | {one[0]} | {one[2]:.2f} | {one[0] / one[2]:.0f} | {one[3] / 2**20:.0f} |",
        f"| reduced, 2 threads | {two[0]} | {two[2]:.2f} | {two[0] / two[2]:.0f} | {two[3] / 2**20:.0f} |",
        f"| every interleaving, 1 thread | {full_one[0]} | {full_one[2]:.2f} | {full_one[0] / full_one[2]:.0f} | {full_one[3] / 2**20:.0f} |",
        "",
        f"2 threads against 1: {speedup:.2f}x, the median of {PAIRS} pairs of runs, each pair one thread then two, back to",
        f"back (the pairs: {', '.join(f'{r:.2f}x' for r in ratios)}; the fastest of each, {one[2] / two[2]:.2f}x). A run on one thread",
        "varies more than one on two here (the machine's two cores are not equally fast from minute to minute), so",
        "the fastest one-thread run of several meets the luckiest core; a pair meets the same machine.",
        "",
        f"Bytes per stored state: {per_state:.0f} (the peak resident size of the",
        "exploration of every interleaving less that of a 54-state one, over the difference in states: a state is",
        "a whole world, its arrays shared with the state it came from until a step changes them).",
        "",
        "`mmusim check` of each built-in driver, each workload with and without reduction (states, steps):",
        "",
        "| driver | workload | states | steps | states, reduced | steps, reduced |",
        "|---|---|---:|---:|---:|---:|",
    ]
    print("running mmusim check of each built-in driver, with and without reduction ...", flush=True)
    for driver in DRIVERS:
        full = check(binary, driver, root, "--no-reduce")
        reduced = check(binary, driver, root)
        for workload, (states, steps) in full.items():
            r = reduced.get(workload, (0, 0))
            lines.append(f"| {driver} | {workload} | {states} | {steps} | {r[0]} | {r[1]} |")

    largest = max(rows, key=lambda row: row[1][0])
    cut = largest[1][1] / max(largest[2][1], 1)
    slowest = min(row[1][0] / max(row[1][2], 1e-6) / max(row[3][0] / max(row[3][2], 1e-6), 1e-6) for row in rows if row[1][0] >= 1000)
    goals = [
        f"- Reduction cuts the steps of the largest exploration ({largest[0]}) at least 5x: {'holds' if cut >= 5 else 'does not hold'} ({cut:.2f}x).",
        f"- States per second on one thread at least 3x {REFERENCE}'s, on every exploration of 1000 states or more: "
        f"{'holds' if slowest >= 3 else 'does not hold'} (the least: {slowest:.2f}x).",
        f"- 2 threads at least 1.7x one: {'holds' if speedup >= 1.7 else 'does not hold'} ({speedup:.2f}x, the median pair).",
        f"- The three-task exploration exhaustive in under 60 s: {'holds' if max(one[2], full_one[2]) < 60 else 'does not hold'} "
        f"({one[2]:.1f} s reduced, {full_one[2]:.1f} s every interleaving).",
    ]
    return lines, goals
