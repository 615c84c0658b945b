"""Known vulnerabilities in the installed environment: ``pip-audit`` against PyPI's advisory
data. Fails (exit 1) on any finding. When the advisory data cannot be reached (offline, or an
index mirror without PyPI's per-release JSON API, where every package comes back "not found")
it prints one warning line and passes: CI must not fail for want of a network, but it must
say that nothing was checked."""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    cmd = [sys.executable, "-m", "pip_audit", "--skip-editable", "--format", "json",
           "--progress-spinner", "off"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return _skip("the advisory service did not answer within 300 s")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return _skip(f"pip-audit could not run ({last[:160]})")
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    audited = [d for d in deps if "skip_reason" not in d]
    if vulnerable:
        for d in vulnerable:
            for v in d["vulns"]:
                fixes = ", ".join(v.get("fix_versions") or []) or "none yet"
                print(f"pip-audit: {d['name']} {d['version']}: {v['id']} (fixed in {fixes})")
        return 1
    if not audited:
        return _skip(f"PyPI's advisory data is unreachable from here (none of {len(deps)} "
                     "packages could be looked up)")
    skipped = len(deps) - len(audited)
    print(f"pip-audit: no known vulnerabilities in {len(audited)} packages"
          + (f" ({skipped} could not be looked up)" if skipped else ""))
    return 0


def _skip(why: str) -> int:
    print(f"WARNING pip-audit skipped: {why}; dependencies were NOT audited", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
