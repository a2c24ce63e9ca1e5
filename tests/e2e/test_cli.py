"""Command line: -c FILE runs, --check validates (exit 0/1, file:line:col), --version,
--help; config errors name the place and unknown keys are errors."""
import re

import harness as h


def valid_yaml(port, backends):
    return h.config(port, backends)


@h.test
def version():
    p = h.run_fulcrum(["--version"])
    h.eq(p.returncode, 0, "--version exit code")
    out = p.stdout + p.stderr
    h.check(re.search(r"fulcrum\D*\d+\.\d+\.\d+", out), "--version prints 'fulcrum X.Y.Z': %r" % out)


@h.test
def help_text():
    p = h.run_fulcrum(["--help"])
    h.eq(p.returncode, 0, "--help exit code")
    out = p.stdout + p.stderr
    for flag in ("-c", "--check", "--listen", "--to"):
        h.check(flag in out, "--help mentions %s: %r" % (flag, out[:500]))


@h.test
def unknown_flag_fails():
    p = h.run_fulcrum(["--no-such-flag"])
    h.check(p.returncode != 0, "unknown flag must fail")
    h.check(p.stderr.strip(), "unknown flag explains itself on stderr")


@h.test
def check_valid():
    e = h.Echo()
    path = h.write_file(valid_yaml(h.free_port(), [e]))
    p = h.run_fulcrum(["--check", "-c", path])
    h.eq(p.returncode, 0, "--check of a valid file: exit code (stderr %r)" % p.stderr)


def expect_error(yaml_text, line, key_hint):
    path = h.write_file(yaml_text)
    p = h.run_fulcrum(["--check", "-c", path])
    h.eq(p.returncode, 1, "--check of an invalid file: exit code (stderr %r)" % p.stderr)
    m = re.search(re.escape(path) + r":(\d+):(\d+): ", p.stderr)
    if not m:
        # accept the base name too, but it must be FILE:line:col
        m = re.search(r"fulcrum\.yaml:(\d+):(\d+): ", p.stderr)
    h.check(m, "error names FILE:line:col: %r" % p.stderr)
    h.eq(int(m.group(1)), line, "error line (stderr %r)" % p.stderr)
    h.check(int(m.group(2)) >= 1, "column >= 1")
    h.check(key_hint in p.stderr, "error names %r: %r" % (key_hint, p.stderr))
    return p


@h.test
def check_bad_value_names_place():
    e = h.Echo()
    text = valid_yaml(h.free_port(), [e]).replace("workers: 1", "workers: banana")
    line = text.split("\n").index("workers: banana") + 1
    expect_error(text, line, "workers")


@h.test
def check_unknown_key_is_error():
    e = h.Echo()
    text = valid_yaml(h.free_port(), [e]).replace("    algorithm: round_robin",
                                                  "    algoritm: round_robin")
    line = text.split("\n").index("    algoritm: round_robin") + 1
    expect_error(text, line, "algoritm")


@h.test
def check_unknown_top_level_key():
    e = h.Echo()
    text = valid_yaml(h.free_port(), [e]) + "frobnicate: yes\n"
    line = text.split("\n").index("frobnicate: yes") + 1
    expect_error(text, line, "frobnicate")


@h.test
def check_unknown_algorithm_lists_known():
    e = h.Echo()
    text = valid_yaml(h.free_port(), [e]).replace("algorithm: round_robin", "algorithm: fastest")
    line = text.split("\n").index("    algorithm: fastest") + 1
    p = expect_error(text, line, "fastest")
    h.check("round_robin" in p.stderr, "unknown algorithm lists the known ones: %r" % p.stderr)


@h.test
def check_yaml_syntax_error():
    path = h.write_file("workers: 2\nlisteners: [\n  - oops: {\n")
    p = h.run_fulcrum(["--check", "-c", path])
    h.eq(p.returncode, 1, "syntax error exit code")
    h.check(re.search(r"fulcrum\.yaml:\d+:\d+: ", p.stderr), "syntax error names file:line:col: %r" % p.stderr)


@h.test
def check_missing_file():
    p = h.run_fulcrum(["--check", "-c", "/nonexistent/fulcrum.yaml"])
    h.eq(p.returncode, 1, "missing file exit code")
    h.check("/nonexistent/fulcrum.yaml" in p.stderr, "names the missing file: %r" % p.stderr)


@h.test
def run_with_config_file():
    bs = h.echo_backends(2)
    f = h.start_proxy(bs)
    r = h.get(f.port, "/hello")
    h.eq(r.status, 200, "status through fulcrum -c")
    h.check(r.json()["name"] in ("echo-1", "echo-2"), "answered by a backend")
    h.eq(r.json()["path"], "/hello", "path forwarded")


@h.test
def run_with_invalid_config_exits():
    e = h.Echo()
    port = h.free_port()
    text = valid_yaml(port, [e]).replace("workers: 1", "workers: -3")
    f = h.Fulcrum.from_config(text, port=port, wait=False)
    rc = f.wait(10)
    h.check(rc is not None and rc != 0, "fulcrum -c with an invalid file exits non-zero (rc %r)" % rc)
    h.check("workers" in f.stderr_text(), "and says why: %r" % f.stderr_text())


h.main()
