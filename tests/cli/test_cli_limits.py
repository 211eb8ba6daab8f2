"""Limits Azure enforces and bounds on what the CLI reads, through the installed ``cmklab`` script: tag names
<= 512 characters, values <= 256, at most 50 tags on a resource (15 on a key); ``@file`` values and
``--pem-file`` are read with a bound (``/dev/zero`` fails fast); a ``--query`` nesting too deep is a usage
error, not a RecursionError."""

from __future__ import annotations

import os

import pytest

from .test_cli_ids import az


def test_tag_limits(cli, rg, cmklab_bin):
    r = az(cmklab_bin, cli, "disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "--tags", "k" * 513 + "=v")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("ERROR: (InvalidTagNameLength) The tag name 'kkk")
    assert "513 characters long; tag names can have at most 512 characters." in r.stderr
    r = az(cmklab_bin, cli, "group", "create", "-n", "g2", "-l", "eastus", "--tags", "k=" + "v" * 257)
    assert r.returncode == 1 and "(InvalidTagValueLength) The value of tag 'k' is 257 characters long" in r.stderr
    many = [f"t{i}=x" for i in range(51)]
    r = az(cmklab_bin, cli, "disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "--tags", *many)
    assert r.returncode == 1 and "(InvalidTagCount) 51 tags were given; at most 50 tags are allowed" in r.stderr
    assert cli.tsv("disk", "list", "--query", "length(@)") == "0"  # nothing was created
    over = az(cmklab_bin, cli, "disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "--tags", *many[:50],
            "k" * 512 + "=" + "v" * 256, "-o", "none")
    assert over.returncode == 1  # 51 again: the limit counts every tag
    ok = az(cmklab_bin, cli, "disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "--tags", *many[:49],
            "k" * 512 + "=" + "v" * 256, "--query", "length(keys(tags))", "-o", "tsv")
    assert (ok.returncode, ok.stdout) == (0, "50\n"), ok.stderr


def test_key_tags_limit(cli, landscape, cmklab_bin):
    r = az(cmklab_bin, cli, "keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1", "--tags",
           *[f"t{i}" for i in range(16)])
    assert r.returncode == 1 and "16 tags were given; at most 15 tags are allowed per key." in r.stderr


def test_tags_from_a_file_are_bounded(cli, rg, cmklab_bin, tmp_path):
    small = tmp_path / "tags.txt"
    small.write_text("env=prod\n")
    r = az(cmklab_bin, cli, "group", "create", "-n", "g2", "-l", "eastus", "--tags", f"@{small}", "--query",
           "tags.env", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "prod\n"), r.stderr
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(1024 * 1024 + 1)  # sparse: 1 MiB and a byte
    r = az(cmklab_bin, cli, "group", "create", "-n", "g3", "-l", "eastus", "--tags", f"@{big}")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"ERROR: argument --tags: '{big}' is larger than 1 MiB, the most this value may be\n"


def test_pem_file_is_bounded(cli, landscape, cmklab_bin, tmp_path):
    r = az(cmklab_bin, cli, "keyvault", "key", "import", "--vault-name", "kv1", "-n", "imp", "--pem-file",
           "/dev/zero")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "ERROR: argument --pem-file: '/dev/zero' is larger than 64 KiB, the most this value may be\n"
    missing = az(cmklab_bin, cli, "keyvault", "key", "import", "--vault-name", "kv1", "-n", "imp", "--pem-file",
                 str(tmp_path / "nope.pem"))
    assert missing.returncode == 2 and "argument --pem-file: cannot read" in missing.stderr
    assert "No such file or directory" in missing.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_pem_file_fifo_is_refused_not_waited_on(cli, landscape, cmklab_bin, tmp_path):
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    r = az(cmklab_bin, cli, "keyvault", "key", "import", "--vault-name", "kv1", "-n", "imp", "--pem-file", str(fifo))
    assert (r.returncode, r.stderr) == (2, f"ERROR: argument --pem-file: '{fifo}' is not a regular file\n")


def test_deeply_nested_query_is_a_usage_error(cli, rg, cmklab_bin):
    r = az(cmklab_bin, cli, "group", "list", "--query", "|".join(["@"] * 20000), "-o", "tsv")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("ERROR: argument --query: the expression nests 20,000 levels deep; at most 200 are "
                               "allowed\n")
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr
    r = az(cmklab_bin, cli, "group", "list", "--query", "[" * 5000 + "@" + "]" * 5000)
    assert r.returncode == 2 and "levels deep; at most 200 are allowed" in r.stderr
    r = az(cmklab_bin, cli, "group", "list", "--query", "|".join(["@"] * 100) + "|[0].name", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, f"{rg}\n")
