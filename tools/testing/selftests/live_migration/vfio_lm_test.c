// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO migration v2 through plain vfio-pci and drivers/live_migration, with
 * lm_test_ctrl controlling the functions.
 *
 *   LM_SRC, LM_DST	two VFs bound to vfio-pci, controlled by lm_test_ctrl
 *   LM_PLAIN		optional: a vfio-pci device nobody controls
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "../kselftest_harness.h"
#include "vfio_lm_util.h"

#define DBG "/sys/kernel/debug/lm_test_ctrl"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static void dbg_write(const char *bdf, const char *file, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), DBG "/%s/%s", bdf, file);
	write_file(path, val);
}

static unsigned long long dbg_read(const char *bdf, const char *file)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), DBG "/%s/%s", bdf, file);
	if (read_file(path, buf, sizeof(buf)))
		return ~0ULL;
	return strtoull(buf, NULL, 0);
}

struct stream {
	unsigned char *buf;
	size_t len;
};

/* Reads a saving fd to its end; returns 0 or -errno. */
static int read_to_end(int fd, struct stream *s)
{
	size_t cap = 1 << 20;

	s->buf = malloc(cap);
	s->len = 0;
	for (;;) {
		ssize_t n;

		if (s->len == cap) {
			cap *= 2;
			s->buf = realloc(s->buf, cap);
		}
		n = read(fd, s->buf + s->len, cap - s->len);
		if (n < 0)
			return -errno;
		if (!n)
			return 0;
		s->len += n;
	}
}

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/* Saves dev's state through STOP_COPY; leaves it in STOP. */
static int save_stop_copy(int dev, struct stream *s)
{
	int fd, ret;

	ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	ret = read_to_end(fd, s);
	close(fd);
	if (!ret)
		ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_STOP, NULL);
	return ret;
}

static int resume(int dev, const struct stream *s, int final_state)
{
	int fd, ret;

	ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (ret)
		return ret;
	ret = write_all(fd, s->buf, s->len);
	if (!ret)
		ret = vfio_mig_set(dev, final_state, NULL);
	close(fd);
	return ret;
}

FIXTURE(mig) {
	struct vfio_fn src, dst;
};

FIXTURE_SETUP(mig)
{
	const char *src = env("LM_SRC"), *dst = env("LM_DST");

	if (!src || !dst)
		SKIP(return, "LM_SRC and LM_DST not set");
	write_file(DBG "/registered", "1");
	ASSERT_EQ(0, vfio_fn_open(&self->src, src));
	ASSERT_EQ(0, vfio_fn_open(&self->dst, dst));
	dbg_write(src, "fail_nth", "0");
	dbg_write(dst, "fail_nth", "0");
}

FIXTURE_TEARDOWN(mig)
{
	vfio_fn_close(&self->src);
	vfio_fn_close(&self->dst);
}

TEST_F(mig, flags_and_initial_state)
{
	ASSERT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
		  VFIO_MIGRATION_PRE_COPY, vfio_mig_flags(self->src.device));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->dst.device));
}

TEST(plain_device_has_no_migration)
{
	const char *plain = env("LM_PLAIN");
	struct vfio_fn f;

	if (!plain)
		SKIP(return, "LM_PLAIN not set");
	ASSERT_EQ(0, vfio_fn_open(&f, plain));
	EXPECT_EQ(-ENOTTY, vfio_mig_flags(f.device));
	EXPECT_EQ(-ENOTTY, vfio_mig_get(f.device));
	vfio_fn_close(&f);
}

static bool opens_fd(int from, int to)
{
	bool saving_from = from == VFIO_DEVICE_STATE_PRE_COPY ||
			   from == VFIO_DEVICE_STATE_PRE_COPY_P2P;

	if (from == to)
		return false;
	if (to == VFIO_DEVICE_STATE_RESUMING)
		return true;
	if (to == VFIO_DEVICE_STATE_STOP_COPY)
		return !saving_from;
	if (to == VFIO_DEVICE_STATE_PRE_COPY ||
	    to == VFIO_DEVICE_STATE_PRE_COPY_P2P)
		return !saving_from;
	return false;
}

TEST_F(mig, every_arc)
{
	struct stream valid;
	int from, to;

	/* a valid stream to leave RESUMING with */
	ASSERT_EQ(0, save_stop_copy(self->src.device, &valid));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));

	for (from = VFIO_DEVICE_STATE_STOP;
	     from <= VFIO_DEVICE_STATE_PRE_COPY_P2P; from++) {
		for (to = VFIO_DEVICE_STATE_STOP;
		     to <= VFIO_DEVICE_STATE_PRE_COPY_P2P; to++) {
			int dev = self->dst.device, fd1 = -1, fd2 = -1, ret;
			bool blocked = from == VFIO_DEVICE_STATE_STOP_COPY &&
				       (to == VFIO_DEVICE_STATE_PRE_COPY ||
					to == VFIO_DEVICE_STATE_PRE_COPY_P2P);

			ASSERT_EQ(0, vfio_mig_set(dev, from, &fd1));
			if (from == VFIO_DEVICE_STATE_RESUMING)
				ASSERT_EQ(0, write_all(fd1, valid.buf,
						       valid.len));
			ret = vfio_mig_set(dev, to, &fd2);
			if (blocked) {
				EXPECT_EQ(-EINVAL, ret);
				EXPECT_EQ(from, vfio_mig_get(dev));
			} else {
				EXPECT_EQ(0, ret) {
					TH_LOG("%s -> %s",
					       vfio_state_name(from),
					       vfio_state_name(to));
				}
				EXPECT_EQ(to, vfio_mig_get(dev));
				EXPECT_EQ(opens_fd(from, to), fd2 >= 0) {
					TH_LOG("%s -> %s fd %d",
					       vfio_state_name(from),
					       vfio_state_name(to), fd2);
				}
			}
			if (vfio_mig_get(dev) == VFIO_DEVICE_STATE_RESUMING &&
			    fd2 >= 0)
				ASSERT_EQ(0, write_all(fd2, valid.buf,
						       valid.len));
			ASSERT_EQ(0, vfio_mig_set(dev,
						  VFIO_DEVICE_STATE_RUNNING,
						  NULL));
			if (fd1 >= 0)
				close(fd1);
			if (fd2 >= 0)
				close(fd2);
		}
	}
	free(valid.buf);
}

TEST_F(mig, save_resume_byte_identical)
{
	struct stream a, b;
	int ret;

	/* different seeds, whatever earlier tests left */
	dbg_write(self->src.bdf, "seed", "0x5eed0001");
	dbg_write(self->dst.bdf, "seed", "0x5eed0002");
	dbg_write(self->src.bdf, "size", "300001");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &a));
	ASSERT_EQ(0, resume(self->dst.device, &a, VFIO_DEVICE_STATE_RUNNING));
	EXPECT_EQ(dbg_read(self->src.bdf, "seed"),
		  dbg_read(self->dst.bdf, "seed"));
	EXPECT_EQ(300001, dbg_read(self->dst.bdf, "loaded"));
	/* the source attached its state; the copy goes through save_read */
	dbg_write(self->dst.bdf, "copy_out", "1");
	ret = save_stop_copy(self->dst.device, &b);
	dbg_write(self->dst.bdf, "copy_out", "0");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(a.len, b.len);
	EXPECT_EQ(0, memcmp(a.buf, b.buf, a.len));
	free(a.buf);
	free(b.buf);
}

TEST_F(mig, precopy_info_and_enomsg)
{
	uint64_t initial = 0, dirty = 0, size = 400000;
	unsigned char *buf = malloc(1 << 20);
	struct stream s = { .buf = malloc(1 << 20) };
	int fd, rounds = 0;
	ssize_t n;

	dbg_write(self->src.bdf, "size", "400000");
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_PRE_COPY,
				  &fd));
	ASSERT_EQ(0, vfio_precopy_info(fd, &initial, &dirty));
	EXPECT_GT(initial, size / 4);		/* a quarter plus framing */
	EXPECT_GE(dirty, size / 2);
	for (;;) {
		n = read(fd, s.buf + s.len, (1 << 20) - s.len);
		if (n > 0) {
			s.len += n;
			continue;
		}
		ASSERT_EQ(-1, n);
		ASSERT_EQ(ENOMSG, errno);
		ASSERT_EQ(0, vfio_precopy_info(fd, &initial, &dirty));
		if (rounds++)
			EXPECT_EQ(0, initial);
		if (!initial && dirty <= size / 4 + 64)
			break;
	}
	EXPECT_GT(rounds, 1);
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, NULL));
	EXPECT_EQ(-EINVAL, vfio_precopy_info(fd, &initial, &dirty));
	for (;;) {
		n = read(fd, s.buf + s.len, (1 << 20) - s.len);
		ASSERT_GE(n, 0);
		if (!n)
			break;
		s.len += n;
	}
	close(fd);
	ASSERT_EQ(0, resume(self->dst.device, &s, VFIO_DEVICE_STATE_RUNNING));
	EXPECT_EQ(dbg_read(self->src.bdf, "seed"),
		  dbg_read(self->dst.bdf, "seed"));
	EXPECT_EQ(size, dbg_read(self->dst.bdf, "loaded"));
	free(buf);
	free(s.buf);
}

TEST_F(mig, data_size)
{
	uint64_t len = 0;

	dbg_write(self->src.bdf, "size", "123457");
	ASSERT_EQ(0, vfio_mig_data_size(self->src.device, &len));
	EXPECT_GE(len, 123457);
	EXPECT_LE(len, 123457 + 4096);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				  NULL));
	ASSERT_EQ(0, vfio_mig_data_size(self->src.device, &len));
	EXPECT_GE(len, 123457);
}

static int dma_log_start(int dev, uint64_t iova, uint64_t len)
{
	struct vfio_device_feature_dma_logging_range range = {
		.iova = iova, .length = len,
	};
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_dma_logging_control ctl;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_SET |
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
	buf.ctl.page_size = 4096;
	buf.ctl.num_ranges = 1;
	buf.ctl.ranges = (uintptr_t)&range;
	return ioctl(dev, VFIO_DEVICE_FEATURE, &buf) ? -errno : 0;
}

static int dma_log_stop(int dev)
{
	struct vfio_device_feature feature = {
		.argsz = sizeof(feature),
		.flags = VFIO_DEVICE_FEATURE_SET |
			 VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
	};

	return ioctl(dev, VFIO_DEVICE_FEATURE, &feature) ? -errno : 0;
}

static int dma_log_report(int dev, uint64_t iova, uint64_t len,
			  uint64_t *bitmap)
{
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_dma_logging_report rep;
	} buf = {};

	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_GET |
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	buf.rep.iova = iova;
	buf.rep.length = len;
	buf.rep.page_size = 4096;
	buf.rep.bitmap = (uintptr_t)bitmap;
	return ioctl(dev, VFIO_DEVICE_FEATURE, &buf) ? -errno : 0;
}

TEST_F(mig, dma_logging)
{
	uint64_t bitmap[4] = {};
	const uint64_t iova = 1 << 20, len = 1 << 20;

	EXPECT_EQ(-EINVAL, dma_log_report(self->src.device, iova, len,
					  bitmap));
	ASSERT_EQ(0, dma_log_start(self->src.device, iova, len));
	EXPECT_EQ(-EBUSY, dma_log_start(self->src.device, iova, len));
	ASSERT_EQ(0, dma_log_report(self->src.device, iova, len, bitmap));
	EXPECT_EQ(1, bitmap[0]);	/* lm_test_ctrl dirties the first page */
	memset(bitmap, 0, sizeof(bitmap));
	/* report clears */
	ASSERT_EQ(0, dma_log_report(self->src.device, iova, len, bitmap));
	EXPECT_EQ(0, bitmap[0]);
	dbg_write(self->src.bdf, "dirty_iova", "0x103000");
	dbg_write(self->src.bdf, "dirty_pending", "1");
	ASSERT_EQ(0, dma_log_report(self->src.device, iova, len, bitmap));
	EXPECT_EQ(1 << 3, bitmap[0]);
	ASSERT_EQ(0, dma_log_stop(self->src.device));
	EXPECT_EQ(-EINVAL, dma_log_report(self->src.device, iova, len,
					  bitmap));

	/* a reset ends logging: reports fail until it is started again */
	ASSERT_EQ(0, dma_log_start(self->src.device, iova, len));
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(-EINVAL, dma_log_report(self->src.device, iova, len,
					  bitmap));
	ASSERT_EQ(0, dma_log_start(self->src.device, iova, len));
	ASSERT_EQ(0, dma_log_stop(self->src.device));
}

/* 1 while lockdep is on: it turns itself off at its first report. */
static int lockdep_on(void)
{
	char buf[8192], *p;
	int fd = open("/proc/lockdep_stats", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strstr(buf, "debug_locks:");
	return p ? atoi(p + strlen("debug_locks:")) : -ENOENT;
}

/*
 * What QEMU does with an assigned VF, all in one boot: its BAR mmap is
 * DMA-mapped (type1 faults it in under mmap_lock, and the fault takes
 * vfio's memory_lock), dirty bitmaps are fresh memory (pinned while the
 * report runs), and the device is reset (reset_done runs under
 * memory_lock).  Lockdep must find no cycle among them.
 */
TEST_F(mig, lock_order_report_reset_bar)
{
	struct vfio_region_info bar = {
		.argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	const uint64_t iova = 1 << 20, len = 64 << 20;
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.iova = 1ULL << 32,
	};
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = 1ULL << 32,
	};
	uint64_t *bitmap;
	void *mem;
	int round;

	ASSERT_EQ(1, lockdep_on());
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_GET_REGION_INFO,
			   &bar));
	ASSERT_TRUE(bar.flags & VFIO_REGION_INFO_FLAG_MMAP);
	mem = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->src.device, bar.offset);
	ASSERT_NE(MAP_FAILED, mem);
	map.vaddr = (uintptr_t)mem;
	map.size = bar.size;
	unmap.size = bar.size;
	ASSERT_EQ(0, ioctl(self->src.container, VFIO_IOMMU_MAP_DMA, &map));
	ASSERT_EQ(0, ioctl(self->src.container, VFIO_IOMMU_UNMAP_DMA,
			   &unmap));

	for (round = 0; round < 2; round++) {
		/* untouched pages: pinning them faults under mmap_lock */
		bitmap = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, bitmap);
		ASSERT_EQ(0, dma_log_start(self->src.device, iova, len));
		ASSERT_EQ(0, dma_log_report(self->src.device, iova, len,
					    bitmap));
		/* lm_test_ctrl dirties the first page of the range */
		EXPECT_EQ(1, bitmap[0]);
		ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
		munmap(bitmap, 4096);
	}
	munmap(mem, bar.size);
	EXPECT_EQ(1, lockdep_on());
}

TEST_F(mig, error_state_and_reset)
{
	int fd;

	dbg_write(self->src.bdf, "fail_errno", "5");
	dbg_write(self->src.bdf, "fail_nth", "2");	/* quiesce ok, stop fails */
	EXPECT_EQ(-EIO, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				     NULL));
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, vfio_mig_get(self->src.device));
	EXPECT_EQ(-EINVAL, vfio_mig_set(self->src.device,
					VFIO_DEVICE_STATE_RUNNING, NULL));
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));

	/* reset also ends a session: its fd goes stale */
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_PRE_COPY, &fd));
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	EXPECT_EQ(-1, read(fd, &fd, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
}

TEST_F(mig, bad_input)
{
	unsigned long long loaded = dbg_read(self->dst.bdf, "loaded");
	unsigned char junk[4096];
	struct stream valid;
	int fd, rfd;

	EXPECT_EQ(-EINVAL, vfio_mig_set(self->src.device, 8, NULL));
	EXPECT_EQ(-EINVAL, vfio_mig_set(self->src.device, 100, NULL));
	EXPECT_EQ(-EINVAL, vfio_mig_set(self->src.device,
					VFIO_DEVICE_STATE_ERROR, NULL));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));

	/* wrong direction on each kind of fd */
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	EXPECT_EQ(-1, write(fd, junk, 16));
	EXPECT_EQ(EBADF, errno);
	ASSERT_EQ(0, read_to_end(fd, &valid));
	/* a stale fd after its session ended */
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				  NULL));
	EXPECT_EQ(-1, read(fd, junk, 16));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	ASSERT_EQ(0, vfio_mig_set(self->dst.device,
				  VFIO_DEVICE_STATE_RESUMING, &rfd));
	EXPECT_EQ(-1, read(rfd, junk, 16));
	EXPECT_EQ(EBADF, errno);
	/* garbage is refused at once, and stays refused */
	memset(junk, 0xab, sizeof(junk));
	EXPECT_EQ(-1, write(rfd, junk, sizeof(junk)));
	EXPECT_EQ(EPROTO, errno);
	EXPECT_EQ(-EPROTO, vfio_mig_set(self->dst.device,
					VFIO_DEVICE_STATE_STOP, NULL));
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, vfio_mig_get(self->dst.device));
	/* nothing reached the destination's driver */
	EXPECT_EQ(loaded, dbg_read(self->dst.bdf, "loaded"));
	close(rfd);
	ASSERT_EQ(0, ioctl(self->dst.device, VFIO_DEVICE_RESET));

	/* a truncated stream cannot complete */
	ASSERT_EQ(0, vfio_mig_set(self->dst.device,
				  VFIO_DEVICE_STATE_RESUMING, &rfd));
	ASSERT_EQ(0, write_all(rfd, valid.buf, valid.len - 10));
	EXPECT_EQ(-ENODATA, vfio_mig_set(self->dst.device,
					 VFIO_DEVICE_STATE_STOP, NULL));
	/* ... until the rest arrives */
	ASSERT_EQ(0, write_all(rfd, valid.buf + valid.len - 10, 10));
	EXPECT_EQ(0, vfio_mig_set(self->dst.device,
				  VFIO_DEVICE_STATE_RUNNING, NULL));
	close(rfd);
	free(valid.buf);
}

static void rebind(const char *bdf)
{
	write_file("/sys/bus/pci/drivers/vfio-pci/unbind", bdf);
	write_file("/sys/bus/pci/drivers_probe", bdf);
}

#define LMDBG "/sys/kernel/debug/live_migration"

/* Arms the task's fail-nth: the n-th fault site it passes fails. */
static int fail_nth(int n)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", n);
	return write_file("/proc/thread-self/fail-nth", v);
}

/* 1 if the armed failure was injected; disarms. */
static int fail_nth_hit(void)
{
	char v[16] = "";
	int left;

	read_file("/proc/thread-self/fail-nth", v, sizeof(v));
	left = atoi(v);
	write_file("/proc/thread-self/fail-nth", "0");
	return left == 0;
}

enum sweep_op { OP_STOP_COPY, OP_PRE_COPY, OP_RESUMING, OP_RESUME_DATA,
		OP_DIRTY_REPORT, OP_NR };

static const char * const sweep_names[OP_NR] = {
	"RUNNING->STOP_COPY", "RUNNING->PRE_COPY", "STOP->RESUMING",
	"resume write", "dirty report",
};

/*
 * Every one of the core's allocations and file creations, for every call
 * that makes some, fails in turn (fail-nth, as iommufd_fail_nth does), until
 * the call makes none it has not already failed.  After each failure the
 * call returned an error, the function is where it was, nothing is left
 * allocated, and a whole migration still works.
 */
TEST_F(mig, fail_nth_sweep)
{
	char before_files[32], before_mem[32], v[32];
	const uint64_t iova = 1 << 20, len = 1 << 20;
	int op, n, fd, ret, prev;
	struct stream s, big;
	uint64_t bitmap[4];

	ASSERT_EQ(0, write_file(LMDBG "/fail_live_migration/verbose", "0"));
	dbg_write(self->src.bdf, "size", "3145728");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &big));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	ASSERT_EQ(0, read_file(LMDBG "/live_files", before_files,
			       sizeof(before_files)));
	ASSERT_EQ(0, read_file(LMDBG "/file_mem", before_mem,
			       sizeof(before_mem)));

	for (op = 0; op < OP_NR; op++) {
		int dev = op == OP_RESUMING || op == OP_RESUME_DATA ?
			  self->dst.device : self->src.device;
		int injected = 0;
		bool hit = true;

		for (n = 1; hit && n < 64; n++) {
			fd = -1;
			/* only the arc that makes the file: nothing else moves */
			if (op != OP_PRE_COPY && op != OP_DIRTY_REPORT)
				ASSERT_EQ(0, vfio_mig_set(dev,
						VFIO_DEVICE_STATE_STOP, NULL));
			if (op == OP_RESUME_DATA)
				ASSERT_EQ(0, vfio_mig_set(dev,
						VFIO_DEVICE_STATE_RESUMING,
						&fd));
			if (op == OP_DIRTY_REPORT)
				ASSERT_EQ(0, dma_log_start(dev, iova, len));
			prev = vfio_mig_get(dev);

			ASSERT_EQ(0, fail_nth(n));
			switch (op) {
			case OP_STOP_COPY:
				ret = vfio_mig_set(dev,
						   VFIO_DEVICE_STATE_STOP_COPY,
						   &fd);
				break;
			case OP_PRE_COPY:
				ret = vfio_mig_set(dev,
						   VFIO_DEVICE_STATE_PRE_COPY,
						   &fd);
				break;
			case OP_RESUMING:
				ret = vfio_mig_set(dev,
						   VFIO_DEVICE_STATE_RESUMING,
						   &fd);
				break;
			case OP_RESUME_DATA:
				ret = write_all(fd, big.buf, big.len);
				break;
			default:
				ret = dma_log_report(dev, iova, len, bitmap);
				break;
			}
			hit = fail_nth_hit();
			if (!hit) {
				/* nothing left to fail: the call works */
				EXPECT_EQ(0, ret) TH_LOG("%s", sweep_names[op]);
				if (op == OP_RESUME_DATA)
					EXPECT_EQ(0, vfio_mig_set(dev,
						VFIO_DEVICE_STATE_STOP, NULL));
			} else {
				injected++;
				EXPECT_EQ(-ENOMEM, ret) {
					TH_LOG("%s, site %d: %d",
					       sweep_names[op], n, ret);
				}
				/* an allocation failure changes no state */
				EXPECT_EQ(prev, vfio_mig_get(dev)) {
					TH_LOG("%s, site %d",
					       sweep_names[op], n);
				}
			}
			if (fd >= 0)
				close(fd);
			if (op == OP_DIRTY_REPORT)
				ASSERT_EQ(0, dma_log_stop(dev));
			ASSERT_EQ(0, vfio_mig_set(dev,
						  VFIO_DEVICE_STATE_RUNNING,
						  NULL));
		}
		EXPECT_FALSE(hit) TH_LOG("%s: still failing", sweep_names[op]);
		/* every call above makes at least one allocation of ours */
		EXPECT_LT(0, injected) TH_LOG("%s", sweep_names[op]);
	}


	/* nothing stayed allocated, and a migration still works */
	ASSERT_EQ(0, read_file(LMDBG "/live_files", v, sizeof(v)));
	EXPECT_STREQ(before_files, v);
	ASSERT_EQ(0, read_file(LMDBG "/file_mem", v, sizeof(v)));
	EXPECT_STREQ(before_mem, v);
	dbg_write(self->src.bdf, "seed", "0x5eed0011");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	ASSERT_EQ(0, resume(self->dst.device, &s, VFIO_DEVICE_STATE_RUNNING));
	EXPECT_EQ(0x5eed0011, dbg_read(self->dst.bdf, "seed"));
	free(s.buf);
	free(big.buf);
	dbg_write(self->src.bdf, "size", "4096");
}

TEST_F(mig, controller_goes_away_while_open)
{
	unsigned char byte;
	struct stream s;
	int fd, ret;

	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(0, write_file(DBG "/registered", "0"));
	EXPECT_EQ(-ENODEV, vfio_mig_get(self->src.device));
	EXPECT_EQ(-ENODEV, vfio_mig_set(self->src.device,
					VFIO_DEVICE_STATE_RUNNING, NULL));
	EXPECT_EQ(-1, read(fd, &byte, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);

	/*
	 * The controller comes back (a PF driver reloaded): the open devices
	 * migrate again through its new functions, without a rebind.
	 */
	ASSERT_EQ(0, write_file(DBG "/registered", "1"));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	dbg_write(self->src.bdf, "seed", "0x5eed0003");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	ASSERT_EQ(0, resume(self->dst.device, &s, VFIO_DEVICE_STATE_RUNNING));
	EXPECT_EQ(0x5eed0003, dbg_read(self->dst.bdf, "seed"));
	free(s.buf);
	vfio_fn_close(&self->src);
	vfio_fn_close(&self->dst);

	/* and so does vfio-pci's next probe */
	rebind(env("LM_SRC"));
	rebind(env("LM_DST"));
	ret = vfio_fn_open(&self->src, env("LM_SRC"));
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vfio_fn_open(&self->dst, env("LM_DST")));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
}

/*
 * With lm_test_ctrl unregistered nothing controls the VFs: QEMU's NVMe
 * controller has no Host Managed Live Migration, so nvme-pci registered
 * nothing, and vfio-pci probes the VF exactly as before.
 */
TEST(no_controller_no_migration)
{
	const char *vf = env("LM_SRC");
	char path[256];
	struct vfio_fn f;

	if (!vf)
		SKIP(return, "LM_SRC not set");
	ASSERT_EQ(0, write_file(DBG "/registered", "0"));
	rebind(vf);
	snprintf(path, sizeof(path), "/sys/class/live_migration/%s", vf);
	EXPECT_NE(0, access(path, F_OK));
	ASSERT_EQ(0, vfio_fn_open(&f, vf));
	EXPECT_EQ(-ENOTTY, vfio_mig_flags(f.device));
	EXPECT_EQ(-ENOTTY, vfio_mig_get(f.device));
	vfio_fn_close(&f);

	/* every VF of the controller lost its function: probe both again */
	ASSERT_EQ(0, write_file(DBG "/registered", "1"));
	rebind(vf);
	if (env("LM_DST"))
		rebind(env("LM_DST"));
	ASSERT_EQ(0, vfio_fn_open(&f, vf));
	EXPECT_EQ(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
		  VFIO_MIGRATION_PRE_COPY, vfio_mig_flags(f.device));
	vfio_fn_close(&f);
}

#define TRACEFS "/sys/kernel/tracing"

/* Reads all of a file into a NUL-terminated buffer; returns its length. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return len;
}

TEST_F(mig, tracepoints)
{
	static const char * const events[] = {
		"lm_transition: %s running -> running_p2p ret=0",
		"lm_transition: %s running_p2p -> stop ret=0",
		"lm_transition: %s stop -> stop_copy ret=0",
		"lm_data: %s save offset=0 len=5000",
		"lm_transition: %s stop_copy -> stop ret=0",
		"lm_transition: %s running_p2p -> running ret=0",
	};
	const size_t cap = 1 << 20;
	char *trace = malloc(cap), want[160];
	struct stream s;
	unsigned int i;
	int fd;

	if (access(TRACEFS "/events/live_migration", F_OK))
		SKIP(free(trace); return, "no live_migration trace events");
	ASSERT_NE(NULL, trace);
	ASSERT_EQ(0, write_file(TRACEFS "/events/live_migration/enable", "1"));
	fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC);
	ASSERT_LE(0, fd);
	close(fd);

	dbg_write(self->src.bdf, "size", "5000");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	ASSERT_EQ(0, write_file(TRACEFS "/events/live_migration/enable", "0"));
	ASSERT_LT(0, slurp(TRACEFS "/trace", trace, cap));

	/* every arc of the path, the data, and the way back */
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		snprintf(want, sizeof(want), events[i], self->src.bdf);
		EXPECT_NE(NULL, strstr(trace, want))
			TH_LOG("no \"%s\" in the trace", want);
	}
	free(s.buf);
	free(trace);
}

/* lmctl's exit codes, which scripts rely on */
static int run_lmctl(const char *args)
{
	char cmd[256];
	int st;

	snprintf(cmd, sizeof(cmd), "lmctl %s >/dev/null 2>&1", args);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(lmctl_exit_codes)
{
	const char *src = env("LM_SRC"), *dst = env("LM_DST");
	const char *plain = env("LM_PLAIN");
	char args[128];

	if (!src || !dst)
		SKIP(return, "LM_SRC and LM_DST not set");
	EXPECT_EQ(1, run_lmctl("frobnicate"));
	EXPECT_EQ(1, run_lmctl("migrate onlyone"));
	snprintf(args, sizeof(args), "migrate -q %s %s", src, dst);
	EXPECT_EQ(0, run_lmctl(args));
	/* the destination's driver refuses the stream at its header */
	dbg_write(dst, "refuse_streams", "1");
	EXPECT_EQ(4, run_lmctl(args));
	dbg_write(dst, "refuse_streams", "0");
	/* both functions were left usable */
	EXPECT_EQ(0, run_lmctl(args));
	if (plain) {
		snprintf(args, sizeof(args), "migrate -q %s %s", src, plain);
		EXPECT_EQ(2, run_lmctl(args));
	}
	snprintf(args, sizeof(args), "migrate -q %s 0000:00:1f.7", src);
	EXPECT_EQ(2, run_lmctl(args));
}

static int pf_of(const char *vf, char *pf, size_t len)
{
	char path[256], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/physfn", vf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	snprintf(pf, len, "%s", basename(link));
	return 0;
}

static void bind_vfio(const char *bdf)
{
	char path[256];

	snprintf(path, sizeof(path),
		 "/sys/bus/pci/devices/%s/driver_override", bdf);
	write_file(path, "vfio-pci");
	write_file("/sys/bus/pci/drivers_probe", bdf);
}

/*
 * VFs destroyed and created again (sriov_numvfs N -> 0 -> N) are new
 * devices: claimed afresh, migratable through vfio-pci again.
 */
TEST_F(mig, vfs_recreated_migrate_again)
{
	const char *src = env("LM_SRC"), *dst = env("LM_DST");
	struct vfio_fn *a = &self->src, *b = &self->dst;
	char pf[64], path[256], state[32];
	struct stream s;

	ASSERT_EQ(0, pf_of(src, pf, sizeof(pf)));
	vfio_fn_close(a);
	vfio_fn_close(b);
	ASSERT_EQ(0, write_file(DBG "/registered", "1"));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/sriov_numvfs",
		 pf);
	ASSERT_EQ(0, write_file(path, "0"));
	snprintf(state, sizeof(state), "/sys/class/live_migration/%s", src);
	EXPECT_NE(0, access(state, F_OK));
	ASSERT_EQ(0, write_file(path, "2"));
	bind_vfio(src);
	bind_vfio(dst);

	ASSERT_EQ(0, vfio_fn_open(a, src));
	ASSERT_EQ(0, vfio_fn_open(b, dst));
	EXPECT_LT(0, vfio_mig_flags(a->device));
	snprintf(path, sizeof(path), "/sys/class/live_migration/%s/state",
		 src);
	ASSERT_EQ(0, read_file(path, state, sizeof(state)));
	EXPECT_EQ(0, strncmp(state, "running", 7));
	dbg_write(src, "seed", "0x5eed0009");
	ASSERT_EQ(0, save_stop_copy(a->device, &s));
	ASSERT_EQ(0, resume(b->device, &s, VFIO_DEVICE_STATE_RUNNING));
	EXPECT_EQ(0x5eed0009, dbg_read(dst, "seed"));
	free(s.buf);
}

TEST_HARNESS_MAIN
