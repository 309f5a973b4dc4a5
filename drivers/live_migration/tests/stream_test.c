// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the data files and the stream.  Round trips, every kind of bad
 * stream, the frozen wire format, PRE_COPY accounting, readers and writers
 * racing the session's end.
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <linux/crc32c.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/pci.h>
#include <linux/prandom.h>
#include <linux/sizes.h>
#include <linux/vmalloc.h>

#include "fake.h"

static const u8 compat_b[] = { 'f', 'a', 'k', 'e', 2 };

/* ---- streams ---- */

static const u64 roundtrip_sizes[] = {
	1, 4095, 4096, (1 << 20) - 1, (1 << 20) + 1, 3 * (1 << 20) + 5,
};

static const void *size_gen(const void *prev, char *desc)
{
	const u64 *p = prev ? (const u64 *)prev + 1 : roundtrip_sizes;

	if (p >= roundtrip_sizes + ARRAY_SIZE(roundtrip_sizes))
		return NULL;
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%llu bytes", *p);
	return p;
}

/*
 * The records checked against the format's definition, apart from the
 * core: every DATA record holds 1 to 256 KiB and the crc32c of the payload
 * from the first byte to its end; END has the length and crc of it all.
 */
static void expect_format_crc(struct kunit *test, const u8 *buf, size_t len)
{
	const struct lm_stream_record *rec;
	size_t off = sizeof(struct lm_stream_header);
	u64 total = 0;
	u32 crc = ~0U;

	for (;;) {
		u64 n;

		KUNIT_ASSERT_LE(test, off + sizeof(*rec), len);
		rec = (const void *)(buf + off);
		off += sizeof(*rec);
		n = le64_to_cpu(rec->len);
		if (le32_to_cpu(rec->type) == LM_REC_END)
			break;
		KUNIT_ASSERT_LE(test, off + n, len);
		KUNIT_EXPECT_GT(test, n, 0ULL);
		KUNIT_EXPECT_LE(test, n, 256ULL * 1024);
		crc = crc32c(crc, buf + off, n);
		KUNIT_EXPECT_EQ(test, le32_to_cpu(rec->payload_crc), crc);
		total += n;
		off += n;
	}
	KUNIT_EXPECT_EQ(test, off, len);
	KUNIT_EXPECT_EQ(test, le64_to_cpu(rec->len), total);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(rec->payload_crc), crc);
}

static void lm_test_roundtrip(struct kunit *test)
{
	u64 size = *(const u64 *)test->param_value;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file = NULL;
	enum lm_state got;
	struct saved s;
	u32 caps;

	/* with and without PRE_COPY, copied out by save_read or from a buffer */
	for (caps = 0; caps < 4; caps++) {
		u32 c = LM_CAP_STOP_COPY | (caps & 1 ? LM_CAP_PRE_COPY : 0);

		src = lm_kt_ctx_add(ctx, c, size, &fs);
		dst = lm_kt_ctx_add(ctx, c, size, &fd);
		if (caps & 2 && size)
			lm_fake_use_buffer(test, fs);
		s = lm_kt_save_stream(test, src, fs, size > 8192 ? 65536 + 3 : 777);
		KUNIT_EXPECT_EQ(test, src->stats.bytes_saved, size);
		expect_format_crc(test, s.buf, s.len);
		/* the closed file dropped the core's references */
		if (fs->mem)
			KUNIT_EXPECT_EQ(test, kref_read(&fs->mem->ref), 1);

		KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL,
						   &file), 0);
		KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING,
						   NULL, &file), 0);
		KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, s.buf, s.len,
						      size > 8192 ? 100000 : 333),
				(ssize_t)s.len);
		KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_RUNNING, NULL,
						   &file), 0);
		KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
		KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
		KUNIT_EXPECT_EQ(test, fd->loaded, size);
		KUNIT_EXPECT_FALSE(test, fd->load_bad);
		KUNIT_EXPECT_EQ(test, dst->stats.bytes_loaded, size);
		lm_kt_fput_now(file);
	}
}

/*
 * Random damage, from a fixed seed: a stream changed in any way, one bit
 * flipped, cut short or with bytes inserted, and written in pieces of any
 * size, never reaches the driver's load and leaves the function in
 * RESUMING; the intact stream, in the same random pieces, always loads.
 */
static void lm_test_stream_damage(struct kunit *test)
{
	const u32 caps = LM_CAP_STOP_COPY | LM_CAP_PRE_COPY;
	const size_t size = 20000;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	int i, accepted = 0, rejected = 0;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct rnd_state rnd;
	struct saved s;
	u8 *buf;

	prandom_seed_state(&rnd, 0x6c6d5f74);
	src = lm_kt_ctx_add(ctx, caps, size, &fs);
	dst = lm_kt_ctx_add(ctx, caps, size, &fd);
	s = lm_kt_save_stream(test, src, fs, 4096);
	buf = kunit_kzalloc(test, s.len + 8, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);

	for (i = 0; i < 400; i++) {
		u32 r = prandom_u32_state(&rnd);
		size_t pos = prandom_u32_state(&rnd) % s.len, len = s.len;
		size_t step = 1 + prandom_u32_state(&rnd) % 5000;
		struct file *file = NULL, *none;
		bool damaged = true;
		enum lm_state got;
		int ret;

		memcpy(buf, s.buf, s.len);
		switch (r % 4) {
		case 0:
			buf[pos] ^= BIT((r >> 8) & 7);
			break;
		case 1:
			len = pos;
			break;
		case 2:
			memmove(buf + pos + 8, buf + pos, s.len - pos);
			memset(buf + pos, r >> 16, 8);
			len = s.len + 8;
			break;
		default:
			damaged = false;
		}
		fd->loads = 0;
		fd->loaded = 0;
		fd->load_bad = false;
		KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
						   &file), 0);
		lm_kt_write_all(file, buf, len, step);	/* may fail: bad stream */
		ret = lm_set_state(dst, LM_STATE_RUNNING, NULL, &none);
		KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
		if (damaged) {
			KUNIT_EXPECT_NE_MSG(test, ret, 0,
					    "damage %u at %zu of %zu accepted",
					    r % 4, pos, s.len);
			KUNIT_EXPECT_EQ(test, fd->loads, 0);
			KUNIT_EXPECT_EQ(test, got, LM_STATE_RESUMING);
			KUNIT_EXPECT_EQ(test, lm_function_reset(dst), 0);
			rejected++;
		} else {
			KUNIT_EXPECT_EQ(test, ret, 0);
			KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
			KUNIT_EXPECT_EQ(test, fd->loaded, size);
			KUNIT_EXPECT_FALSE(test, fd->load_bad);
			accepted++;
		}
		lm_kt_fput_now(file);
	}
	KUNIT_EXPECT_GT(test, accepted, 50);
	KUNIT_EXPECT_GT(test, rejected, 200);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

enum bad_kind {
	BAD_MAGIC, BAD_VERSION, BAD_HDR_CRC, BAD_COMPAT, BAD_TRUNCATED,
	BAD_PAYLOAD, BAD_OVERSIZED, BAD_TRAILING, BAD_RECORD, BAD_FLAGS,
	BAD_NR
};

static const struct {
	const char *name;
	int write_err;		/* error of the write, 0 if it is accepted */
	int stop_err;		/* error of RESUMING -> STOP */
} bad_cases[BAD_NR] = {
	[BAD_MAGIC] = { "wrong magic", -EPROTO, -EPROTO },
	[BAD_VERSION] = { "wrong version", -EPROTONOSUPPORT,
			  -EPROTONOSUPPORT },
	[BAD_HDR_CRC] = { "corrupt header", -EBADMSG, -EBADMSG },
	[BAD_COMPAT] = { "incompatible", -EXDEV, -EXDEV },
	[BAD_TRUNCATED] = { "truncated", 0, -ENODATA },
	[BAD_PAYLOAD] = { "corrupt payload", -EBADMSG, -EBADMSG },
	[BAD_OVERSIZED] = { "oversized", -EFBIG, -EFBIG },
	[BAD_TRAILING] = { "data after end", -EBADMSG, -EBADMSG },
	[BAD_RECORD] = { "corrupt record", -EBADMSG, -EBADMSG },
	[BAD_FLAGS] = { "unknown flags", -EPROTONOSUPPORT, -EPROTONOSUPPORT },
};

static const void *bad_gen(const void *prev, char *desc)
{
	static const int kinds[BAD_NR] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	const int *p = prev ? (const int *)prev + 1 : kinds;

	if (p >= kinds + BAD_NR)
		return NULL;
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s", bad_cases[*p].name);
	return p;
}

static void fix_header_crc(u8 *buf)
{
	struct lm_stream_header *hdr = (void *)buf;

	hdr->hdr_crc = cpu_to_le32(lm_crc(~0U, hdr,
					  offsetof(struct lm_stream_header,
						   hdr_crc)));
}

static void lm_test_bad_stream(struct kunit *test)
{
	int kind = *(const int *)test->param_value;
	const size_t size = 10000, hlen = sizeof(struct lm_stream_header);
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_stream_header *hdr;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file = NULL, *tmp;
	size_t len, dst_max = size;
	struct lm_function_info info = {};
	enum lm_state got;
	struct saved s;
	u8 *buf;
	ssize_t ret;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	s = lm_kt_save_stream(test, src, fs, 4096);
	buf = kunit_kzalloc(test, s.len + 64, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	memcpy(buf, s.buf, s.len);
	len = s.len;
	hdr = (void *)buf;

	switch (kind) {
	case BAD_MAGIC:
		buf[0] ^= 0xff;
		break;
	case BAD_VERSION:
		hdr->version = cpu_to_le16(LM_STREAM_VERSION + 1);
		fix_header_crc(buf);
		break;
	case BAD_HDR_CRC:
		hdr->compat[0] ^= 1;
		break;
	case BAD_COMPAT:
		memcpy(hdr->compat, compat_b, sizeof(compat_b));
		fix_header_crc(buf);
		break;
	case BAD_TRUNCATED:
		len -= 1;
		break;
	case BAD_PAYLOAD:
		buf[hlen + sizeof(struct lm_stream_record) + 5000] ^= 0x40;
		break;
	case BAD_OVERSIZED:
		dst_max = size - 1;
		break;
	case BAD_TRAILING:
		len += 1;
		break;
	case BAD_RECORD:
		buf[hlen + 8] ^= 1;	/* DATA record length */
		break;
	case BAD_FLAGS:
		hdr->flags = cpu_to_le32(1);
		fix_header_crc(buf);
		break;
	}

	fd = kunit_kzalloc(test, sizeof(*fd), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fd);
	fd->seed = fs->seed;
	fd->state_len = size;
	info.drvdata = fd;
	info.caps = LM_CAP_STOP_COPY;
	info.max_state_size = dst_max;
	info.compat = lm_fake_compat_a;
	info.compat_len = sizeof(lm_fake_compat_a);
	dst = lm_function_add(&ctx->ctrl,
			      kunit_device_register(test, "lm-test-dst"),
			      &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dst);

	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	fd->ncalls = 0;
	fd->calls[0] = 0;
	ret = lm_kt_write_all(file, buf, len, 3000);
	if (bad_cases[kind].write_err)
		KUNIT_EXPECT_EQ(test, ret, (ssize_t)bad_cases[kind].write_err);
	else
		KUNIT_EXPECT_EQ(test, ret, (ssize_t)len);
	/* a broken stream stays broken */
	if (bad_cases[kind].write_err)
		KUNIT_EXPECT_EQ(test, kernel_write(file, buf, 1, &(loff_t){0}),
				(ssize_t)bad_cases[kind].write_err);

	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &tmp),
			bad_cases[kind].stop_err);
	KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RESUMING);
	KUNIT_EXPECT_EQ(test, fd->loads, 0);
	KUNIT_EXPECT_EQ(test, fd->ncalls, 0);

	KUNIT_EXPECT_EQ(test, lm_function_reset(dst), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, 1, &(loff_t){0}),
			(ssize_t)-ENODEV);
	lm_kt_fput_now(file);
}

static unsigned int lm_test_ioctl_cmd;

static long lm_test_file_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	u64 init, dirty;

	lm_test_ioctl_cmd = cmd;
	return lm_file_precopy_info(file, &init, &dirty);
}

static const struct lm_file_ops lm_test_fops = {
	.owner = THIS_MODULE,
	.ioctl = lm_test_file_ioctl,
};

static void lm_test_file_misuse(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *save = NULL, *resume = NULL;
	struct lm_function *a, *b;
	struct fake_fn *fa, *fb;
	u64 init, dirty;
	u8 byte = 0;

	a = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 100, &fa);
	b = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 100, &fb);
	KUNIT_ASSERT_EQ(test, lm_set_state(a, LM_STATE_STOP_COPY,
					   &lm_test_fops, &save), 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(b, LM_STATE_RESUMING, NULL,
					   &resume), 0);
	/* ioctls reach the consumer's handler; without one, -ENOTTY */
	lm_test_ioctl_cmd = 0;
	KUNIT_EXPECT_EQ(test, save->f_op->unlocked_ioctl(save, 0x1234, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, lm_test_ioctl_cmd, 0x1234);
	KUNIT_EXPECT_EQ(test, resume->f_op->unlocked_ioctl(resume, 0x1234, 0),
			-ENOTTY);
	KUNIT_EXPECT_EQ(test, lm_file_precopy_info(resume, &init, &dirty),
			-EINVAL);
	/* PRECOPY_INFO outside PRE_COPY */
	KUNIT_EXPECT_EQ(test, lm_file_precopy_info(save, &init, &dirty),
			-EINVAL);
	/* a stale file after its session ended */
	KUNIT_ASSERT_EQ(test, lm_set_state(a, LM_STATE_STOP, NULL,
					   &(struct file *){ NULL }), 0);
	KUNIT_EXPECT_EQ(test, kernel_read(save, &byte, 1, &(loff_t){0}),
			(ssize_t)-ENODEV);
	KUNIT_EXPECT_EQ(test, save->f_op->unlocked_ioctl(save, 0x1234, 0),
			-ENODEV);
	lm_kt_fput_now(save);
	lm_kt_fput_now(resume);
}

static void lm_test_precopy_info(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct file *file = NULL;
	struct fake_fn *f;
	const size_t hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	u64 init, dirty, size;
	u8 *buf;
	ssize_t n;
	loff_t pos = 0;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 3000, &f);
	f->precopy_step = 1000;
	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, lm_get_data_size(fn, &size), 0);
	KUNIT_EXPECT_EQ(test, size, 3000 + hdr + 2 * rec);

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_PRE_COPY, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_file_precopy_info(file, &init, &dirty), 0);
	KUNIT_EXPECT_EQ(test, init, 1000 + hdr + rec);
	KUNIT_EXPECT_EQ(test, dirty, 2000);
	n = kernel_read(file, buf, 8192, &pos);
	KUNIT_EXPECT_EQ(test, n, (ssize_t)(1000 + hdr + rec));
	/* temporary end of stream */
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 8192, &pos),
			(ssize_t)-ENOMSG);
	KUNIT_ASSERT_EQ(test, lm_file_precopy_info(file, &init, &dirty), 0);
	KUNIT_EXPECT_EQ(test, init, 0);
	/* the second segment with its record, and the last 1000 to come */
	KUNIT_EXPECT_EQ(test, dirty, rec + 1000 + 1000);
	n = kernel_read(file, buf, 100, &pos);
	KUNIT_EXPECT_EQ(test, n, 100);
	KUNIT_ASSERT_EQ(test, lm_file_precopy_info(file, &init, &dirty), 0);
	KUNIT_EXPECT_EQ(test, dirty, rec + 1000 + 1000 - 100);
	KUNIT_EXPECT_EQ(test, f->open_saves, 2);

	/* the rest comes in STOP_COPY on the same file */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &(struct file *){ NULL }), 0);
	KUNIT_EXPECT_EQ(test, lm_file_precopy_info(file, &init, &dirty),
			-EINVAL);
	n = lm_kt_read_all(file, buf, 8192, 512);
	/* what PRE_COPY left, then the final segment and the end */
	KUNIT_EXPECT_EQ(test, n, (ssize_t)(1000 - (100 - rec) + rec + 1000 +
					   rec));
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 1, &pos), 0);
	lm_kt_fput_now(file);
	/* closing the file ended the session for the driver */
	KUNIT_EXPECT_EQ(test, f->open_saves, 0);
}

struct file_reader {
	struct file *file;
	struct completion done;
	size_t bytes;
	int calls;
	int err;
};

/* Reads in small steps until the end, an error or ENODEV. */
static int file_reader_fn(void *data)
{
	struct file_reader *r = data;
	u8 buf[512];

	for (;;) {
		ssize_t n = kernel_read(r->file, buf, sizeof(buf),
					&(loff_t){0});

		if (n <= 0) {
			r->err = n;
			break;
		}
		r->bytes += n;
		r->calls++;
		cond_resched();
	}
	complete(&r->done);
	return 0;
}

/*
 * Two readers share one saving file (on SMP at once): together they read
 * the whole stream once, no byte twice, and neither fails.
 */
static void lm_test_two_readers(struct kunit *test)
{
	const size_t size = 2 << 20;
	/* eight DATA records of 256 KiB and the END record */
	const size_t framing = sizeof(struct lm_stream_header) +
			       9 * sizeof(struct lm_stream_record);
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file_reader r[2] = {};
	struct lm_function *fn;
	struct file *file;
	struct fake_fn *f;
	u64 estimate;
	int i;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &f);
	KUNIT_ASSERT_EQ(test, lm_get_data_size(fn, &estimate), 0);
	KUNIT_EXPECT_EQ(test, estimate, size + framing);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		r[i].file = file;
		init_completion(&r[i].done);
		KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(file_reader_fn,
							    &r[i],
							    "lm-reader-%d",
							    i)));
	}
	for (i = 0; i < ARRAY_SIZE(r); i++) {
		KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&r[i].done,
								  30 * HZ),
				0UL);
		KUNIT_EXPECT_EQ(test, r[i].err, 0);
	}
	KUNIT_EXPECT_EQ(test, r[0].bytes + r[1].bytes, size + framing);
	kunit_info(test, "reads: %d and %d\n", r[0].calls, r[1].calls);
	lm_kt_fput_now(file);
}

/*
 * A reader streams while resets end its session again and again: it ends
 * with -ENODEV at some read, never with anything else, and every session
 * frees what it held.
 */
static void lm_test_read_vs_reset(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	int round, ended = 0;
	struct lm_function *fn;
	struct fake_fn *f;
	long mem;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 4 << 20, &f);
	flush_delayed_fput();
	mem = atomic_long_read(&lm_file_mem);
	for (round = 0; round < 10; round++) {
		struct file_reader r = {};
		struct file *file;

		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
						   &file), 0);
		r.file = file;
		init_completion(&r.done);
		KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(file_reader_fn, &r,
							    "lm-reader")));
		usleep_range(100, 1000 * (round + 1));
		KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
		KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&r.done,
								  30 * HZ),
				0UL);
		/* the whole stream if it was quicker than the reset */
		KUNIT_EXPECT_TRUE(test, r.err == -ENODEV || r.err == 0);
		ended += r.err == -ENODEV;
		lm_kt_fput_now(file);
		KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), mem);
	}
	kunit_info(test, "%d of 10 sessions ended under the reader\n", ended);
	KUNIT_EXPECT_GT(test, ended, 0);
}

/*
 * Copied segments and segments in a buffer in one stream, written back in
 * steps that cut records anywhere: every record is framed as the format
 * says and the stream loads.
 */
static void lm_test_records_mixed(struct kunit *test)
{
	const u32 caps = LM_CAP_STOP_COPY | LM_CAP_PRE_COPY;
	const size_t size = (2 << 20) + 3, cap = size + 4096;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file = NULL, *none;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	size_t len = 0, off;
	loff_t pos = 0;
	int i = 0;
	ssize_t n;
	u8 *buf;

	buf = vmalloc(cap);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, lm_kt_free_saved, buf),
			0);
	src = lm_kt_ctx_add(ctx, caps, size, &fs);
	dst = lm_kt_ctx_add(ctx, caps, size, &fd);
	lm_fake_use_buffer(test, fs);
	fs->buf_min = 64 * 1024;
	fs->precopy_step = 5000;

	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_PRE_COPY, NULL,
					   &file), 0);
	n = kernel_read(file, buf, cap, &pos);
	KUNIT_ASSERT_GT(test, n, 5000);
	len = n;
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &none), 0);
	n = lm_kt_read_all(file, buf + len, cap - len, 100000);
	KUNIT_ASSERT_GT(test, n, 0);
	len += n;
	lm_kt_fput_now(file);
	expect_format_crc(test, buf, len);

	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	for (off = 0; off < len; ) {
		size_t step = min(len - off, i++ % 2 ? (size_t)1000 : 300000);

		KUNIT_ASSERT_EQ(test, kernel_write(file, buf + off, step,
						   &pos), (ssize_t)step);
		off += step;
	}
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_RUNNING, NULL,
					   &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, size);
	KUNIT_EXPECT_FALSE(test, fd->load_bad);
	lm_kt_fput_now(file);
}

/*
 * A flipped bit fails the write that completes its record, before the rest
 * of the stream is sent; two whole records swapped (each one intact) fail
 * too, as each record's crc runs from the first payload byte.
 */
static void lm_test_record_crc(struct kunit *test)
{
	const size_t size = 3 * 256 * 1024, hlen = sizeof(struct lm_stream_header);
	const size_t rlen = sizeof(struct lm_stream_record);
	const size_t one = rlen + 256 * 1024;	/* a record and its payload */
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	enum lm_state got;
	struct saved s;
	u8 *buf;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = lm_kt_save_stream(test, src, fs, 65536);
	KUNIT_ASSERT_EQ(test, s.len, hlen + 3 * one + rlen);
	buf = vmalloc(s.len);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, lm_kt_free_saved, buf),
			0);

	/* bit 3 of the first record's last payload byte */
	memcpy(buf, s.buf, s.len);
	buf[hlen + one - 1] ^= 8;
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, hlen + one - 1,
					   &(loff_t){0}),
			(ssize_t)(hlen + one - 1));
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf + hlen + one - 1, 1,
					   &(loff_t){0}), (ssize_t)-EBADMSG);
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none),
			-EBADMSG);
	KUNIT_EXPECT_EQ(test, fd->loads, 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(dst), 0);
	lm_kt_fput_now(file);

	/* records 1 and 2 swapped: the second record in place fails */
	memcpy(buf, s.buf, s.len);
	KUNIT_ASSERT_NE(test, memcmp(buf + hlen + one + rlen,
				     buf + hlen + 2 * one + rlen, 256 * 1024), 0);
	memcpy(buf + hlen + one, s.buf + hlen + 2 * one, one);
	memcpy(buf + hlen + 2 * one, s.buf + hlen + one, one);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, lm_kt_write_all(file, buf, s.len, one),
			(ssize_t)-EBADMSG);
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none),
			-EBADMSG);
	KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RESUMING);
	KUNIT_EXPECT_EQ(test, fd->loads, 0);
	lm_kt_fput_now(file);
}

/*
 * The wire format, frozen: the stream of the fake's 16 bytes (seed 7,
 * compatibility descriptor "fake\1"), written out byte by byte from the
 * format's description (Documentation/driver-api/live_migration.rst) with
 * crc32c computed apart from the kernel, bit by bit.  A change that breaks
 * streams between kernel versions fails here, even if saving and loading
 * were changed alike.
 */
static const u8 lm_ref_stream[232] = {
	/* header: magic "LLIMSTRM", version 4, compat_len 5, flags 0 */
	0x4c, 0x4c, 0x49, 0x4d, 0x53, 0x54, 0x52, 0x4d,
	0x04, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
	/* compat[128], then reserved and the crc32c of all before it */
	0x66, 0x61, 0x6b, 0x65, 0x01,
	[144] = 0x00, 0x00, 0x00, 0x00, 0xd4, 0x2b, 0x37, 0x6c,
	/* DATA: type 1, payload crc32c, len 16, reserved, crc32c */
	0x01, 0x00, 0x00, 0x00, 0xed, 0x93, 0x3b, 0xa6,
	0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x49, 0x01, 0x29, 0xf9,
	/* payload */
	0x95, 0x9c, 0xa3, 0xaa, 0xb1, 0xb8, 0xbf, 0xc6,
	0xcd, 0xd4, 0xdb, 0xe2, 0xe9, 0xf0, 0xf7, 0xfe,
	/* END: type 2, the same payload crc32c, len 16, reserved, crc32c */
	0x02, 0x00, 0x00, 0x00, 0xed, 0x93, 0x3b, 0xa6,
	0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xe4, 0xea, 0xfb, 0x1a,
};

static void lm_test_wire_format(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	u8 *buf;
	int i;

	buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &fd);
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_ASSERT_EQ(test, lm_kt_read_all(file, buf, 512, 512),
			(ssize_t)sizeof(lm_ref_stream));
	lm_kt_fput_now(file);
	for (i = 0; i < sizeof(lm_ref_stream); i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], lm_ref_stream[i],
				    "byte %d", i);

	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, lm_ref_stream,
					      sizeof(lm_ref_stream), 7),
			(ssize_t)sizeof(lm_ref_stream));
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, 16ULL);
	KUNIT_EXPECT_FALSE(test, fd->load_bad);
	lm_kt_fput_now(file);
}

/*
 * The driver fails while read() streams: in STOP_COPY (save_read), and in
 * the final save that PRE_COPY -> STOP_COPY defers to the next read().
 * read() returns the driver's error, the function is in ERROR, the
 * driver's session is over.
 */
static void lm_test_save_fails_in_read(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct file *file, *none;
	struct fake_fn *f;
	enum lm_state st;
	u8 *buf;
	ssize_t n;

	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 3000, &f);

	/* save_read is the first primitive counted after save_begin */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	f->fail_nth = 1;
	f->counted = 0;
	f->fail_err = -EREMOTEIO;
	n = lm_kt_read_all(file, buf, 8192, 8192);
	/* the header and record went out before the payload failed */
	KUNIT_EXPECT_EQ(test, n, (ssize_t)-EREMOTEIO);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 1, &(loff_t){0}),
			(ssize_t)-EREMOTEIO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, f->open_saves, 0);
	lm_kt_fput_now(file);
	f->fail_nth = 0;
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* PRE_COPY read out, STOP_COPY: the final save_begin fails in read */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_PRE_COPY, NULL, &file),
			0);
	KUNIT_ASSERT_GT(test, kernel_read(file, buf, 8192, &(loff_t){0}), 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL, &none),
			0);
	f->fail_nth = 1;
	f->counted = 0;
	f->fail_err = -EIO;
	do {
		n = kernel_read(file, buf, 8192, &(loff_t){0});
	} while (n > 0);
	KUNIT_EXPECT_EQ(test, n, (ssize_t)-EIO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, f->open_saves, 0);
	lm_kt_fput_now(file);
	f->fail_nth = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
}

/*
 * PRE_COPY's temporary end stays an end until PRECOPY_INFO asks for more;
 * in PRE_COPY_P2P the same rules hold.
 */
static void lm_test_precopy_enomsg_rules(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct file *file;
	struct fake_fn *f;
	u64 init, dirty;
	loff_t pos = 0;
	u8 *buf;

	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 3000, &f);
	f->precopy_step = 1000;
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_PRE_COPY_P2P, NULL,
					   &file), 0);
	KUNIT_ASSERT_GT(test, kernel_read(file, buf, 8192, &pos), 0);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 8192, &pos),
			(ssize_t)-ENOMSG);
	/* again, with no PRECOPY_INFO between: still the end, no new segment */
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 8192, &pos),
			(ssize_t)-ENOMSG);
	KUNIT_EXPECT_EQ(test, f->open_saves, 1);
	KUNIT_ASSERT_EQ(test, lm_file_precopy_info(file, &init, &dirty), 0);
	KUNIT_EXPECT_EQ(test, init, 0);
	KUNIT_EXPECT_GT(test, dirty, 0);
	KUNIT_EXPECT_EQ(test, f->open_saves, 2);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 8192, &pos),
			(ssize_t)(sizeof(struct lm_stream_record) + 1000));
	lm_kt_fput_now(file);
}

/* MIG_DATA_SIZE in every state it can be asked in: the framed state. */
static void lm_test_data_size_states(struct kunit *test)
{
	static const enum lm_state states[] = {
		LM_STATE_RUNNING, LM_STATE_PRE_COPY, LM_STATE_STOP,
		LM_STATE_STOP_COPY, LM_STATE_RESUMING,
	};
	const u64 framing = sizeof(struct lm_stream_header) +
			    2 * sizeof(struct lm_stream_record);
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i;

	fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 5000, &f);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		struct file *file = NULL;
		u64 size = 0;

		KUNIT_ASSERT_EQ(test, lm_set_state(fn, states[i], NULL, &file),
				0);
		KUNIT_EXPECT_EQ(test, lm_get_data_size(fn, &size), 0);
		KUNIT_EXPECT_EQ_MSG(test, size, 5000 + framing, "in %s",
				    lm_state_name(states[i]));
		lm_kt_fput_now(file);
		KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	}
}

/*
 * Bytes after the END record, and writes after the session ended, are
 * refused; what was loaded stays loaded.
 */
static void lm_test_write_after_end(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct file *file, *none;
	struct fake_fn *f;
	enum lm_state st;
	size_t len;
	u8 buf[512];

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 64, &f);
	len = lm_kt_small_stream(fn, f->seed, 16, buf);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, buf, len, len), (ssize_t)len);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, 1, &(loff_t){0}),
			(ssize_t)-EBADMSG);
	/* the stream is broken for good: RESUMING -> STOP refuses it */
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none),
			-EBADMSG);
	KUNIT_EXPECT_EQ(test, f->loads, 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_RESUMING);
	lm_kt_fput_now(file);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, buf, len, 5), (ssize_t)len);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, f->loaded, 16ULL);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, len, &(loff_t){0}),
			(ssize_t)-ENODEV);
	KUNIT_EXPECT_EQ(test, f->loaded, 16ULL);
	lm_kt_fput_now(file);
}

static struct kunit_case lm_stream_cases[] = {
	KUNIT_CASE_PARAM(lm_test_roundtrip, size_gen),
	KUNIT_CASE_PARAM(lm_test_bad_stream, bad_gen),
	KUNIT_CASE(lm_test_stream_damage),
	KUNIT_CASE(lm_test_wire_format),
	KUNIT_CASE(lm_test_records_mixed),
	KUNIT_CASE(lm_test_record_crc),
	KUNIT_CASE(lm_test_file_misuse),
	KUNIT_CASE(lm_test_precopy_info),
	KUNIT_CASE(lm_test_save_fails_in_read),
	KUNIT_CASE(lm_test_precopy_enomsg_rules),
	KUNIT_CASE(lm_test_data_size_states),
	KUNIT_CASE(lm_test_write_after_end),
	KUNIT_CASE(lm_test_two_readers),
	KUNIT_CASE(lm_test_read_vs_reset),
	{}
};

static struct kunit_suite lm_stream_suite = {
	.name = "live_migration_stream",
	.test_cases = lm_stream_cases,
};

kunit_test_suite(lm_stream_suite);
