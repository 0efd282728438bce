#!/usr/bin/env python3
"""The learning benchmark's table and plots, made from the runs' own event streams.

    bench/learning/report.py bench/learning/runs/<label> [--out bench/learning/results/<label>]
                             [--calls N]   (each run cut after its Nth model call, to compare
                                            runs of different lengths over the same horizon)

Reads <variant>/seed<N>/events.jsonl (what `neuronaut run --json` printed: the same events as
the run's trace, runs/<id>/events.jsonl in its data home) and writes into --out:
  table.md        one row per variant: means and spread over seeds
  runs.md         one row per run
  steps.md        where a learning step's time goes: prompt tokens evaluated and cached, prompt
                  evaluation and generation (the server's timings), tools, code actions, checks
  summary.json    every figure, per run
  milestones.png  milestones reached against model calls, one line per variant (mean over seeds)
"""

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

VARIANT_ORDER = ["full", "no-skills", "no-replay", "no-memory", "llm-critic", "fixed-curriculum",
                 "no-reflect", "no-consolidate", "transfer"]
KEY_MILESTONE = "reach_level_2"


def read_events(path):
    events = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                print(f"{path}:{n}: not a JSON event, skipped", file=sys.stderr)
    return events


def cut_after_calls(events, n):
    """The events up to the run's nth model call (and what that call led to before the next)."""
    calls = 0
    for i, e in enumerate(events):
        if e.get("type") == "model_call":
            calls += 1
            if calls > n:
                return events[:i] + [{"type": "run_end", "reason": f"cut after {n} model calls"}]
    return events


def failure_cause(reason):
    r = reason or ""
    if "loop rail" in r:
        return "loop rail"
    if "budget rail" in r:
        return "budget rail"
    if r.startswith("not verified after"):
        return "not verified"
    if "abandoned" in r:
        return "abandoned"
    return "other"


# The skill writer's prompts (prompts/skill_writer.txt) and its replies to a refused or failed
# skill (agent/skill_writer.cc): a model call whose last message starts so is one spent writing
# a skill.
SKILL_WRITING = ("The agent just completed this task", "That skill was refused",
                 "That skill was run from the state")


def summarise_run(events):
    start = next((e for e in events if e.get("type") == "run_start"), {})
    end = next((e for e in reversed(events) if e.get("type") == "run_end"), None)
    calls = [e for e in events if e.get("type") == "model_call"]
    tools = [e for e in events if e.get("type") == "tool_call"]
    reached = [e for e in events if e.get("type") == "milestone_reached"]
    tasks = [e for e in events if e.get("type") == "task_end"]
    skills = [e for e in events if e.get("type") == "skill"]
    codes = [e for e in events if e.get("type") == "code_action"]
    prompt = sum(e.get("prompt_tokens", 0) for e in calls)
    cached = sum(e.get("cached_tokens", 0) for e in calls)
    completion = sum(e.get("completion_tokens", 0) for e in calls)
    failures = {}
    for t in tasks:
        if not t.get("success"):
            c = failure_cause(t.get("reason"))
            failures[c] = failures.get(c, 0) + 1
    used = set()
    for t in tasks:
        used.update(t.get("used_skills") or [])
    elapsed = max((e.get("elapsed_s", 0) for e in reached), default=0)
    # Milestones given one more attempt because lessons were drawn from their failures, and
    # how many of them were reached after that.
    retried, won = set(), set()
    for i, e in enumerate(events):
        if e.get("type") == "milestone" and "retried after" in (e.get("note") or ""):
            retried.add(e.get("milestone"))
            if any(later.get("type") == "milestone_reached"
                   and later.get("milestone") == e.get("milestone") for later in events[i:]):
                won.add(e.get("milestone"))
    # The library at the end: skills stored, less those a consolidation replaced, plus the
    # consolidated ones.
    library = {e.get("name") for e in skills if e.get("status") in ("learned", "verified", "draft")}
    merges = [e for e in events if e.get("type") == "consolidation"]
    for m in merges:
        if m.get("merged"):
            library -= set(m.get("sources") or [])
            library.add(m["merged"])
    return {
        "seed": start.get("seed"),
        "llm": start.get("llm"),
        "machine": start.get("machine"),
        "finished": end is not None,
        "stop_reason": (end or {}).get("reason", "no run_end (killed?)"),
        "milestones": [
            {k: m.get(k) for k in ("milestone", "model_calls", "tool_calls", "prompt_tokens",
                                   "completion_tokens", "elapsed_s")}
            for m in reached
        ],
        "model_calls": len(calls),
        "model_errors": sum(1 for e in calls if "error" in e),
        "tool_calls": len(tools),
        "tool_errors": sum(1 for e in tools if e.get("is_error")),
        "corrections": sum(1 for e in events if e.get("type") == "correction"),
        "code_actions": len(codes),
        "code_failures": sum(1 for e in codes if not e.get("ok")),
        # A skill stored, checked or not: a draft repaired into a verified version is one skill.
        "skills_learned": len({e.get("name") for e in skills
                               if e.get("status") in ("learned", "verified", "draft")}),
        "skills_verified": len({e.get("name") for e in skills if e.get("status") == "verified"}),
        "skills_refused": sum(1 for e in skills if e.get("status") == "refused"),
        "skills_reused": len(used),
        "skills_replayed": len({e.get("name") for e in skills
                                if e.get("status") == "verified" and e.get("source") == "replay"}),
        "skill_writing_calls": sum(1 for e in calls
                                   if (e.get("input") or "").startswith(SKILL_WRITING)),
        "tasks": len(tasks),
        "tasks_done": sum(1 for t in tasks if t.get("success")),
        "failures": failures,
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "completion_tokens": completion,
        "model_s": sum(e.get("latency_ms", 0) for e in calls) / 1000,
        # Where a model call's time goes, from the calls whose server reported its timings.
        "timed_calls": sum(1 for e in calls if "prompt_ms" in e),
        "timed_new_tokens": sum(e.get("prompt_tokens", 0) - e.get("cached_tokens", 0)
                                for e in calls if "prompt_ms" in e),
        "timed_generated": sum(e.get("completion_tokens", 0) for e in calls if "prompt_ms" in e),
        "prompt_eval_s": sum(e.get("prompt_ms", 0) for e in calls) / 1000,
        "generation_s": sum(e.get("generation_ms", 0) for e in calls) / 1000,
        "tool_calls_direct": sum(1 for e in tools if e.get("via") != "code"),
        "skill_checks": sum(1 for e in events if e.get("type") == "skill_check"),
        "skill_check_s": sum(e.get("latency_ms", 0) for e in events
                             if e.get("type") == "skill_check") / 1000,
        "tool_s": sum(e.get("latency_ms", 0) for e in tools if e.get("via") != "code") / 1000,
        "code_s": sum(e.get("latency_ms", 0) for e in codes) / 1000,
        "last_milestone_s": elapsed,
        "retried_after_lessons": len(retried),
        "retries_won": len(won),
        "consolidations_merged": sum(1 for m in merges if m.get("merged")),
        "consolidations_refused": sum(1 for m in merges if not m.get("merged")),
        "skills_in_library": len(library),
    }


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    fmt = (lambda x: f"{x:.0f}") if abs(m) >= 10 else (lambda x: f"{x:.1f}")
    return f"{fmt(m)} ± {fmt(sd)}"


def calls_to(run, milestone):
    for m in run["milestones"]:
        if m["milestone"] == milestone:
            return m["model_calls"]
    return None


def variant_rows(runs_by_variant):
    header = ("| variant | runs | reach_level_2 | milestones reached | model calls to reach_level_2 "
              "| model calls per milestone | model calls | corrections | skills learned / reused "
              "| cached share of prompt tokens | failed tasks by cause "
              "| retries after lessons: reached / tried | skills at the end (merges) "
              "| skills verified (of them replays) | model calls writing skills |")
    lines = [header, "|---" * 15 + "|"]
    for variant, runs in runs_by_variant.items():
        n = len(runs)
        hits = sum(1 for r in runs if calls_to(r, KEY_MILESTONE) is not None)
        reached = [len(r["milestones"]) for r in runs]
        per = [r["model_calls"] / len(r["milestones"]) for r in runs if r["milestones"]]
        prompt = sum(r["prompt_tokens"] for r in runs)
        cached = sum(r["cached_tokens"] for r in runs)
        writing = sum(r.get("skill_writing_calls", 0) for r in runs)
        calls = sum(r["model_calls"] for r in runs)
        causes = {}
        for r in runs:
            for c, k in r["failures"].items():
                causes[c] = causes.get(c, 0) + k
        lines.append(
            f"| {variant} | {n} | {hits}/{n} | {mean_sd(reached)} "
            f"| {mean_sd([calls_to(r, KEY_MILESTONE) for r in runs])} | {mean_sd(per)} "
            f"| {mean_sd([r['model_calls'] for r in runs])} "
            f"| {mean_sd([r['corrections'] for r in runs])} "
            f"| {mean_sd([r['skills_learned'] for r in runs])} / "
            f"{mean_sd([r['skills_reused'] for r in runs])} "
            f"| {(cached / prompt if prompt else 0):.0%} "
            f"| {', '.join(f'{c} {k}' for c, k in sorted(causes.items())) or '–'} "
            f"| {sum(r.get('retries_won', 0) for r in runs)} / "
            f"{sum(r.get('retried_after_lessons', 0) for r in runs)} "
            f"| {mean_sd([r.get('skills_in_library') for r in runs])} "
            f"({sum(r.get('consolidations_merged', 0) for r in runs)} merged, "
            f"{sum(r.get('consolidations_refused', 0) for r in runs)} refused) "
            f"| {sum(r.get('skills_verified', 0) for r in runs)} "
            f"({sum(r.get('skills_replayed', 0) for r in runs)}) "
            f"| {writing} of {calls} ({(writing / calls if calls else 0):.0%}) |")
    return "\n".join(lines) + "\n"


def step_rows(runs_by_variant):
    """Where the time of a learning step goes, per variant (sums over its runs)."""
    lines = ["| variant | model calls | prompt tokens per call: new / cached (share) "
             "| prompt eval s per call | tokens generated per call | generation s per call "
             "| generation tokens/s | whole call s | tool call ms | code action s (count) "
             "| skill check s (count) |",
             "|---" * 11 + "|"]
    for variant, runs in runs_by_variant.items():
        total = lambda k: sum(r.get(k, 0) for r in runs)
        calls, prompt, cached = total("model_calls"), total("prompt_tokens"), total("cached_tokens")
        timed = total("timed_calls")
        per = lambda x, n: f"{x / n:.1f}" if n else "–"
        lines.append(
            f"| {variant} | {calls} "
            f"| {per(prompt - cached, calls)} / {per(cached, calls)} "
            f"({(cached / prompt if prompt else 0):.0%}) "
            f"| {per(total('prompt_eval_s'), timed)} "
            f"| {per(total('completion_tokens'), calls)} "
            f"| {per(total('generation_s'), timed)} "
            f"| {per(total('timed_generated'), total('generation_s'))} "
            f"| {per(total('model_s'), calls)} "
            f"| {per(total('tool_s') * 1000, total('tool_calls_direct'))} "
            f"| {per(total('code_s'), total('code_actions'))} ({total('code_actions')}) "
            f"| {per(total('skill_check_s'), total('skill_checks'))} ({total('skill_checks')}) |")
    return ("\n".join(lines) + "\n\nPrompt eval and generation come from the model server's own "
            "timings (the embedded engine, llama-server); \"–\" where the runs' traces predate "
            "them. A code action's time includes its sandbox start.\n")


def run_rows(runs_by_variant):
    lines = ["| variant | seed | milestones (model calls and minutes when reached) | model calls | tool calls "
             "| corrections | code actions (failed) | skills learned (verified) / refused / reused "
             "| prompt tokens (cached) | model s / tools s / code s | stop |",
             "|---" * 11 + "|"]
    for variant, runs in runs_by_variant.items():
        for r in runs:
            ms = ", ".join(f"{m['milestone']} ({m['model_calls']}, {m['elapsed_s'] / 60:.0f} min)"
                           if m.get("elapsed_s") is not None
                           else f"{m['milestone']} ({m['model_calls']})"
                           for m in r["milestones"]) or "–"
            lines.append(
                f"| {variant} | {r['seed']} | {ms} | {r['model_calls']} | {r['tool_calls']} "
                f"| {r['corrections']} | {r['code_actions']} ({r['code_failures']}) "
                f"| {r['skills_learned']} ({r.get('skills_verified', 0)}) / {r['skills_refused']} "
                f"/ {r['skills_reused']} "
                f"| {r['prompt_tokens']} ({r['cached_tokens']}) "
                f"| {r['model_s']:.0f} / {r['tool_s']:.1f} / {r['code_s']:.1f} "
                f"| {r['stop_reason'][:60]} |")
    return "\n".join(lines) + "\n"


def plot(runs_by_variant, path):
    deps = Path(__file__).resolve().parent / ".pydeps"
    if deps.is_dir():
        sys.path.insert(0, str(deps))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (run.sh installs it into bench/learning/.pydeps); "
              "no plot written", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for variant, runs in runs_by_variant.items():
        horizon = max((r["model_calls"] for r in runs), default=0)
        if horizon == 0:
            continue
        xs = list(range(horizon + 1))
        ys = []
        for x in xs:
            # A run that ended before x keeps what it had reached.
            ys.append(statistics.mean(
                sum(1 for m in r["milestones"] if m["model_calls"] <= x) for r in runs))
        ax.step(xs, ys, where="post", label=f"{variant} ({len(runs)} seeds)")
    ax.set_xlabel("model calls")
    ax.set_ylabel("milestones reached (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, help="bench/learning/runs/<label>")
    ap.add_argument("--out", type=Path, help="default: bench/learning/results/<label>")
    ap.add_argument("--calls", type=int, help="cut each run after its Nth model call")
    args = ap.parse_args()
    if not args.runs.is_dir():
        sys.exit(f"report.py: {args.runs} is not a directory of benchmark runs")
    out = args.out or Path(__file__).resolve().parent / "results" / args.runs.name
    out.mkdir(parents=True, exist_ok=True)

    runs_by_variant = {}
    variants = sorted((d.name for d in args.runs.iterdir() if d.is_dir()),
                      key=lambda v: (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else 99, v))
    for variant in variants:
        runs = []
        seeds = sorted((d for d in (args.runs / variant).iterdir() if d.name.startswith("seed")),
                       key=lambda d: int(d.name[4:]) if d.name[4:].isdigit() else 0)
        for d in seeds:
            events = d / "events.jsonl"
            if not events.is_file():
                continue
            recorded = read_events(events)
            if args.calls is not None:
                recorded = cut_after_calls(recorded, args.calls)
            run = summarise_run(recorded)
            run["complete"] = (d / "done").is_file()
            runs.append(run)
        if runs:
            runs_by_variant[variant] = runs
    if not runs_by_variant:
        sys.exit(f"report.py: no runs under {args.runs}")

    first = next(iter(runs_by_variant.values()))[0]
    llm = first.get("llm") or {}
    where = (f"Model {llm.get('model', '?')}, backend {llm.get('backend', '?')}, "
             f"{llm.get('threads', '?')} threads (0 = all cores), context {llm.get('context_size')}; "
             f"machine: {first.get('machine', '?')}.")
    (out / "table.md").write_text(where + "\n\n" + variant_rows(runs_by_variant))
    (out / "runs.md").write_text(where + "\n\n" + run_rows(runs_by_variant))
    (out / "steps.md").write_text(where + "\n\n" + step_rows(runs_by_variant))
    (out / "summary.json").write_text(json.dumps(runs_by_variant, indent=1) + "\n")
    plotted = plot(runs_by_variant, out / "milestones.png")
    print(where)
    print(variant_rows(runs_by_variant))
    print(step_rows(runs_by_variant))
    print(f"written: {out}/table.md, runs.md, steps.md, summary.json" +
          (", milestones.png" if plotted else ""))


if __name__ == "__main__":
    main()
