#!/usr/bin/env python3
# bench/fleet/resume.py — one kill of bench/fleet/run's resumption measurement: POSTs a countdown
# to instance A, reads its SSE stream until a few events have come, kills A (SIGKILL) and resumes
# on instance B with Last-Event-ID; prints the times from the kill to B's first event and to the
# answer for the countdown's request (milliseconds):
#   first_ms=F answer_ms=A answer=error|result
# Usage: resume.py <A port> <B port> <session id> <A pid>
import http.client
import json
import os
import signal
import sys
import time

a_port, b_port, session, a_pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
VERSION = "2025-11-25"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "Mcp-Session-Id": session, "MCP-Protocol-Version": VERSION}


def events(response):
    """SSE events of an HTTP response (chunked decoding is http.client's), as dicts."""
    event = {}
    while True:
        line = response.readline()
        if not line:
            return
        line = line.decode().rstrip("\r\n")
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = event.get(key, "") + value.lstrip(" ")


call = {"jsonrpc": "2.0", "id": 77, "method": "tools/call",
        "params": {"name": "countdown", "arguments": {"n": 100, "interval_ms": 30},
                   "_meta": {"progressToken": "bench"}}}
a = http.client.HTTPConnection("127.0.0.1", a_port, timeout=10)
a.request("POST", "/mcp", json.dumps(call), HEADERS)
last = None
seen = 0
for ev in events(a.getresponse()):
    if ev.get("id") and ev.get("data"):
        last = ev["id"]
        seen += 1
        if seen >= 4:
            break
os.kill(a_pid, signal.SIGKILL)
killed = time.monotonic()
a.close()

b = http.client.HTTPConnection("127.0.0.1", b_port, timeout=10)
b.request("GET", "/mcp", headers={**HEADERS, "Accept": "text/event-stream", "Last-Event-ID": last})
first = answer = None
kind = "none"
for ev in events(b.getresponse()):
    now = time.monotonic()
    if not ev.get("data"):
        continue
    if first is None:
        first = now
    msg = json.loads(ev["data"])
    if msg.get("id") == 77:
        answer = now
        kind = "error" if "error" in msg else "result"
        break
if first is None or answer is None:
    print("bench/fleet/resume.py: the resumed stream ended without the answer", file=sys.stderr)
    sys.exit(1)
print(f"first_ms={(first - killed) * 1000:.1f} answer_ms={(answer - killed) * 1000:.1f} answer={kind}")
