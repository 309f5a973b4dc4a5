// SPDX-License-Identifier: GPL-2.0
/*
 * Built with -m32 and run by vfio_lm_test: asks VFIO_MIG_GET_PRECOPY_INFO
 * on the data fd it inherits (argv[1]), as a 32-bit VMM on a 64-bit kernel
 * would, through the compat ioctl path.  Prints one line:
 *   "RET ERRNO INITIAL_BYTES DIRTY_BYTES SHORT_RET SHORT_ERRNO"
 * where SHORT_* are the answer to an argsz below the structure's size.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

/* a 64-bit build would test nothing: it must be built with -m32 */
static_assert(sizeof(void *) == 4, "lm_compat32 must be a 32-bit program");

int main(int argc, char **argv)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	int fd, ret, err, short_ret, short_err;

	if (argc != 2)
		return 2;
	fd = atoi(argv[1]);
	ret = ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info);
	err = ret ? errno : 0;
	info.argsz = 8;
	short_ret = ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info);
	short_err = short_ret ? errno : 0;
	printf("%d %d %llu %llu %d %d\n", ret, err,
	       (unsigned long long)info.initial_bytes,
	       (unsigned long long)info.dirty_bytes, short_ret, short_err);
	return 0;
}
