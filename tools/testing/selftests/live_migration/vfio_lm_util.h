/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a PCI function through VFIO (group + type1 container) and the
 * migration v2 calls, shared by the selftests and the benchmark.
 */
#ifndef VFIO_LM_UTIL_H
#define VFIO_LM_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

struct vfio_fn {
	int container;
	int group;
	int device;
	char bdf[32];
};

/* Returns 0 or -errno; on failure nothing stays open. */
static inline int vfio_fn_open(struct vfio_fn *f, const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int ret;

	memset(f, 0, sizeof(*f));
	f->container = -1;
	f->group = -1;
	f->device = -1;
	snprintf(f->bdf, sizeof(f->bdf), "%s", bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", basename(link));
	f->container = open("/dev/vfio/vfio", O_RDWR);
	if (f->container < 0)
		return -errno;
	f->group = open(path, O_RDWR);
	if (f->group < 0)
		goto fail;
	if (ioctl(f->group, VFIO_GROUP_SET_CONTAINER, &f->container) ||
	    ioctl(f->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		goto fail;
	f->device = ioctl(f->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (f->device < 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	if (f->group >= 0)
		close(f->group);
	close(f->container);
	f->group = -1;
	f->container = -1;
	return ret;
}

static inline void vfio_fn_close(struct vfio_fn *f)
{
	if (f->device >= 0)
		close(f->device);
	if (f->group >= 0)
		close(f->group);
	if (f->container >= 0)
		close(f->container);
	f->device = -1;
	f->group = -1;
	f->container = -1;
}

/* Returns the VFIO_MIGRATION_* flags, or -errno. */
static inline int64_t vfio_mig_flags(int device)
{
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_migration mig;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_MIGRATION;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &buf))
		return -errno;
	return buf.mig.flags;
}

/* Sets a state; returns 0 or -errno and the new data fd (or -1). */
static inline int vfio_mig_set(int device, uint32_t state, int *data_fd)
{
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_mig_state mig;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_SET |
			    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	buf.mig.device_state = state;
	buf.mig.data_fd = -1;
	if (data_fd)
		*data_fd = -1;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &buf))
		return -errno;
	if (data_fd)
		*data_fd = buf.mig.data_fd;
	else if (buf.mig.data_fd >= 0)
		close(buf.mig.data_fd);
	return 0;
}

/* Returns the current state, or -errno. */
static inline int vfio_mig_get(int device)
{
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_mig_state mig;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &buf))
		return -errno;
	return buf.mig.device_state;
}

static inline int vfio_mig_data_size(int device, uint64_t *len)
{
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_mig_data_size size;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
	if (ioctl(device, VFIO_DEVICE_FEATURE, &buf))
		return -errno;
	*len = buf.size.stop_copy_length;
	return 0;
}

static inline int vfio_precopy_info(int data_fd, uint64_t *initial,
				    uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

static const char * const vfio_state_names[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static inline const char *vfio_state_name(int s)
{
	if (s < 0 || s > VFIO_DEVICE_STATE_PRE_COPY_P2P)
		return "?";
	return vfio_state_names[s];
}

/* Small sysfs/debugfs helpers. */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

static inline int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n'))
		buf[--n] = 0;
	return 0;
}

#endif /* VFIO_LM_UTIL_H */
