#!/usr/bin/env python3
# tests/secret_scan.py — the suite's secret scan (ctest: secrets.scan, run after every test that
# keeps output). The C++ fixtures keep what mcpd and its CLI printed in <build>/test-logs/
# (tests/integration/test_output.hpp); every password, key and token the tests hand to mcpd is
# listed below, and one found in any kept output fails the scan with the file and the secret's
# kind (never the secret itself). --clear empties the directory (the fixture's setup).
#
# The scan also runs `mcpd config print` itself with a secret of each connection-string kind in
# its environment (so it never scans nothing) and checks that its patterns find every kind in a
# text made to hold them (so it never finds nothing because a pattern broke).
#
# Usage: secret_scan.py <test-logs dir> --mcpd <mcpd binary> | <test-logs dir> --clear
import os
import re
import shutil
import subprocess
import sys

# What the tests give mcpd as secrets (the file that does so in parentheses). Only strings no
# honest output contains: a masked form ("***") is what should be printed instead.
KNOWN_SECRETS = {
    "connection-string password": r"topsecret\d",       # mcpd_cli_test: REDIS_URL, DATABASE_URL…
    "Redis password": r"s3cr3tPW|s3cret|env-secret-1|wrong-secret-2|pw-XYZZY|pw-\d+-secret|sentinel-secret-7",
    "wrong password": r"wrong-password-xyz",             # redis_client_test
    "OAuth client secret": r"client-secret-3",           # oauth_test
    "OAuth token": r"secret-token-123|token-secret-2",   # mcpd_cli_test, gateway tests
    "header secret": r"header-secret-1",                 # gateway tests: headers of a session
    "storage encryption key": r"a{64}|b{64}|z{64}|correct horse battery staple",
}


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    logs = sys.argv[1]
    if "--clear" in sys.argv[2:]:
        shutil.rmtree(logs, ignore_errors=True)
        os.makedirs(logs, exist_ok=True)
        return 0
    patterns = {kind: re.compile(rx) for kind, rx in KNOWN_SECRETS.items()}
    planted = "topsecret0 s3cret wrong-password-xyz client-secret-3 secret-token-123 " \
        "header-secret-1 " + "a" * 64
    missed = [kind for kind, rx in patterns.items() if not rx.search(planted)]
    if missed:
        print("secret scan: the patterns miss planted secrets: " + ", ".join(missed))
        return 1
    mcpd = sys.argv[sys.argv.index("--mcpd") + 1]
    env = dict(os.environ,
               REDIS_URL="redis://app:topsecret0@cache:6379/0?password=topsecret0",
               DATABASE_URL="host=db user=u password=topsecret0 dbname=app",
               STORAGE_ENCRYPTION_KEY="a" * 64)
    env.pop("MCP_TS_STORAGE_TYPE", None)
    printed = subprocess.run([mcpd, "config", "print"], env=env, capture_output=True, text=True,
                             timeout=60)
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(logs, "scan-config-print.log"), "w", encoding="utf-8") as f:
        f.write(printed.stdout + printed.stderr)
    files = sorted(os.listdir(logs))
    found = []
    scanned = 0
    for name in files:
        with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as f:
            text = f.read()
        scanned += len(text)
        for kind, rx in patterns.items():
            for m in rx.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{name}:{line}: a {kind} ({len(m.group(0))} characters)")
    print(f"secret scan: {len(files)} outputs, {scanned} bytes, {len(found)} secrets found")
    for f in found[:50]:
        print("  " + f)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
