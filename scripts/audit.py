"""Known vulnerabilities in what the platform installs: pip-audit over the venv's packages,
`npm audit --omit=dev` over the dashboard's. Run by `make lint`.

A reached advisory database with findings fails (exit 1). When a database cannot be reached
(offline), that audit is skipped with a message saying so — never a silent pass; any other
failure of a tool fails too."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DASHBOARD = ROOT / "dashboard"
TIMEOUT_S = 300

# What the tools print when the advisory database does not answer (DNS, refused, timeout).
UNREACHABLE_MARKERS = (
    "connectionerror",
    "connection refused",
    "max retries exceeded",
    "name or service not known",
    "temporary failure in name resolution",
    "failed to resolve",
    "network is unreachable",
    "timed out",
    "enotfound",
    "eai_again",
    "econnrefused",
    "econnreset",
    "etimedout",
    "enetunreach",
    "request to https",  # npm: "request to https://... failed, reason: ..."
)


def unreachable(output: str) -> bool:
    text = output.lower()
    return any(marker in text for marker in UNREACHABLE_MARKERS)


def skipped(tool: str, output: str) -> str:
    last = output.strip().splitlines()[-1:] or [""]
    return f"{tool}: skipped: advisory database unreachable ({last[0][:200]})"


def pip_audit() -> tuple[bool, str]:
    """(passed, message) for the Python packages installed in .venv (ours excluded)."""
    tool = VENV_BIN / "pip-audit"
    if not tool.exists():
        return False, "pip-audit: not installed (run `make .venv/.installed`)"
    # Run from the venv, it audits the venv's packages (the platform's and the tools').
    cmd = [str(tool), "--skip-editable", "--format", "json", "--progress-spinner", "off"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        output = done.stderr + done.stdout
        if unreachable(output):
            return True, skipped("pip-audit", output)
        return False, f"pip-audit failed (exit {done.returncode}):\n{output[-2000:]}"
    found = [
        f"{dep['name']} {dep['version']}: {vuln['id']} "
        f"(fixed in {', '.join(vuln.get('fix_versions', [])) or 'no release yet'})"
        for dep in report.get("dependencies", [])
        for vuln in dep.get("vulns", [])
    ]
    if found:
        return False, "pip-audit: known vulnerabilities:\n  " + "\n  ".join(found)
    return (
        True,
        f"pip-audit: {len(report.get('dependencies', []))} packages, no known vulnerability",
    )


def npm_audit() -> tuple[bool, str]:
    """(passed, message) for the dashboard's production dependencies."""
    npm = shutil.which("npm")
    if npm is None:
        return False, "npm audit: npm is not installed"
    cmd = [npm, "audit", "--omit=dev", "--json"]
    done = subprocess.run(
        cmd, cwd=DASHBOARD, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = None
    if report is None or "error" in report:
        output = done.stderr + done.stdout
        # The registry answered the audit request with an HTTP error (no advisory database
        # behind it, e.g. a mirror: 404/405/5xx), or the request never got an answer.
        refused = isinstance(report, dict) and isinstance(report.get("statusCode"), int)
        if refused or unreachable(output):
            message = report.get("message", "") if isinstance(report, dict) else ""
            return True, skipped("npm audit", str(message) or output)
        return False, f"npm audit failed (exit {done.returncode}):\n{output[-2000:]}"
    counts = report.get("metadata", {}).get("vulnerabilities", {})
    total = sum(v for k, v in counts.items() if k != "total" and isinstance(v, int))
    if total or done.returncode != 0:
        names = ", ".join(sorted(report.get("vulnerabilities", {}))) or "see `npm audit`"
        return False, f"npm audit: {total} known vulnerabilities ({counts}): {names}"
    return True, "npm audit: no known vulnerability in the dashboard's production dependencies"


def main() -> int:
    passed = True
    for audit in (pip_audit, npm_audit):
        ok, message = audit()
        print(message)
        passed = passed and ok
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
