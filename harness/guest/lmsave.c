// SPDX-License-Identifier: GPL-2.0
/*
 * lmsave - the state a function's controlling driver saves, as the
 * live-migration core streams it, for a check that compares it with what
 * another reader gets from the same stopped function
 *
 *   lmsave BDF FILE [COMMAND [ARG...]]
 *
 * Opens BDF, bound to vfio-pci, through its VFIO cdev and an iommufd (as
 * lmctl does), moves it to STOP_COPY and reads the stream to its end.  The
 * stream's framing is checked (drivers/live_migration/lm_internal.h: a
 * header, DATA records, then an END record with the payload's length and
 * crc32c) and its payload, the driver's own bytes, written to FILE.  Then
 * COMMAND runs with the function still stopped, and lmsave waits for it;
 * closing the device afterwards resets the function to RUNNING.
 *
 * Exit: COMMAND's status (0 without one, 127 if it cannot be run), 1
 * usage, 2 the function cannot be opened, 3 the save failed, 4 the stream
 * is not what the core writes, 5 FILE cannot be written, 6 COMMAND was
 * killed.
 */
#include <assert.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/types.h>
#include <linux/vfio.h>

/* the core's stream, version 4, little endian */
#define STREAM_MAGIC	0x4d5254534d494c4cULL	/* "LLIMSTRM" */
#define STREAM_VERSION	4
#define COMPAT_MAX	128
#define REC_DATA	1
#define REC_END		2
#define STATE_MAX	(64U << 20)

struct stream_header {
	__u64 magic;
	__u16 version;
	__u16 compat_len;
	__u32 flags;
	__u8 compat[COMPAT_MAX];
	__u32 reserved;
	__u32 hdr_crc;
};

struct stream_record {
	__u32 type;
	__u32 payload_crc;
	__u64 len;
	__u64 reserved;
	__u32 reserved2;
	__u32 rec_crc;
};

/* no padding in either: the sizes are those on the wire */
static_assert(sizeof(struct stream_header) == 152, "stream header");
static_assert(sizeof(struct stream_record) == 32, "stream record");

/* crc32c as the core uses it: seeded with ~0, not inverted at the end */
static __u32 crc32c(__u32 crc, const __u8 *p, size_t len)
{
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82f63b78 & -(crc & 1));
	}
	return crc;
}

/* BDF's VFIO device, bound to a new iommufd; -1 with a message if not. */
static int vdev_open(const char *bdf, int *iommufd)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char path[PATH_MAX], cdev[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir) {
		fprintf(stderr, "lmsave: %s is not bound to vfio-pci\n", bdf);
		return -1;
	}
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(cdev, sizeof(cdev), "%s", de->d_name);
	closedir(dir);
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
	fd = open(path, O_RDWR | O_CLOEXEC);
	*iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0 || *iommufd < 0) {
		fprintf(stderr, "lmsave: %s or /dev/iommu: %s\n", path,
			strerror(errno));
		return -1;
	}
	bind.iommufd = *iommufd;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		fprintf(stderr, "lmsave: binding %s to an iommufd: %s\n", bdf,
			strerror(errno));
		return -1;
	}
	return fd;
}

/* Moves the device to STOP_COPY; returns the data fd, or -1. */
static int stop_copy(int fd)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_feature_mig_state mig;
	} req = {
		.hdr.argsz = sizeof(req),
		.hdr.flags = VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		.mig.device_state = VFIO_DEVICE_STATE_STOP_COPY,
		.mig.data_fd = -1,
	};

	if (ioctl(fd, VFIO_DEVICE_FEATURE, &req)) {
		fprintf(stderr, "lmsave: -> STOP_COPY: %s\n", strerror(errno));
		return -1;
	}
	return req.mig.data_fd;
}

/* The whole stream of @data into *@buf; its length, or -1. */
static ssize_t read_all(int data, __u8 **buf)
{
	size_t len = 0, room = 1 << 16;
	ssize_t n;

	*buf = malloc(room);
	while (*buf) {
		if (len == room) {
			room *= 2;
			if (room > STATE_MAX + (1 << 20))
				break;
			*buf = realloc(*buf, room);
			continue;
		}
		n = read(data, *buf + len, room - len);
		if (!n)
			return len;
		if (n < 0) {
			fprintf(stderr, "lmsave: reading the state: %s\n",
				strerror(errno));
			return -1;
		}
		len += n;
	}
	fprintf(stderr, "lmsave: no memory for the state, or more than %u MiB\n",
		STATE_MAX >> 20);
	return -1;
}

/*
 * Gathers the payload of the stream's DATA records at the start of @buf;
 * returns its length, or -1 with a message if the stream is not the core's.
 */
static ssize_t payload(__u8 *buf, size_t len)
{
	const struct stream_header *h = (const void *)buf;
	size_t at = sizeof(*h), out = 0;
	struct stream_record r;
	__u32 crc = ~0U;

	if (len < sizeof(*h) || le64toh(h->magic) != STREAM_MAGIC ||
	    le16toh(h->version) != STREAM_VERSION) {
		fprintf(stderr, "lmsave: not a version %d stream of the core\n",
			STREAM_VERSION);
		return -1;
	}
	while (at + sizeof(r) <= len) {
		memcpy(&r, buf + at, sizeof(r));
		at += sizeof(r);
		if (le32toh(r.type) == REC_END) {
			if (at != len || le64toh(r.len) != out ||
			    le32toh(r.payload_crc) != crc)
				break;
			return out;
		}
		if (le32toh(r.type) != REC_DATA || le64toh(r.len) > len - at)
			break;
		memmove(buf + out, buf + at, le64toh(r.len));
		crc = crc32c(crc, buf + out, le64toh(r.len));
		out += le64toh(r.len);
		at += le64toh(r.len);
	}
	fprintf(stderr, "lmsave: the stream's records are not the core's (at byte %zu of %zu)\n",
		at, len);
	return -1;
}

int main(int argc, char **argv)
{
	int fd, iommufd = -1, data, out, status;
	__u8 *buf;
	ssize_t len;
	pid_t pid;

	if (argc < 3) {
		fputs("usage: lmsave BDF FILE [COMMAND [ARG...]]\n", stderr);
		return 1;
	}
	fd = vdev_open(argv[1], &iommufd);
	if (fd < 0)
		return 2;
	data = stop_copy(fd);
	if (data < 0)
		return 3;
	fcntl(data, F_SETFD, FD_CLOEXEC);
	len = read_all(data, &buf);
	if (len < 0)
		return 3;
	len = payload(buf, len);
	if (len < 0)
		return 4;
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0 || write(out, buf, len) != len || close(out)) {
		fprintf(stderr, "lmsave: %s: %s\n", argv[2], strerror(errno));
		return 5;
	}
	printf("lmsave: %s: %zd bytes of state saved to %s\n", argv[1], len,
	       argv[2]);
	fflush(stdout);
	if (argc == 3)
		return 0;
	pid = fork();
	if (!pid) {
		execvp(argv[3], argv + 3);
		fprintf(stderr, "lmsave: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 6;
	/* the fds close at exit: the function is reset to RUNNING */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 6;
}
