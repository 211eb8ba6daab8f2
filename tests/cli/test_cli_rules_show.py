"""``cmklab rules show`` through the installed ``cmklab``: the rules that differ between the profiles as a table,
each with the document (and its date) it follows; ``--profile`` cites that profile's documents; ``-o tsv --query``
reads one cell."""

from __future__ import annotations

import json
import re
import subprocess

from engine.rules import PROFILES, RULE_ROWS


def _cmklab(cmklab_bin, home, *argv):
    return subprocess.run([str(cmklab_bin), "--home", str(home), *argv], capture_output=True, text=True, timeout=120)


def test_rules_show_prints_the_differences_as_a_table(tmp_path, cmklab_bin):
    home = tmp_path / "h"
    r = _cmklab(cmklab_bin, home, "rules", "show")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.match(r"Rule +Seeds +Azure-2025 +Follows +Dated\s*$", lines[0])
    assert lines[1].startswith("-----")
    row = next(line for line in lines if line.startswith("Disk encryption sets per region"))
    assert re.search(r"\b50 +5,000 +Server-side encryption of Azure Disk Storage, restrictions +2023-02-22", row)
    assert any(line.startswith("Premium SSD v2 regions") for line in lines)
    assert not any(line.startswith("Automatic rotation moves") for line in lines)  # the same in both: not shown


def test_rules_show_profile_all_and_tsv_query(tmp_path, cmklab_bin):
    r = _cmklab(cmklab_bin, tmp_path / "h", "rules", "show", "--profile", "seeds", "--all", "-o", "tsv", "--query",
                "[?Rule=='Disk SKUs'].[seeds, Follows, Dated]")
    assert r.stdout == ("Standard_LRS, StandardSSD_LRS, Premium_LRS, UltraSSD_LRS\tdocument 000, Server-side "
                        "encryption of Azure Managed Disks - PowerShell\t2020-04\n"), r.stderr
    rows = json.loads(_cmklab(cmklab_bin, tmp_path / "h", "rules", "show", "--all", "-o", "json").stdout)
    assert [row["Rule"] for row in rows] == [label for _, label, _ in RULE_ROWS]
    same = next(row for row in rows if row["Rule"].startswith("Automatic rotation"))
    assert same["seeds"] == same["azure-2025"] == "1 hour(s)"


def test_every_rule_of_every_profile_names_a_dated_document():
    for profile in PROFILES.values():
        for fld, label, _ in RULE_ROWS:
            doc, date = profile.sources[fld]
            assert doc, (profile.name, fld)
            assert re.search(r"\d{4}(-\d{2}){0,2}", date), (profile.name, fld, date)
