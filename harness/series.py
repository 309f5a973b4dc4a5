# SPDX-License-Identifier: GPL-2.0
"""The work as a patch series a maintainer can apply: `harness/lm series`
writes it with git format-patch against v6.12 (new files included) and a
cover letter; the test command checks that it applies with git am on a
pristine tree, that the objects build after every patch, and that
checkpatch --strict is clean per patch.

The series is cut from the prepared tree (pristine + patches/ + the
repository's files), one step per patch below: each step brings the final
version of its files, or for an upstream file whose changes belong to
several patches, "PATH@NNNN": the file as patches/ up to NNNN leave it.
drivers/live_migration/{Kconfig,Makefile} grow with the steps: each step
keeps only the options it introduced so far."""

import hashlib
import json
import os
import re
import shutil
import subprocess

AUTHOR = "Live Migration Team <lm@example.org>"
# fixed dates: the same work gives the same patches, byte for byte
DATE = "Thu, 26 Nov 2026 00:00:00 +0000"
BASE_TAG = "v6.12-pristine"
LM_KBUILD = ("drivers/live_migration/Kconfig",
             "drivers/live_migration/Makefile")
BUILD_DIRS = ["drivers/live_migration/", "drivers/vfio/pci/",
              "drivers/nvme/host/", "samples/live_migration/"]
# options the per-patch builds turn on, on top of the x86_64 KUnit config
BUILD_CONFIG = """CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_DEBUG_FS=y
CONFIG_DEBUG_KERNEL=y
CONFIG_FAULT_INJECTION=y
CONFIG_FAULT_INJECTION_DEBUG_FS=y
CONFIG_RUNTIME_TESTING_MENU=y
CONFIG_LIVE_MIGRATION=y
CONFIG_LIVE_MIGRATION_FAULT_INJECTION=y
CONFIG_LIVE_MIGRATION_KUNIT_TEST=y
CONFIG_LIVE_MIGRATION_TEST_CTRL=m
CONFIG_LIVE_MIGRATION_REGISTRY_BENCH=m
CONFIG_SAMPLES=y
CONFIG_SAMPLE_LIVE_MIGRATION=m
"""

STEPS = [
    dict(subject="live_migration: add a core for migrating controlled "
         "functions",
         configs=["LIVE_MIGRATION", "LIVE_MIGRATION_FAULT_INJECTION"],
         files=["include/linux/live_migration.h",
                "drivers/live_migration/buffer.c",
                "drivers/live_migration/core.c",
                "drivers/live_migration/debugfs.c",
                "drivers/live_migration/sysfs.c",
                "drivers/live_migration/dirty.c",
                "drivers/live_migration/file.c",
                "drivers/live_migration/file.h",
                "drivers/live_migration/fsm.c",
                "drivers/live_migration/lm_internal.h",
                "drivers/live_migration/ops.c",
                "drivers/live_migration/resume.c",
                "drivers/live_migration/save.c",
                "drivers/live_migration/stream.c",
                "drivers/live_migration/trace.h",
                "drivers/Kconfig", "drivers/Makefile", "MAINTAINERS",
                "Documentation/ABI/testing/sysfs-class-live_migration"],
         body="""\
Live migration of an SR-IOV VF is a service of the function that controls
it: the PF's admin queue suspends the VF, reads its state and loads a
state into another VF.  Today every such device needs a vfio-pci variant
driver that talks to its PF driver and carries its own copy of the VFIO
migration state machine, data files and reset handling.

Add a subsystem that owns all of that once.  A controlling driver
registers a controller with tables of device primitives (struct
lm_migration_ops, and optionally lm_p2p_ops and lm_log_ops, split as VFIO
splits its migration and logging ops) and claims the functions it
controls on demand.  Consumers look functions up by device and drive
them through lm_set_state() and the data files the core creates:

- the state machine of the VFIO migration v2 uAPI (fsm.c), the only code
  that sets a state; every call into a driver goes through ops.c, which
  traces it and moves the function to ERROR when a primitive fails;
- data files (file.c, save.c, resume.c) with their own stream framing
  (stream.c): a header with the source's compatibility descriptor,
  checked before any byte reaches the destination's device, and DATA
  records carrying a running crc32c;
- DMA dirty logging (dirty.c), reported without any core lock held;
- a registry that follows device deletion, a class device per function
  under the device it migrates, sysfs statistics and tracepoints.

No state lock is held across a user copy, unregister is safe against
users holding references and open files, and every bad input from user
space, a peer's stream or a driver fails with an errno and leaves the
function in a defined state."""),
    dict(subject="live_migration: add KUnit tests",
         configs=["LIVE_MIGRATION_KUNIT_TEST"],
         files=["drivers/live_migration/.kunitconfig",
                "drivers/live_migration/tests/fake.c",
                "drivers/live_migration/tests/fake.h",
                "drivers/live_migration/tests/fsm_test.c",
                "drivers/live_migration/tests/stream_test.c",
                "drivers/live_migration/tests/lifetime_test.c",
                "drivers/live_migration/tests/hardening_test.c"],
         body="""\
Test the core against a fake controlling driver that records every
primitive it is asked for and fails the N-th on demand: every (from, to)
pair of the state machine for every capability set against the path VFIO
takes, a failure injected into each primitive of each path, round trips
and every kind of broken stream, the frozen wire format, lifetimes under
unregister and device deletion, claims, dirty logging, and the core's own
allocations failing.  Run them with KASAN and lockdep:

  tools/testing/kunit/kunit.py run --kunitconfig drivers/live_migration"""),
    dict(subject="live_migration: add a test controlling driver",
         configs=["LIVE_MIGRATION_TEST_CTRL"],
         files=["drivers/live_migration/lm_test_ctrl.c"],
         body="""\
A test device, gated like IOMMUFD_TEST: it claims the VFs of the PCI
function named by its "pf" parameter and migrates a synthetic,
self-verifying state for them, with optional P2P, PRE_COPY and dirty
logging and fault injection through debugfs.  It does not touch the
device.  The selftests drive the VFIO uAPI on such functions."""),
    dict(subject="live_migration: add a registry benchmark",
         configs=["LIVE_MIGRATION_REGISTRY_BENCH"],
         files=["drivers/live_migration/lm_registry_bench.c"],
         body="""\
A bench-only module for lm_bench: on demand it registers N functions of
a controller of its own, measures the memory each takes and the time of
a lookup, and removes them."""),
    dict(subject="vfio/pci: migrate functions known to the live migration "
         "core",
         configs=[],
         files=["drivers/vfio/pci/Kconfig", "drivers/vfio/pci/Makefile",
                "drivers/vfio/pci/vfio_pci.c",
                "drivers/vfio/pci/vfio_pci_lm.c",
                "drivers/vfio/pci/vfio_pci_lm.h",
                "drivers/vfio/pci/vfio_pci_lm_test.c",
                "drivers/vfio/pci/.kunitconfig"],
         body="""\
When the live migration core knows a device that plain vfio-pci binds,
offer the VFIO migration v2 uAPI for it: device states, data files,
PRE_COPY information, dirty page tracking and reset, with no
device-specific vfio driver.  The migration flags are those of the
function's capabilities; a function whose controller goes away fails
every call with -ENODEV until it comes back with the same ones."""),
    dict(subject="nvme: add Host Managed Live Migration (TP4159) "
         "definitions",
         configs=[],
         files=["include/linux/nvme.h", "drivers/nvme/host/constants.c",
                "drivers/nvme/host/core.c@0004"],
         body="""\
Add what a controlling-function driver needs for NVMe Host Managed Live
Migration: the Track Send/Receive, Migration Send/Receive and Controller
Data Queue opcodes, OACS.HMLMS, the live migration fields of Identify
Controller (bytes 570 to 587), the Supported Controller State Formats of
CNS 20h, the Secondary Controller List of CNS 15h, the controller state
data layout (header, and the NVMe-defined format, version 0) and the
command specific status codes 37h to 3Bh, with their names.

Values follow NVMe Base Specification 2.1 as used by libnvme, nvme-cli and
libvfn.  Build-time checks pin the new Identify Controller offsets and the
structure sizes."""),
    dict(subject="nvme: let an admin command be aborted, never reset the "
         "controller",
         configs=[],
         files=["drivers/nvme/host/core.c@0005",
                "drivers/nvme/host/nvme.h@0005",
                "drivers/nvme/host/pci.c@0005"],
         body="""\
An admin command that times out resets the controller, and on a PF that
takes every namespace and VF with it.  Some admin commands may rightly
take long, and someone other than this host decides how long: a
Migration Send Suspend completes only once the secondary controller's
fetched commands have, which the guest driving that secondary can delay
at will.  Abort is best effort: a controller may answer "not aborted"
or ignore it, so an Abort alone does not keep such a command from
resetting the PF.

Add nvme_submit_admin_cmd_abortable() for data-less admin commands.  It
sends the command, on a live controller and only if a tag is free, with
its own timeout and the new request flag NVME_REQ_ABORT_ON_TIMEOUT, and
waits for it at most that timeout plus the admin timeout.  nvme-pci's
timeout handler sends an Abort for such a command, as it does for I/O
commands, and never resets the controller for it, nor deletes a
controller that is starting: once aborted, the command stays
outstanding, its tag held, until the controller completes it or the
controller is reset for another reason.  The issuer gets -ETIMEDOUT and
ends the command its own way (for a Suspend, a reset of the secondary
controller ends it).  A count the caller raises for each command is
lowered when it completes, so that the caller can bound the tags such
commands hold.  The request is freed by whichever of the issuer and the
completion is last.  The Abort itself stays an ordinary admin command:
NVMe 2.1 has a controller complete it whether or not it aborts (the
IANP bit of its completion says which), so one that does not is a
faulty device and is reset, as before.  If no Abort can be allocated,
the command is aborted at its next timeout.  A fatal signal ends the
wait early (-EINTR), leaving the command as a timeout does.

Other transports ignore the flag.  The message of an aborted command
names it with the admin or I/O opcode table, as the reset message does.
Commands without the flag behave as before.  The first user, nvme-pci's
control of VF live migration in the next patch, sends Migration Send
Suspend and Resume with it."""),
    dict(subject="nvme: count what may change a controller's configuration",
         configs=[],
         files=["drivers/nvme/host/core.c", "drivers/nvme/host/nvme.h"],
         body="""\
A driver that keeps what it read of the controller (its Identify data,
the secondary controllers' resources, the namespaces attached to each)
needs to know when to read it again.  The core sees the events that
can change it: an admin command sent from user space that does more
than read, which may be Virtualization Management, Namespace
Attachment, Firmware Commit or a vendor's own; a Namespace Attribute
Changed notice, and the reading of the Changed Namespace List after
which the controller sends the next one; a firmware activation, when
it starts and when it has ended.

Count them in nvme_ctrl.config_changes.  A reader notes the count
before it reads and reads again when the count moved; a reset is not
counted here, the transport driver knows its own.  Identify, Get Log
Page, Get Features, Keep Alive and the two receive commands of live
migration only read, and are not counted, so that monitoring tools do
not make readers read again.  The completion path pays one test of the
request's flags; the rest runs for commands from user space only.

The first user is nvme-pci's live migration support, which compares a
VF's compatibility descriptor on every migration and must not send
tens of Identify commands inside a VM's downtime to do it."""),
    dict(subject="nvme-pci: control live migration of VFs with TP4159",
         configs=[],
         files=["drivers/nvme/host/Kconfig", "drivers/nvme/host/Makefile",
                "drivers/nvme/host/pci.c",
                "drivers/nvme/host/lm.c",
                "drivers/nvme/host/lm.h", "drivers/nvme/host/lm_test.c",
                "drivers/nvme/host/lm.kunitconfig"],
         body="""\
A PF whose controller supports Host Managed Live Migration registers as
the controlling function of its VFs: Suspend, Resume, Get and Set
Controller State through the PF's admin queue, addressed by the CNTLID
the Secondary Controller List gives for each VF.  What the device
reports, and the state a VMM writes, is checked before it is used.  A
Suspend or Resume that a VF's guest holds up is aborted after
nvme.lm_suspend_timeout_ms: the migration fails, the PF is not reset.
Each VF's compatibility descriptor is read when it is claimed and again
only after a change the controller's driver counted, so that no Identify
command runs inside a VM's downtime."""),
    dict(subject="samples: add a live migration sample controlling driver",
         configs=[],
         files=["samples/Kconfig", "samples/Makefile",
                "samples/live_migration/Makefile",
                "samples/live_migration/lm_sample.c"],
         body="""\
A short driver for two software functions that a device vendor reads
first to learn the ops contract: a controller and its tables, claims, a
state handed over in a buffer, a state loaded in pieces, reset; and the
in-kernel API that migrates one function to the other, as vfio-pci's
adapter does for a VMM."""),
    dict(subject="selftests: live_migration: add uAPI tests, a benchmark "
         "and lmctl",
         configs=[],
         files=["tools/testing/selftests/live_migration/Makefile",
                "tools/testing/selftests/live_migration/config",
                "tools/testing/selftests/live_migration/lm_bench.c",
                "tools/testing/selftests/live_migration/lm_compat32.c",
                "tools/testing/selftests/live_migration/nvme_lm_events.c",
                "tools/testing/selftests/live_migration/nvme_virt.c",
                "tools/testing/selftests/live_migration/vfio_lm_test.c",
                "tools/testing/selftests/live_migration/vfio_lm_util.h",
                "tools/live_migration/Makefile",
                "tools/live_migration/lmctl.c"],
         body="""\
vfio_lm_test drives the VFIO migration uAPI of plain vfio-pci on
functions of the test controlling driver (every arc, PRE_COPY, P2P,
dirty tracking, bad streams, resets, a data fd outliving vfio-pci, 32-bit
callers) and the sample driver.  lm_bench prints throughput and latency
figures.  nvme_virt gives an NVMe controller's secondary controllers
resources and brings them online, and nvme_lm_events resets a VF or
unbinds its PF's driver during a save, for the NVMe tests.  lmctl lists
migratable functions and migrates one to another through the VFIO cdev
and iommufd."""),
    dict(subject="Documentation: live migration of controlled functions",
         configs=[],
         files=["Documentation/driver-api/live_migration.rst",
                "Documentation/driver-api/index.rst"],
         body="""\
Describe the model (controllers, functions, consumers), the state
machine, the data files and the stream format, the locking rules and
lifetimes, the vfio-pci adapter and nvme-pci as a controlling driver, the
source layout, and pull in the kernel-doc of the API."""),
]


def _git(ctx, repo, *args, check=True, stdin=None):
    e = dict(os.environ, GIT_AUTHOR_NAME="Live Migration Team",
             GIT_AUTHOR_EMAIL="lm@example.org", GIT_AUTHOR_DATE=DATE,
             GIT_COMMITTER_NAME="Live Migration Team",
             GIT_COMMITTER_EMAIL="lm@example.org", GIT_COMMITTER_DATE=DATE)
    p = subprocess.run(["git", "-C", repo] + list(args), env=e, text=True,
                       input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if check and p.returncode:
        raise ctx.HarnessError(f"git {' '.join(args)}: {p.stdout[-2000:]}")
    return p.returncode, p.stdout


def base_repo(ctx):
    """A git repository of the pristine tree, made once (about a minute):
    Debian's source ignores every top-level path, hence add -f."""
    repo = os.path.join(ctx.CACHE, "series", "git")
    stamp = os.path.join(ctx.CACHE, "series", "git.stamp")
    if os.path.exists(stamp) and open(stamp).read() == ctx.tarball_id():
        return repo
    ctx.log("series: a git repository of the pristine v6.12 tree "
            "(once, about a minute)")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.dirname(repo), exist_ok=True)
    ctx.run(["cp", "-a", ctx.PRISTINE, repo])
    _git(ctx, repo, "init", "-q")
    _git(ctx, repo, "add", "-A", "-f")
    _git(ctx, repo, "commit", "-q", "-m", "Linux 6.12 (Debian source)")
    _git(ctx, repo, "tag", "-f", BASE_TAG)
    with open(stamp, "w") as f:
        f.write(ctx.tarball_id())
    return repo


def _kbuild_filter(rel, text, configs):
    """drivers/live_migration's Kconfig and Makefile with only the options
    of the steps so far."""
    known = set(configs)
    if rel.endswith("Kconfig"):
        out, keep = [], True
        for line in text.split("\n"):
            m = re.match(r"(menu)?config (\w+)", line)
            if m:
                keep = m.group(2) in known
            elif re.match(r"(endif|if |endmenu|menu )", line):
                keep = True
            if keep:
                out.append(line)
        # a block dropped before "endif" leaves one blank line too many
        return re.sub(r"\n\n+(endif)", r"\n\n\1", "\n".join(out))
    out, logical = [], []
    for line in text.split("\n"):
        logical.append(line)
        if line.endswith("\\"):
            continue
        joined = " ".join(logical)
        used = re.findall(r"CONFIG_(\w+)", joined)
        if all(u in known for u in used):
            out.extend(logical)
        logical = []
    return "\n".join(out)


def _entry(entry):
    """A step's file: "PATH", its final version, or "PATH@NNNN", PATH as
    the patches in patches/ up to the one numbered NNNN leave it (an
    upstream file whose changes belong to several patches)."""
    rel, at, upto = entry.partition("@")
    if at and not re.fullmatch(r"\d{4}", upto):
        raise ValueError(f"series: {entry}: not PATH@NNNN")
    return rel, upto


def _step_paths(steps_done):
    paths = [_entry(f)[0] for s in steps_done for f in s["files"]]
    return list(dict.fromkeys(paths + list(LM_KBUILD)))


def _check_order(ctx, steps):
    """A file in several steps comes as PATH@NNNN with NNNN rising, and at
    most once without it, last: else a patch would undo another's work."""
    seen = {}
    for step in steps:
        try:
            entries = [_entry(f) for f in step["files"]]
        except ValueError as e:
            raise ctx.HarnessError(str(e))
        for rel, upto in entries:
            before = seen.get(rel)
            if before is not None and (before == "" or
                                       (upto and upto <= before)):
                raise ctx.HarnessError(f"series: {rel} goes back to an "
                                       f"earlier version in a later patch")
            seen[rel] = upto


def _text_upto(ctx, rel, upto):
    """rel as the pristine tree and patches/ up to the one numbered upto
    leave it (applied to temporary copies); that patch must change it."""
    patches = ctx.patch_series()
    last = [i for i, p in enumerate(patches)
            if os.path.basename(p).startswith(upto + "-")]
    if len(last) != 1:
        raise ctx.HarnessError(f"series: no single patch {upto} in patches/")
    if rel not in ctx.touched_files(patches[last[0]]):
        raise ctx.HarnessError(f"series: patch {upto} does not change {rel}")
    return ctx.patched_files(patches[:last[0] + 1])[rel].decode("utf-8")


def _reset(ctx, repo, branch):
    """Branch @branch at the pristine tag, whatever a killed run left."""
    _git(ctx, repo, "am", "--abort", check=False)
    _git(ctx, repo, "checkout", "-q", "-f", "-B", branch, BASE_TAG)
    _git(ctx, repo, "clean", "-q", "-f", "-d", "-x")


def make(ctx):
    """Commits the steps on branch lm-series from the pristine tag and
    writes the patches and cover letter; returns their directory."""
    repo = base_repo(ctx)
    out = os.path.join(ctx.CACHE, "series", "out")
    # every file of the work is in some step
    paths = _step_paths(STEPS)
    patched = [rel for p in ctx.patch_series()
               for rel in ctx.touched_files(p)]
    missing = [rel for rel in list(ctx.overlay_files()) + patched
               if rel not in paths]
    if missing:
        raise ctx.HarnessError("series: files in no patch: " +
                               ", ".join(sorted(set(missing))))
    _check_order(ctx, STEPS)
    _reset(ctx, repo, "lm-series")
    configs = []
    for step in STEPS:
        configs += step["configs"]
        for rel, upto in map(_entry, step["files"] + list(LM_KBUILD)):
            src = os.path.join(ctx.TREE, rel)
            dst = os.path.join(repo, rel)
            if not os.path.exists(src):
                raise ctx.HarnessError(f"series: {rel} is not in the tree")
            text = _text_upto(ctx, rel, upto) if upto else \
                open(src, encoding="utf-8").read()
            if rel in LM_KBUILD:
                text = _kbuild_filter(rel, text, configs)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)
        _git(ctx, repo, "add", "-f", "--",
             *[_entry(f)[0] for f in step["files"]], *LM_KBUILD)
        msg = f"{step['subject']}\n\n{step['body']}\n\nSigned-off-by: {AUTHOR}\n"
        _git(ctx, repo, "commit", "-q", "-F", "-", stdin=msg)
    # after the last step, the tree is the work, filtered files included
    differ = [rel for rel in paths
              if open(os.path.join(repo, rel), "rb").read() !=
              open(os.path.join(ctx.TREE, rel), "rb").read()]
    if differ:
        raise ctx.HarnessError("series: its last patch leaves these unlike "
                               "the tree: " + ", ".join(differ))
    shutil.rmtree(out, ignore_errors=True)
    _git(ctx, repo, "format-patch", "-q", "--cover-letter", "--no-signature",
         "--zero-commit", "-o", out, f"{BASE_TAG}..lm-series")
    _cover(ctx, repo, out)
    return out


def _cover(ctx, repo, out):
    cover = os.path.join(out, "0000-cover-letter.patch")
    text = open(cover, encoding="utf-8").read()
    body = open(os.path.join(ctx.REPO, "harness", "series-cover.txt"),
                encoding="utf-8").read().rstrip("\n")
    title = body.split("\n", 1)[0]
    rest = body.split("\n", 1)[1].lstrip("\n")
    text = text.replace("*** SUBJECT HERE ***", title)
    text = text.replace("*** BLURB HERE ***", rest)
    with open(cover, "w", encoding="utf-8") as f:
        f.write(text)


def _build(ctx, repo, bdir, logf):
    """The objects of the series' directories that exist at this commit."""
    base = os.path.join(ctx.CACHE, "kunit-x86_64", ".config")
    if not os.path.exists(base):
        return False, "no x86_64 KUnit build to take a config from"
    with open(os.path.join(bdir, ".config"), "w") as f:
        f.write(open(base).read() + BUILD_CONFIG)
    rc, outp = ctx.run(["make", "ARCH=x86_64", f"O={bdir}", "olddefconfig"],
                       cwd=repo, logfile=logf, check=False)
    if rc:
        return False, "olddefconfig failed"
    dirs = [d for d in BUILD_DIRS if os.path.isdir(os.path.join(repo, d))]
    rc, outp = ctx.run(["make", "ARCH=x86_64", f"O={bdir}", f"-j{ctx.JOBS}"]
                       + dirs, cwd=repo, logfile=logf, check=False)
    if rc:
        errs = [l for l in outp.splitlines() if "error" in l][:10]
        return False, "\n".join(errs) or f"make failed, see {logf}"
    return True, ""


def check(ctx, res, section):
    """git am on the pristine tag, a build after every patch, checkpatch
    per patch.  Skipped (results reused) when the series did not change
    since the last run that checked it."""
    out = make(ctx)
    patches = sorted(p for p in os.listdir(out) if p[:4].isdigit() and
                     not p.startswith("0000"))
    digest = hashlib.sha256()
    for p in patches:
        digest.update(open(os.path.join(out, p), "rb").read())
    # and what checks them: this file, the base config, the pristine tree
    digest.update(open(__file__, "rb").read())
    base = os.path.join(ctx.CACHE, "kunit-x86_64", ".config")
    if os.path.exists(base):
        digest.update(open(base, "rb").read())
    digest.update(ctx.tarball_id().encode())
    memo = os.path.join(ctx.CACHE, "series", "checked.json")
    if os.path.exists(memo):
        old = json.load(open(memo))
        if old.get("digest") == digest.hexdigest():
            ctx.log("series: unchanged since the last check; its results")
            for name, ok, detail in old["results"]:
                res.add(section, name, ok, detail)
            return
    results = []
    repo = base_repo(ctx)
    n = len(patches)
    ctx.log(f"series: git am of {n} patches on {BASE_TAG}, a build after "
            f"each, checkpatch --strict per patch")
    _reset(ctx, repo, "lm-am")
    rc, outp = _git(ctx, repo, "am", "-q", "--whitespace=nowarn",
                    *[os.path.join(out, p) for p in patches], check=False)
    same = False
    if not rc:
        _, diff = _git(ctx, repo, "diff", "--stat", "lm-series", "lm-am",
                       check=False)
        same = not diff.strip()
    results.append(("series: applies with git am on v6.12", not rc and same,
                    outp[-1500:] if rc else
                    ("" if same else "applied, but differs from the tree")))
    if rc:
        _git(ctx, repo, "am", "--abort", check=False)
    _, revs = _git(ctx, repo, "rev-list", "--reverse", f"{BASE_TAG}..lm-am")
    bdir = os.path.join(ctx.CACHE, "series", "build")
    os.makedirs(bdir, exist_ok=True)
    broken = []
    for i, rev in enumerate(revs.split(), 1):
        _git(ctx, repo, "checkout", "-q", rev)
        ctx.log(f"series: building after patch {i}/{n}")
        ok, why = _build(ctx, repo, bdir,
                         os.path.join(ctx.CACHE, "series", "build.log"))
        if not ok:
            broken.append(f"patch {i} ({patches[i - 1]}): {why}")
    results.append((f"series: builds after each of its {n} patches "
                    f"({' '.join(BUILD_DIRS)})", not rc and not broken,
                    "\n".join(broken)))
    dirty = []
    for i, p in enumerate(patches, 1):
        # patch 1's MAINTAINERS entry covers the files later patches add;
        # every new file carries its SPDX tag: nothing else is ignored
        ign = [] if i == 1 else ["--ignore", "FILE_PATH_CHANGES"]
        cp = subprocess.run(["perl", "scripts/checkpatch.pl", "--strict",
                             "--terse", "--no-summary", *ign,
                             os.path.join(out, p)], cwd=ctx.PRISTINE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
        if cp.returncode or cp.stdout.strip():
            dirty.append(f"{p}:\n{cp.stdout.strip()}")
    results.append((f"series: checkpatch --strict clean on each of its {n} "
                    f"patches", not dirty, "\n".join(dirty)))
    for name, ok, detail in results:
        res.add(section, name, ok, detail)
    if all(ok for _, ok, _ in results):
        json.dump({"digest": digest.hexdigest(), "results": results},
                  open(memo, "w"))
    elif os.path.exists(memo):
        os.remove(memo)
