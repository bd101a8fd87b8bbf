#!/usr/bin/env python3
# tests/layering.py <source dir> — each layer includes only the layers below it
# (docs/architecture.md's table): an include of a header of the same rank or a higher one, from
# src/<layer>/ or include/mcpd/<layer>/, fails with the file and the include.
import os, re, sys

rank = {"core": 0, "protocol": 1, "redis": 1, "http": 2, "store": 2, "guard": 3, "auth": 3,
        "server": 4, "client": 4, "gateway": 5, "proxy": 5}
include = re.compile(r'#\s*include\s*[<"](?:mcpd/)?([a-z_]+)/')
root = sys.argv[1]
bad = []
for base in ("src", os.path.join("include", "mcpd")):
    for layer in rank:
        for folder, _, files in os.walk(os.path.join(root, base, layer)):
            for name in files:
                path = os.path.join(folder, name)
                with open(path, errors="replace") as f:
                    for line_no, line in enumerate(f, 1):
                        m = include.match(line.strip())
                        if m and m.group(1) in rank and m.group(1) != layer and \
                                rank[m.group(1)] >= rank[layer]:
                            bad.append(f"{os.path.relpath(path, root)}:{line_no}: {layer}/ "
                                       f"includes {m.group(1)}/ ({line.strip()})")
print("\n".join(bad) if bad else "every layer includes only the layers below it")
sys.exit(1 if bad else 0)
