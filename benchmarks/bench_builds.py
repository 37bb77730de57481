"""Two builds of pygochan side by side: each row of bench_channels.py run by
two interpreters (e.g. a venv of this branch and one of main), alternating,
and each row's pygochan time as a ratio new / base.

    python benchmarks/bench_builds.py NEW_PYTHON BASE_PYTHON [--runs 4] [--quick]

Runs alternate (new, base, new, base, ...) so that a change of load on the
machine hits both builds alike.  For each row the best pygochan time of each
build over its runs is kept; ratio = new / base, so 1.03 means 3 % slower.
A ratio only means something on a quiet machine: look at `uptime` first.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run_once(python, quick):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    try:
        cmd = [python, os.path.join(HERE, "bench_channels.py"), "--json", path]
        if quick:
            cmd.append("--quick")
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=HERE)
        with open(path) as f:
            return json.load(f)["results"]
    finally:
        os.unlink(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new_python")
    parser.add_argument("base_python")
    parser.add_argument("--runs", type=int, default=4, help="runs per build (default 4)")
    parser.add_argument("--quick", action="store_true", help="bench_channels.py --quick")
    args = parser.parse_args()

    best = {"new": {}, "base": {}}
    order = []
    for i in range(args.runs):
        for label, python in (("new", args.new_python), ("base", args.base_python)):
            for row in run_once(python, args.quick):
                key = row["scenario"] + " / " + row["baseline"]
                if key not in order:
                    order.append(key)
                prev = best[label].get(key)
                if prev is None or row["pygochan_us"] < prev:
                    best[label][key] = row["pygochan_us"]
            print(f"run {i + 1}/{args.runs} {label} done", file=sys.stderr)

    print(f"{'row':70s} {'new us':>9s} {'base us':>9s} {'new/base':>9s}")
    for key in order:
        new, base = best["new"].get(key), best["base"].get(key)
        if new is None or base is None:
            continue
        print(f"{key:70s} {new:9.3f} {base:9.3f} {new / base:9.3f}")


if __name__ == "__main__":
    main()
