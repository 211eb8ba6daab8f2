"""The CLI as a process: the installed ``cmklab`` script, exit codes, streams, global options, and no
textual on the CLI path."""

from __future__ import annotations

import json
import subprocess
import sys


def run(cmklab_bin, env, *argv, stdin=None):
    return subprocess.run([str(cmklab_bin), *argv], capture_output=True, text=True, env=env, timeout=120,
                          input=stdin)


def test_cli_call_does_not_import_textual(tmp_path):
    """Nor orjson and msgspec, which only an import uses (importing orjson takes 12 ms: a tenth of a ``key show``)."""
    code = (
        "import sys\n"
        "from console.cli import run_cli\n"
        f"rc1 = run_cli(['az', 'group', 'create', '-n', 'rg1', '-l', 'eastus', '-o', 'none'], home={str(tmp_path)!r})\n"
        f"rc2 = run_cli(['az', 'group', 'list', '-o', 'table'], home={str(tmp_path)!r})\n"
        f"rc3 = run_cli(['az', 'disk', 'create', '--help'], home={str(tmp_path)!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'orjson', 'msgspec'))\n"
        "print('RC', rc1, rc2, rc3, 'BAD', bad)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "RC 0 0 0 BAD []"


def test_engine_views_importable_without_textual():
    code = "import sys, engine.views; print(sorted(m for m in sys.modules if m.startswith(('textual', 'rich'))))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "[]"


def test_script_exit_codes_and_streams(cmklab_bin, cmklab_env):
    ok = run(cmklab_bin, cmklab_env, "az", "group", "create", "-n", "rg1", "-l", "eastus")
    assert ok.returncode == 0 and json.loads(ok.stdout)["name"] == "rg1" and ok.stderr == ""
    usage = run(cmklab_bin, cmklab_env, "az", "group", "show", "--nope")
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.startswith("ERROR: ")
    missing = run(cmklab_bin, cmklab_env, "az", "disk", "show", "-g", "rg1", "-n", "nope")
    assert missing.returncode == 3 and missing.stderr.startswith("ERROR: (ResourceNotFound) ")
    refused = run(cmklab_bin, cmklab_env, "az", "group", "delete", "-n", "rg1")
    assert refused.returncode == 1 and refused.stderr.endswith("ERROR: Operation cancelled.\n")


def test_global_options_before_the_verb(cmklab_bin, cmklab_env, tmp_path):
    home = tmp_path / "other"
    r = run(cmklab_bin, cmklab_env, "--home", str(home), "--seed", "5", "az", "group", "create", "-n", "g",
            "-l", "westus2", "-o", "none")
    assert r.returncode == 0 and (home / "db" / "meta.json").exists()
    r = run(cmklab_bin, cmklab_env, "--home", str(home), "--read-only", "az", "group", "delete", "-n", "g", "--yes")
    assert r.returncode == 1 and "read-only" in r.stderr
    r = run(cmklab_bin, cmklab_env, f"--home={home}", "az", "group", "exists", "-n", "g")
    assert (r.returncode, r.stdout) == (0, "true\n")


def test_seeded_store_is_reproducible(cmklab_bin, cmklab_env, tmp_path):
    outs = []
    for name in ("a", "b"):
        env = dict(cmklab_env, CMKLAB_HOME=str(tmp_path / name))
        run(cmklab_bin, env, "az", "group", "create", "-n", "rg", "-l", "eastus", "-o", "none")
        run(cmklab_bin, env, "az", "keyvault", "create", "-n", "kvx", "-g", "rg", "-o", "none")
        outs.append(run(cmklab_bin, env, "az", "keyvault", "key", "create", "--vault-name", "kvx", "-n", "k").stdout)
    assert outs[0] == outs[1] and json.loads(outs[0])["key"]["kid"]
