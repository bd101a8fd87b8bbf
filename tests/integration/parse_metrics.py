#!/usr/bin/python3
# tests/integration/parse_metrics.py — reads a /metrics page with the Prometheus project's own
# text-format parser (Debian python3-prometheus-client) and prints every sample as one JSON
# object per line: {"name", "labels", "value", "type"}. Exits non-zero, with the parser's error,
# if any line does not parse, or if the page has sample lines the parser did not account for.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
sample_lines = [l for l in text.splitlines() if l and not l.startswith("#")]
count = 0
for family in text_string_to_metric_families(text):
    for s in family.samples:
        count += 1
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value,
                          "type": family.type}))
if count != len(sample_lines):
    sys.exit(f"parsed {count} samples from {len(sample_lines)} sample lines")
