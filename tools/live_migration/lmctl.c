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
 * closed, which resets them to RUNNING with their own state.  Devices are
 * opened through their VFIO cdev (/dev/vfio/devices/) and an iommufd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#define CLASS "/sys/class/live_migration"
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

static bool verbose;
static bool quiet;

/* A function opened through its VFIO device cdev, bound to an iommufd. */
struct vdev {
	char bdf[32];
	int iommufd;
	int fd;
};

static const char * const state_names[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static const char *state_name(unsigned int state)
{
	if (state >= ARRAY_SIZE(state_names))
		return "?";
	return state_names[state];
}

static void vdev_close(struct vdev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->iommufd >= 0)
		close(d->iommufd);
	d->fd = -1;
	d->iommufd = -1;
}

/*
 * vfio-pci gives each device it drives a cdev, named in the device's
 * vfio-dev/ directory.  Binding it to an iommufd is all VFIO asks before
 * the migration features: lmctl maps no memory.  Returns 0, or -errno with
 * *@why saying which step failed.
 */
static int vdev_open(struct vdev *d, const char *bdf, const char **why)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char path[PATH_MAX], cdev[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *dir;
	int ret;

	d->fd = -1;
	d->iommufd = -1;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	*why = "not a PCI device bound to vfio-pci";
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ENODEV : -errno;
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(cdev, sizeof(cdev), "%s", de->d_name);
	closedir(dir);
	if (!cdev[0])
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
	*why = "no VFIO device cdev (CONFIG_VFIO_DEVICE_CDEV, or noiommu)";
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return -errno;
	*why = "no /dev/iommu (CONFIG_IOMMUFD)";
	d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		goto fail;
	/* EINVAL or EBUSY: another process has the device or its group */
	*why = "binding to an iommufd (is the device in use?)";
	bind.iommufd = d->iommufd;
	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		goto fail;
	return 0;
fail:
	ret = -errno;
	vdev_close(d);
	return ret;
}

/* VFIO_MIGRATION_* of the device, or -errno. */
static int64_t vdev_migration_flags(struct vdev *d)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_migration mig;
	} req = {
		.hdr.argsz = sizeof(req),
		.hdr.flags = VFIO_DEVICE_FEATURE_GET |
			     VFIO_DEVICE_FEATURE_MIGRATION,
	};

	return ioctl(d->fd, VFIO_DEVICE_FEATURE, &req) ? -errno :
							  (int64_t)req.mig.flags;
}

/*
 * Moves the device to @state.  The data fd the arc opens goes to *@data,
 * or is closed when the caller has no use for it.  Returns 0 or -errno.
 */
static int vdev_set_state(struct vdev *d, unsigned int state, int *data)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_mig_state mig;
	} req = {
		.hdr.argsz = sizeof(req),
		.hdr.flags = VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		.mig.device_state = state,
		.mig.data_fd = -1,
	};

	if (data)
		*data = -1;
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, &req))
		return -errno;
	if (data)
		*data = req.mig.data_fd;
	else if (req.mig.data_fd >= 0)
		close(req.mig.data_fd);
	return 0;
}

static int read_attr(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

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
	if (read_attr(path, buf, len))
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

static int set_state(struct vdev *d, unsigned int state, int *fd)
{
	int ret = vdev_set_state(d, state, fd);

	if (verbose && !ret)
		say("  %s: -> %s%s\n", d->bdf, state_name(state),
		    fd && *fd >= 0 ? " (data fd opened)" : "");
	if (ret)
		fprintf(stderr, "lmctl: %s -> %s: %s\n", d->bdf,
			state_name(state), strerror(-ret));
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
	struct vdev src, dst;
	int64_t sflags, dflags;
	int sfd = -1, dfd = -1, ret, rc = 3;
	double t0, t_pre = 0, t_stop, t_commit;
	long long pre_bytes = 0, bytes;
	const char *which = "", *why;
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
	ret = vdev_open(&src, src_bdf, &why);
	if (ret) {
		fprintf(stderr, "lmctl: open %s through VFIO: %s: %s\n",
			src_bdf, why, strerror(-ret));
		return 2;
	}
	ret = vdev_open(&dst, dst_bdf, &why);
	if (ret) {
		fprintf(stderr, "lmctl: open %s through VFIO: %s: %s\n",
			dst_bdf, why, strerror(-ret));
		vdev_close(&src);
		return 2;
	}
	sflags = vdev_migration_flags(&src);
	dflags = vdev_migration_flags(&dst);
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
		struct vfio_precopy_info info = { .argsz = sizeof(info) };
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
			if (ioctl(sfd, VFIO_MIG_GET_PRECOPY_INFO, &info))
				break;
			initial = info.initial_bytes;
			dirty = info.dirty_bytes;
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
	vdev_close(&src);
	vdev_close(&dst);
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
