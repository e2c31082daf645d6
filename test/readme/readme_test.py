#!/usr/bin/env python3
"""The executable README: run every example of README.md, in order, against a
fresh database, and compare what it prints with what the README shows.

Run by tools/run-suites.sh inside pg_virtualenv (the libpq environment names
a server on which PGUSER is a superuser, the owner).  Prints one TAP line
per example ("ok N - README.md:LINE ..." / "not ok ...") and, last, the line
"N passed, N failed".

How the README is read (the conventions are also listed in README.md, under
"Tests"):

* A ```sql block is a psql session: statements (a line that starts with an
  SQL keyword, a psql meta-command or a comment, up to the `;` that ends it
  outside quotes) each followed by the output psql prints for it, as shown.
  Output is compared whitespace-insensitively (the lists of whitespace-
  separated words must be equal), with psql's row-count footers off and the
  "psql:FILE:LINE: " prefix of error lines removed.  A statement with no
  output shown under it is not compared, but it must not raise an error.
* A block whose first line is a comment starting "-- as the owner" runs as
  the superuser that installed the extension; every other block runs as the
  application role APP_ROLE, which the README creates, logged in with its own
  connection (the harness gives it a password of its own: the README's is a
  placeholder).
* A statement whose text contains "-- output varies" is one whose output
  legitimately differs between runs (timestamps, sizes): it must succeed,
  and only its first output line (the column names) is compared.
* A ```sh block runs with bash -e in a scratch directory that links to the
  repository's files (so data/sample_pages.jsonl.gz is there and files the
  example writes land in scratch), as the application role, or as the owner
  when its first line is "# as the owner".  It must exit with 0.  When its
  commands start with "$ ", each runs on its own and the lines under it are
  the output it must print (compared like SQL output).
* `<!-- readme-test: skip REASON -->` on the line before a block skips it:
  for commands that install packages or into the server, or run the test
  suites themselves.  Blocks of other languages and plain ``` blocks are not
  examples to run.

--self-test breaks the README in a few ways (an output value changed, a
statement broken, a shell command broken) and checks that each broken copy
fails, so that this test can fail.
"""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

APP_ROLE = "collector"
DB = "music_tm_readme"
KEYWORDS = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP",
            "ALTER", "GRANT", "REVOKE", "SET", "RESET", "EXPLAIN", "COMMENT",
            "BEGIN", "COMMIT", "ROLLBACK", "TRUNCATE", "VALUES", "TABLE",
            "COPY", "ANALYZE", "VACUUM", "CALL", "SHOW")
START = re.compile(r"^(?:(?:%s)\b|\\[a-zA-Z]|--(?!-))" % "|".join(KEYWORDS))
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip\b(.*?)-->\s*$")
VARIES = "-- output varies"
PSQL_PREFIX = re.compile(r"^psql:[^:]*:\d+: ", re.M)


class Statement:
    def __init__(self, line, sql):
        self.line = line          # README line number of its first line
        self.sql = sql            # list of lines
        self.expected = []        # output lines shown under it
        self.has_statement = False

    def title(self):
        first = next((l for l in self.sql if not l.startswith("--")), self.sql[0])
        return first.strip()[:60]


class Block:
    def __init__(self, lang, line, body, skip):
        self.lang = lang
        self.line = line          # README line number of the first body line
        self.body = body
        self.skip = skip
        first = next((l for l in body if l.strip()), "")
        self.owner = (first.startswith("-- as the owner")
                      or first.startswith("# as the owner"))


def blocks_of(text):
    """Fenced blocks of the README with their language and skip directive."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang = m.group(1)
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        skip = None
        if i > 0:
            s = SKIP.match(lines[i - 1])
            if s:
                skip = s.group(1).strip() or "skipped"
        out.append(Block(lang, start + 1, lines[start:j], skip))
        i = j + 1
    return out


def statement_ends(line, state):
    """Scan one line of SQL; state is the open quote character or None.
    Returns (ended, state): ended when a ';' outside quotes ends the line
    (a trailing -- comment aside)."""
    ended = False
    k = 0
    while k < len(line):
        c = line[k]
        if state:
            if c == state:
                if k + 1 < len(line) and line[k + 1] == state:
                    k += 1
                else:
                    state = None
        elif c in ("'", '"'):
            state = c
        elif line.startswith("--", k):
            break
        elif c == ";":
            ended = True
        elif not c.isspace():
            ended = False
        k += 1
    return ended, state


def statements_of(block):
    """The statements of an sql block, each with the output shown under it."""
    stmts = []
    cur = None
    in_sql = False
    state = None
    for n, line in enumerate(block.body):
        lineno = block.line + n
        if in_sql:
            cur.sql.append(line)
            ended, state = statement_ends(line, state)
            in_sql = not (ended and not state)
            continue
        if START.match(line):
            if cur is None or cur.has_statement:
                cur = Statement(lineno, [])
                stmts.append(cur)
            cur.sql.append(line)
            if line.startswith("--"):
                continue          # a comment: the statement follows
            cur.has_statement = True
            if not line.startswith("\\"):
                ended, state = statement_ends(line, None)
                in_sql = not (ended and not state)
            continue
        if cur is not None and cur.has_statement:
            if line.strip():
                cur.expected.append(line)
        elif line.strip():
            raise SyntaxError("README.md:%d: output before any statement: %r" % (lineno, line))
    if in_sql:
        raise SyntaxError("README.md:%d: statement without its ';'" % cur.line)
    return stmts


def complete(command):
    """Whether bash would run command as it stands (no open quote, no
    trailing backslash)."""
    if command.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n", "-c", command], capture_output=True).returncode == 0


def commands_of(block):
    """(line, command, expected output or None) of an sh block.  A block whose
    commands start with "$ " shows the output of each under it, which is
    compared; otherwise the whole block is one script whose output is not."""
    body = block.body
    if not any(l.startswith("$ ") for l in body):
        return [(block.line, "\n".join(body), None)]
    out = []
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            if not out and body[i].startswith("#"):
                i += 1            # a comment before the first command
                continue
            if body[i].strip() and not out:
                raise SyntaxError("README.md:%d: output before any command" % (block.line + i))
            if body[i].strip():
                out[-1][2].append(body[i])
            i += 1
            continue
        line = block.line + i
        cmd = [body[i][2:]]
        i += 1
        while not complete("\n".join(cmd)) and i < len(body):
            cmd.append(body[i])
            i += 1
        out.append((line, "\n".join(cmd), []))
    return out


def words(lines):
    return " ".join(lines).split()


class Runner:
    def __init__(self, repo, quiet=False):
        self.repo = repo
        self.quiet = quiet
        self.n = 0
        self.passed = 0
        self.failed = 0
        self.first_failure = None
        self.app_password = secrets.token_hex(12)
        self.app_ready = False
        self.scratch = tempfile.mkdtemp(prefix="music_tm_readme.")
        for name in os.listdir(repo):
            if name != ".git":
                os.symlink(os.path.join(repo, name), os.path.join(self.scratch, name))

    def report(self, ok, where, what, detail=""):
        self.n += 1
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            if self.first_failure is None:
                self.first_failure = where
        if not self.quiet:
            print("%s %d - README.md:%d %s" % ("ok" if ok else "not ok", self.n, where, what))
            if detail and not ok:
                for l in detail.rstrip("\n").split("\n"):
                    print("#   " + l)
        sys.stdout.flush()

    def owner_sql(self, sql, db="postgres"):
        r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("setup statement failed: %s\n%s" % (sql, r.stderr))
        return r.stdout

    def env(self, owner):
        e = dict(os.environ, PGDATABASE=DB, PGCLIENTENCODING="UTF8")
        if not owner:
            if not self.app_ready:
                # the README created the role; log in with a password of our own
                self.owner_sql("ALTER ROLE %s PASSWORD '%s'" % (APP_ROLE, self.app_password))
                self.app_ready = True
            e.update(PGUSER=APP_ROLE, PGPASSWORD=self.app_password)
        return e

    def app_role_exists(self):
        return self.owner_sql("SELECT count(*) FROM pg_roles WHERE rolname = '%s'" % APP_ROLE).strip() == "1"

    def run_sql_block(self, block):
        stmts = statements_of(block)
        if not block.owner and not self.app_role_exists():
            self.report(False, block.line, "block runs as %s, which the README has not created yet" % APP_ROLE)
            return
        script = ["\\pset footer off", "\\set VERBOSITY default"]
        for i, st in enumerate(stmts):
            script.append("\\echo @@readme-test %d@@" % i)
            script.extend(st.sql)
        script.append("\\echo @@readme-test end@@")
        path = os.path.join(self.scratch, "block.sql")
        with open(path, "w") as f:
            f.write("\n".join(script) + "\n")
        # stdout line-buffered, so that error messages (stderr) stay in order
        r = subprocess.run(["stdbuf", "-oL", "-eL", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", path],
                           env=self.env(block.owner), cwd=self.scratch,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = PSQL_PREFIX.sub("", r.stdout)
        parts = re.split(r"^@@readme-test (\d+|end)@@\n", out, flags=re.M)
        got = {}
        for k in range(1, len(parts) - 1, 2):
            if parts[k] != "end":
                got[int(parts[k])] = parts[k + 1]
        for i, st in enumerate(stmts):
            actual = got.get(i)
            if actual is None:
                self.report(False, st.line, st.title(), "psql did not reach this statement:\n" + out[-2000:])
                continue
            actual_lines = [l for l in actual.split("\n") if l.strip()]
            text = "\n".join(st.sql)
            # server errors, and psql's own (a bad meta-command, a lost connection)
            error = any(l.startswith(("ERROR:", "FATAL:", "error:")) for l in actual_lines)
            if VARIES in text:
                ok = (not error and (not st.expected
                                     or words(st.expected[:1]) == words(actual_lines[:1])))
            elif st.expected:
                ok = words(st.expected) == words(actual_lines)
            else:
                ok = not error
            detail = ("README shows:\n" + "\n".join(st.expected) + "\npsql printed:\n" + "\n".join(actual_lines))
            self.report(ok, st.line, st.title(), detail)
            if os.environ.get("README_TEST_SHOW") and not st.expected:
                print("# output of README.md:%d (not shown in the README):" % st.line)
                for l in actual_lines:
                    print("#   " + l)

    def run_sh_block(self, block):
        if not block.owner and not self.app_role_exists():
            self.report(False, block.line, "block runs as %s, which the README has not created yet" % APP_ROLE)
            return
        env = self.env(block.owner)
        for line, command, expected in commands_of(block):
            r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command],
                               env=env, cwd=self.scratch,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            printed = [l for l in r.stdout.split("\n") if l.strip()]
            ok = r.returncode == 0 and (expected is None or words(expected) == words(printed))
            detail = "exit status %d\n" % r.returncode
            if expected is not None:
                detail += "README shows:\n" + "\n".join(expected) + "\n"
            detail += "printed:\n" + "\n".join(printed[-40:])
            first = next(l for l in command.split("\n") if l.strip() and not l.startswith("#"))
            self.report(ok, line, "$ " + first.strip()[:58], detail)

    def run(self, text, stop_at_first_failure=False):
        roles_before = set(self.owner_sql("SELECT rolname FROM pg_roles").split())
        self.owner_sql("DROP DATABASE IF EXISTS %s" % DB)
        self.owner_sql("CREATE DATABASE %s" % DB)
        try:
            for b in blocks_of(text):
                if b.lang not in ("sql", "sh"):
                    continue
                if b.skip:
                    if not self.quiet:
                        print("# README.md:%d: %s block not run: %s" % (b.line, b.lang, b.skip))
                    continue
                if b.lang == "sql":
                    self.run_sql_block(b)
                else:
                    self.run_sh_block(b)
                if stop_at_first_failure and self.failed:
                    break
        finally:
            # leave the cluster as found: the database, and any role the README
            # made and did not drop itself
            self.owner_sql("DROP DATABASE IF EXISTS %s" % DB)
            for role in sorted(set(self.owner_sql("SELECT rolname FROM pg_roles").split()) - roles_before):
                self.owner_sql('DROP ROLE "%s"' % role)
            self.app_ready = False

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)


def mutations(text):
    """Broken copies of the README, each of which must fail: (what, text)."""
    out = []
    # an output value changed: the first "inserted" shown under save_track
    m = re.search(r"^ inserted\s*$", text, re.M)
    if m:
        out.append(("an output value changed (save_track's 'inserted' shown as 'updated')",
                    text[:m.start()] + " updated" + text[m.end():]))
    # a statement broken: a function name misspelt in an example whose output
    # the README does not show
    m = re.search(r"music_tm\.save_snapshot_row\(", text)
    if m:
        out.append(("a statement broken (save_snapshot_row misspelt)",
                    text[:m.start()] + "music_tm.save_snapshot_rows(" + text[m.end():]))
    # a shell example broken: the bundled sample's path
    m = re.search(r"data/sample_pages\.jsonl\.gz", text)
    if m:
        out.append(("a shell example broken (the sample's path misspelt)",
                    text[:m.start()] + "data/sample_page.jsonl.gz" + text[m.end():]))
    return out


def main():
    args = sys.argv[1:]
    self_test = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    readme = args[0] if args else "README.md"
    repo = os.path.dirname(os.path.abspath(readme))
    text = open(readme, encoding="utf-8").read()
    runner = Runner(repo)
    try:
        runner.run(text)
        if self_test:
            for what, broken in mutations(text):
                probe = Runner(repo, quiet=True)
                try:
                    probe.run(broken, stop_at_first_failure=True)
                finally:
                    probe.close()
                runner.report(probe.failed > 0, probe.first_failure or 0,
                              "self-test: %s fails the README test" % what,
                              "the broken README passed")
            if len(mutations(text)) < 3:
                runner.report(False, 0, "self-test: the README lacks an example the self-test breaks")
    finally:
        runner.close()
    print("%d passed, %d failed" % (runner.passed, runner.failed))
    return 0 if runner.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
