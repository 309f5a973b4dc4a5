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
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

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
OWN_C_DIRS = ["drivers/live_migration", "drivers/vfio/pci", "drivers/nvme/host"]
OWN_HEADERS = ["include/linux/live_migration.h"]
# What each KUnit run covers: kunitconfig, and the sources of its suites.
KUNIT_RUNS = {
    "um": (["drivers/live_migration"], ["drivers/live_migration"]),
    "x86_64": (["drivers/vfio/pci/.kunitconfig",
                "drivers/nvme/host/lm.kunitconfig"],
               ["drivers/live_migration", "drivers/vfio/pci",
                "drivers/nvme/host"]),
}
# Objects built with W=1 and sparse, per KUnit build.
STATIC_TARGETS = {
    "um": ["drivers/live_migration/"],
    "x86_64": ["drivers/live_migration/", "drivers/vfio/pci/vfio_pci_lm.o",
               "drivers/nvme/host/lm.o"],
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


def patched_files(patches):
    """Apply the series to copies of the pristine files it touches."""
    stage = tempfile.mkdtemp(prefix="lm-patch-")
    touched = []
    try:
        for p in patches:
            for line in open(p, errors="replace"):
                m = re.match(r"^\+\+\+ b/(\S+)", line)
                if m and m.group(1) not in touched:
                    rel = m.group(1)
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

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []

    def add(self, name, ok, detail=""):
        if ok is None:
            self.skipped += 1
            return
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append((name, detail))

    def merge(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures.extend(other.failures)

    def summary(self):
        for name, detail in self.failures:
            print(f"FAILED: {name}")
            if detail:
                for l in detail.rstrip().splitlines()[:30]:
                    print(f"    {l}")
        line = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        print(line, flush=True)


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


def static_checks(res, overlay, patches, builds):
    log("static checks: checkpatch --strict, kernel-doc -Wall")
    cp = ["perl", "scripts/checkpatch.pl", "--strict", "--terse",
          "--show-types", "--no-summary", "--ignore", "FILE_PATH_CHANGES"]
    jobs = [(f"checkpatch {rel}", cp + ["-f", rel]) for rel in new_files(overlay)]
    jobs += [(f"checkpatch {os.path.basename(p)}", cp + [p]) for p in patches]
    # checkpatch reads a git-tracked path as a file: blank context lines
    # must then carry no trailing space (GNU patch and git apply take both)
    jobs += [(f"checkpatch -f {os.path.basename(p)}", cp + ["-f", p])
             for p in patches]
    with concurrent.futures.ThreadPoolExecutor(int(JOBS)) as pool:
        outs = list(pool.map(lambda j: run(j[1], cwd=TREE, check=False)[1],
                             jobs))
    for (name, _), out in zip(jobs, outs):
        findings = [l for l in out.splitlines()
                    if re.search(r"(ERROR|WARNING|CHECK):", l)]
        res.add(name, not findings, "\n".join(findings))
    for rel in own_sources(overlay):
        rc, out = run(["perl", "scripts/kernel-doc", "-none", "-Wall", rel],
                      cwd=TREE, check=False)
        findings = [l for l in out.splitlines() if l.strip()]
        res.add(f"kernel-doc {rel}", rc == 0 and not findings,
                "\n".join(findings))
    # Debian's python3 has python3-docutils; a private python3 may not
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else \
        sys.executable
    for rel in sorted(r for r in overlay if r.endswith(".rst")):
        rc, out = run([py, os.path.join(REPO, "harness", "rstcheck.py"),
                       rel], cwd=TREE, check=False)
        res.add(f"rst {rel}", rc == 0, out)

    for arch, build_dir in builds:
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
        if rc != 0 and not ours:
            ours = out.splitlines()[-20:]
        res.add(f"W=1 + sparse build ({arch}): {' '.join(targets)}",
                not ours, "\n".join(ours))


# ---------------------------------------------------------------- kunit

BAD_LOG = re.compile(r"(WARNING: CPU|WARNING:.*at |BUG: |Oops|"
                     r"KASAN|possible circular locking|"
                     r"possible recursive locking|inconsistent lock state|"
                     r"suspicious RCU usage|Kernel panic|"
                     r"lock held when returning|unreferenced object)")


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
        out.append((".".join(prefix + [case.get("name", "?")]),
                    case.get("status", "?")))


def kunit(res, arch, extra=()):
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
    cmd += list(extra)
    log(f"KUnit ({arch}): configure, build, run; log in {logf}")
    t0 = time.time()
    rc, out = run(cmd, cwd=TREE, logfile=logf, check=False)
    log(f"KUnit ({arch}) finished in {time.time() - t0:.0f} s")
    if not os.path.exists(jsonf):
        tail = "\n".join(out.splitlines()[-30:])
        res.add(f"kunit-{arch}: build and boot", False, tail)
        return build_dir
    data = json.load(open(jsonf))
    cases = []
    walk_cases(data, [], cases)
    seen_suites = {c[0].split(".")[0] for c in cases}
    for suite in sorted(expected_suites(suite_dirs) - seen_suites):
        res.add(f"kunit-{arch}: suite {suite}", False, "produced no result")
    for name, status in cases:
        if status in ("SKIP", "SKIPPED"):
            res.add(name, None)
        else:
            res.add(f"kunit-{arch}: {name}", status in ("PASS", "PASSED"),
                    f"status {status}; see {logf}")
    raw = os.path.join(build_dir, "test.log")
    if os.path.exists(raw):
        bad = [l for l in open(raw, errors="replace") if BAD_LOG.search(l)]
        res.add(f"kunit-{arch}: kernel log free of WARN/BUG/KASAN/lockdep",
                not bad, "".join(bad[:20]) + f"(full log: {raw})")
    if rc != 0 and not cases:
        res.add(f"kunit-{arch}: run", False, "\n".join(out.splitlines()[-30:]))
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
    rc, out = run(["make", "ARCH=x86_64", f"O={bdir}", f"-j{JOBS}",
                   "bzImage"], cwd=TREE, logfile=logf, check=False)
    if rc != 0:
        errs = [l for l in out.splitlines() if "error" in l.lower()][:20]
        raise HarnessError(f"{name}: kernel build failed:\n" +
                           "\n".join(errs or out.splitlines()[-20:]))
    hdr = os.path.join(bdir, "hdr")
    run(["make", "ARCH=x86_64", f"O={bdir}", f"INSTALL_HDR_PATH={hdr}",
         "headers_install"], cwd=TREE, logfile=logf + ".hdr")
    log(f"{name}: built in {time.time() - t0:.0f} s")
    return bdir


GUEST_SRC = {
    "vfio_lm_test": "tools/testing/selftests/live_migration/vfio_lm_test.c",
    "lmctl": "tools/live_migration/lmctl.c",
    "lm_bench": "tools/testing/selftests/live_migration/lm_bench.c",
}


def build_guest_tools(bdir, names):
    """Static user-space binaries against the guest kernel's uapi headers."""
    out = os.path.join(CACHE, "guest-bin")
    os.makedirs(out, exist_ok=True)
    for name in names:
        src = os.path.join(TREE, GUEST_SRC[name])
        run(["gcc", "-static", "-O2", "-Wall", "-Werror",
             "-I", os.path.join(bdir, "hdr", "include"),
             "-I", os.path.join(TREE, "tools", "testing", "selftests"),
             "-o", os.path.join(out, name), src])
    return out


def make_initramfs(init_name, bindir, names, out):
    root = tempfile.mkdtemp(prefix="lm-initramfs-")
    try:
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for n in names:
            shutil.copy(os.path.join(bindir, n), os.path.join(root, "bin", n))
        guest = os.path.join(REPO, "harness", "guest")
        shutil.copy(os.path.join(guest, "common.sh"),
                    os.path.join(root, "common.sh"))
        shutil.copy(os.path.join(guest, init_name), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        run(["sh", "-c", f"find . | cpio -o -H newc --quiet | gzip -1 > {out}"],
            cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def boot(bdir, initrd, logf, timeout=1200, extra_append="", mem_mib=2048):
    cmd = ["qemu-system-x86_64", "-machine", "q35,kernel-irqchip=split",
           "-accel", "tcg", "-m", str(mem_mib), "-smp", "2", "-nographic",
           "-no-reboot", "-device", "intel-iommu,intremap=on,caching-mode=on",
           "-device", "nvme-subsys,id=subsys0",
           "-device", "nvme,serial=deadbeef,subsys=subsys0,addr=0x4,"
           "sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,"
           "sriov_max_vi_per_vf=1,sriov_max_vq_per_vf=2",
           "-device", "nvme,serial=plain0,addr=0x5",
           "-kernel", os.path.join(bdir, "arch", "x86", "boot", "bzImage"),
           "-initrd", initrd,
           "-append", "console=ttyS0 intel_iommu=on quiet panic=-1 "
           "lm_test_ctrl.pf=0000:00:04.0 " + extra_append]
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


TAP = re.compile(r"^(not )?ok \d+ (.+?)(?:\s+#\s*(SKIP|XFAIL)\b.*)?$")


def e2e(res):
    bdir = build_x86("e2e-x86", os.path.join(REPO, "harness", "e2e.config"))
    names = ["vfio_lm_test", "lmctl"]
    bindir = build_guest_tools(bdir, names)
    initrd = make_initramfs("init-e2e", bindir, names,
                            os.path.join(CACHE, "initramfs-e2e.cpio.gz"))
    log("e2e: booting the guest under QEMU (TCG) and running vfio_lm_test")
    logf = os.path.join(CACHE, "e2e-console.log")
    out = boot(bdir, initrd, logf)
    tap = section(out, "TAP")
    dmesg = section(out, "DMESG")
    if tap is None or dmesg is None:
        res.add("e2e: guest booted and ran vfio_lm_test", False,
                "\n".join(out.splitlines()[-30:]))
        return
    cases = 0
    for line in tap.splitlines():
        m = TAP.match(line.strip())
        if not m:
            continue
        cases += 1
        if m.group(3) == "SKIP":
            res.add(m.group(2), None)
        else:
            res.add(f"e2e: {m.group(2)}", not m.group(1),
                    f"see {logf}")
    res.add("e2e: vfio_lm_test reported results", cases > 0, tap[-2000:])
    bad = [l for l in dmesg.splitlines() if BAD_LOG.search(l)]
    res.add("e2e: guest kernel log free of WARN/BUG/KASAN/lockdep", not bad,
            "\n".join(bad[:20]))


# ---------------------------------------------------------------- commands

def job(name, fn, *args):
    """Runs fn(results, *args) with results of its own; a HarnessError
    becomes a failure named name.  Returns (fn's value or None, results)."""
    r = Results()
    try:
        return fn(r, *args), r
    except HarnessError as e:
        r.add(name, False, str(e))
    except Exception as e:  # a bug here must still end in the summary line
        r.add(name, False, f"harness error: {e!r}")
    return None, r


def in_parallel(res, *jobs):
    """Runs (name, fn, args...) jobs side by side, merges their results in
    the order given and returns their values.  The pairs run together are
    the ones whose work mostly waits (make with nothing to do, a QEMU boot)
    and whose build directories differ."""
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job, *j) for j in jobs]
        done = [f.result() for f in futures]
    for _, r in done:
        res.merge(r)
    return [v for v, _ in done]


def cmd_test(args):
    t0 = time.time()
    res = Results()
    try:
        overlay, patches = prepare()
        um, x86 = in_parallel(res, ("kunit-um", kunit, "um"),
                              ("kunit-x86_64", kunit, "x86_64"))
        builds = [(a, b) for a, b in (("um", um), ("x86_64", x86)) if b]
        in_parallel(res, ("static checks", static_checks, overlay, patches,
                          builds),
                    ("e2e", e2e))
    except HarnessError as e:
        res.add("harness", False, str(e))
    log(f"total {time.time() - t0:.0f} s")
    res.summary()
    return 1 if res.failed else 0


def cmd_e2e(args):
    res = Results()
    try:
        prepare()
        e2e(res)
    except HarnessError as e:
        res.add("harness", False, str(e))
    res.summary()
    return 1 if res.failed else 0


def cmd_bench(args):
    prepare()
    bdir = build_x86("bench-x86", os.path.join(REPO, "harness", "bench.config"))
    names = ["lm_bench"]
    bindir = build_guest_tools(bdir, names)
    initrd = make_initramfs("init-bench", bindir, names,
                            os.path.join(CACHE, "initramfs-bench.cpio.gz"))
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
    return 0


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
                            os.path.join(CACHE, "initramfs-demo.cpio.gz"))
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
    return 0 if ok else 1


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("usage: harness/lm {test|demo|bench|e2e|prepare}")
        return 2
    cmds = {"test": cmd_test, "prepare": cmd_prepare, "demo": cmd_demo,
            "build-e2e": cmd_build_e2e, "e2e": cmd_e2e, "bench": cmd_bench}
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
