"""``cmklab import``: a twin of a real subscription's key topology, from what the Azure CLI prints.

    cmklab import --capture-script > capture.sh     # the read-only az commands that produce the input
    cmklab --home twin-home import twin             # a folder's *.json; one transaction: lands whole or not at all

cmklab never talks to Azure: the operator runs the capture script with their own credentials. Exit codes
as az: 0 imported, 1 refused (a home that holds state without --merge, input the twin cannot model
without --partial, a read-only session), 2 usage (unknown flag, unreadable or malformed input).
"""

from __future__ import annotations

import json
import os
import sys
import time

USAGE = """usage: cmklab [--home DIR] [--seed N] import [--merge] [--partial] [--json] PATH [PATH ...]
       cmklab import --capture-script [--shell bash|powershell]

Build a twin of a real subscription's key topology from the JSON the Azure CLI prints (-o json):
az group list, keyvault list/show, keyvault key list/list-versions/show, keyvault key rotation-policy
show, role assignment list --all, disk-encryption-set list, disk list, snapshot list, image list,
vm list -d, vmss list, and Resource Graph query pages (az graph query). Files may come in any order;
each item is recognised from its content. A PATH that is a folder stands for its *.json files (the
capture script writes them into twin/: cmklab import twin).

Key material never leaves Azure: each key version gets generated stand-in material (RSA-2048 unless the
input shows another size), marked standIn wherever a key is shown; each customer-key disk gets a data key
wrapped by the version its set names. Imported disks hold no data.

options:
  --capture-script  print the read-only az commands that produce the input, and exit
  --shell SHELL     the capture script's language: bash (default) or powershell (Windows)
  --merge           add the twin to a home that already holds state (same subscription)
  --partial         import what can be modelled even when some items cannot (they are listed)
  --json            print the summary as JSON
  -h, --help        show this help

Files over 512 MiB are refused; exit codes: 0 imported, 1 refused, 2 usage or unreadable input."""

GRAPH_TYPES = ("microsoft.resources/subscriptions/resourcegroups", "microsoft.keyvault/vaults",
               "microsoft.compute/diskencryptionsets", "microsoft.compute/disks", "microsoft.compute/snapshots",
               "microsoft.compute/images", "microsoft.compute/virtualmachines",
               "microsoft.compute/virtualmachinescalesets")

GRAPH_QUERY = ("Resources | where type in~ ({types}) | extend powerState = properties.extended.instanceView."
               "powerState.code | order by id asc")


SHELLS = ("bash", "powershell")
"""The languages the capture script is printed in."""


def capture_script(shell: str = "bash") -> str:
    """The read-only az commands that write the input of ``cmklab import``, as a bash or a PowerShell script
    (the same commands, the same file names)."""
    types = ", ".join(f"'{t}'" for t in GRAPH_TYPES if "resourcegroups" not in t)
    query = GRAPH_QUERY.format(types=types)
    if shell == "powershell":
        return _powershell_script(query)
    if shell != "bash":
        raise ValueError(f"shell {shell!r}; allowed: {', '.join(SHELLS)}")
    return f"""#!/usr/bin/env bash
# Read-only az commands whose output `cmklab import` reads (printed by `cmklab import --capture-script`).
# Run them signed in with your own credentials (az login); nothing here changes anything in Azure.
# Needs: Reader on the subscription; on each vault, keys list/get (access policy) or Key Vault Reader (RBAC);
# the resource-graph extension for the last step (az extension add --name resource-graph).
# Then: cmklab --home ./twin-home import twin   (the folder: its *.json)
set -euo pipefail
SUBSCRIPTION="${{SUBSCRIPTION:?set SUBSCRIPTION to the subscription id or name}}"
az account set --subscription "$SUBSCRIPTION"
mkdir -p twin && cd twin

az group list -o json > group-list.json
az keyvault list -o json > keyvault-list.json
for v in $(az keyvault list --query "[].name" -o tsv); do
  az keyvault show -n "$v" -o json > "keyvault-show-$v.json"
  az keyvault key list --vault-name "$v" -o json > "keyvault-key-list-$v.json"
  for k in $(az keyvault key list --vault-name "$v" --query "[].name" -o tsv); do
    az keyvault key show --vault-name "$v" -n "$k" -o json > "keyvault-key-show-$v-$k.json"
    az keyvault key list-versions --vault-name "$v" -n "$k" -o json > "keyvault-key-list-versions-$v-$k.json"
    az keyvault key rotation-policy show --vault-name "$v" -n "$k" -o json \\
      > "keyvault-key-rotation-policy-show-$v-$k.json" 2>/dev/null || rm -f "keyvault-key-rotation-policy-show-$v-$k.json"
  done
done
az role assignment list --all -o json > role-assignment-list-all.json
az disk-encryption-set list -o json > disk-encryption-set-list.json
az disk list -o json > disk-list.json
az snapshot list -o json > snapshot-list.json
az image list -o json > image-list.json
az vm list -d -o json > vm-list-d.json
az vmss list -o json > vmss-list.json

# Optional: the same types from Azure Resource Graph, 1,000 rows a page (cmklab merges the copies).
# Skipped, with a note, when the resource-graph extension is not installed: the files above are enough.
if az extension show --name resource-graph -o none 2>/dev/null; then
  QUERY="{query}"
  page=1; token=""
  while :; do
    az graph query -q "$QUERY" --subscriptions "$(az account show --query id -o tsv)" --first 1000 \\
      ${{token:+--skip-token "$token"}} -o json > "graph-query-$page.json"
    token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("skip_token") or "")' \\
      "graph-query-$page.json")
    [ -z "$token" ] && break
    page=$((page + 1))
  done
else
  echo "Resource Graph step skipped: no resource-graph extension (az extension add --name resource-graph)." >&2
fi
"""


def _powershell_script(query: str) -> str:
    # Set-Content writes az's lines as they are (Out-File would format them to the console's width); Windows
    # PowerShell 5.1 writes UTF-8 with a byte order mark, which cmklab import skips. Every az call is checked
    # with $LASTEXITCODE (native commands do not stop a script on failure), and stderr of the one call that may
    # fail (a key without a rotation policy) is dropped without turning into a terminating error.
    return f"""# Read-only az commands whose output `cmklab import` reads
# (printed by `cmklab import --capture-script --shell powershell`).
# Run them signed in with your own credentials (az login); nothing here changes anything in Azure.
# Needs: Reader on the subscription; on each vault, keys list/get (access policy) or Key Vault Reader (RBAC);
# the resource-graph extension for the last step (az extension add --name resource-graph).
# Run: $env:SUBSCRIPTION = '<id or name>'; .\\capture.ps1
# Then: cmklab --home .\\twin-home import twin   (the folder: its *.json)
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
function Assert-Az {{ if ($LASTEXITCODE -ne 0) {{ throw "az failed (exit $LASTEXITCODE); nothing more was captured" }} }}
if (-not $env:SUBSCRIPTION) {{ throw 'set $env:SUBSCRIPTION to the subscription id or name' }}
az account set --subscription $env:SUBSCRIPTION; Assert-Az
New-Item -ItemType Directory -Force -Path twin | Out-Null
Push-Location twin
try {{
  az group list -o json | Set-Content -Encoding utf8 group-list.json; Assert-Az
  az keyvault list -o json | Set-Content -Encoding utf8 keyvault-list.json; Assert-Az
  $vaults = @(az keyvault list --query "[].name" -o tsv); Assert-Az
  foreach ($v in $vaults) {{
    az keyvault show -n $v -o json | Set-Content -Encoding utf8 "keyvault-show-$v.json"; Assert-Az
    az keyvault key list --vault-name $v -o json | Set-Content -Encoding utf8 "keyvault-key-list-$v.json"; Assert-Az
    $keys = @(az keyvault key list --vault-name $v --query "[].name" -o tsv); Assert-Az
    foreach ($k in $keys) {{
      az keyvault key show --vault-name $v -n $k -o json | Set-Content -Encoding utf8 "keyvault-key-show-$v-$k.json"; Assert-Az
      az keyvault key list-versions --vault-name $v -n $k -o json | Set-Content -Encoding utf8 "keyvault-key-list-versions-$v-$k.json"; Assert-Az
      $policy = "keyvault-key-rotation-policy-show-$v-$k.json"
      $text = az keyvault key rotation-policy show --vault-name $v -n $k -o json 2>$null
      if ($LASTEXITCODE -eq 0) {{ $text | Set-Content -Encoding utf8 $policy }}
    }}
  }}
  az role assignment list --all -o json | Set-Content -Encoding utf8 role-assignment-list-all.json; Assert-Az
  az disk-encryption-set list -o json | Set-Content -Encoding utf8 disk-encryption-set-list.json; Assert-Az
  az disk list -o json | Set-Content -Encoding utf8 disk-list.json; Assert-Az
  az snapshot list -o json | Set-Content -Encoding utf8 snapshot-list.json; Assert-Az
  az image list -o json | Set-Content -Encoding utf8 image-list.json; Assert-Az
  az vm list -d -o json | Set-Content -Encoding utf8 vm-list-d.json; Assert-Az
  az vmss list -o json | Set-Content -Encoding utf8 vmss-list.json; Assert-Az

  # Optional: the same types from Azure Resource Graph, 1,000 rows a page (cmklab merges the copies).
  # Skipped, with a warning, when the resource-graph extension is not installed: the files above are enough.
  az extension show --name resource-graph -o none 2>$null
  if ($LASTEXITCODE -ne 0) {{
    Write-Warning "Resource Graph step skipped: no resource-graph extension (az extension add --name resource-graph)."
    return
  }}
  $query = "{query}"
  $subscriptionId = az account show --query id -o tsv; Assert-Az
  $page = 1
  $token = $null
  while ($true) {{
    $file = "graph-query-$page.json"
    if ($token) {{
      az graph query -q $query --subscriptions $subscriptionId --first 1000 --skip-token $token -o json | Set-Content -Encoding utf8 $file; Assert-Az
    }} else {{
      az graph query -q $query --subscriptions $subscriptionId --first 1000 -o json | Set-Content -Encoding utf8 $file; Assert-Az
    }}
    $token = (Get-Content -Raw $file | ConvertFrom-Json).skip_token
    if (-not $token) {{ break }}
    $page++
  }}
}} finally {{
  Pop-Location
}}
"""


class Progress:
    """A progress bar on stderr for imports that take more than a second; silent when stderr is not a TTY."""

    def __init__(self, stream=None, delay: float = 1.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.delay = delay
        self.shown = False
        self._last = 0.0
        self._stage = ""
        self._width = 0  # (the line drawn last: a shorter one is padded over it)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        # at most ten updates a second, but a new stage and the end of one always show
        if now - self.start < self.delay or (now - self._last < 0.1 and done < total and stage == self._stage):
            return
        self._last, self._stage = now, stage
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width) + "." * (width - int(frac * width))
        from engine.twin import progress_count  # (imported by the import that tells this)

        count = progress_count(stage, done, total)
        line = f"importing {stage:<12} [{bar}] {frac:>4.0%}" + (f" {count}" if count else "")
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def run_import(args: list[str], home=None, seed=None, profile=None, read_only=False, empty=False, **_: object) -> int:
    from engine.errors import EngineError

    merge = partial = as_json = False
    paths: list[str] = []
    if "--capture-script" in args and not {"-h", "--help"} & set(args):
        rest = [a for a in args if a != "--capture-script"]
        shell = "bash"
        if rest[:1] == ["--shell"] and len(rest) == 2:
            shell = rest[1]
        elif len(rest) == 1 and rest[0].startswith("--shell="):
            shell = rest[0].split("=", 1)[1]
        elif rest:
            print(f"ERROR: --capture-script takes only --shell {'|'.join(SHELLS)}; unexpected: {' '.join(rest)}",
                  file=sys.stderr)
            return 2
        if shell not in SHELLS:
            print(f"ERROR: argument --shell: invalid choice: {shell!r} (choose from {', '.join(SHELLS)})",
                  file=sys.stderr)
            return 2
        sys.stdout.write(capture_script(shell))
        return 0
    for a in args:
        if a in ("-h", "--help"):
            print(USAGE)
            return 0
        if a == "--shell" or a.startswith("--shell="):
            print("ERROR: --shell goes with --capture-script (cmklab import --capture-script --shell powershell)",
                  file=sys.stderr)
            return 2
        if a == "--merge":
            merge = True
        elif a == "--partial":
            partial = True
        elif a == "--json":
            as_json = True
        elif a.startswith("-") and a != "-":
            print(f"ERROR: unrecognized arguments: {a}; allowed: --merge, --partial, --json, --capture-script, "
                  f"PATH ...", file=sys.stderr)
            return 2
        else:
            paths.append(a)
    if not paths:
        print("ERROR: the following arguments are required: PATH (the JSON files the capture script wrote; "
              "see cmklab import --capture-script)", file=sys.stderr)
        return 2
    from engine import twin

    try:
        paths = twin.input_files(paths)  # (a folder: its *.json, as the console's dialog takes it)
    except twin.ImportInputError as err:
        print(f"ERROR: ({err.code}) {err.message}", file=sys.stderr)
        return 2
    _keep_freed_memory(paths)
    progress = Progress()
    try:
        from datetime import datetime, timezone

        from console.session import default_home, open_engine
        from engine.clock import DEFAULT_START, iso
        from store import has_state

        # every file is read and checked, and into a fresh home planned, before the home is opened: input
        # that is refused leaves no home behind
        now = iso(DEFAULT_START if seed is not None else datetime.now(timezone.utc).replace(microsecond=0))
        _engine, report = twin.import_files_into(
            paths, lambda: open_engine(home, seed=seed, profile=profile, read_only=read_only),  # read-only: refused
            fresh=not has_state(home if home is not None else default_home()), now=now,
            worker_ok=seed is None and not read_only, merge=merge, partial=partial, progress=progress)
    except twin.ImportInputError as err:
        progress.close()
        print(f"ERROR: ({err.code}) {err.message}", file=sys.stderr)
        return 2
    except twin.Incomplete as err:
        progress.close()
        _print_report(err.report, as_json, sys.stderr)
        print(f"ERROR: ({err.code}) {err.message}", file=sys.stderr)
        return 1
    except EngineError as err:
        progress.close()
        print(f"ERROR: ({err.display_code}) {err.message}", file=sys.stderr)
        return 1
    progress.close()
    _print_report(report, as_json, sys.stdout)
    if os.environ.get("CMKLAB_TIMINGS"):  # where the time went (the benchmark reads it): one JSON line on stderr
        print(json.dumps({k: round(v, 3) for k, v in report.timings.items()}), file=sys.stderr)
    _end_now(_engine)
    return 0


KEEP_FREED_FROM = 32 << 20
"""Input bytes from which ``cmklab import`` keeps the memory it frees for its own reuse (:func:`_keep_freed_memory`)."""


def _keep_freed_memory(paths: list[str]) -> None:
    """As the process's own command, for a large input on glibc: the allocator keeps what the import frees for
    its next allocations, instead of handing it back to the system and asking for new zeroed pages (the parse's
    objects, freed as they are planned, then the commit's shards of megabytes, each one a new mapping otherwise):
    ~5% of a 100,000-resource import, and a fifth of its system time. The process ends with the import."""
    from console import main as program

    if not program.PROCESS_COMMAND or not sys.platform.startswith("linux"):
        return
    if sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) < KEEP_FREED_FROM:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # (not glibc: musl has no mallopt)
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # (malloc.h)
    mallopt(m_mmap_threshold, 32 << 20)  # (glibc's largest: larger blocks are mapped, and unmapped when freed)
    mallopt(m_trim_threshold, 1 << 30)
    mallopt(m_top_pad, 64 << 20)


def _ends_process() -> bool:
    """Whether this import is the process's own command, which :func:`_end_now` ends once it is reported."""
    import threading

    from console import main as program

    return bool(program.PROCESS_COMMAND) and threading.current_thread() is threading.main_thread()


def _end_now(engine) -> None:
    """As the process's own command (``cmklab import``), end the process once the import is committed and
    reported, without freeing its models one by one (0.2-0.3 s of 100,000 resources, after the work is done):
    the store is closed, the output flushed, then ``os._exit(0)``. Called from another program (tests), return."""
    if not _ends_process():
        return
    engine.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _print_report(report, as_json: bool, stream) -> None:
    if as_json:
        stream.write(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    else:
        stream.write("\n".join(report.lines()) + "\n")
