#!/usr/bin/env python3
"""The Containerfile and compose.yaml, checked without a container engine (none runs here).

  container_test.py SOURCE_DIR [NEURONAUT_BINARY]

What an engine would trip on first is checked by reading the files: stages and the stages they
copy from, every COPY source present in the build context (and not ignored by .dockerignore),
Debian 12 bases, the apt packages known to Debian 12 (apt-cache, on this Debian 12 machine), the
data home as a volume at $NEURONAUT_HOME, models mounted read-only, compose services built from
stages that exist. What the build stage does is run here where it can: its COPY lines are copied
into an empty context and its CMake configure command is run there, and every file ninja would
build the installed binary from must be in that context (so a source the build needs but the
image lacks shows up; compiling it all would take the machine's cores for half an hour), and
scripts/runtime-packages.sh, which picks the runtime stage's
packages, is run on this machine's neuronaut. The image itself is not built.

Exit 0: all good; 1: problems, one per line; 77: skipped (ctest SKIP_RETURN_CODE).
"""

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SOURCE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.getcwd()
BINARY = sys.argv[2] if len(sys.argv) > 2 else ""
problems = []


def problem(msg):
    problems.append(msg)


def instructions(path):
    """(line number, INSTRUCTION, argument text) with continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            word, _, rest = buf.strip().partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    return out


def ignored(rel, patterns):
    rel = rel.rstrip("/")
    for p in patterns:
        p = p.rstrip("/")
        if fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            return True
    return False


def main():
    containerfile = os.path.join(SOURCE, "Containerfile")
    compose_file = os.path.join(SOURCE, "compose.yaml")
    for f in (containerfile, compose_file):
        if not os.path.isfile(f):
            problem(f"{f} is missing")
    if problems:
        return

    patterns = []
    ignore_file = os.path.join(SOURCE, ".dockerignore")
    if os.path.isfile(ignore_file):
        with open(ignore_file) as f:
            patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]

    stages = []  # (name, base, [instructions])
    for n, word, arg in instructions(containerfile):
        where = f"Containerfile:{n}"
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arg, re.IGNORECASE)
            if not m or not m.group(2):
                problem(f"{where}: FROM without 'AS <name>': {arg}")
                continue
            base, name = m.group(1), m.group(2)
            if any(name == s[0] for s in stages):
                problem(f"{where}: stage {name} is named twice")
            if base not in ("debian:12", "debian:12-slim") and not any(base == s[0] for s in stages):
                problem(f"{where}: stage {name} is based on {base}, not on Debian 12 or a stage")
            stages.append((name, base, []))
            continue
        if not stages:
            if word != "ARG":
                problem(f"{where}: {word} before the first FROM")
            continue
        stages[-1][2].append((n, word, arg))

    names = [s[0] for s in stages]
    for required in ("build", "runtime", "llama-server"):
        if required not in names:
            problem(f"Containerfile: no stage '{required}'")
    if names and names[-1] != "runtime":
        problem(f"Containerfile: the last stage (what a plain build gives) is {names[-1]}, not runtime")
    bases = dict((s[0], s[1]) for s in stages)
    if bases.get("build") != "debian:12":
        problem("Containerfile: the build stage is not on debian:12")
    if bases.get("runtime") != "debian:12-slim":
        problem("Containerfile: the runtime stage is not on debian:12-slim")

    apt_packages = set()
    copies = {}  # stage -> [sources copied from the context]
    for i, (name, _, body) in enumerate(stages):
        earlier = names[:i]
        copies[name] = []
        for n, word, arg in body:
            where = f"Containerfile:{n} ({name})"
            if word in ("COPY", "ADD"):
                if word == "ADD":
                    problem(f"{where}: ADD fetches and unpacks; use COPY")
                args = shlex.split(arg)
                flags = [a for a in args if a.startswith("--")]
                paths = [a for a in args if not a.startswith("--")]
                if len(paths) < 2:
                    problem(f"{where}: COPY needs a source and a destination")
                    continue
                src_from = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
                if src_from:
                    if src_from[0] not in earlier:
                        problem(f"{where}: --from={src_from[0]} is not an earlier stage")
                    continue
                for src in paths[:-1]:
                    full = os.path.join(SOURCE, src)
                    if not os.path.exists(full):
                        problem(f"{where}: COPY source {src} does not exist in the build context")
                    elif ignored(os.path.relpath(full, SOURCE), patterns):
                        problem(f"{where}: COPY source {src} is excluded by .dockerignore")
                    else:
                        copies[name].append(src)
            if word == "RUN":
                for m in re.finditer(r"apt-get install ([^&|;]*)", arg):
                    for w in m.group(1).split():
                        if not w.startswith("-") and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", w):
                            apt_packages.add(w)
        text = " ".join(a for _, w, a in body)
        if name == "runtime":
            if "python3" not in text:
                problem("Containerfile: the runtime stage installs no python3 (the sandbox needs it)")
            if not re.search(r"VOLUME\b", " ".join(w for _, w, _ in body)) or "/data" not in text:
                problem("Containerfile: the runtime stage declares no /data volume")
            if "NEURONAUT_HOME=/data" not in text:
                problem("Containerfile: the runtime stage does not set NEURONAUT_HOME=/data")

    # Every package named is one Debian 12 has (this machine is Debian 12 and has its lists).
    if shutil.which("apt-cache"):
        for p in sorted(apt_packages):
            r = subprocess.run(["apt-cache", "show", "--no-all-versions", p],
                               capture_output=True, text=True)
            if r.returncode != 0 or not r.stdout.strip():
                problem(f"Containerfile: apt package {p} is unknown to this Debian's apt-cache")
    else:
        print("note: no apt-cache here; package names not checked")

    # The build stage's configure, in a context holding only what the stage copies.
    build_run = [a for _, w, a in stages[names.index("build")][2] if w == "RUN"] if "build" in names else []
    configure = None
    for run in build_run:
        for part in run.split("&&"):
            if part.strip().startswith("cmake -S"):
                configure = part.strip()
    if configure is None:
        problem("Containerfile: no 'cmake -S' configure command in the build stage")
    elif shutil.which("cmake") and shutil.which("ninja"):
        with tempfile.TemporaryDirectory(prefix="naut-container-ctx-") as ctx:
            for src in copies.get("build", []):
                s, d = os.path.join(SOURCE, src), os.path.join(ctx, src)
                if os.path.isdir(s):
                    shutil.copytree(s, d, dirs_exist_ok=True,
                                    ignore=lambda dir_, names_: [n for n in names_ if ignored(
                                        os.path.relpath(os.path.join(dir_, n), SOURCE), patterns)])
                else:
                    os.makedirs(os.path.dirname(d) or ctx, exist_ok=True)
                    shutil.copy2(s, d)
            r = subprocess.run(configure, shell=True, cwd=ctx, capture_output=True, text=True)
            if r.returncode != 0:
                tail = "\n".join((r.stdout + r.stderr).splitlines()[-25:])
                problem(f"Containerfile: the build stage's configure failed in a context of its COPY "
                        f"lines only:\n  {configure}\n{tail}")
            else:
                check_build_inputs(ctx, " ".join(build_run))
    else:
        print("note: no cmake/ninja here; the build stage's configure was not run")

    # The runtime stage's package list, as the build stage makes it, from this machine's binary.
    if BINARY and os.path.isfile(BINARY):
        r = subprocess.run(["bash", os.path.join(SOURCE, "scripts/runtime-packages.sh"), BINARY],
                           capture_output=True, text=True)
        pkgs = r.stdout.split()
        if r.returncode != 0 or not pkgs:
            problem(f"scripts/runtime-packages.sh {BINARY} failed: {r.stderr.strip()}")
        else:
            for want in ("libc6", "libcurl4", "libstdc++6"):
                if want not in pkgs:
                    problem(f"scripts/runtime-packages.sh: {want} missing from {pkgs}")
            print(f"runtime packages of {os.path.basename(BINARY)}: {' '.join(pkgs)}")

    check_compose(compose_file, names)


def check_build_inputs(ctx, run_text):
    """What the stage installs is a target of the build, and every source file it is built from
    (ninja's inputs, recursively; headers aside) is in the context."""
    m = re.search(r"install\s[^&]*?(build/\S+)\s", run_text)
    if not m:
        problem("Containerfile: the build stage installs nothing from build/")
        return
    built = os.path.relpath(m.group(1), "build")
    r = subprocess.run(["ninja", "-C", os.path.join(ctx, "build"), "-t", "inputs", built],
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        problem(f"Containerfile: the build stage installs {m.group(1)}, which the build does not "
                f"make: {r.stderr.strip()}")
        return
    missing = [p for p in r.stdout.split() if os.path.isabs(p) and p.startswith(ctx)
               and not os.path.exists(p)]
    for p in missing:
        problem(f"Containerfile: {os.path.relpath(p, ctx)} is needed to build {built} but not "
                f"copied into the build stage")


def check_compose(path, stage_names):
    try:
        import yaml  # python3-yaml
    except ImportError:
        print("note: no python3-yaml here; compose.yaml was not parsed")
        return
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except yaml.YAMLError as e:
        problem(f"compose.yaml does not parse: {e}")
        return
    services = (doc or {}).get("services") or {}
    for want in ("neuronaut", "llama-server", "dashboard"):
        if want not in services:
            problem(f"compose.yaml: no service '{want}'")
    volumes = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict):
            if build.get("dockerfile") != "Containerfile":
                problem(f"compose.yaml: service {name} builds from {build.get('dockerfile')}")
            if build.get("target") not in stage_names:
                problem(f"compose.yaml: service {name} builds stage {build.get('target')}, "
                        f"which the Containerfile does not have")
        for v in svc.get("volumes") or []:
            src, _, rest = v.partition(":")
            dest, _, mode = rest.partition(":")
            if not src.startswith((".", "/")) and src not in volumes:
                problem(f"compose.yaml: service {name} mounts volume {src}, which is not declared")
            if dest == "/models" and mode != "ro":
                problem(f"compose.yaml: service {name} mounts the models writable")
        for p in svc.get("ports") or []:
            if not str(p).startswith("127.0.0.1:"):
                problem(f"compose.yaml: service {name} publishes {p} beyond the host")
    naut = services.get("neuronaut") or {}
    if "naut-home:/data" not in (naut.get("volumes") or []):
        problem("compose.yaml: neuronaut's data home is not the naut-home volume at /data")
    base_url = (naut.get("environment") or {}).get("LLM_BASE_URL", "")
    if "llama-server:8080" not in base_url:
        problem(f"compose.yaml: neuronaut's LLM_BASE_URL {base_url!r} is not the llama-server service")
    if "profiles" not in (services.get("dashboard") or {}):
        problem("compose.yaml: the dashboard (not built yet) would start by default")


if __name__ == "__main__":
    main()
    for p in problems:
        print("PROBLEM:", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
