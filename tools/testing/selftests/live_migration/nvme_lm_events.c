// SPDX-License-Identifier: GPL-2.0
/*
 * nvme_lm_events - what happens to an NVMe VF's migration when the device
 * or its PF goes away under it, through the VFIO migration uAPI:
 *
 *   nvme_lm_events flr VF
 *	the VF is saved (STOP_COPY, its state read), then reset (FLR)
 *	before the VMM is done: the data fd fails, the VF runs again and a
 *	second save of it works
 *   nvme_lm_events unbind VF PF
 *	the VF is saved, then the PF's driver is unbound: the unbind
 *	returns, the data fd fails, the VF's migration calls fail with
 *	-ENODEV
 *
 * Prints what it saw; exit status 0 if all of it was as expected.
 */

#include <sys/stat.h>
#include "vfio_lm_util.h"

static int failures;

static void expect(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "as expected" : "UNEXPECTED", what);
	failures += !cond;
}

/* STOP_COPY, and the first bytes of the state read: the VF is suspended. */
static int save_begin(struct vfio_fn *f, int *data_fd)
{
	char buf[64];
	int ret;

	ret = vfio_mig_set(f->device, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = vfio_mig_set(f->device, VFIO_DEVICE_STATE_STOP_COPY,
				   data_fd);
	if (ret) {
		printf("UNEXPECTED: %s: STOP_COPY: %s\n", f->bdf,
		       strerror(-ret));
		return ret;
	}
	return read(*data_fd, buf, sizeof(buf)) > 0 ? 0 : -EIO;
}

/* Opens @bdf through VFIO and starts saving it. */
static int open_saving(struct vfio_fn *f, const char *bdf, int *data_fd)
{
	int ret = vfio_fn_open(f, bdf);

	if (ret) {
		printf("UNEXPECTED: open %s: %s\n", bdf, strerror(-ret));
		return ret;
	}
	expect(!save_begin(f, data_fd), "the VF's state is being read");
	return 0;
}

static int vf_flr(const char *bdf)
{
	struct vfio_fn f;
	char buf[4096];
	int fd;

	if (open_saving(&f, bdf, &fd))
		return 1;
	expect(!ioctl(f.device, VFIO_DEVICE_RESET), "FLR of the VF");
	expect(vfio_mig_get(f.device) == VFIO_DEVICE_STATE_RUNNING,
	       "after the FLR the VF is running");
	expect(read(fd, buf, sizeof(buf)) < 0,
	       "the data fd fails after the FLR");
	close(fd);
	expect(!save_begin(&f, &fd), "a new save of the VF works");
	close(fd);
	expect(!vfio_mig_set(f.device, VFIO_DEVICE_STATE_STOP, NULL) &&
	       !vfio_mig_set(f.device, VFIO_DEVICE_STATE_RUNNING, NULL),
	       "and the VF runs again");
	vfio_fn_close(&f);
	return failures ? 1 : 0;
}

static int pf_unbind(const char *bdf, const char *pf)
{
	struct vfio_fn f;
	char buf[4096];
	int fd;

	if (open_saving(&f, bdf, &fd))
		return 1;
	expect(!write_file("/sys/bus/pci/drivers/nvme/unbind", pf),
	       "the PF's driver unbinds during the save");
	expect(read(fd, buf, sizeof(buf)) < 0,
	       "the data fd fails once the PF is gone");
	close(fd);
	expect(vfio_mig_get(f.device) == -ENODEV,
	       "the VF's migration state is -ENODEV without its PF's driver");
	vfio_fn_close(&f);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "flr"))
		return vf_flr(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "unbind"))
		return pf_unbind(argv[2], argv[3]);
	fputs("usage: nvme_lm_events flr VF | unbind VF PF\n", stderr);
	return 2;
}
