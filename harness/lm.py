#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Build and test harness for drivers/live_migration.

Turns this repository plus Debian's linux-source-6.12 tarball into a kernel
tree, then runs the static checks and the KUnit suites.  Everything it builds
lives under the cache directory ($LM_CACHE, default /var/cache/live-migration),
never in the repository, and every step can be rerun:

  pristine/   the unpacked tarball, never written to after unpacking
  tree/       a hard-linked copy of pristine/ with our files and patches on
              top; managed files are replaced by rename, so pristine/ stays
              intact and make sees a new mtime only when content changed
  kunit-um/   kunit.py build directory (UML)
"""

import concurrent.futures
import glob
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import series

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("LM_CACHE", "/var/cache/live-migration")
TARBALL = os.environ.get("LM_TARBALL", "/usr/src/linux-source-6.12.tar.xz")
PRISTINE = os.path.join(CACHE, "pristine")
TREE = os.path.join(CACHE, "tree")
MANIFEST = os.path.join(CACHE, "tree.manifest")
JOBS = str(os.cpu_count() or 2)

# Top-level directories of this repository that overlay the kernel tree.
OVERLAY_DIRS = ["include", "drivers", "Documentation", "samples", "tools",
                "lib", "arch"]
# Our own sources: what the static checks look at.
OWN_C_DIRS = ["drivers/live_migration", "drivers/vfio/pci", "drivers/nvme/host",
              "samples/live_migration"]
OWN_HEADERS = ["include/linux/live_migration.h"]
# What each KUnit run covers: kunitconfig, and the sources of its suites.
KUNIT_RUNS = {
    "um": (["drivers/live_migration"], ["drivers/live_migration"]),
    "x86_64": (["drivers/vfio/pci/.kunitconfig",
                "drivers/nvme/host/lm.kunitconfig"],
               ["drivers/live_migration", "drivers/vfio/pci",
                "drivers/nvme/host"]),
}
# Two vCPUs (and a preemptible kernel, see the .kunitconfig) so that the
# concurrency cases really interleave.
KUNIT_QEMU_ARGS = {"x86_64": ["--qemu_args=-smp 2"]}
# The harness's own C, held to the kernel's style too.
HARNESS_C = ["harness/guest/l2/counter.c", "harness/guest/l2io.c",
             "harness/guest/lmsave.c"]
# The vendor controller state format of QEMU's TP4159 model (its UUID in
# qemu/patches/0002): the one format the guests' nvme-pci may migrate in.
QEMU_LM_FORMAT = "51454d55-6e76-6d65-2d6c-6d2d76730001"
# Objects built with W=1 and sparse, per KUnit build.
STATIC_TARGETS = {
    "um": ["drivers/live_migration/"],
    "x86_64": ["drivers/live_migration/", "drivers/vfio/pci/vfio_pci_lm.o",
               "drivers/nvme/host/lm.o", "samples/live_migration/lm_sample.o"],
}


class HarnessError(Exception):
    pass


def log(msg):
    print(f"[lm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, cwd=None, logfile=None, check=True, env=None):
    """Run cmd; with logfile, send its output there and keep the terminal
    quiet.  Returns (returncode, output-if-captured)."""
    if logfile:
        with open(logfile, "w") as f:
            p = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                               env=env)
        out = open(logfile, errors="replace").read()
    else:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env)
        out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        tail = "\n".join(out.splitlines()[-40:])
        raise HarnessError(f"command failed ({p.returncode}): {' '.join(cmd)}\n{tail}")
    return p.returncode, out


def tarball_id():
    st = os.stat(TARBALL)
    return f"{os.path.realpath(TARBALL)} {st.st_size} {int(st.st_mtime)}"


def ensure_pristine():
    stamp = os.path.join(CACHE, "pristine.stamp")
    want = tarball_id()
    if os.path.isdir(PRISTINE) and os.path.exists(stamp) and \
            open(stamp).read() == want:
        return
    log(f"unpacking {TARBALL} (about 20 s)")
    for d in (PRISTINE, TREE):
        shutil.rmtree(d, ignore_errors=True)
    for f in (MANIFEST, stamp):
        if os.path.exists(f):
            os.unlink(f)
    tmp = PRISTINE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    run(["tar", "-xJf", TARBALL, "-C", tmp, "--strip-components=1"])
    os.rename(tmp, PRISTINE)
    with open(stamp, "w") as f:
        f.write(want)


def ensure_tree():
    if os.path.isdir(TREE) and os.path.exists(os.path.join(TREE, "Makefile")):
        return
    log("creating the work tree (hard links to pristine/)")
    shutil.rmtree(TREE, ignore_errors=True)
    tmp = TREE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run(["cp", "-al", PRISTINE, tmp])
    os.rename(tmp, TREE)
    if os.path.exists(MANIFEST):
        os.unlink(MANIFEST)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_replace(path, data, mode=None):
    """Replace path by a new inode: never write through a hard link."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lm-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(tmp, mode)
    else:
        os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def overlay_files():
    files = {}
    for top in OVERLAY_DIRS:
        base = os.path.join(REPO, top)
        for root, dirs, names in os.walk(base):
            dirs[:] = [d for d in dirs if d not in ("__pycache__",)]
            for n in names:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, REPO)
                files[rel] = full
    return files


def patch_series():
    pdir = os.path.join(REPO, "patches")
    series = os.path.join(pdir, "series")
    if os.path.exists(series):
        names = [l.strip() for l in open(series)
                 if l.strip() and not l.startswith("#")]
    else:
        names = sorted(n for n in os.listdir(pdir) if n.endswith(".patch"))
    return [os.path.join(pdir, n) for n in names]


def touched_files(patch):
    """The files a patch changes, in its order."""
    return [m.group(1) for m in
            re.finditer(r"^\+\+\+ b/(\S+)",
                        open(patch, errors="replace").read(), re.M)]


def patched_files(patches):
    """Apply the series to copies of the pristine files it touches."""
    stage = tempfile.mkdtemp(prefix="lm-patch-")
    touched = []
    try:
        for p in patches:
            for rel in touched_files(p):
                if rel not in touched:
                    touched.append(rel)
                    src = os.path.join(PRISTINE, rel)
                    dst = os.path.join(stage, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    if os.path.exists(src):
                        shutil.copyfile(src, dst)
            rc, out = run(["patch", "-p1", "--batch", "--forward", "-s",
                           "--no-backup-if-mismatch", "-d", stage, "-i", p],
                          check=False)
            if rc != 0:
                raise HarnessError(f"patch {os.path.basename(p)} does not apply "
                                   f"to linux-source-6.12:\n{out}")
        return {rel: read_bytes(os.path.join(stage, rel)) for rel in touched
                if os.path.exists(os.path.join(stage, rel))}
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def prepare():
    """Bring tree/ to pristine + overlay + patches, touching only what
    differs from the last run."""
    os.makedirs(CACHE, exist_ok=True)
    ensure_pristine()
    ensure_tree()
    overlay = overlay_files()
    patches = patch_series()
    patched = patched_files(patches)
    clash = set(overlay) & set(patched)
    if clash:
        raise HarnessError(f"files both overlaid and patched: {sorted(clash)}")
    desired = {}
    for rel, full in overlay.items():
        desired[rel] = (read_bytes(full), os.stat(full).st_mode & 0o777)
    for rel, data in patched.items():
        desired[rel] = (data, None)

    old = []
    if os.path.exists(MANIFEST):
        old = [l.rstrip("\n") for l in open(MANIFEST) if l.strip()]
    changed = 0
    for rel in old:
        if rel in desired:
            continue
        dst = os.path.join(TREE, rel)
        src = os.path.join(PRISTINE, rel)
        if os.path.exists(src):
            if not os.path.exists(dst) or read_bytes(dst) != read_bytes(src):
                write_replace(dst, read_bytes(src))
                changed += 1
        elif os.path.exists(dst):
            os.unlink(dst)
            changed += 1
    for rel, (data, mode) in sorted(desired.items()):
        dst = os.path.join(TREE, rel)
        if os.path.exists(dst) and read_bytes(dst) == data:
            continue
        write_replace(dst, data, mode)
        changed += 1
    with open(MANIFEST, "w") as f:
        f.write("".join(r + "\n" for r in sorted(desired)))
    log(f"tree ready: {len(overlay)} files overlaid, {len(patches)} patches, "
        f"{changed} files updated")
    return overlay, patches


# ---------------------------------------------------------------- results

STATIC = "static checks"


class Results:
    """Each check counts once, under the source that ran it: kunit-um,
    kunit-x86_64, e2e (behaviour), static checks (one result per tool), or
    harness (the harness itself failed).  There is no third state: a
    skipped or expected-to-fail case is a failed one, since our configs
    provide every precondition."""

    def __init__(self):
        self.counts = {}        # source -> [passed, failed]
        self.names = {}         # source -> check names, in order
        self.notes = {}         # source -> what its line should add
        self.failures = []

    @property
    def passed(self):
        return sum(c[0] for c in self.counts.values())

    @property
    def failed(self):
        return sum(c[1] for c in self.counts.values())

    def add(self, source, name, ok, detail=""):
        c = self.counts.setdefault(source, [0, 0])
        self.names.setdefault(source, []).append(name)
        if ok:
            c[0] += 1
        else:
            c[1] += 1
            self.failures.append((f"{source}: {name}", detail))

    def note(self, source, text):
        self.notes[source] = text

    def merge(self, other):
        for src, (p, f) in other.counts.items():
            c = self.counts.setdefault(src, [0, 0])
            c[0] += p
            c[1] += f
        for src, names in other.names.items():
            self.names.setdefault(src, []).extend(names)
        self.notes.update(other.notes)
        self.failures.extend(other.failures)

    def line(self, source, label=None):
        p, f = self.counts.get(source, (0, 0))
        out = f"{label or source}: {p} passed, {f} failed"
        if source == STATIC and self.names.get(source):
            out += f" ({', '.join(self.names[source])})"
        elif source in self.notes:
            out += f" ({self.notes[source]})"
        return out

    def summary(self, expected):
        """Failures, then one line per source in the order expected (a
        source that ran nothing still shows, as 0 passed), the behaviour
        subtotal, the static tools, and last the sum of all the lines
        above, which CI parses: "N passed, N failed"."""
        for name, detail in self.failures:
            print(f"FAILED: {name}")
            if detail:
                for l in detail.rstrip().splitlines()[:30]:
                    print(f"    {l}")
        behaviour = [s for s in expected if s != STATIC]
        for src in behaviour:
            print(self.line(src))
        if len(behaviour) > 1:
            p = sum(self.counts.get(s, (0, 0))[0] for s in behaviour)
            f = sum(self.counts.get(s, (0, 0))[1] for s in behaviour)
            print(f"behaviour ({' + '.join(behaviour)}): {p} passed, "
                  f"{f} failed")
        for src in self.counts:
            if src not in expected:
                print(self.line(src))
        if STATIC in expected:
            print(self.line(STATIC))
        print(f"{self.passed} passed, {self.failed} failed", flush=True)


# ---------------------------------------------------------------- static

def own_sources(overlay):
    out = []
    for rel in sorted(overlay):
        if rel in OWN_HEADERS or any(rel.startswith(d + "/") for d in OWN_C_DIRS):
            if rel.endswith((".c", ".h")):
                out.append(rel)
    return out


def new_files(overlay):
    """Every new file that checkpatch should read (code, Kconfig, docs)."""
    return [rel for rel in sorted(overlay)
            if not os.path.exists(os.path.join(PRISTINE, rel))
            and not rel.endswith((".kunitconfig",))
            and os.path.basename(rel) not in (".kunitconfig",)]


def tool_result(res, name, checked, failed):
    """One result per static tool over everything it checked (a list of
    files, patches or make targets).  failed maps each file that failed to
    its findings; the first detail line names all of them, since the
    summary shows only the first lines of a detail."""
    if not checked:
        res.add(STATIC, name, False, "nothing to check: empty file list")
        return
    detail = []
    if failed:
        detail.append(f"failed: {', '.join(failed)} "
                      f"(of {len(checked)} checked)")
        for what, findings in failed.items():
            detail += [f"{what}:"] + [f"  {l}" for l in findings]
    res.add(STATIC, name, not failed, "\n".join(detail))


# The path a W=1/sparse finding is about, from one of our directories.
OWN_PATH = re.compile("((?:" + "|".join(re.escape(d) for d in
                                          OWN_C_DIRS + OWN_HEADERS) +
                      r")[^\s:]*)")


def static_checks(res, overlay, patches, builds):
    log("static checks: checkpatch --strict, kernel-doc -Wall")
    cp = ["perl", "scripts/checkpatch.pl", "--strict", "--terse",
          "--show-types", "--no-summary", "--ignore", "FILE_PATH_CHANGES"]
    files = new_files(overlay)
    jobs = [(rel, cp + ["-f", rel]) for rel in files]
    jobs += [(os.path.basename(p), cp + [p]) for p in patches]
    # checkpatch reads a git-tracked path as a file: blank context lines
    # must then carry no trailing space (GNU patch and git apply take both)
    jobs += [(f"{os.path.basename(p)} (as a file)", cp + ["-f", p])
             for p in patches]
    # C of our own outside the kernel tree: the L2 guest
    jobs += [(rel, cp + ["-f", os.path.join(REPO, rel)])
             for rel in HARNESS_C]
    with concurrent.futures.ThreadPoolExecutor(int(JOBS)) as pool:
        outs = list(pool.map(lambda j: run(j[1], cwd=TREE, check=False)[1],
                             jobs))
    failed = {}
    for (what, _), out in zip(jobs, outs):
        findings = [l for l in out.splitlines()
                    if re.search(r"(ERROR|WARNING|CHECK):", l)]
        if findings:
            failed[what] = findings
    tool_result(res, "checkpatch", jobs, failed)

    failed = {}
    sources = own_sources(overlay)
    for rel in sources:
        rc, out = run(["perl", "scripts/kernel-doc", "-none", "-Wall", rel],
                      cwd=TREE, check=False)
        findings = [l for l in out.splitlines() if l.strip()]
        if rc != 0 or findings:
            failed[rel] = findings or [f"exit status {rc}"]
    tool_result(res, "kernel-doc", sources, failed)

    # Debian's python3 has python3-docutils; a private python3 may not
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else \
        sys.executable
    failed = {}
    rsts = sorted(r for r in overlay if r.endswith(".rst"))
    for rel in rsts:
        rc, out = run([py, os.path.join(REPO, "harness", "rstcheck.py"),
                       rel], cwd=TREE, check=False)
        if rc != 0:
            failed[rel] = out.splitlines() or [f"exit status {rc}"]
    tool_result(res, "rstcheck", rsts, failed)

    for arch, build_dir in builds:
        name = f"W=1+sparse {arch}"
        if not build_dir:
            res.add(STATIC, name, False,
                    f"no build directory: the kunit-{arch} job failed")
            continue
        targets = STATIC_TARGETS[arch]
        log(f"static checks: W=1 and sparse (C=2), {arch}: {' '.join(targets)}")
        logf = os.path.join(CACHE, f"static-build-{arch}.log")
        rc, out = run(["make", f"ARCH={arch}", f"O={build_dir}", f"-j{JOBS}",
                       "W=1", "C=2"] + targets,
                      cwd=TREE, logfile=logf, check=False)
        ours = [l for l in out.splitlines()
                if ("warning:" in l or "error:" in l) and
                any(d + "/" in l or l.startswith(d) for d in
                    OWN_C_DIRS + OWN_HEADERS) and
                not re.search(r"drivers/vfio/pci/vfio_pci(_core|_config|"
                              r"_intrs|_rdwr|_igd|_zdev)?\.c", l)]
        failed = {}
        for l in ours:
            m = OWN_PATH.search(l)
            failed.setdefault(m.group(1) if m else "other", []).append(l)
        if rc != 0 and not ours:
            failed[f"make (see {logf})"] = out.splitlines()[-20:]
        tool_result(res, name, targets, failed)


# ---------------------------------------------------------------- kunit

# Every report that means the kernel found a bug or a hang.  The lockdep
# and hang strings are those of kernel/locking/lockdep.c, hung_task.c,
# watchdog.c and rcu/ in 6.12: most lockdep reports are a "WARNING:" header
# without " at ", which "WARNING: CPU" does not catch, and a catch-all
# "WARNING:" would take x86's boot notes on mitigations.
BAD_LOG = re.compile(
    r"WARNING: CPU|WARNING:.*at |BUG: |kernel BUG at|Oops|KASAN|"
    r"Kernel panic|unreferenced object|"
    # lockdep's report headers
    r"possible circular locking dependency|possible recursive locking|"
    r"inconsistent lock state|possible irq lock inversion dependency|"
    r"-safe -> \S*-unsafe lock order|bad unlock balance|held lock freed|"
    r"still has locks held|lock held when returning to user space|"
    r"Nested lock was not taken|bad contention detected|"
    r"chain_key collision|suspicious RCU usage|Invalid wait context|"
    # lines of a report whose header may be lost in interleaved output
    r"is trying to (?:acquire|lock:|release lock|contend lock)|"
    r"\*\*\* DEADLOCK \*\*\*|Possible unsafe locking scenario|"
    r"DEBUG_LOCKS_WARN_ON|"
    # lockdep stopped checking: what follows went unchecked
    r"trying to register non-static key|"
    r"turning off the locking correctness validator|"
    r"lockdep is turned off|Disabling lock debugging due to kernel taint|"
    # hangs: hung task, soft and hard lockup, RCU and RCU-tasks stalls
    r"INFO: task .* blocked for more than|soft lockup|hard LOCKUP|"
    r"INFO: \S+ (?:self-)?detected stall")


def expected_suites(dirs):
    names = set()
    pat = re.compile(r"struct kunit_suite \w+ = \{\s*\.name\s*=\s*\"([^\"]+)\"")
    for d in dirs:
        for root, _, files in os.walk(os.path.join(REPO, d)):
            for n in files:
                if n.endswith(".c"):
                    text = open(os.path.join(root, n), errors="replace").read()
                    names.update(pat.findall(text))
    return names


def walk_cases(node, prefix, out):
    for sub in node.get("sub_groups", []) or []:
        walk_cases(sub, prefix + [sub.get("name", "?")], out)
    for case in node.get("test_cases", []) or []:
        # kunit.py stands in an unnamed crashed case for each result
        # missing from a plan
        name = case.get("name") or ("<missing case>" if prefix else
                                    "<missing suite>")
        out.append((".".join(prefix + [name]), case.get("status", "?")))


TAP_RESULT = re.compile(r"(not )?ok \d+\b\s*(.*)$")
TAP_PLAN = re.compile(r"1\.\.(\d+)\b")


def tap_result(text):
    """'ok 3 name # SKIP why' -> (ok, name, directive or None, comment);
    None if text is no result line.  Works for KTAP and kselftest TAP, where
    a failure may carry a comment ("not ok 3 name #  timeout")."""
    m = TAP_RESULT.match(text)
    if not m:
        return None
    rest = m.group(2)
    if rest.startswith("#"):
        name, comment = "", rest[1:]
    else:
        name, _, comment = rest.partition(" #")
    name = name.strip()
    if name.startswith("- "):
        name = name[2:]
    d = re.match(r"\s*(SKIP|XFAIL|XPASS|TODO)\b\s*(.*)", comment, re.I)
    if d:
        return not m.group(1), name, d.group(1).upper(), d.group(2).strip()
    return not m.group(1), name, None, comment.strip()


# How kunit.py finds the KTAP output in the console log (kunit_parser.py).
KTAP_START = re.compile(r"\s*K?TAP version \d+$")
KTAP_END = re.compile(r"\s*(List of all partitions:|"
                      r"Kernel panic - not syncing: VFS:|"
                      r"reboot: System halted)")


def ktap_check(lines):
    """Reads the raw KUnit log (build_dir/test.log) as kunit.py does: the
    prefix before the first "KTAP version" line is cut from every line, and
    the indentation (4 spaces a level) gives the nesting.  Returns the SKIP
    reasons by suite.case[.param], which the JSON lacks, and every plan
    "1..N" that the results under it do not match.  kunit.py pads a short
    suite with an unnamed crashed case; this says which plan came up short.
    Parameterised cases print no plan in 6.12, so only the top level and the
    suites must have one."""
    prefix = None
    subtests = {0: {"name": "top level", "short": None, "plan": None,
                    "results": 0}}   # level -> open subtest
    reasons, problems = {}, []

    def close(level):
        for lvl in sorted((l for l in subtests if l >= level), reverse=True):
            t = subtests.pop(lvl)
            if t["plan"] is None:
                if lvl <= 1:
                    problems.append(f"{t['name']}: no plan line, "
                                    f"{t['results']} results")
            elif t["plan"] != t["results"]:
                problems.append(f"{t['name']}: plan 1..{t['plan']} but "
                                f"{t['results']} results")

    def path(level, name):
        return ".".join([subtests[l]["short"] for l in range(1, level + 1)
                         if l in subtests] + [name])

    for line in lines:
        line = line.rstrip()
        if prefix is None:
            if KTAP_START.search(line):
                prefix = len(re.split(r"K?TAP version", line)[0])
            continue
        line = line[prefix:]
        if KTAP_END.search(line):
            break
        text = line.lstrip(" ")
        level = (len(line) - len(text)) // 4
        if level == 0 and KTAP_START.match(text):
            # suites in modules come with a header and plan of their own
            close(0)
            subtests[0] = {"name": "top level", "short": None,
                           "plan": None, "results": 0}
            continue
        m = re.match(r"# Subtest: (.+)$", text)
        if m:
            close(level)
            name = m.group(1).strip()
            subtests[level] = {"name": path(level - 1, name), "short": name,
                               "plan": None, "results": 0}
            continue
        m = TAP_PLAN.match(text)
        if m:
            if level in subtests and subtests[level]["plan"] is None:
                subtests[level]["plan"] = int(m.group(1))
            continue
        r = tap_result(text)
        if r is None:
            continue
        # a result line ends every subtest nested deeper than itself
        close(level + 1)
        if level in subtests:
            subtests[level]["results"] += 1
        if r[2] == "SKIP":
            reasons[path(level, r[1])] = r[3]
    if prefix is None:
        return reasons, ["no KTAP output"]
    close(0)
    return reasons, problems


def kunit(res, arch, extra=()):
    src = f"kunit-{arch}"
    kunitconfigs, suite_dirs = KUNIT_RUNS[arch]
    build_dir = os.path.join(CACHE, f"kunit-{arch}")
    jsonf = os.path.join(CACHE, f"kunit-{arch}.json")
    logf = os.path.join(CACHE, f"kunit-{arch}.log")
    if os.path.exists(jsonf):
        os.unlink(jsonf)
    cmd = ["python3", "tools/testing/kunit/kunit.py", "run",
           f"--build_dir={build_dir}", f"--arch={arch}", f"--jobs={JOBS}",
           "--timeout=900", f"--json={jsonf}"]
    for k in kunitconfigs:
        cmd.append(f"--kunitconfig={k}")
    cmd += KUNIT_QEMU_ARGS.get(arch, [])
    cmd += list(extra)
    log(f"KUnit ({arch}): configure, build, run; log in {logf}")
    t0 = time.time()
    rc, out = run(cmd, cwd=TREE, logfile=logf, check=False)
    log(f"KUnit ({arch}) finished in {time.time() - t0:.0f} s")
    if not os.path.exists(jsonf):
        tail = "\n".join(out.splitlines()[-30:])
        res.add(src, "build and boot", False, tail)
        return build_dir
    data = json.load(open(jsonf))
    cases = []
    walk_cases(data, [], cases)
    # the JSON exists, so kunit.py ran the kernel and wrote this run's log
    raw = os.path.join(build_dir, "test.log")
    lines = open(raw, errors="replace").read().splitlines() \
        if os.path.exists(raw) else None
    reasons, problems = ktap_check(lines) if lines is not None else ({}, [])
    seen_suites = {c[0].split(".")[0] for c in cases}
    for suite in sorted(expected_suites(suite_dirs) - seen_suites):
        res.add(src, f"suite {suite}", False, "produced no result")
    for name, status in cases:
        if status in ("PASS", "PASSED"):
            res.add(src, name, True)
        elif status in ("SKIP", "SKIPPED"):
            res.add(src, name, False, "skipped: " +
                    reasons.get(name, f"(no reason in {raw})"))
        else:
            res.add(src, name, False, f"status {status}; see {logf}")
    if arch != "um":
        # the core's suites run here again, on SMP and with PCI: count
        # them, and say so on the summary line
        core = expected_suites(KUNIT_RUNS["um"][1])
        again = sum(1 for n, _ in cases if n.split(".")[0] in core)
        res.note(src, f"{again} of the cases are the core's suites, "
                 f"also run on kunit-um")
    if lines is None:
        res.add(src, "raw kernel log", False, f"{raw} is missing")
    else:
        res.add(src, "results match the KTAP plans", not problems,
                "\n".join(problems) + f"\n(raw log: {raw})")
        bad = [l for l in lines if BAD_LOG.search(l)]
        res.add(src, "kernel log free of WARN/BUG/KASAN/lockdep/hangs",
                not bad, "\n".join(bad[:20]) + f"\n(full log: {raw})")
    if rc != 0 and not cases:
        res.add(src, "run", False, "\n".join(out.splitlines()[-30:]))
    return build_dir


# ---------------------------------------------------------------- x86_64

def build_x86(name, fragment):
    """Build an x86_64 bzImage from a config fragment; rebuild incrementally.
    Returns the build directory."""
    bdir = os.path.join(CACHE, name)
    os.makedirs(bdir, exist_ok=True)
    frag = read_bytes(fragment)
    stamp = os.path.join(bdir, "fragment.applied")
    logf = os.path.join(CACHE, f"{name}-build.log")
    if not os.path.exists(stamp) or read_bytes(stamp) != frag or \
            not os.path.exists(os.path.join(bdir, ".config")):
        log(f"{name}: configuring from {os.path.relpath(fragment, REPO)}")
        with open(os.path.join(bdir, ".config"), "wb") as f:
            f.write(frag)
        run(["make", "ARCH=x86_64", f"O={bdir}", "olddefconfig"], cwd=TREE,
            logfile=logf)
        cfg = open(os.path.join(bdir, ".config")).read()
        for line in frag.decode().splitlines():
            if line.startswith("CONFIG_") and line.endswith("=y") and \
                    line not in cfg.splitlines():
                raise HarnessError(f"{name}: {line} did not survive "
                                   f"olddefconfig")
        write_replace(stamp, frag)
    else:
        # new Kconfig symbols from our patches take their defaults
        run(["make", "ARCH=x86_64", f"O={bdir}", "olddefconfig"], cwd=TREE,
            logfile=logf)
    log(f"{name}: building bzImage (first build about 5 minutes; log {logf})")
    t0 = time.time()
    modular = "CONFIG_MODULES=y" in open(os.path.join(bdir, ".config")).read()
    rc, out = run(["make", "ARCH=x86_64", f"O={bdir}", f"-j{JOBS}",
                   "bzImage"] + (["modules"] if modular else []),
                  cwd=TREE, logfile=logf, check=False)
    if rc != 0:
        errs = [l for l in out.splitlines() if "error" in l.lower()][:20]
        raise HarnessError(f"{name}: kernel build failed:\n" +
                           "\n".join(errs or out.splitlines()[-20:]))
    modroot = os.path.join(bdir, "modroot")
    shutil.rmtree(modroot, ignore_errors=True)
    if modular:
        run(["make", "ARCH=x86_64", f"O={bdir}", f"INSTALL_MOD_PATH={modroot}",
             "INSTALL_MOD_STRIP=1", "modules_install"], cwd=TREE,
            logfile=logf + ".mod")
        # busybox modprobe reads modules.dep; without depmod (kmod) the
        # install only warns
        if not glob.glob(os.path.join(modroot, "lib", "modules", "*",
                                      "modules.dep")):
            raise HarnessError(f"{name}: no modules.dep (is kmod's depmod "
                               f"installed?)")
    hdr = os.path.join(bdir, "hdr")
    run(["make", "ARCH=x86_64", f"O={bdir}", f"INSTALL_HDR_PATH={hdr}",
         "headers_install"], cwd=TREE, logfile=logf + ".hdr")
    log(f"{name}: built in {time.time() - t0:.0f} s")
    return bdir


GUEST_SRC = {
    "vfio_lm_test": "tools/testing/selftests/live_migration/vfio_lm_test.c",
    "lmctl": "tools/live_migration/lmctl.c",
    "lm_bench": "tools/testing/selftests/live_migration/lm_bench.c",
    "lm_compat32": "tools/testing/selftests/live_migration/lm_compat32.c",
    "nvme_virt": "tools/testing/selftests/live_migration/nvme_virt.c",
    "nvme_lm_events":
        "tools/testing/selftests/live_migration/nvme_lm_events.c",
}
# built as 32-bit programs: what a 32-bit VMM sends
GUEST_32 = {"lm_compat32"}


def build_guest_tools(bdir, names):
    """Static user-space binaries against the guest kernel's uapi headers."""
    out = os.path.join(CACHE, "guest-bin")
    os.makedirs(out, exist_ok=True)
    for name in names:
        src = os.path.join(TREE, GUEST_SRC[name])
        bits = ["-m32"] if name in GUEST_32 else []
        run(["gcc", "-static", "-O2", "-Wall", "-Werror"] + bits + [
             "-I", os.path.join(bdir, "hdr", "include"),
             "-I", os.path.join(TREE, "tools", "testing", "selftests"),
             "-o", os.path.join(out, name), src])
    return out


def add_modules(root, bdir):
    """The guest kernel's modules, if it has any, under /lib/modules."""
    src = os.path.join(bdir, "modroot", "lib")
    if os.path.isdir(src):
        shutil.copytree(src, os.path.join(root, "lib"), symlinks=True,
                        dirs_exist_ok=True)


def pack_initramfs(root, init_name, scripts, out):
    """Adds harness/guest's init_name as /init and the scripts it sources
    to root, and packs root into the gzipped cpio out."""
    guest = os.path.join(REPO, "harness", "guest")
    for name in scripts:
        shutil.copy(os.path.join(guest, name), os.path.join(root, name))
    shutil.copy(os.path.join(guest, init_name), os.path.join(root, "init"))
    os.chmod(os.path.join(root, "init"), 0o755)
    run(["sh", "-c", f"find . | cpio -o -H newc --quiet | gzip -1 > {out}"],
        cwd=root)


def make_initramfs(init_name, bindir, names, out, bdir=None):
    root = tempfile.mkdtemp(prefix="lm-initramfs-")
    try:
        if bdir:
            add_modules(root, bdir)
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for n in names:
            shutil.copy(os.path.join(bindir, n), os.path.join(root, "bin", n))
        pack_initramfs(root, init_name, ["common.sh", "nsdev.sh"], out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def boot(bdir, initrd, logf, timeout=1200, extra_append="", mem_mib=2048,
         qemu="qemu-system-x86_64", extra=()):
    cmd = [qemu, "-machine", "q35,kernel-irqchip=split",
           "-accel", "tcg", "-m", str(mem_mib), "-smp", "2", "-nographic",
           "-no-reboot", "-device", "intel-iommu,intremap=on,caching-mode=on",
           "-device", "nvme-subsys,id=subsys0",
           "-device", "nvme,serial=deadbeef,subsys=subsys0,addr=0x4,"
           "sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,"
           "sriov_max_vi_per_vf=1,sriov_max_vq_per_vf=2",
           "-device", "nvme,serial=plain0,addr=0x5"] + list(extra) + [
           "-kernel", os.path.join(bdir, "arch", "x86", "boot", "bzImage"),
           "-initrd", initrd,
           "-append", "console=ttyS0 intel_iommu=on quiet panic=-1 "
           "lm_test_ctrl.pf=0000:00:04.0 "
           f"nvme.lm_formats={QEMU_LM_FORMAT} " + extra_append]
    t0 = time.time()
    try:
        with open(logf, "w") as f:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    log(f"guest ran {time.time() - t0:.0f} s; console log {logf}")
    return open(logf, errors="replace").read().replace("\r", "")


def section(text, name):
    m = re.search(rf"=={name}-BEGIN==\n(.*?)^=={name}-END==", text,
                  re.S | re.M)
    return m.group(1) if m else None


# What a TAP directive says instead of "passed"; each counts as failed.
DIRECTIVE = {"SKIP": "skipped", "XFAIL": "expected failure (XFAIL)",
             "XPASS": "unexpected pass (XPASS)", "TODO": "todo"}


def e2e(res):
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    names = ["vfio_lm_test", "lmctl", "lm_compat32"]
    bindir = build_guest_tools(bdir, names)
    initrd = make_initramfs("init-e2e", bindir, names,
                            os.path.join(CACHE, "initramfs-e2e.cpio.gz"),
                            bdir)
    log("e2e: booting the guest under QEMU (TCG) and running vfio_lm_test")
    logf = os.path.join(CACHE, "e2e-console.log")
    out = boot(bdir, initrd, logf)
    e2e_results(res, out, logf)


def e2e_results(res, out, logf, source="e2e", prog="vfio_lm_test"):
    """Counts the guest's console output: every TAP result, whether they
    are all there, vfio_lm_test's exit status and the kernel log."""
    tap = section(out, "TAP")
    dmesg = section(out, "DMESG")
    if tap is None and "==TAP-BEGIN==\n" in out:
        # a hang or a crash part way: what was printed still counts
        tap = out.split("==TAP-BEGIN==\n", 1)[1]
        res.add(source, f"{prog} ran to its end", False,
                "\n".join(out.splitlines()[-30:]))
        dmesg = dmesg or out
    if tap is None or dmesg is None:
        res.add(source, f"guest booted and ran {prog}", False,
                "\n".join(out.splitlines()[-30:]))
        return
    plan, results, since = None, 0, []
    for line in tap.splitlines():
        line = line.strip()
        m = TAP_PLAN.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        r = tap_result(line)
        if r is None:
            since.append(line)
            continue
        results += 1
        ok, name, directive, comment = r
        if directive:
            res.add(source, name, False, f"{DIRECTIVE[directive]}: {comment}")
        else:
            # the test's own lines since the previous result say why
            why = [f"not ok: {comment}"] if comment else []
            res.add(source, name, ok,
                    "\n".join(since[-20:] + why + [f"see {logf}"]))
        since = []
    if plan is None:
        name = f"{prog}: no plan line, {results} results"
    elif plan == results:
        name = f"{prog}: plan 1..{plan}, {results} results"
    else:
        name = f"{prog}: plan 1..{plan} but {results} results"
    res.add(source, name, plan == results and results > 0, tap[-2000:])
    # init-e2e prints the exit status after the TAP: a crash or a
    # "Bail out!" can end the output with every printed result a pass
    m = re.search(r"^==RC== (\d+)\s*$", out, re.M)
    res.add(source, f"{prog} exit status",
            bool(m) and m.group(1) == "0",
            f"exit status {m.group(1)}" if m else
            "no ==RC== line in the console output")
    bad = [l for l in dmesg.splitlines() if BAD_LOG.search(l)]
    res.add(source, "guest kernel log free of WARN/BUG/KASAN/lockdep/hangs",
            not bad, "\n".join(bad[:20]))


# ---------------------------------------------------------------- a real VMM

QEMU10 = os.path.join(CACHE, "qemu10")
# what an earlier harness wrote into the machine's apt configuration
OLD_BACKPORTS = "/etc/apt/sources.list.d/lm-bookworm-backports.sources"
BACKPORTS_APT = os.path.join(CACHE, "backports-apt")
QEMU10_DEBS = ["qemu-system-x86", "qemu-system-common", "qemu-system-data",
               "seabios"]
QEMU10_FW = {"bios-256k.bin": "usr/share/seabios",
             "kvmvapic.bin": "usr/share/qemu",
             "multiboot_dma.bin": "usr/share/qemu",
             "linuxboot_dma.bin": "usr/share/qemu"}


def bookworm_archive():
    """The archive and keyring of this machine's bookworm entry, so the
    backports suite comes from where everything else does."""
    for path in sorted(os.listdir("/etc/apt/sources.list.d")):
        if not path.endswith(".sources") or path == os.path.basename(
                OLD_BACKPORTS):
            continue
        text = open(os.path.join("/etc/apt/sources.list.d", path)).read()
        for block in text.split("\n\n"):
            fields = {}
            for line in block.splitlines():
                if ":" in line and not line.startswith("#"):
                    k, v = line.split(":", 1)
                    fields[k.strip()] = v.strip()
            if "bookworm" in fields.get("Suites", "").split():
                return fields["URIs"].split()[0], fields.get("Signed-By")
    if os.path.exists("/etc/apt/sources.list"):
        for line in open("/etc/apt/sources.list"):
            w = line.split()
            if len(w) >= 3 and w[0] == "deb" and w[2] == "bookworm":
                return w[1], None
    raise HarnessError("no bookworm entry in apt's sources")


def backports_apt():
    """apt-get's options for an apt configuration of the harness's own,
    under the cache, that knows bookworm and bookworm-backports (binaries
    and sources) from the archive and with the key of the machine's
    bookworm entry.  It reads the machine's dpkg status, since what it
    installs goes to the machine, but neither its sources nor its lists:
    /etc/apt is left as it was.  The lists are fetched on first use."""
    if os.path.exists(OLD_BACKPORTS):
        log(f"removing {OLD_BACKPORTS}: an earlier harness added it to the "
            "machine's apt")
        os.unlink(OLD_BACKPORTS)
    apt = BACKPORTS_APT
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        os.makedirs(os.path.join(apt, sub), exist_ok=True)
    uri, key = bookworm_archive()
    sources = os.path.join(apt, "backports.sources")
    text = (f"Types: deb deb-src\nURIs: {uri}\n"
            "Suites: bookworm bookworm-backports\nComponents: main\n" +
            (f"Signed-By: {key}\n" if key else ""))
    if not os.path.exists(sources) or open(sources).read() != text:
        with open(sources + ".new", "w") as f:
            f.write(text)
        os.replace(sources + ".new", sources)
    opts = ["-o", f"Dir::Etc::SourceList={sources}",
            "-o", f"Dir::Etc::SourceParts={os.path.join(apt, 'parts')}",
            "-o", f"Dir::State::Lists={os.path.join(apt, 'lists')}",
            "-o", f"Dir::Cache={os.path.join(apt, 'cache')}"]
    lists = os.listdir(os.path.join(apt, "lists"))
    if not any("bookworm-backports" in n and n.endswith("_Sources")
               for n in lists):
        log("fetching the bookworm and bookworm-backports package lists "
            "into the cache (apt configuration of the harness's own)")
        run(["apt-get", *opts, "update", "-q"])
    return opts


def ensure_qemu10():
    """QEMU 10 from bookworm-backports, unpacked into the cache (the host
    keeps its own QEMU for the L1 guest)."""
    stamp = os.path.join(QEMU10, "stamp")
    binary = os.path.join(QEMU10, "root", "usr", "bin", "qemu-system-x86_64")
    if os.path.exists(stamp) and os.path.exists(binary):
        return binary
    apt = backports_apt()
    debs = os.path.join(QEMU10, "debs")
    shutil.rmtree(QEMU10, ignore_errors=True)
    os.makedirs(debs)
    log("downloading QEMU 10 from bookworm-backports")
    fetch = ["apt-get", *apt, "download", "-q"] + [
        f"{p}/bookworm-backports" for p in QEMU10_DEBS]
    if run(fetch, cwd=debs, check=False)[0]:
        # the suite's lists may be old: fetch them once more
        run(["apt-get", *apt, "update", "-q"])
        run(fetch, cwd=debs)
    root = os.path.join(QEMU10, "root")
    for d in sorted(os.listdir(debs)):
        run(["dpkg", "-x", os.path.join(debs, d), root])
    rc, out = run([binary, "--version"], check=False)
    if rc or "version 10." not in out:
        raise HarnessError(f"QEMU 10 does not run here: {out[-500:]}")
    open(stamp, "w").write(out)
    return binary


QEMU_LM = os.path.join(CACHE, "qemu-tp4159")
QEMU_LM_PATCHES = os.path.join(REPO, "qemu", "patches")
QEMU_LM_CONFIGURE = ["--target-list=x86_64-softmmu", "--disable-download",
                     "--without-default-features", "--disable-docs",
                     "--disable-werror", "--disable-tools",
                     "--disable-install-blobs", "--enable-tcg",
                     "--enable-fdt=system"]


def qemu_lm_fw():
    """-L options: firmware from the QEMU 10 packages (the source has none)."""
    root = os.path.join(QEMU10, "root", "usr", "share")
    return ["-L", os.path.join(root, "qemu"), "-L",
            os.path.join(root, "seabios")]


def ensure_qemu_lm():
    """QEMU 10 built from Debian's source of the bookworm-backports package
    with qemu/patches applied (TP4159 in hw/nvme): the host's QEMU for the
    NVMe tests.  x86_64 system emulator only; built anew when a patch
    changes."""
    ensure_qemu10()
    binary = os.path.join(QEMU_LM, "build", "qemu-system-x86_64")
    patches = sorted(f for f in os.listdir(QEMU_LM_PATCHES)
                     if f.endswith(".patch"))
    digest = hashlib.sha256()
    for name in patches:
        digest.update(name.encode())
        digest.update(read_bytes(os.path.join(QEMU_LM_PATCHES, name)))
    digest.update(" ".join(QEMU_LM_CONFIGURE).encode())
    stamp = os.path.join(QEMU_LM, "stamp")
    if (os.path.exists(stamp) and os.path.exists(binary) and
            open(stamp).read() == digest.hexdigest()):
        return binary
    dl = os.path.join(QEMU_LM, "dl")
    os.makedirs(dl, exist_ok=True)
    orig = [f for f in os.listdir(dl) if f.endswith(".orig.tar.xz")]
    if len(orig) != 1 or run(["xz", "-t", os.path.join(dl, orig[0])],
                             check=False)[0]:
        # none, several, or one cut short by an interrupted download
        shutil.rmtree(dl)
        os.makedirs(dl)
        orig = []
    if not orig:
        apt = backports_apt()
        log("downloading the source of QEMU 10 (bookworm-backports)")
        # the archive's .dsc may be missing: the upstream tarball is what
        # is built, so its arrival is what counts
        run(["apt-get", *apt, "source", "--download-only", "-q",
             "qemu/bookworm-backports"], cwd=dl, check=False)
        orig = [f for f in os.listdir(dl) if f.endswith(".orig.tar.xz")]
        if not orig:
            raise HarnessError("apt-get source qemu/bookworm-backports "
                               "brought no orig tarball")
    if not orig[0].startswith("qemu_10.0."):
        raise HarnessError(f"qemu/patches/ are for QEMU 10.0, the archive "
                           f"has {orig[0]}")
    rc, out = (run(["meson", "--version"], check=False)
               if shutil.which("meson") else (1, ""))
    have = tuple(int(x) for x in re.findall(r"\d+", out)[:2]) if not rc else ()
    rc2, _ = run(["/usr/bin/python3", "-c", "import pycotap"], check=False)
    if have < (1, 5) or rc2:
        apt = backports_apt()
        log("installing meson and pycotap from bookworm-backports")
        run(["apt-get", *apt, "install", "-y", "-q", "-t",
             "bookworm-backports", "meson", "python3-pycotap"])
    src = os.path.join(QEMU_LM, "src")
    srcstamp = os.path.join(QEMU_LM, "src.stamp")
    want_src = orig[0] + ":" + digest.hexdigest()
    if not (os.path.exists(srcstamp) and open(srcstamp).read() == want_src):
        log(f"unpacking {orig[0]} and applying {len(patches)} patch(es)")
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        run(["tar", "-xf", os.path.join(dl, orig[0]), "-C", src,
             "--strip-components=1"])
        # Debian's +ds tarball drops the EDK2 images meson wants to unpack;
        # the x86 guests here boot SeaBIOS, so empty stand-ins do
        fds = re.findall(r"'(edk2-[\w.-]+\.fd)'",
                         open(os.path.join(src, "pc-bios",
                                           "meson.build")).read())
        for fd in fds:
            path = os.path.join(src, "pc-bios", fd + ".bz2")
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    subprocess.run(["bzip2"], stdin=subprocess.DEVNULL,
                                   stdout=f, check=True)
        for name in patches:
            run(["patch", "-p1", "-s", "-i",
                 os.path.join(QEMU_LM_PATCHES, name)], cwd=src)
        # the archive's mtimes are older than the objects: build anew
        shutil.rmtree(os.path.join(QEMU_LM, "build"), ignore_errors=True)
        open(srcstamp, "w").write(want_src)
    build = os.path.join(QEMU_LM, "build")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        shutil.rmtree(build, ignore_errors=True)
        os.makedirs(build)
        log("configuring QEMU (x86_64-softmmu only)")
        run([os.path.join(src, "configure"), "--python=/usr/bin/python3"] +
            QEMU_LM_CONFIGURE, cwd=build,
            logfile=os.path.join(QEMU_LM, "configure.log"))
    log("building QEMU with TP4159 (about 3 minutes when its patches "
        "changed)")
    t0 = time.time()
    run(["ninja", "-j", JOBS, "qemu-system-x86_64"], cwd=build,
        logfile=os.path.join(QEMU_LM, "build.log"))
    log(f"QEMU built in {time.time() - t0:.0f} s")
    rc, out = run([binary, "--version"], check=False)
    if rc or "version 10." not in out:
        raise HarnessError(f"the TP4159 QEMU does not run: {out[-500:]}")
    open(stamp, "w").write(digest.hexdigest())
    return binary


def build_l2():
    """The L2 guest: a multiboot counter (harness/guest/l2)."""
    src = os.path.join(REPO, "harness", "guest", "l2")
    out = os.path.join(CACHE, "l2.elf")
    obj = os.path.join(CACHE, "l2.o")
    run(["gcc", "-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector",
         "-fno-asynchronous-unwind-tables", "-nostdlib", "-O2", "-Wall",
         "-Werror", "-c", os.path.join(src, "counter.c"), "-o", obj])
    run(["ld", "-m", "elf_i386", "--no-warn-rwx-segments", "-T",
         os.path.join(src, "counter.lds"), "-o", out, obj])
    return out


def make_vmm_initramfs(qemu, l2, out, init="init-vmm", bdir=None, extra=None):
    """init (init-vmm) with QEMU 10, the libraries ldd names, its firmware and the
    L2; extra maps more files to their paths in it.  The libraries come
    from the host (the same bookworm ones)."""
    root = tempfile.mkdtemp(prefix="lm-vmm-")
    try:
        if bdir:
            add_modules(root, bdir)
        for d in ("bin", "qemu-lib", "qemu-fw", "lib64"):
            os.makedirs(os.path.join(root, d))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        shutil.copy(qemu, os.path.join(root, "bin", "qemu-system-x86_64"))
        if l2:
            shutil.copy(l2, os.path.join(root, "l2.elf"))
        for dest, src in (extra or {}).items():
            os.makedirs(os.path.dirname(os.path.join(root, dest)),
                        exist_ok=True)
            shutil.copy(src, os.path.join(root, dest))
        rc, out_ldd = run(["ldd", qemu], check=False)
        for line in out_ldd.splitlines():
            m = re.search(r"=>\s*(\S+)", line)
            if m and os.path.exists(m.group(1)):
                shutil.copy(m.group(1), os.path.join(root, "qemu-lib"))
            elif "=>" in line:
                raise HarnessError(f"QEMU 10 needs a library: {line}")
        shutil.copy("/lib64/ld-linux-x86-64.so.2",
                    os.path.join(root, "lib64"))
        for name, where in QEMU10_FW.items():
            src = os.path.join(QEMU10, "root", where, name)
            shutil.copy(os.path.realpath(src), os.path.join(root, "qemu-fw",
                                                            name))
        pack_initramfs(root, init, ["common.sh", "nsdev.sh", "vmm.sh"],
                       out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def vmm(res):
    qemu = ensure_qemu10()
    l2 = build_l2()
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    initrd = make_vmm_initramfs(qemu, l2,
                                os.path.join(CACHE, "initramfs-vmm.cpio.gz"),
                                bdir=bdir)
    log("vmm: booting the guest; QEMU 10 inside migrates an L2 VF0 -> VF1")
    logf = os.path.join(CACHE, "vmm-console.log")
    # about 4 minutes under TCG; a hang must not eat CI's time, and what
    # was printed before it still counts
    out = boot(bdir, initrd, logf, timeout=600)
    shown = False
    for line in out.split("==TAP-END==")[0].splitlines():
        shown = shown or line.startswith(">>>")
        if shown and line.strip() and not KMSG.match(line):
            print(line, flush=True)
    e2e_results(res, out, logf, "vmm", "init-vmm")
    return out


# ---------------------------------------------------------------- NVMe

# The TP4159 PF: three VFs of 2 or 3 queues and 1 interrupt, one shared
# namespace on a file.
NVME_LM_PF = "0000:00:06.0"
NVME_NS_MIB = 16


def nvme_images():
    """Fresh, zeroed files for the two namespaces: (main, throttled)."""
    img = os.path.join(CACHE, "nvme-ns.img")
    slow_img = os.path.join(CACHE, "nvme-ns-slow.img")
    for path, mib in ((img, NVME_NS_MIB), (slow_img, 1)):
        with open(path, "wb") as f:
            f.truncate(mib << 20)
    return img, slow_img


def nvme_devices(img, slow_img):
    """The PF and its namespaces: 1 for the I/O that must survive, 2 with
    writes throttled to 16 bytes/s, so that a write to it stays in flight
    for minutes and holds up a Suspend (the bounded Suspend's test).  VF0's
    pending Suspend ignores an Abort, as NVMe allows (x-hmlm-ignore-abort
    bit 0)."""
    return ["-device", "nvme-subsys,id=subsys1",
            "-device", "nvme,id=lmnvme,serial=lm-tp4159,subsys=subsys1,"
            "addr=0x6,sriov_max_vfs=3,sriov_vq_flexible=7,"
            "sriov_vi_flexible=3,sriov_max_vq_per_vf=3,"
            "sriov_max_vi_per_vf=1,hmlm=on,x-hmlm-ignore-abort=1",
            "-drive", f"file={img},if=none,id=lmns,format=raw",
            "-device", "nvme-ns,drive=lmns,bus=lmnvme,nsid=1,shared=on",
            "-drive", f"file={slow_img},if=none,id=lmslow,format=raw,"
            "throttling.bps-write=16",
            "-device", "nvme-ns,drive=lmslow,bus=lmnvme,nsid=2,shared=on"]


def build_l2_linux():
    """The L2 Linux of the NVMe test: a small kernel from the same tree and
    an initramfs of busybox and l2io.  Returns (bzImage, initrd)."""
    l2dir = build_x86("l2-x86", os.path.join(REPO, "harness", "l2.config"))
    root = tempfile.mkdtemp(prefix="lm-l2-")
    initrd = os.path.join(CACHE, "initramfs-l2nvme.cpio.gz")
    try:
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-o",
             os.path.join(root, "bin", "l2io"),
             os.path.join(REPO, "harness", "guest", "l2io.c")])
        pack_initramfs(root, "init-l2nvme", ["nsdev.sh"], initrd)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return os.path.join(l2dir, "arch", "x86", "boot", "bzImage"), initrd


def nvme_boot(bdir, init, tools, name, timeout):
    """Boots bdir's kernel on the TP4159 QEMU with the NVMe PF, a fresh
    namespace, QEMU 10, the L2 Linux and tools; returns (console, log)."""
    qemu_lm = ensure_qemu_lm()
    kernel, l2initrd = build_l2_linux()
    bindir = build_guest_tools(bdir, tools)
    initrd = make_vmm_initramfs(
        ensure_qemu10(), None,
        os.path.join(CACHE, f"initramfs-{name}.cpio.gz"), init=init,
        bdir=bdir,
        extra=dict({"l2/bzImage": kernel, "l2/initrd.gz": l2initrd},
                   **{f"bin/{t}": os.path.join(bindir, t) for t in tools}))
    img, slow_img = nvme_images()
    logf = os.path.join(CACHE, f"{name}-console.log")
    # LM_QEMU_TRACE: QEMU trace event patterns, comma separated (debugging)
    trace = [a for p in os.environ.get("LM_QEMU_TRACE", "").split(",") if p
             for a in ("-trace", p)]
    out = boot(bdir, initrd, logf, timeout=timeout, qemu=qemu_lm,
               extra=qemu_lm_fw() + ["-nic", "none"] + trace +
               nvme_devices(img, slow_img))
    return out, logf


def nvme(res):
    """nvme-pci controls the VFs of QEMU's TP4159 model; QEMU 10 migrates
    an L2 doing NVMe I/O from one VF to another."""
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    log("nvme: booting the guest on QEMU with TP4159; QEMU 10 inside "
        "migrates an L2 doing NVMe I/O from VF0 to VF1")
    out, logf = nvme_boot(bdir, "init-nvme",
                          ["nvme_virt", "nvme_lm_events", "lmctl"], "nvme",
                          1500)
    # from the plan on: the first results come before any narration
    shown = False
    for line in out.split("==TAP-END==")[0].splitlines():
        shown = shown or line.startswith(">>>") or TAP_PLAN.match(line)
        if shown and line.strip() and not KMSG.match(line):
            print(line, flush=True)
    e2e_results(res, out, logf, "nvme", "init-nvme")
    return out


def cmd_nvme(args):
    return run_alone("nvme", nvme)


# nvme-cli's lm plugin came with 2.11; bookworm has 2.4, trixie 2.13.  The
# guest runs trixie's own binary package, with trixie's dynamic loader and
# C library beside it: nvme-cli, the libraries it links and theirs (their
# Depends, less what is no library: uuid-runtime, gcc-14-base,
# openssl-provider-legacy).  Only what nvme needs goes into the guest.
NVME_CLI_SUITE = "trixie"
NVME_CLI_DEBS = ["nvme-cli", "libnvme1t64", "libjson-c5", "libkeyutils1",
                 "libssl3t64", "libzstd1", "zlib1g", "libc6", "libgcc-s1"]
NVME_CLI = os.path.join(CACHE, "nvme-cli-trixie")
NVME_CLI_VERSION = "nvme version 2.13"
# where the packages put them (trixie's /usr is merged), and where the
# guest finds that tree
NVME_CLI_BIN = "usr/sbin/nvme"
NVME_CLI_LIBDIR = "usr/lib/x86_64-linux-gnu"
NVME_CLI_LOADER = f"{NVME_CLI_LIBDIR}/ld-linux-x86-64.so.2"
NVME_CLI_GUEST = "/trixie"


def trixie_apt():
    """apt-get's options for an apt configuration of the harness's own,
    under the cache, that knows only Debian trixie's binary packages, from
    the archive and with the key of the machine's bookworm entry: the
    machine's sources, lists and dpkg status are neither read nor
    written."""
    apt = os.path.join(CACHE, "trixie-apt")
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        os.makedirs(os.path.join(apt, sub), exist_ok=True)
    uri, key = bookworm_archive()
    sources = os.path.join(apt, "trixie.sources")
    with open(sources, "w") as f:
        f.write(f"Types: deb\nURIs: {uri}\nSuites: {NVME_CLI_SUITE}\n"
                "Components: main\n" + (f"Signed-By: {key}\n" if key else ""))
    status = os.path.join(apt, "status")
    open(status, "a").close()
    return ["-o", f"Dir::Etc::SourceList={sources}",
            "-o", f"Dir::Etc::SourceParts={os.path.join(apt, 'parts')}",
            "-o", f"Dir::State::Lists={os.path.join(apt, 'lists')}",
            "-o", f"Dir::State::status={status}",
            "-o", f"Dir::Cache={os.path.join(apt, 'cache')}"]


def nvme_cli_cmd(root, *args):
    """nvme of the tree root with args, through trixie's loader and
    libraries in it, never the machine's."""
    return [os.path.join(root, NVME_CLI_LOADER), "--library-path",
            os.path.join(root, NVME_CLI_LIBDIR),
            os.path.join(root, NVME_CLI_BIN), *args]


def ensure_nvme_cli():
    """nvme-cli and the libraries it needs, down to the C library and its
    loader, from Debian trixie's binary packages, unpacked under the cache
    with dpkg-deb; returns that tree.  It is kept while its stamp names the
    same packages (their versions follow); a run cut short leaves no stamp,
    and the next one starts over."""
    root = os.path.join(NVME_CLI, "root")
    stamp = os.path.join(NVME_CLI, "stamp")
    if (os.path.exists(stamp) and
            os.path.exists(os.path.join(root, NVME_CLI_BIN)) and
            open(stamp).readline().split() == NVME_CLI_DEBS):
        return root
    opts = trixie_apt()
    shutil.rmtree(NVME_CLI, ignore_errors=True)
    debs = os.path.join(NVME_CLI, "debs")
    os.makedirs(debs)
    log(f"nvme-cli: downloading Debian {NVME_CLI_SUITE}'s "
        f"{', '.join(NVME_CLI_DEBS)}")
    run(["apt-get", *opts, "update", "-q"])
    run(["apt-get", *opts, "download", "-q", *NVME_CLI_DEBS], cwd=debs)
    got = {}
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        name, version = run(["dpkg-deb", "--show",
                             "--showformat=${Package} ${Version}",
                             deb])[1].split()
        got[name] = version
        run(["dpkg-deb", "-x", deb, root])
    if sorted(got) != sorted(NVME_CLI_DEBS):
        raise HarnessError(f"nvme-cli: downloaded {sorted(got)}, not "
                           f"{sorted(NVME_CLI_DEBS)}")
    nvme_cli_files(root)
    rc, out = run(nvme_cli_cmd(root, "version"), check=False)
    _, out_lm = run(nvme_cli_cmd(root, "lm", "help"), check=False)
    if rc or NVME_CLI_VERSION not in out or "migration-send" not in out_lm:
        raise HarnessError("nvme-cli: trixie's nvme and its lm plugin do "
                           f"not run here:\n{out[-500:]}\n{out_lm[-500:]}")
    with open(stamp + ".new", "w") as f:
        f.write(" ".join(NVME_CLI_DEBS) + "\n" +
                "".join(f"{n} {got[n]}\n" for n in NVME_CLI_DEBS) + out)
    os.replace(stamp + ".new", stamp)
    log(f"nvme-cli: {' '.join(out.split())}, in {root}")
    return root


def nvme_cli_files(root):
    """What the guest needs of root to run nvme, as paths in it: the
    binary, the loader and every library nvme needs, directly or through
    another (DT_NEEDED), all from trixie's library directory."""
    files, todo = [NVME_CLI_BIN, NVME_CLI_LOADER], [NVME_CLI_BIN]
    while todo:
        _, out = run(["readelf", "-dW", os.path.join(root, todo.pop())])
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                              out):
            rel = f"{NVME_CLI_LIBDIR}/{lib}"
            if rel in files:
                continue
            if not os.path.exists(os.path.join(root, rel)):
                raise HarnessError(f"nvme-cli: {lib} is needed and none of "
                                   f"{', '.join(NVME_CLI_DEBS)} has it")
            files.append(rel)
            todo.append(rel)
    for rel in files:
        real = os.path.realpath(os.path.join(root, rel))
        if not real.startswith(os.path.realpath(root) + os.sep):
            raise HarnessError(f"nvme-cli: {rel} leads out of {root}")
    return files


def nvme_cli_initramfs(bdir, trixie, out):
    """busybox, nvme_virt, lmsave and trixie's nvme under /trixie (what
    nvme_cli_files names, symbolic links resolved), with /bin/nvme, a
    script that runs it through trixie's loader."""
    bindir = build_guest_tools(bdir, ["nvme_virt"])
    root = tempfile.mkdtemp(prefix="lm-nvme-cli-")
    try:
        add_modules(root, bdir)
        b = os.path.join(root, "bin")
        os.makedirs(b)
        shutil.copy("/bin/busybox", b)
        shutil.copy(os.path.join(bindir, "nvme_virt"), b)
        run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-I",
             os.path.join(bdir, "hdr", "include"), "-o",
             os.path.join(b, "lmsave"),
             os.path.join(REPO, "harness", "guest", "lmsave.c")])
        for rel in nvme_cli_files(trixie):
            dst = os.path.join(root, NVME_CLI_GUEST.lstrip("/"), rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(os.path.realpath(os.path.join(trixie, rel)), dst)
        g = NVME_CLI_GUEST
        with open(os.path.join(b, "nvme"), "w") as f:
            f.write("#!/bin/busybox sh\n"
                    "# nvme-cli from Debian trixie, with trixie's loader "
                    "and libraries\n"
                    f"exec {g}/{NVME_CLI_LOADER} --library-path "
                    f"{g}/{NVME_CLI_LIBDIR} {g}/{NVME_CLI_BIN} \"$@\"\n")
        os.chmod(os.path.join(b, "nvme"), 0o755)
        pack_initramfs(root, "init-nvmecli", ["common.sh", "nsdev.sh"], out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def nvme_cli(res):
    """nvme-cli's lm plugin, Debian trixie's binary, drives QEMU's TP4159
    model from the PF, and reads of a VF the state nvme-pci saves of it
    (harness/guest/init-nvmecli)."""
    trixie = ensure_nvme_cli()
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    initrd = nvme_cli_initramfs(
        bdir, trixie, os.path.join(CACHE, "initramfs-nvmecli.cpio.gz"))
    img, slow_img = nvme_images()
    logf = os.path.join(CACHE, "nvme-cli-console.log")
    log("nvme-cli: booting the guest; nvme-cli's lm plugin drives the PF")
    # the boot takes a couple of minutes under TCG, the checks seconds: a
    # hang must not eat CI's time, and what was printed before it counts
    out = boot(bdir, initrd, logf, timeout=600, qemu=ensure_qemu_lm(),
               extra=qemu_lm_fw() + ["-nic", "none"] +
               nvme_devices(img, slow_img))
    for line in out.split("==TAP-END==")[0].splitlines():
        if line.startswith(">>>") or tap_result(line.strip()):
            print(line, flush=True)
    e2e_results(res, out, logf, "nvme-cli", "init-nvmecli")


def cmd_nvme_cli(args):
    """nvme-cli's lm plugin against QEMU's TP4159 model (also a step of the
    test command)."""
    if args:
        raise HarnessError("usage: harness/lm nvme-cli")
    return run_alone("nvme-cli", nvme_cli)


def cmd_nvme_bench(args):
    """Only the NVMe part of the bench."""
    prepare()
    return nvme_bench(build_x86("bench-x86", os.path.join(
        REPO, "harness", "bench.config")))


# ---------------------------------------------------------------- commands

def job(source, fn, *args):
    """Runs fn(results, *args) with results of its own; a HarnessError
    becomes a failure of source.  Returns (fn's value or None, results)."""
    r = Results()
    try:
        return fn(r, *args), r
    except HarnessError as e:
        r.add(source, "did not finish", False, str(e))
    except Exception as e:  # a bug here must still end in the summary line
        r.add(source, "did not finish", False, f"harness error: {e!r}")
    return None, r


def in_parallel(res, *jobs):
    """Runs (source, fn, args...) jobs side by side, merges their results in
    the order given and returns their values.  The pairs run together are
    the ones whose work mostly waits (make with nothing to do, a QEMU boot)
    and whose build directories differ."""
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job, *j) for j in jobs]
        done = [f.result() for f in futures]
    for _, r in done:
        res.merge(r)
    return [v for v, _ in done]


def etc_apt_digest():
    """A digest of the machine's apt configuration, every file's path and
    bytes."""
    h = hashlib.sha256()
    for top, dirs, files in sorted(os.walk("/etc/apt")):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            h.update(path.encode() + b"\0")
            try:
                h.update(open(path, "rb").read())
            except OSError as e:
                h.update(str(e).encode())
    return h.hexdigest()


def cmd_test(args):
    t0 = time.time()
    res = Results()
    if os.path.exists(OLD_BACKPORTS):
        backports_apt()
    apt_before = etc_apt_digest()
    try:
        overlay, patches = prepare()
        um, x86 = in_parallel(res, ("kunit-um", kunit, "um"),
                              ("kunit-x86_64", kunit, "x86_64"))
        in_parallel(res, (STATIC, static_and_series, overlay, patches,
                          [("um", um), ("x86_64", x86)]),
                    ("e2e", e2e_and_vmm))
    except HarnessError as e:
        res.add("harness", "prepare the tree", False, str(e))
    res.add(STATIC, "the machine's /etc/apt is as the test found it",
            etc_apt_digest() == apt_before,
            "a step changed the machine's apt configuration")
    log(f"total {time.time() - t0:.0f} s")
    res.summary(["kunit-um", "kunit-x86_64", "e2e", "vmm", "nvme",
                 "nvme-cli", STATIC])
    return 1 if res.failed else 0


def static_and_series(res, overlay, patches, builds):
    """The static checks, then the patch series' (which builds after each
    patch, so after the checks that build)."""
    static_checks(res, overlay, patches, builds)
    try:
        series.check(sys.modules[__name__], res, STATIC)
    except HarnessError as e:
        res.add(STATIC, "series: made and checked", False, str(e))


def cmd_series(args):
    """Writes the series and its cover letter; prints where."""
    prepare()
    out = series.make(sys.modules[__name__])
    for name in sorted(os.listdir(out)):
        print(os.path.join(out, name))
    return 0


def run_alone(source, fn):
    """One source's steps on their own, with its own summary."""
    res = Results()
    try:
        prepare()
        fn(res)
    except HarnessError as e:
        res.add(source, "did not finish", False, str(e))
    res.summary([source])
    return 1 if res.failed else 0


def cmd_e2e(args):
    return run_alone("e2e", e2e)


def e2e_and_vmm(res):
    """All four boot the same guest kernel: one after the other; each
    runs even when the one before could not."""
    try:
        e2e(res)
    except HarnessError as e:
        res.add("e2e", "did not finish", False, str(e))
    try:
        vmm(res)
    except Exception as e:  # a bug here must still end in the summary
        res.add("vmm", "did not finish", False, f"{e!r}")
    try:
        nvme(res)
    except Exception as e:
        res.add("nvme", "did not finish", False, f"{e!r}")
    try:
        nvme_cli(res)
    except Exception as e:
        res.add("nvme-cli", "did not finish", False, f"{e!r}")


def cmd_vmm(args):
    return run_alone("vmm", vmm)


def cmd_bench(args):
    prepare()
    bdir = build_x86("bench-x86", os.path.join(REPO, "harness", "bench.config"))
    names = ["lm_bench"]
    bindir = build_guest_tools(bdir, names)
    initrd = make_initramfs("init-bench", bindir, names,
                            os.path.join(CACHE, "initramfs-bench.cpio.gz"),
                            bdir)
    log("bench: booting the guest (no debug options) and running lm_bench")
    logf = os.path.join(CACHE, "bench-console.log")
    # a 1 GiB state three times over: the source's, the stream kept by
    # lm_bench, the destination's chunks
    out = boot(bdir, initrd, logf, timeout=1800, mem_mib=6144)
    figures = section(out, "BENCH")
    if figures is None:
        print("\n".join(out.splitlines()[-30:]))
        return 1
    print("QEMU TCG guest, 2 vCPUs; figures are relative to the same guest")
    print(figures, end="")
    host_crc_cost()
    rc = vmm_bench(bdir)
    return nvme_bench(bdir) or rc


def host_crc_cost():
    """The stream's crc32c beside a copy on the host's own CPU, where the
    instruction is not emulated."""
    src = os.path.join(REPO, "harness", "host", "crc_cost.c")
    exe = os.path.join(CACHE, "crc_cost")
    if subprocess.run(["gcc", "-O2", "-msse4.2", "-o", exe, src]).returncode:
        print("crc_cost: does not build here (not x86_64 with SSE4.2?)")
        return
    subprocess.run([exe])


def bench_runs(lines, nfig):
    """A bench guest's lines "SETUP FIGURE..." (nfig figures each) by
    setup, and how many said something else ("SETUP failed"); "#" lines,
    the guest's reasons and progress, are printed."""
    runs, failed = {}, 0
    for line in lines.split("\n"):
        f = line.split()
        if line.startswith("#"):
            print(line)
        elif len(f) == nfig + 1 and all(x.isdigit() for x in f[1:]):
            runs.setdefault(f[0], []).append([int(x) for x in f[1:]])
        elif f:
            failed += 1
            print(f"bench: a migration failed or said nothing: {line}")
    return runs, failed


def bench_columns(v, names, base=None, width=6):
    """ "NAME median [min-max]" for the first figures of runs v, each with
    its ratio to base[i] when there is one."""
    cols = []
    for i, what in enumerate(names):
        xs = [x[i] for x in v]
        med = statistics.median(xs)
        col = f"{what} {med:{width}.0f} [{min(xs)}-{max(xs)}]"
        if base and base[i]:
            col += f" x{med / base[i]:.2f}"
        cols.append(col)
    return "  ".join(cols)


def vmm_bench(bdir):
    """QEMU 10 in the bench guest migrates an L2 with and without a VF,
    the setups taking turns; prints medians and spread, and the ratios
    to the device-less median, all from one boot."""
    initrd = make_vmm_initramfs(ensure_qemu10(), build_l2(),
                                os.path.join(CACHE,
                                             "initramfs-vmm-bench.cpio.gz"),
                                init="init-vmm-bench", bdir=bdir)
    log("bench: booting it again; QEMU 10 migrates an L2 with and without "
        "a VF, 7 rounds (about 5 minutes)")
    logf = os.path.join(CACHE, "vmm-bench-console.log")
    out = boot(bdir, initrd, logf, timeout=1800)
    lines = section(out, "VMMBENCH")
    if lines is None:
        print("\n".join(out.splitlines()[-30:]))
        return 1
    runs, failed = bench_runs(lines, 2)
    if "none" not in runs:
        print("bench: no device-less migration completed")
        return 1
    base = [statistics.median(v[i] for v in runs["none"]) for i in (0, 1)]
    print("\nQEMU 10 migrating an L2 inside the TCG guest (ms; median "
          "[min-max] of the runs; ratio = median / device-less median)")
    for setup, v in runs.items():
        print(f"  {setup:9} {len(v)} runs  " +
              bench_columns(v, ("downtime", "total"), base, 7))
    if "vf-1MiB" in runs and base[0]:
        added = statistics.median(x[0] for x in runs["vf-1MiB"]) / base[0] - 1
        print(f"  a 1 MiB device state adds {100 * added:.0f}% to the "
              f"device-less median downtime (target: at most 30%)")
    return 1 if failed else 0


def nvme_bench(bdir):
    """QEMU 10 in the bench guest, on the TP4159 host QEMU, migrates an L2
    Linux with a VF doing I/O and without a device, the setups taking
    turns; prints medians and the VF's ratio to the device-less median,
    all from one boot."""
    log("bench: booting on QEMU with TP4159; QEMU 10 migrates an L2 Linux "
        "with an NVMe VF and without a device, 3 rounds")
    out, _ = nvme_boot(bdir, "init-nvme-bench", ["nvme_virt"], "nvme-bench",
                       2400)
    lines = section(out, "NVMEBENCH")
    if lines is None:
        print("\n".join(out.splitlines()[-30:]))
        return 1
    runs, failed = bench_runs(lines, 12)
    if "none" not in runs or "vf" not in runs:
        print("bench: a setup never completed")
        return 1
    base = statistics.median(v[0] for v in runs["none"])
    print("\nQEMU 10 migrating an L2 Linux inside the TCG guest, NVMe VF "
          "of QEMU's TP4159 model\n(ms; median [min-max]; the VF's state "
          "is nvme-pci's Get Controller State data)")
    for setup, v in runs.items():
        state = statistics.median(x[3] for x in v)
        print(f"  {setup:5} {len(v)} runs  " +
              bench_columns(v, ("downtime", "total", "setup")) +
              (f"  state {state:.0f} bytes" if setup == "vf" else ""))
    vf = statistics.median(v[0] for v in runs["vf"])
    if base:
        print(f"  downtime with the VF / without a device: x{vf / base:.2f}")
    print("  the VF's commands on the PF's admin queue (us, median "
          "[min-max]):")
    phases = [x[4:] for x in runs["vf"]]
    print("    source, inside QEMU's downtime: its Suspend at the VM's "
          "stop; after RAM's\n    last pass, the STOP_COPY arc: the "
          "descriptor's Identify reads and the Gets,\n    and that arc's "
          "span:\n      " +
          bench_columns(phases, ("Suspend", "Identify", "Get", "STOP_COPY")))
    print("    destination, after that (the L2 waits for them; QEMU's "
          "downtime, taken\n    at the source without a return path, may "
          "end first):\n      " +
          bench_columns([x[4:] for x in phases],
                        ("Identify", "Set", "Resume")))
    print("    before the downtime (the destination's Suspend as it enters "
          "RESUMING,\n    the source's size reads): " +
          bench_columns([x[7:] for x in phases], ("",)).strip())
    rtt = (section(out, "NVMERTT") or "").split()
    device = [x[4] + x[6] + x[9] + x[10] for x in runs["vf"]]
    print("    the device's part of the downtime: the source's Suspend and "
          "Get, the\n    destination's Set and Resume, "
          f"{statistics.median(device):.0f} us (median; Identify inside it: "
          f"{statistics.median(x[5] + x[8] for x in runs['vf']):.0f} us)")
    if rtt and rtt[0].isdigit() and int(rtt[0]):
        four = 4 * int(rtt[0])
        print(f"    four admin round trips on the PF in this boot: {four} us "
              f"(4 x {rtt[0]}, median Identify):\n    the device's part is "
              f"x{statistics.median(device) / four:.2f} of that")
    else:
        print("    bench: no admin round trip measured (no nvme tracepoints?)")
    if any(x[4:] != [0] * 8 for x in runs["none"]):
        print("  bench: PF admin commands during a migration without a "
              "device: the figures\n  above include others than the VF's")
    return 1 if failed else 0


def cmd_build_e2e(args):
    prepare()
    print(build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config")))
    return 0


def cmd_prepare(args):
    prepare()
    print(TREE)
    return 0


KMSG = re.compile(r"^\[\s*\d+\.\d+\]")


def cmd_demo(args):
    prepare()
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    names = ["lmctl"]
    bindir = build_guest_tools(bdir, names)
    initrd = make_initramfs("init-demo", bindir, names,
                            os.path.join(CACHE, "initramfs-demo.cpio.gz"),
                            bdir)
    log("demo: booting the guest (QEMU, TCG, emulated SR-IOV NVMe, vIOMMU)")
    logf = os.path.join(CACHE, "demo-console.log")
    out = boot(bdir, initrd, logf)
    body = out.split("==DMESG-BEGIN==")[0]
    shown = False
    for line in body.splitlines():
        if line.startswith(">>>"):
            shown = True
        if shown and not KMSG.match(line):
            print(line)
    dmesg = section(out, "DMESG") or ""
    lm = [l for l in dmesg.splitlines()
          if "live_migration" in l or "lm_test_ctrl" in l or "migratable" in l]
    if lm:
        print("\n>>> What the guest kernel said about it:")
        for l in lm:
            print("    " + l)
    ok = "DEMO RESULT: migrated" in out
    print(f"\n(full console log: {logf})")
    print("\n>>> And what a user came for: a running guest moved by a real "
          "VMM.\n>>> QEMU 10 (bookworm-backports) inside the same guest "
          "runs an L2 with VF0\n>>> assigned through plain vfio-pci and "
          "migrates it to a second QEMU with VF1.", flush=True)
    res = Results()
    try:
        vmm(res)
    except HarnessError as e:
        res.add("vmm", "did not finish", False, str(e))
    print(f"(full console log: {os.path.join(CACHE, 'vmm-console.log')})")
    print("\n>>> Now with nvme-pci as the controlling function, no test "
          "driver: the host\n>>> QEMU is built from Debian's QEMU 10 "
          "source with qemu/patches/, whose NVMe\n>>> model speaks TP4159. "
          "nvme-pci in the guest finds HMLMS, registers for its\n>>> VFs; "
          "QEMU 10 inside runs an L2 Linux whose nvme driver writes and "
          "verifies\n>>> a pattern on VF0's namespace, and migrates it to a "
          "second QEMU with VF1:\n>>> Suspend, Get, Set and Resume go to the "
          "PF's admin queue.", flush=True)
    try:
        nvme(res)
    except HarnessError as e:
        res.add("nvme", "did not finish", False, str(e))
    res.summary(["vmm", "nvme"])
    print(f"(full console log: {os.path.join(CACHE, 'nvme-console.log')})")
    return 0 if ok and not res.failed else 1


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("usage: harness/lm {test|demo|bench|e2e|vmm|nvme|nvme-bench|"
              "nvme-cli|prepare|series}")
        return 2
    cmds = {"test": cmd_test, "prepare": cmd_prepare, "demo": cmd_demo,
            "build-e2e": cmd_build_e2e, "e2e": cmd_e2e, "bench": cmd_bench,
            "vmm": cmd_vmm, "nvme": cmd_nvme, "nvme-bench": cmd_nvme_bench,
            "nvme-cli": cmd_nvme_cli,
            "series": cmd_series}
    if sys.argv[1] not in cmds:
        print(f"unknown command {sys.argv[1]}", file=sys.stderr)
        return 2
    try:
        return cmds[sys.argv[1]](sys.argv[2:])
    except HarnessError as e:
        print(f"harness: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
