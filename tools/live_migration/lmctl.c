// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl - inspect live-migratable functions and migrate one to another
 *
 *   lmctl list
 *	one line per function in /sys/class/live_migration: name, controller
 *	and its driver, state, capabilities, compatibility descriptor
 *   lmctl migrate [-v] [-q] SRC DST
 *	move SRC's state to DST, both bound to vfio-pci: PRE_COPY when both
 *	have it, then STOP_COPY into RESUMING, then DST runs; prints bytes
 *	moved and the time of each phase
 *
 * Exit codes: 0 done, 1 usage, 2 a function cannot be opened or is not
 * migratable, 3 the migration failed, 4 the destination refused the
 * source's state as incompatible.  On any failure both functions are
 * closed, which resets them to RUNNING with their own state.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>

#include "../testing/selftests/live_migration/vfio_lm_util.h"

#define CLASS "/sys/class/live_migration"

static bool verbose;
static bool quiet;

static void say(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void attr(const char *fn, const char *name, char *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), CLASS "/%s/%s", fn, name);
	if (read_file(path, buf, len))
		snprintf(buf, len, "?");
}

static void link_base(const char *fn, const char *name, char *buf,
		      size_t len)
{
	char path[512], target[512];
	ssize_t n;

	snprintf(path, sizeof(path), CLASS "/%s/%s", fn, name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(buf, len, "?");
		return;
	}
	target[n] = 0;
	snprintf(buf, len, "%s", basename(target));
}

static int cmd_list(void)
{
	char state[64], caps[128], compat[300], ctrl[128], drv[128];
	struct dirent *de;
	int count = 0;
	DIR *d;

	d = opendir(CLASS);
	if (!d) {
		fprintf(stderr, "lmctl: %s: %s\n", CLASS, strerror(errno));
		return 2;
	}
	printf("%-16s %-16s %-14s %-12s %-28s %s\n", "FUNCTION", "CONTROLLER",
	       "DRIVER", "STATE", "CAPABILITIES", "COMPAT");
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		attr(de->d_name, "state", state, sizeof(state));
		attr(de->d_name, "capabilities", caps, sizeof(caps));
		attr(de->d_name, "compat", compat, sizeof(compat));
		link_base(de->d_name, "controller", ctrl, sizeof(ctrl));
		attr(de->d_name, "controller_name", drv, sizeof(drv));
		printf("%-16s %-16s %-14s %-12s %-28s %s\n", de->d_name, ctrl,
		       drv, state, caps, compat);
		count++;
	}
	closedir(d);
	if (!count)
		printf("(no migratable functions)\n");
	return 0;
}

static int set_state(struct vfio_fn *f, int state, int *fd)
{
	int ret = vfio_mig_set(f->device, state, fd);

	if (verbose && !ret)
		say("  %s: -> %s%s\n", f->bdf, vfio_state_name(state),
		    fd && *fd >= 0 ? " (data fd opened)" : "");
	if (ret)
		fprintf(stderr, "lmctl: %s -> %s: %s\n", f->bdf,
			vfio_state_name(state), strerror(-ret));
	return ret;
}

/*
 * Copies from a saving fd to a resuming fd until the saving fd ends (0) or
 * has nothing more for now (-ENOMSG).  Returns bytes copied or -errno, with
 * *which telling which side failed.
 */
static long long pump(int from, int to, char *buf, size_t len,
		      const char **which)
{
	long long total = 0;

	for (;;) {
		ssize_t n = read(from, buf, len), off = 0;

		if (n < 0 && errno == ENOMSG)
			return total;
		if (n < 0) {
			*which = "source";
			return -errno;
		}
		if (!n)
			return total;
		while (off < n) {
			ssize_t w = write(to, buf + off, n - off);

			if (w < 0) {
				*which = "destination";
				return -errno;
			}
			off += w;
		}
		total += n;
	}
}

static int cmd_migrate(const char *src_bdf, const char *dst_bdf)
{
	const size_t buflen = 4 << 20;
	struct vfio_fn src, dst;
	int64_t sflags, dflags;
	int sfd = -1, dfd = -1, ret, rc = 3;
	double t0, t_pre = 0, t_stop, t_commit;
	long long pre_bytes = 0, bytes;
	const char *which = "";
	char compat_s[300], compat_d[300];
	bool precopy;
	char *buf;

	/*
	 * Equal descriptors are compatible; unequal ones may still be (a
	 * driver can accept other versions): the destination decides when
	 * the stream's header reaches it, before the source stops if PRE_COPY
	 * is used.
	 */
	attr(src_bdf, "compat", compat_s, sizeof(compat_s));
	attr(dst_bdf, "compat", compat_d, sizeof(compat_d));
	if (strcmp(compat_s, compat_d))
		say("compatibility descriptors differ (%s, %s): %s decides\n",
		    compat_s, compat_d, dst_bdf);
	ret = vfio_fn_open(&src, src_bdf);
	if (ret) {
		fprintf(stderr, "lmctl: open %s through VFIO: %s\n", src_bdf,
			strerror(-ret));
		return 2;
	}
	ret = vfio_fn_open(&dst, dst_bdf);
	if (ret) {
		fprintf(stderr, "lmctl: open %s through VFIO: %s\n", dst_bdf,
			strerror(-ret));
		vfio_fn_close(&src);
		return 2;
	}
	sflags = vfio_mig_flags(src.device);
	dflags = vfio_mig_flags(dst.device);
	if (sflags < 0 || dflags < 0) {
		fprintf(stderr, "lmctl: %s is not migratable: %s\n",
			sflags < 0 ? src_bdf : dst_bdf,
			strerror(-(sflags < 0 ? sflags : dflags)));
		rc = 2;
		goto out;
	}
	precopy = sflags & dflags & VFIO_MIGRATION_PRE_COPY;
	say("migrating %s -> %s (VFIO migration flags %#llx, %s)\n", src_bdf,
	    dst_bdf, (unsigned long long)sflags,
	    precopy ? "with PRE_COPY" : "stop and copy");
	buf = malloc(buflen);
	if (!buf)
		goto out;

	if (set_state(&dst, VFIO_DEVICE_STATE_RESUMING, &dfd))
		goto out_free;
	t0 = now();
	if (precopy) {
		uint64_t initial = 0, dirty = 0;

		if (set_state(&src, VFIO_DEVICE_STATE_PRE_COPY, &sfd))
			goto out_free;
		/*
		 * Send what is ready while the source runs, until a round
		 * brings nothing new: the rest goes in STOP_COPY.
		 */
		for (int round = 0; round < 16; round++) {
			bytes = pump(sfd, dfd, buf, buflen, &which);
			if (bytes < 0)
				goto pump_failed;
			if (round && !bytes)
				break;
			pre_bytes += bytes;
			if (vfio_precopy_info(sfd, &initial, &dirty))
				break;
			if (verbose)
				say("  %s: PRE_COPY round %d: %lld bytes sent, ",
				    src_bdf, round, bytes);
			if (verbose)
				say("%llu initial + %llu dirty left\n",
				    (unsigned long long)initial,
				    (unsigned long long)dirty);
			if (!initial && !dirty)
				break;
		}
		t_pre = now() - t0;
		if (set_state(&src, VFIO_DEVICE_STATE_STOP_COPY, NULL))
			goto out_free;
	} else {
		if (set_state(&src, VFIO_DEVICE_STATE_STOP_COPY, &sfd))
			goto out_free;
	}
	t0 = now();
	bytes = pump(sfd, dfd, buf, buflen, &which);
	if (bytes < 0)
		goto pump_failed;
	t_stop = now() - t0;
	t0 = now();
	if (set_state(&dst, VFIO_DEVICE_STATE_RUNNING, NULL)) {
		fprintf(stderr, "lmctl: %s rejected the state; %s stays stopped\n",
			dst_bdf, src_bdf);
		goto out_free;
	}
	t_commit = now() - t0;
	set_state(&src, VFIO_DEVICE_STATE_STOP, NULL);
	say("moved %lld bytes (%lld in PRE_COPY, %lld in STOP_COPY)\n",
	    pre_bytes + bytes, pre_bytes, bytes);
	say("time: pre-copy %.3f ms, stop-copy %.3f ms, resume %.3f ms\n",
	    t_pre * 1e3, t_stop * 1e3, t_commit * 1e3);
	rc = 0;
	goto out_free;

pump_failed:
	if (bytes == -EXDEV && !strcmp(which, "destination")) {
		fprintf(stderr, "lmctl: %s does not accept the state of %s: not compatible\n",
			dst_bdf, src_bdf);
		rc = 4;
	} else {
		fprintf(stderr, "lmctl: copying the state failed on the %s: %s\n",
			which, strerror(-bytes));
	}
out_free:
	free(buf);
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	vfio_fn_close(&src);
	vfio_fn_close(&dst);
	return rc;
}

static int print_usage(void)
{
	fputs("usage: lmctl list\n       lmctl migrate [-v] [-q] SRC DST\n",
	      stderr);
	return 1;
}

int main(int argc, char **argv)
{
	int i = 2;

	if (argc < 2)
		return print_usage();
	if (!strcmp(argv[1], "list"))
		return argc == 2 ? cmd_list() : print_usage();
	if (strcmp(argv[1], "migrate"))
		return print_usage();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "-q"))
			quiet = true;
		else
			return print_usage();
	}
	if (argc - i != 2)
		return print_usage();
	return cmd_migrate(argv[i], argv[i + 1]);
}
