// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO migration v2 through plain vfio-pci and drivers/live_migration, with
 * lm_test_ctrl controlling the functions.
 *
 *   LM_SRC, LM_DST	two VFs bound to vfio-pci, controlled by lm_test_ctrl
 *   LM_PLAIN		optional: a vfio-pci device nobody controls
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "../kselftest_harness.h"
#include "vfio_lm_util.h"

#define DBG "/sys/kernel/debug/lm_test_ctrl"
#define LMDBG "/sys/kernel/debug/live_migration"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/*
 * lm_test_ctrl's knobs are ours to provide: one missing or refused ends the
 * test as failed (each test runs in a child of its own), since a value read
 * as nothing could make two sides compare equal.
 */
static void dbg_write(const char *bdf, const char *file, const char *val)
{
	char path[256];
	int ret;

	snprintf(path, sizeof(path), DBG "/%s/%s", bdf, file);
	ret = write_file(path, val);
	if (ret) {
		fprintf(stderr, "# %s: writing %s: %s\n", path, val,
			strerror(-ret));
		_exit(KSFT_FAIL);
	}
}

static unsigned long long dbg_read(const char *bdf, const char *file)
{
	char path[256], buf[64];
	int ret;

	snprintf(path, sizeof(path), DBG "/%s/%s", bdf, file);
	ret = read_file(path, buf, sizeof(buf));
	if (ret) {
		fprintf(stderr, "# %s: %s\n", path, strerror(-ret));
		_exit(KSFT_FAIL);
	}
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
	/* knobs a failed test may have left set */
	dbg_write(src, "fail_nth", "0");
	dbg_write(dst, "fail_nth", "0");
	dbg_write(src, "dirty_len", "0");
	dbg_write(src, "log_page_min", "0");
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
	/* seeds of their own: equal only if this migration made them so */
	dbg_write(self->src.bdf, "seed", "0x5eed0021");
	dbg_write(self->dst.bdf, "seed", "0x5eed0022");
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
		/* ENOMSG: the initial data, at least, was all read */
		EXPECT_EQ(0, initial) TH_LOG("round %d", rounds);
		rounds++;
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
	EXPECT_EQ(0x5eed0021, dbg_read(self->dst.bdf, "seed"));
	EXPECT_EQ(size, dbg_read(self->dst.bdf, "loaded"));
	free(buf);
	free(s.buf);
}

/* Header (152 bytes), one DATA and the END record (32 bytes each). */
#define LM_FRAMING	(152 + 2 * 32)

/* MIG_DATA_SIZE is what a STOP_COPY stream of the state then has. */
TEST_F(mig, data_size)
{
	uint64_t len = 0;
	struct stream s;

	dbg_write(self->src.bdf, "size", "123457");
	ASSERT_EQ(0, vfio_mig_data_size(self->src.device, &len));
	EXPECT_EQ(123457 + LM_FRAMING, len);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				  NULL));
	ASSERT_EQ(0, vfio_mig_data_size(self->src.device, &len));
	EXPECT_EQ(123457 + LM_FRAMING, len);
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	EXPECT_EQ(len, s.len);
	free(s.buf);
	/* the destination's size is its own */
	dbg_write(self->dst.bdf, "size", "5000");
	ASSERT_EQ(0, vfio_mig_data_size(self->dst.device, &len));
	EXPECT_EQ(5000 + LM_FRAMING, len);
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

static void class_attr(const char *bdf, const char *name, char *buf,
		       size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/class/live_migration/%s/%s", bdf,
		 name);
	if (read_file(path, buf, len)) {
		fprintf(stderr, "# %s: %s\n", path, strerror(errno));
		_exit(KSFT_FAIL);
	}
}

static unsigned long long class_stat(const char *bdf, const char *name)
{
	char stat[64], buf[32];

	snprintf(stat, sizeof(stat), "statistics/%s", name);
	class_attr(bdf, stat, buf, sizeof(buf));
	return strtoull(buf, NULL, 10);
}

/* Every documented attribute says what it should, and lmctl list shows it. */
TEST_F(mig, sysfs_attributes)
{
	char buf[512], want[300], pf[64], link[256], path[256];
	const char *compat = "lm_test_ctrl v1";
	unsigned long long tr, saved, resets;
	struct stream s;
	ssize_t n;
	int i, fd;
	FILE *p;

	class_attr(self->src.bdf, "state", buf, sizeof(buf));
	EXPECT_STREQ("running", buf);
	class_attr(self->src.bdf, "capabilities", buf, sizeof(buf));
	EXPECT_STREQ("stop_copy p2p pre_copy dirty_log", buf);
	class_attr(self->src.bdf, "compat", buf, sizeof(buf));
	for (i = 0; compat[i]; i++)
		sprintf(want + 2 * i, "%02x", (unsigned char)compat[i]);
	EXPECT_STREQ(want, buf);
	class_attr(self->src.bdf, "max_state_size", buf, sizeof(buf));
	EXPECT_STREQ("2147483648", buf);
	class_attr(self->src.bdf, "controller_name", buf, sizeof(buf));
	EXPECT_STREQ("lm_test_ctrl", buf);
	snprintf(path, sizeof(path), "/sys/class/live_migration/%s/device",
		 self->src.bdf);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_STREQ(self->src.bdf, basename(link));
	ASSERT_EQ(0, pf_of(self->src.bdf, pf, sizeof(pf)));
	snprintf(path, sizeof(path), "/sys/class/live_migration/%s/controller",
		 self->src.bdf);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_STREQ(pf, basename(link));
	/* the class device lives under the device it migrates */
	snprintf(path, sizeof(path),
		 "/sys/bus/pci/devices/%s/live_migration/%s/state",
		 self->src.bdf, self->src.bdf);
	EXPECT_EQ(0, access(path, R_OK)) TH_LOG("no %s", path);

	/* the counters move by what was done, and the state follows */
	dbg_write(self->src.bdf, "size", "7000");
	tr = class_stat(self->src.bdf, "transitions");
	saved = class_stat(self->src.bdf, "bytes_saved");
	resets = class_stat(self->src.bdf, "resets");
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_RUNNING_P2P, NULL));
	class_attr(self->src.bdf, "state", buf, sizeof(buf));
	EXPECT_STREQ("running_p2p", buf);
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	free(s.buf);
	/* RP->S, S->SC, SC->S: three arcs, after RUNNING->RUNNING_P2P */
	EXPECT_EQ(tr + 4, class_stat(self->src.bdf, "transitions"));
	EXPECT_EQ(saved + 7000, class_stat(self->src.bdf, "bytes_saved"));
	class_attr(self->src.bdf, "state", buf, sizeof(buf));
	EXPECT_STREQ("stop", buf);
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(resets + 1, class_stat(self->src.bdf, "resets"));
	class_attr(self->src.bdf, "state", buf, sizeof(buf));
	EXPECT_STREQ("running", buf);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_PRE_COPY,
				  &fd));
	class_attr(self->src.bdf, "state", buf, sizeof(buf));
	EXPECT_STREQ("pre_copy", buf);
	close(fd);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));

	/* lmctl list: a header and one line per function, as sysfs says */
	p = popen("lmctl list", "r");
	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, fgets(buf, sizeof(buf), p));
	EXPECT_EQ(0, strncmp(buf, "FUNCTION", 8));
	i = 0;
	while (fgets(buf, sizeof(buf), p)) {
		if (strncmp(buf, self->src.bdf, strlen(self->src.bdf)))
			continue;
		i++;
		EXPECT_NE(NULL, strstr(buf, pf));
		EXPECT_NE(NULL, strstr(buf, " lm_test_ctrl "));
		EXPECT_NE(NULL, strstr(buf, " running "));
		EXPECT_NE(NULL, strstr(buf, want));
	}
	EXPECT_EQ(0, pclose(p));
	EXPECT_EQ(1, i);
}

static int dma_log_start_ps(int dev, const uint64_t (*r)[2], int nr,
			    uint64_t *page_size)
{
	struct vfio_device_feature_dma_logging_range ranges[300];
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_dma_logging_control ctl;
	} buf = {};
	int i;

	if (nr > (int)ARRAY_SIZE(ranges))
		return -E2BIG;
	for (i = 0; i < nr; i++) {
		ranges[i].iova = r[i][0];
		ranges[i].length = r[i][1];
	}
	buf.feature.argsz = sizeof(buf);
	buf.feature.flags = VFIO_DEVICE_FEATURE_SET |
			    VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
	buf.ctl.page_size = *page_size;
	buf.ctl.num_ranges = nr;
	buf.ctl.ranges = (uintptr_t)ranges;
	if (ioctl(dev, VFIO_DEVICE_FEATURE, &buf))
		return -errno;
	*page_size = buf.ctl.page_size;
	return 0;
}

static int dma_log_start_ranges(int dev, const uint64_t (*r)[2], int nr,
				uint64_t page_size)
{
	return dma_log_start_ps(dev, r, nr, &page_size);
}

/* One range at 4 KiB, as most cases want. */
static int dma_log_start(int dev, uint64_t iova, uint64_t len)
{
	const uint64_t r[1][2] = { { iova, len } };

	return dma_log_start_ranges(dev, r, 1, 4096);
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

static int dma_log_report_ps(int dev, uint64_t iova, uint64_t len,
			     uint64_t page_size, uint64_t *bitmap)
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
	buf.rep.page_size = page_size;
	buf.rep.bitmap = (uintptr_t)bitmap;
	return ioctl(dev, VFIO_DEVICE_FEATURE, &buf) ? -errno : 0;
}

static int dma_log_report(int dev, uint64_t iova, uint64_t len,
			  uint64_t *bitmap)
{
	return dma_log_report_ps(dev, iova, len, 4096, bitmap);
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

/*
 * Every bit of every report against what the driver reported: several
 * ranges, reports at the logging page size and at a larger one, a driver
 * reporting past the range asked, and more ranges than the driver takes.
 */
TEST_F(mig, dma_logging_bits)
{
	static const uint64_t r[3][2] = {
		{ 0x100000, 0x40000 }, { 0x200000, 0x10000 },
		{ 0x800000, 0x200000 },
	};
	uint64_t many[17][2], bitmap[64], ps, dirty, dlen, iova, len;
	char v[32];
	int i, bits, set;

	ASSERT_EQ(0, dma_log_start_ranges(self->src.device, r, 3, 4096));
	/* the first page counts as written at start: clear it */
	ASSERT_EQ(0, dma_log_report(self->src.device, 0x100000, 0x40000,
				    bitmap));
	for (ps = 4096; ps <= 16384; ps *= 4) {
		/* written: from 3 pages before the second range to 5 in */
		dirty = 0x200000 - 3 * 4096;
		dlen = 8 * 4096;
		snprintf(v, sizeof(v), "%#llx", (unsigned long long)dirty);
		dbg_write(self->src.bdf, "dirty_iova", v);
		snprintf(v, sizeof(v), "%#llx", (unsigned long long)dlen);
		dbg_write(self->src.bdf, "dirty_len", v);
		dbg_write(self->src.bdf, "dirty_pending", "1");
		/* asked: the second range only */
		iova = r[1][0];
		len = r[1][1];
		memset(bitmap, 0, sizeof(bitmap));
		ASSERT_EQ(0, dma_log_report_ps(self->src.device, iova, len, ps,
					       bitmap));
		bits = len / ps;
		for (i = 0, set = 0; i < bits; i++) {
			uint64_t lo = iova + i * ps, hi = lo + ps;
			int want = lo < dirty + dlen && hi > dirty;
			int got = !!(bitmap[i / 64] & (1ULL << (i % 64)));

			EXPECT_EQ(want, got) TH_LOG("ps %llu bit %d",
						    (unsigned long long)ps, i);
			set += got;
		}
		EXPECT_EQ(ps == 4096 ? 5 : 2, set);
		/* reported once: the next report is clean */
		memset(bitmap, 0, sizeof(bitmap));
		ASSERT_EQ(0, dma_log_report_ps(self->src.device, iova, len, ps,
					       bitmap));
		for (i = 0; i < bits; i++)
			EXPECT_EQ(0, !!(bitmap[i / 64] & (1ULL << (i % 64))));
	}
	dbg_write(self->src.bdf, "dirty_len", "0");
	ASSERT_EQ(0, dma_log_stop(self->src.device));

	/* lm_test_ctrl takes 16 ranges: the 17th is refused */
	for (i = 0; i < 17; i++) {
		many[i][0] = 0x100000 + i * 0x20000;
		many[i][1] = 0x10000;
	}
	EXPECT_EQ(-E2BIG, dma_log_start_ranges(self->src.device, many, 17,
					       4096));
	EXPECT_EQ(0, dma_log_start_ranges(self->src.device, many, 16, 4096));
	EXPECT_EQ(0, dma_log_stop(self->src.device));
	/* a page size the core refuses for every consumer, VFIO's checks met */
	many[0][0] = 1ULL << 31;
	many[0][1] = 1ULL << 31;
	ps = 1ULL << 31;
	EXPECT_EQ(-EINVAL, dma_log_start_ranges(self->src.device, many, 1, ps));

	/* a device that tracks coarser says so through VFIO's page_size */
	dbg_write(self->src.bdf, "log_page_min", "16384");
	ps = 4096;
	ASSERT_EQ(0, dma_log_start_ps(self->src.device, r, 3, &ps));
	EXPECT_EQ(16384, ps);
	EXPECT_EQ(0, dma_log_stop(self->src.device));
	dbg_write(self->src.bdf, "log_page_min", "0");
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

/* The state letter of a process, as /proc/PID/stat shows it. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

struct stuck_reader {
	int fd;
	void *buf;
	ssize_t ret;
};

static void *stuck_read(void *data)
{
	struct stuck_reader *r = data;

	r->ret = read(r->fd, r->buf, 4096);
	return NULL;
}

/*
 * A reader whose buffer faults and does not resolve (userfaultfd) holds the
 * data file; a second reader waiting for it can still be killed.  The
 * session ends meanwhile: its buffers go when the stuck read returns.
 */
TEST_F(mig, blocked_reader_killable)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { .mode = 0 };
	struct stuck_reader r = { .ret = -2 };
	struct pollfd pfd;
	struct uffd_msg msg;
	pthread_t thread;
	int uffd, status, i;
	char base[32], mem[32];
	pid_t child;
	void *page;

	dbg_write(self->src.bdf, "size", "65536");
	ASSERT_EQ(0, read_file(LMDBG "/file_mem", base, sizeof(base)));
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &r.fd));
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	ASSERT_LE(0, uffd);
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	reg.range.start = (uintptr_t)page;
	reg.range.len = 4096;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	r.buf = page;
	ASSERT_EQ(0, pthread_create(&thread, NULL, stuck_read, &r));
	/* the first reader now waits on its fault, inside read() */
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		char byte;

		_exit(read(r.fd, &byte, 1) < 0);
	}
	/* the second reader sleeps on the file's lock (shown as D) */
	for (i = 0; i < 1000 && proc_state(child) != 'D'; i++)
		usleep(10000);
	ASSERT_EQ('D', proc_state(child));
	kill(child, SIGKILL);
	/* killable, it is gone at once; 10 s is plenty even under TCG */
	for (i = 0; i < 1000; i++) {
		if (waitpid(child, &status, WNOHANG) == child)
			break;
		usleep(10000);
	}
	EXPECT_LT(i, 1000) TH_LOG("the waiting reader did not die");

	/* the session ends under the stuck read: its buffers wait for it */
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				  NULL));
	ASSERT_EQ(0, read_file(LMDBG "/file_mem", mem, sizeof(mem)));
	EXPECT_LT(strtoull(base, NULL, 10), strtoull(mem, NULL, 10));

	/* the fault resolves: the read returns what it had, then all goes */
	zero.range.start = (uintptr_t)page;
	zero.range.len = 4096;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_ZEROPAGE, &zero));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	EXPECT_LT(0, r.ret);
	EXPECT_GT(4096, r.ret);
	ASSERT_EQ(0, read_file(LMDBG "/file_mem", mem, sizeof(mem)));
	EXPECT_STREQ(base, mem);
	if (i == 1000)
		waitpid(child, &status, 0);
	EXPECT_TRUE(WIFSIGNALED(status));
	close(r.fd);
	close(uffd);
	munmap(page, 4096);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
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
	"STOP->STOP_COPY", "RUNNING->PRE_COPY", "STOP->RESUMING",
	"resume write", "dirty report",
};

/* Brings dev to where op starts; the fd of a resuming session, or -1. */
static int sweep_prepare(int op, int dev, int *fd)
{
	int ret = 0;

	*fd = -1;
	if (op == OP_STOP_COPY || op == OP_RESUMING || op == OP_RESUME_DATA)
		ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret && op == OP_RESUME_DATA)
		ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_RESUMING, fd);
	if (!ret && op == OP_DIRTY_REPORT)
		ret = dma_log_start(dev, 1 << 20, 1 << 20);
	return ret;
}

static long sweep_call(int op, int dev, int *fd, const struct stream *big)
{
	static const int target[] = {
		[OP_STOP_COPY] = VFIO_DEVICE_STATE_STOP_COPY,
		[OP_PRE_COPY] = VFIO_DEVICE_STATE_PRE_COPY,
		[OP_RESUMING] = VFIO_DEVICE_STATE_RESUMING,
	};
	uint64_t bitmap[4];
	ssize_t n;

	switch (op) {
	case OP_RESUME_DATA:
		n = write(*fd, big->buf, big->len);
		return n < 0 ? -errno : n;
	case OP_DIRTY_REPORT:
		return dma_log_report(dev, 1 << 20, 1 << 20, bitmap);
	default:
		return vfio_mig_set(dev, target[op], fd);
	}
}

/*
 * Every one of the core's allocations and file creations, for every call
 * that makes some, fails in turn (fail-nth, as iommufd_fail_nth does), until
 * the call makes none it has not already failed.  After each failure the
 * call returned -ENOMEM (or, for a write that took bytes, a short count from
 * which a retry goes on), the function is where it was, nothing is left
 * allocated, and a whole migration still works.
 */
TEST_F(mig, fail_nth_sweep)
{
	char before_files[32], before_mem[32], v[32];
	struct stream s, big;
	int op, n, fd, prev;
	long ret;

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
			ASSERT_EQ(0, sweep_prepare(op, dev, &fd))
				TH_LOG("%s: preparing", sweep_names[op]);
			prev = vfio_mig_get(dev);
			ASSERT_EQ(0, fail_nth(n));
			ret = sweep_call(op, dev, &fd, &big);
			hit = fail_nth_hit();
			injected += hit;
			if (op == OP_RESUME_DATA) {
				/* a short write goes on where it stopped */
				if (hit)
					EXPECT_TRUE(ret == -ENOMEM ||
						    (ret > 0 && ret < big.len));
				if (ret < 0)
					ret = 0;
				EXPECT_EQ(0, write_all(fd, big.buf + ret,
						       big.len - ret));
				EXPECT_EQ(0, vfio_mig_set(dev,
							  VFIO_DEVICE_STATE_STOP,
							  NULL));
				EXPECT_EQ(3145728, dbg_read(self->dst.bdf,
							    "loaded"));
			} else if (hit) {
				EXPECT_EQ(-ENOMEM, ret)
					TH_LOG("%s, site %d: %ld",
					       sweep_names[op], n, ret);
				/* an allocation failure changes no state */
				EXPECT_EQ(prev, vfio_mig_get(dev))
					TH_LOG("%s, site %d", sweep_names[op],
					       n);
			} else {
				EXPECT_EQ(0, ret) TH_LOG("%s", sweep_names[op]);
			}
			if (fd >= 0)
				close(fd);
			if (op == OP_DIRTY_REPORT)
				ASSERT_EQ(0, dma_log_stop(dev));
			/* an empty RESUMING session is left by a reset */
			if (vfio_mig_get(dev) == VFIO_DEVICE_STATE_RESUMING)
				ASSERT_EQ(0, ioctl(dev, VFIO_DEVICE_RESET));
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

/* Reads a saving fd to its end through reads of at most @step bytes. */
static int read_to_end_by(int fd, struct stream *s, size_t step)
{
	size_t cap = 1 << 20;

	s->buf = malloc(cap);
	s->len = 0;
	for (;;) {
		ssize_t n;

		if (cap - s->len < step) {
			cap *= 2;
			s->buf = realloc(s->buf, cap);
		}
		n = read(fd, s->buf + s->len, step);
		if (n < 0)
			return -errno;
		if (!n)
			return 0;
		s->len += n;
	}
}

/*
 * A read that faults part way returns what it copied; the next read goes
 * on from there.  The stream so read equals one read in one piece.
 */
TEST_F(mig, read_faults_part_way)
{
	struct stream whole, parts = {};
	unsigned char *guard;
	int fd, faults = 0;
	ssize_t n;

	dbg_write(self->src.bdf, "size", "100000");
	dbg_write(self->src.bdf, "seed", "0x5eed0031");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &whole));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));

	/* one page readable, the next not */
	guard = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, guard);
	ASSERT_EQ(0, mprotect(guard + 4096, 4096, PROT_NONE));
	parts.buf = malloc(whole.len + 8192);
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	for (;;) {
		/* start 100 bytes before the hole: a short read or EFAULT */
		n = read(fd, guard + 4096 - 100, 8192 - 4096 + 100);
		if (n < 0) {
			ASSERT_EQ(EFAULT, errno);
			faults++;
			n = read(fd, guard, 4096);
			ASSERT_LE(0, n);
			memcpy(parts.buf + parts.len, guard, n);
		} else {
			ASSERT_GE(100, n);
			memcpy(parts.buf + parts.len, guard + 4096 - 100, n);
			faults += n == 100;
		}
		if (!n)
			break;
		parts.len += n;
		ASSERT_GE(whole.len, parts.len);
	}
	close(fd);
	EXPECT_LT(0, faults);
	ASSERT_EQ(whole.len, parts.len);
	EXPECT_EQ(0, memcmp(whole.buf, parts.buf, whole.len));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	munmap(guard, 8192);
	free(whole.buf);
	free(parts.buf);
}

/* A 64 MiB state goes in with one write() and comes out in 1 MiB reads. */
TEST_F_TIMEOUT(mig, very_large_write, 300)
{
	struct stream s;
	int fd;

	dbg_write(self->src.bdf, "size", "67108864");
	dbg_write(self->src.bdf, "seed", "0x5eed0041");
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(0, read_to_end_by(fd, &s, 1 << 20));
	close(fd);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	ASSERT_EQ(0, vfio_mig_set(self->dst.device, VFIO_DEVICE_STATE_RESUMING,
				  &fd));
	EXPECT_EQ((ssize_t)s.len, write(fd, s.buf, s.len));
	EXPECT_EQ(0, vfio_mig_set(self->dst.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	close(fd);
	EXPECT_EQ(0x5eed0041, dbg_read(self->dst.bdf, "seed"));
	EXPECT_EQ(67108864, dbg_read(self->dst.bdf, "loaded"));
	free(s.buf);
	dbg_write(self->src.bdf, "size", "4096");
}

#define CG "/sys/fs/cgroup"

static unsigned long long cg_read(const char *cg, const char *file,
				  const char *key)
{
	char path[128], buf[1024], *at;

	snprintf(path, sizeof(path), CG "/%s/%s", cg, file);
	if (read_file(path, buf, sizeof(buf)))
		return ~0ULL;
	if (!key)
		return strtoull(buf, NULL, 0);
	at = strstr(buf, key);
	return at ? strtoull(at + strlen(key), NULL, 0) : ~0ULL;
}

/*
 * Moves this process into a new cgroup @cg made with memory.max @max, or
 * back to the root one (@cg NULL).
 */
static int cg_enter(const char *cg, const char *max)
{
	char path[128], pid[16];
	int ret;

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (!cg)
		return write_file(CG "/cgroup.procs", pid);
	snprintf(path, sizeof(path), CG "/%s", cg);
	if (mkdir(path, 0755))
		return -errno;
	snprintf(path, sizeof(path), CG "/%s/memory.max", cg);
	ret = write_file(path, max);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), CG "/%s/cgroup.procs", cg);
	return write_file(path, pid);
}

/*
 * The state a save holds is charged to the memory cgroup of the VMM that
 * started it, and past that cgroup's memory.max the save fails with
 * ENOMEM, nobody killed, the function in ERROR until it is reset.
 */
TEST_F(mig, memcg_charged)
{
	unsigned long long before, held, hits;
	int fd;

	if (access(CG "/cgroup.controllers", R_OK))
		ASSERT_EQ(0, mount("none", CG, "cgroup2", 0, NULL));
	ASSERT_EQ(0, write_file(CG "/cgroup.subtree_control", "+memory"));
	rmdir(CG "/lm_charged");
	rmdir(CG "/lm_small");

	dbg_write(self->src.bdf, "size", "16777216");
	dbg_write(self->src.bdf, "seed", "0x5eed0051");
	ASSERT_EQ(0, cg_enter("lm_charged", "max"));
	before = cg_read("lm_charged", "memory.current", NULL);
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	held = cg_read("lm_charged", "memory.current", NULL);
	ASSERT_EQ(0, cg_enter(NULL, NULL));
	TH_LOG("memory.current %llu -> %llu with a 16 MiB state", before,
	       held);
	EXPECT_GE(held, before + (16 << 20));
	close(fd);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));

	/* another state, in a new cgroup it does not fit in */
	dbg_write(self->src.bdf, "size", "33554432");
	ASSERT_EQ(0, cg_enter("lm_small", "8388608"));
	EXPECT_EQ(-ENOMEM, vfio_mig_set(self->src.device,
					VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(0, cg_enter(NULL, NULL));
	EXPECT_EQ(0, cg_read("lm_small", "memory.events", "oom_kill "));
	/* the limit was hit (~0: memory.events unreadable) */
	hits = cg_read("lm_small", "memory.events", "max ");
	EXPECT_LT(0, hits);
	EXPECT_NE(~0ULL, hits);
	EXPECT_EQ(VFIO_DEVICE_STATE_ERROR, vfio_mig_get(self->src.device));
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	EXPECT_EQ(0, rmdir(CG "/lm_small"));
	EXPECT_EQ(0, rmdir(CG "/lm_charged"));
	dbg_write(self->src.bdf, "size", "4096");
}

/* The offset of the PCI Express capability in config space, or 0. */
static int pcie_cap(int dev, off_t cfg)
{
	uint8_t pos = 0, id = 0;
	int guard = 48;

	if (pread(dev, &pos, 1, cfg + 0x34) != 1)
		return 0;
	while (pos && guard--) {
		if (pread(dev, &id, 1, cfg + pos) != 1)
			return 0;
		if (id == 0x10)
			return pos;
		if (pread(dev, &pos, 1, cfg + pos + 1) != 1)
			return 0;
	}
	return 0;
}

/*
 * Resets end a session wherever it is: VFIO_DEVICE_RESET half way through
 * RESUMING, an FLR written to config space during STOP_COPY, and closing
 * the device in STOP (the next user finds it running).  Nothing reaches
 * the device from the ended session.
 */
TEST_F(mig, resets_end_sessions)
{
	struct vfio_region_info cfg = {
		.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	unsigned long long resets;
	uint32_t devcap = 0;
	uint16_t devctl = 0;
	struct stream s;
	int fd, cap;

	dbg_write(self->src.bdf, "size", "300000");
	dbg_write(self->src.bdf, "seed", "0x5eed0051");
	dbg_write(self->dst.bdf, "seed", "0x5eed0052");
	ASSERT_EQ(0, save_stop_copy(self->src.device, &s));
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));

	/* VFIO_DEVICE_RESET in the middle of RESUMING */
	ASSERT_EQ(0, vfio_mig_set(self->dst.device, VFIO_DEVICE_STATE_RESUMING,
				  &fd));
	ASSERT_EQ(0, write_all(fd, s.buf, s.len / 2));
	ASSERT_EQ(0, ioctl(self->dst.device, VFIO_DEVICE_RESET));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->dst.device));
	EXPECT_EQ(-1, write(fd, s.buf + s.len / 2, s.len - s.len / 2));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	EXPECT_EQ(0x5eed0052, dbg_read(self->dst.bdf, "seed"));

	/* an FLR through config space, as a guest driver would start one */
	ASSERT_EQ(0, ioctl(self->src.device, VFIO_DEVICE_GET_REGION_INFO,
			   &cfg));
	cap = pcie_cap(self->src.device, cfg.offset);
	ASSERT_NE(0, cap);
	ASSERT_EQ(4, pread(self->src.device, &devcap, 4, cfg.offset + cap + 4));
	ASSERT_TRUE(devcap & (1 << 28)) TH_LOG("no FLR: devcap %#x", devcap);
	resets = class_stat(self->src.bdf, "resets");
	ASSERT_EQ(0, vfio_mig_set(self->src.device,
				  VFIO_DEVICE_STATE_STOP_COPY, &fd));
	ASSERT_EQ(2, pread(self->src.device, &devctl, 2, cfg.offset + cap + 8));
	devctl |= 1 << 15;
	ASSERT_EQ(2, pwrite(self->src.device, &devctl, 2, cfg.offset + cap + 8));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	EXPECT_EQ(-1, read(fd, &devctl, 1));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	EXPECT_LT(resets, class_stat(self->src.bdf, "resets"));

	/* closed in STOP: the next user finds it running, no session */
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_STOP,
				  NULL));
	vfio_fn_close(&self->src);
	ASSERT_EQ(0, vfio_fn_open(&self->src, env("LM_SRC")));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, vfio_mig_get(self->src.device));
	free(s.buf);
}

/* PRECOPY_INFO refuses a short argsz and reports a bad pointer. */
TEST_F(mig, precopy_info_bad_args)
{
	struct vfio_precopy_info info = { .argsz = 8 };
	int fd;

	dbg_write(self->src.bdf, "size", "4096");
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_PRE_COPY,
				  &fd));
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	info.argsz = sizeof(info);
	EXPECT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_LT(0, info.initial_bytes);
	close(fd);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
}

/*
 * A 32-bit VMM on a 64-bit kernel: its PRECOPY_INFO reaches the data fd
 * through compat_ioctl and must get the answers a 64-bit one gets.
 */
TEST_F(mig, precopy_info_compat)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	unsigned long long initial = 0, dirty = 0;
	int ret = 0, err = 0, short_ret = 0, short_err = 0;
	int fd, out[2], status, fields;
	char arg[16], helper[PATH_MAX], *slash;
	ssize_t len;
	pid_t pid;
	FILE *f;

	/* kselftest installs the helper beside this program */
	len = readlink("/proc/self/exe", helper, sizeof(helper) - 1);
	ASSERT_LT(0, len);
	helper[len] = 0;
	slash = strrchr(helper, '/');
	ASSERT_NE(NULL, slash);
	snprintf(slash + 1, sizeof(helper) - (slash + 1 - helper),
		 "lm_compat32");
	if (access(helper, X_OK))
		SKIP(return, "lm_compat32 not built (no 32-bit x86 compiler)");

	dbg_write(self->src.bdf, "size", "8192");
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_PRE_COPY,
				  &fd));
	ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	ASSERT_EQ(0, pipe(out));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		dup2(out[1], 1);
		fcntl(fd, F_SETFD, 0);
		snprintf(arg, sizeof(arg), "%d", fd);
		execl(helper, "lm_compat32", arg, NULL);
		_exit(errno == ENOEXEC ? 126 : 127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	ASSERT_NE(NULL, f);
	fields = fscanf(f, "%d %d %llu %llu %d %d", &ret, &err, &initial,
			&dirty, &short_ret, &short_err);
	fclose(f);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(fd);
	ASSERT_EQ(0, vfio_mig_set(self->src.device, VFIO_DEVICE_STATE_RUNNING,
				  NULL));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 126)
		SKIP(return, "this kernel runs no 32-bit programs");
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(6, fields);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, err);
	EXPECT_EQ(info.initial_bytes, initial);
	EXPECT_EQ(info.dirty_bytes, dirty);
	EXPECT_EQ(-1, short_ret);
	EXPECT_EQ(EINVAL, short_err);
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
		"lm_op: %s p2p_quiesce ret=0",
		"lm_transition: %s running -> running_p2p ret=0",
		"lm_op: %s stop ret=0",
		"lm_transition: %s running_p2p -> stop ret=0",
		"lm_op: %s save_begin ret=0",
		"lm_transition: %s stop -> stop_copy ret=0",
		"lm_data: %s save offset=0 len=5000",
		"lm_op: %s save_end ret=0",
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

	/* every call, arc of the path, the data, and the way back */
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

/* vfio_pci's module reference count, or -1 */
static long vfio_pci_refcnt(void)
{
	char buf[32];

	if (read_file("/sys/module/vfio_pci/refcnt", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * A data fd outlives the device and vfio-pci itself: the core owns the
 * file, and the file pins its consumer's module (lm_file_ops.owner), so
 * vfio-pci cannot go while the fd is open and goes once it is closed.
 * Needs vfio-pci as a module.  The teardown runs in the parent, even after
 * a timeout: vfio-pci loaded and the functions bound, whatever happened.
 */
FIXTURE(module) {};

FIXTURE_SETUP(module)
{
	ASSERT_EQ(0, write_file(DBG "/registered", "1"));
}

FIXTURE_TEARDOWN_PARENT(module)
{
	static const char * const names[] = { "LM_SRC", "LM_DST", "LM_PLAIN" };
	unsigned int i;

	if (system("modprobe vfio-pci"))
		TH_LOG("modprobe vfio-pci failed");
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (env(names[i]))
			bind_vfio(env(names[i]));
}

TEST_F(module, data_fd_outlives_vfio_pci)
{
	const char *src = env("LM_SRC"), *dst = env("LM_DST");
	const char *plain = env("LM_PLAIN");
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	struct vfio_fn f;
	unsigned char byte;
	int fd, ret, err;

	if (access("/sys/module/vfio_pci/refcnt", F_OK))
		SKIP(return, "vfio-pci is not a module in this kernel");
	ASSERT_EQ(0, vfio_fn_open(&f, src));
	ASSERT_EQ(0, vfio_mig_set(f.device, VFIO_DEVICE_STATE_STOP_COPY, &fd));
	vfio_fn_close(&f);
	write_file("/sys/bus/pci/drivers/vfio-pci/unbind", src);
	write_file("/sys/bus/pci/drivers/vfio-pci/unbind", dst);
	if (plain)
		write_file("/sys/bus/pci/drivers/vfio-pci/unbind", plain);
	/* no device left: the data fd alone holds the module */
	EXPECT_EQ(1, vfio_pci_refcnt());
	ret = syscall(SYS_delete_module, "vfio_pci", O_NONBLOCK);
	err = errno;
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, err);
	/* the session ended with the device; vfio-pci's ioctl still answers */
	EXPECT_EQ(-1, read(fd, &byte, 1));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	EXPECT_EQ(0, vfio_pci_refcnt());
	EXPECT_EQ(0, syscall(SYS_delete_module, "vfio_pci", O_NONBLOCK));
	ASSERT_EQ(0, system("modprobe vfio-pci"));
	bind_vfio(src);
	bind_vfio(dst);
	ASSERT_EQ(0, vfio_fn_open(&f, src));
	EXPECT_LT(0, vfio_mig_flags(f.device));
	vfio_fn_close(&f);
}

#define SAMPLE "/sys/kernel/debug/lm_sample"

static unsigned long long sample_ticks(int fn)
{
	char path[64], buf[32] = "";

	snprintf(path, sizeof(path), SAMPLE "/fn%d/ticks", fn);
	if (read_file(path, buf, sizeof(buf)))
		return ~0ULL;
	return strtoull(buf, NULL, 0);
}

/*
 * samples/live_migration: the teaching driver does what it teaches.  Its
 * in-kernel user moves function 0's registers and counter to function 1,
 * which goes on counting from there while 0 stays stopped; the functions
 * show in sysfs as its; and the module unloads, its functions released.
 */
TEST(sample_driver)
{
	unsigned long long stopped_at, t;
	char buf[256], want[16];

	if (system("modprobe lm_sample"))
		SKIP(return, "no lm_sample module");
	ASSERT_EQ(0, write_file(SAMPLE "/fn0/regs", "3 deadbeef"));
	ASSERT_EQ(0, write_file(SAMPLE "/fn1/regs", "3 1"));
	usleep(100000);
	ASSERT_LT(0, sample_ticks(0));
	/* nonsense is refused */
	EXPECT_EQ(-EINVAL, write_file(SAMPLE "/migrate", "0 0"));
	EXPECT_EQ(-EINVAL, write_file(SAMPLE "/migrate", "0 2"));
	ASSERT_EQ(0, write_file(SAMPLE "/migrate", "0 1"));
	stopped_at = sample_ticks(0);
	t = sample_ticks(1);
	EXPECT_LE(stopped_at, t);
	ASSERT_EQ(0, read_file(SAMPLE "/fn1/regs", buf, sizeof(buf)));
	snprintf(want, sizeof(want), "%08x", 0xdeadbeef);
	EXPECT_EQ(0, strncmp(buf + 3 * 9, want, 8)) TH_LOG("regs: %s", buf);
	usleep(100000);
	EXPECT_EQ(stopped_at, sample_ticks(0));
	EXPECT_LT(t, sample_ticks(1));
	class_attr("lm-sample-fn.0", "state", buf, sizeof(buf));
	EXPECT_STREQ("stop", buf);
	class_attr("lm-sample-fn.1", "state", buf, sizeof(buf));
	EXPECT_STREQ("running", buf);
	class_attr("lm-sample-fn.1", "controller_name", buf, sizeof(buf));
	EXPECT_STREQ("lm_sample", buf);
	/* back the other way: a stopped function takes a state too */
	ASSERT_EQ(0, write_file(SAMPLE "/migrate", "1 0"));
	class_attr("lm-sample-fn.0", "state", buf, sizeof(buf));
	EXPECT_STREQ("running", buf);
	/* a stopped source is not the sample's to take: refused, untouched */
	EXPECT_EQ(-EBUSY, write_file(SAMPLE "/migrate", "1 0"));
	class_attr("lm-sample-fn.1", "state", buf, sizeof(buf));
	EXPECT_STREQ("stop", buf);
	EXPECT_EQ(0, system("rmmod lm_sample"));
	EXPECT_NE(0, access("/sys/class/live_migration/lm-sample-fn.0", F_OK));
}

TEST_HARNESS_MAIN
