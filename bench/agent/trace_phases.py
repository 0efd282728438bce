#!/usr/bin/env python3
"""Where the wall time of a run went, from its trace (runs/<id>/events.jsonl).

Each event carries "ms" since the run started; the time between two events is charged to the
later one ("skill" = the skill writer's model call plus validation and storing, "tool_call" =
a direct call, or a code action whose calls are reported when it ends, ...).

    python3 bench/agent/trace_phases.py <home>/runs/<id>/events.jsonl
"""
import collections
import json
import sys

events = [json.loads(line) for line in open(sys.argv[1])]
phases = collections.Counter()
for before, event in zip(events, events[1:]):
    phases[event["type"]] += event["ms"] - before["ms"]
model = sum(e.get("latency_ms", 0) for e in events if e["type"] == "model_call")
tools = sum(e.get("latency_ms", 0) for e in events if e["type"] == "tool_call")
code = sum(e.get("latency_ms", 0) for e in events if e["type"] == "code_action")
calls = sum(1 for e in events if e["type"] == "model_call")
print(f"run: {events[-1]['ms'] - events[0]['ms']} ms, {calls} model calls")
print(f"inside model calls {model} ms; inside tool calls {tools} ms; code actions {code} ms "
      f"(Python start-up and bridge included)")
for name, ms in phases.most_common():
    print(f"  until {name}: {ms} ms")
