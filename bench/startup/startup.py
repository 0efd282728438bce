#!/usr/bin/env python3
"""Start-up cost of neuronaut binaries, measured whole-process and alternating between them.

For each binary: CPU time (user + system of the child, from wait4) and wall time of
`--version`, of `sandbox run -- /bin/true`, and the time from spawning `mcp-server <name>`
until its answer to `initialize` arrives; plus the number of shared objects it loads.
Binaries are run in turn, one run each per round, so load on the shared machine falls on all
of them alike. Medians are printed as a Markdown table.

  bench/startup/startup.py [--runs 100] [--server exec] BINARY [BINARY...]

With valgrind installed it also counts the instructions of one `--version` (callgrind), a
figure the load of a shared machine does not move.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time


def run_once(argv):
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({status})")
    return usage.ru_utime + usage.ru_stime, wall


INITIALIZE = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "startup-bench", "version": "1"}}}) + "\n"


def initialize_once(binary, server, cwd):
    start = time.perf_counter()
    child = subprocess.Popen([binary, "mcp-server", server], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd)
    child.stdin.write(INITIALIZE.encode())
    child.stdin.flush()
    line = child.stdout.readline()
    wall = time.perf_counter() - start
    if b'"result"' not in line:
        raise SystemExit(f"{binary} mcp-server {server}: no answer to initialize: {line!r}")
    child.stdin.close()
    child.wait()
    return wall


def shared_objects(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if "=>" in line)


def instructions(binary):
    if shutil.which("valgrind") is None:
        return "-"
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg",
                              binary, "--version"], capture_output=True, text=True).stderr
    match = re.search(r"Collected : (\d+)", out)
    return f"{int(match.group(1)) / 1e6:.1f} M" if match else "-"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--server", default="exec")
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    binaries = [os.path.abspath(b) for b in args.binaries]
    cwd = os.getcwd()
    cases = {
        "--version": lambda b: run_once([b, "--version"]),
        "sandbox run -- /bin/true": lambda b: run_once([b, "sandbox", "run", "--", "/bin/true"]),
    }
    cpu = {(b, c): [] for b in binaries for c in cases}
    wall = {(b, c): [] for b in binaries for c in cases}
    init = {b: [] for b in binaries}
    for _ in range(3):  # warm the page cache
        for b in binaries:
            for case in cases.values():
                case(b)
    for _ in range(args.runs):
        for b in binaries:
            for name, case in cases.items():
                c, w = case(b)
                cpu[(b, name)].append(c)
                wall[(b, name)].append(w)
            init[b].append(initialize_once(b, args.server, cwd))

    def ms(values):
        return f"{statistics.median(values) * 1000:.2f}"

    print(f"{args.runs} runs each, alternating; medians in ms")
    print()
    print("| binary | shared objects | `--version` instructions | `--version` CPU | wall |"
          f" `sandbox run -- /bin/true` CPU | wall | `mcp-server {args.server}` to `initialize`"
          " answer |")
    print("|---|---|---|---|---|---|---|---|")
    for b in binaries:
        print(f"| {b} | {shared_objects(b)} | {instructions(b)} | {ms(cpu[(b, '--version')])} | "
              f"{ms(wall[(b, '--version')])} | {ms(cpu[(b, 'sandbox run -- /bin/true')])} | "
              f"{ms(wall[(b, 'sandbox run -- /bin/true')])} | {ms(init[b])} |")


if __name__ == "__main__":
    main()
