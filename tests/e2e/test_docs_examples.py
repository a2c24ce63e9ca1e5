"""Every YAML block in README.md and docs/*.md, and every configuration in
examples/, passes `fulcrum --check` (which also reads the certificates and
resolves the hosts: tests/unit/config/test_config.c only loads the examples).
A block that is a whole file is checked as it is; a fragment (a top-level
section, a pool or two, a routes or servers list) is placed into the smallest
file around it, so the keys it shows are real."""
import glob
import os
import re
import subprocess
import textwrap

import harness as h

BASE_LISTENER = "listeners:\n  - address: 127.0.0.1:18080\n    routes: [{pool: %s}]\n"
BASE_POOL = "pools:\n  %s:\n    servers: [http://127.0.0.1:9]\n"


def blocks():
    files = [os.path.join(h.ROOT, "README.md")] + sorted(glob.glob(os.path.join(h.ROOT, "docs", "*.md")))
    for path in files:
        with open(path) as f:
            text = f.read()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            line = text.count("\n", 0, m.start()) + 2
            yield "%s:%d" % (os.path.relpath(path, h.ROOT), line), m.group(1)


def top_keys(y):
    return re.findall(r"^([a-z_]+):", y, re.M)


def pool_names(y):
    """Names of the pools under a top-level pools: mapping."""
    m = re.search(r"^pools:\n((?:[ #].*\n|\n)*)", y, re.M)
    return re.findall(r"^  ([A-Za-z0-9_.-]+):", m.group(1), re.M) if m else []


def referenced_pools(y):
    return sorted(set(re.findall(r"pool: *([A-Za-z0-9_.-]+)", y)))


def wrap(y):
    """The smallest whole file around a fragment."""
    keys = top_keys(y)
    if "listeners" in keys:
        return y
    if keys and keys[0] == "routes":
        pools = referenced_pools(y) or ["p"]
        return ("listeners:\n  - address: 127.0.0.1:18080\n" + textwrap.indent(y, "    ") +
                "pools:\n" + "".join("  %s:\n    servers: [http://127.0.0.1:9]\n" % p for p in pools))
    if keys and keys[0] == "servers":
        return BASE_LISTENER % "p" + "pools:\n  p:\n" + textwrap.indent(y, "    ")
    if "pools" in keys:
        names = pool_names(y)
        h.check(names, "a pools: fragment names its pools")
        return BASE_LISTENER % names[0] + y
    return y + BASE_LISTENER % "p" + BASE_POOL % "p"


_PEM = {}


def pem_files():
    """A certificate (for localhost) and its key, made once."""
    if not _PEM:
        d = h.tmpdir()
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "c.key")
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=localhost"], check=True, capture_output=True)
        _PEM.update(cert=cert, key=key, ca=cert)
    return _PEM


def with_real_files(y):
    """The docs name files such as /etc/fulcrum/site.pem: --check reads them,
    so each cert:, key:, ca: and token_file: points at a real one (the key
    stays as written); password_file: (cluster.redis) reads the token's file."""
    f = pem_files()
    if "token" not in f:
        f["token"] = os.path.join(os.path.dirname(f["cert"]), "admin.token")
        with open(f["token"], "w") as t:
            t.write("docs-token\n")
    y = re.sub(r"\b(token_file): *(/[^\s,}]+)", lambda m: "token_file: %s" % f["token"], y)
    y = re.sub(r"\b(password_file): *(/[^\s,}]+)", lambda m: "password_file: %s" % f["token"], y)
    return re.sub(r"\b(cert|key|ca): *(/[^\s,}]+)", lambda m: "%s: %s" % (m.group(1), f[m.group(1)]), y)


# Files of examples/ that are not configurations, and where they are tested.
NOT_CONFIG = {"embed.c": "built and run as unit_embed_example (CMakeLists.txt)"}


def check_file(text):
    """fulcrum --check on text (its certificate paths pointed at real files):
    None when it passes, else what it said."""
    text = with_real_files(text)
    r = h.run_fulcrum(["--check", "-c", h.write_file(text, name="block.yaml")])
    return None if r.returncode == 0 else "%s\n%s" % ((r.stdout + r.stderr).strip(), text)


@h.test
def every_example_checks():
    """Each file in examples/ is a configuration that passes --check, or is
    listed in NOT_CONFIG: a new example cannot go unchecked."""
    d = os.path.join(h.ROOT, "examples")
    bad, n = [], 0
    for name in sorted(os.listdir(d)):
        if name in NOT_CONFIG:
            continue
        h.check(name.endswith((".yaml", ".yml")), "examples/%s: not a configuration and not in NOT_CONFIG" % name)
        n += 1
        with open(os.path.join(d, name)) as fh:
            why = check_file(fh.read())
        if why:
            bad.append("examples/%s: %s" % (name, why))
    h.check(n >= 12, "found the examples (%d)" % n)
    h.check(not bad, "examples that do not pass --check:\n\n" + "\n\n".join(bad))


@h.test
def every_yaml_block_in_the_docs_checks():
    bad = []
    n = 0
    for where, y in blocks():
        n += 1
        why = check_file(wrap(y))
        if why:
            bad.append("%s: %s" % (where, why))
    h.check(n >= 10, "found the YAML blocks (%d)" % n)
    h.check(not bad, "blocks that do not pass --check:\n\n" + "\n\n".join(bad))


h.main()
