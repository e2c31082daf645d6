"""META.json against the PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/), and
the zip `make dist` makes for PGXN.

The spec's rules are written out here as checks: required keys and their
types, semantic versions, the license names it knows, the prereqs' phases
and relations, and that every file named exists in the distribution.
Needs no server; `make dist` needs a git checkout."""
import json
import os
import re
import subprocess
import tempfile
import unittest
import zipfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# semantic version 1.0.0 as the spec uses it: X.Y.Z, an optional
# prerelease of letters/digits after a dash
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[A-Za-z][0-9A-Za-z-]*)?$")
# a version range: 0, a version, or comma-separated (op version)s
RANGE = re.compile(r"^\s*(==|!=|>=|<=|>|<)?\s*\d+(\.\d+){0,2}(-[A-Za-z][0-9A-Za-z-]*)?\s*$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
            "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
            "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
            "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
            "restricted", "unrestricted", "unknown"}
REQUIRED = {"name": str, "abstract": str, "version": str, "maintainer": (str, list),
            "license": (str, list, dict), "provides": dict, "meta-spec": dict}
OPTIONAL = {"description": str, "prereqs": dict, "resources": dict, "generated_by": str,
            "tags": list, "no_index": dict, "release_status": str}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def semver_of(control_version):
    """The control file's '1.1' as the semantic version '1.1.0'."""
    parts = control_version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def control_name():
    """The extension's name, from its control file's name."""
    return [f for f in os.listdir(TOP) if f.endswith(".control")][0][:-len(".control")]


def control():
    out = {}
    with open(os.path.join(TOP, "music_tm.control")) as f:
        for line in f:
            m = re.match(r"^\s*(\w+)\s*=\s*'?([^']*)'?\s*$", line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


class MetaSpec(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(TOP, "META.json"), encoding="utf-8") as f:
            cls.meta = json.load(f)

    def test_required_keys_and_types(self):
        for key, kind in REQUIRED.items():
            self.assertIn(key, self.meta)
            self.assertIsInstance(self.meta[key], kind, key)
        for key, value in self.meta.items():
            if key in REQUIRED:
                continue
            if key.lower().startswith("x_"):
                continue            # custom keys are allowed with this prefix
            self.assertIn(key, OPTIONAL, f"unknown key {key}")
            self.assertIsInstance(value, OPTIONAL[key], key)

    def test_meta_spec(self):
        self.assertEqual(self.meta["meta-spec"]["version"], "1.0.0")

    def test_name_and_version(self):
        self.assertRegex(self.meta["name"], r"^[^/\\\s\x00-\x1f]{2,}$")
        self.assertRegex(self.meta["version"], SEMVER)
        self.assertEqual(self.meta["version"], semver_of(control()["default_version"]))

    def test_maintainer_and_license(self):
        maintainers = self.meta["maintainer"]
        if isinstance(maintainers, str):
            maintainers = [maintainers]
        self.assertTrue(maintainers)
        for m in maintainers:
            self.assertIsInstance(m, str)
            self.assertTrue(m.strip())
        lic = self.meta["license"]
        names = [lic] if isinstance(lic, str) else lic
        if isinstance(lic, dict):
            for url in lic.values():
                self.assertRegex(url, r"^https?://")
        else:
            for n in names:
                self.assertIn(n, LICENSES)

    def test_provides(self):
        provides = self.meta["provides"]
        self.assertIn(control_name(), provides)
        for ext, p in provides.items():
            self.assertIsInstance(p, dict)
            self.assertIn("file", p)
            self.assertIn("version", p)
            self.assertRegex(p["version"], SEMVER)
            self.assertTrue(os.path.isfile(os.path.join(TOP, p["file"])), p["file"])
            if "docfile" in p:
                self.assertTrue(os.path.isfile(os.path.join(TOP, p["docfile"])), p["docfile"])
            if "abstract" in p:
                self.assertIsInstance(p["abstract"], str)
        self.assertEqual(provides[control_name()]["version"], self.meta["version"])

    def test_prereqs(self):
        prereqs = self.meta.get("prereqs", {})
        for phase, relations in prereqs.items():
            self.assertIn(phase, PHASES)
            for relation, requirements in relations.items():
                self.assertIn(relation, RELATIONS)
                for name, rng in requirements.items():
                    if rng == 0:
                        continue
                    self.assertIsInstance(rng, str, name)
                    for part in rng.split(","):
                        self.assertRegex(part, RANGE, f"{name}: {rng}")
        pg = prereqs["runtime"]["requires"]["PostgreSQL"]
        self.assertTrue(pg.startswith("15"), "the oldest supported PostgreSQL is 15")

    def test_release_status_and_tags(self):
        self.assertIn(self.meta.get("release_status", "stable"), {"stable", "testing", "unstable"})
        for t in self.meta.get("tags", []):
            self.assertIsInstance(t, str)
            self.assertTrue(0 < len(t) < 256)


@unittest.skipUnless(os.path.exists(os.path.join(TOP, ".git")), "make dist needs a git checkout")
class Dist(unittest.TestCase):
    def test_make_dist(self):
        with open(os.path.join(TOP, "META.json"), encoding="utf-8") as f:
            meta = json.load(f)
        prefix = f"{meta['name']}-{meta['version']}/"
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["make", "-s", "-f", os.path.join(TOP, "Makefile"), "-C", d,
                            f"srcdir={TOP}", "dist"], check=True,
                           env=dict(os.environ, PG_CONFIG=os.environ.get(
                               "PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")))
            with zipfile.ZipFile(os.path.join(d, prefix[:-1] + ".zip")) as z:
                names = set(z.namelist())
                packed = json.loads(z.read(prefix + "META.json"))
            tracked = subprocess.run(["git", "-C", TOP, "ls-tree", "-r", "--name-only", "HEAD"],
                                     check=True, capture_output=True, text=True).stdout.split()
            self.assertEqual({n for n in names if not n.endswith("/")},
                             {prefix + t for t in tracked})
            self.assertTrue(all(n.startswith(prefix) for n in names))
            for f in ("META.json", "Makefile", "music_tm.control", "README.md"):
                self.assertIn(prefix + f, names)
            self.assertEqual(packed["version"], meta["version"])


if __name__ == "__main__":
    unittest.main()
