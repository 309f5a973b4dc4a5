// SPDX-License-Identifier: GPL-2.0
/*
 * A fake controlling driver for the KUnit suites of the live migration
 * core: it records every primitive it is asked for as a letter, fails the
 * N-th on demand, and produces a state whose every byte it can check.  With
 * it, the fixtures the suites share.
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

/* No period of a power of two up to 64 KiB: two DATA records differ. */
static u8 lm_fake_byte(u32 seed, u64 off)
{
	return (u8)(seed * 131 + off * 7 + (off >> 9) + (off >> 17));
}

/* Records op letter c; returns the injected error when it is due. */
int lm_fake_call(struct fake_fn *f, char c)
{
	if (f->ncalls < FAKE_MAX_CALLS)
		f->calls[f->ncalls++] = c;
	f->calls[f->ncalls] = 0;
	if (f->fail_nth && ++f->counted == f->fail_nth)
		return f->fail_err;
	return 0;
}

struct fake_fn *lm_fake(struct lm_function *fn)
{
	return lm_function_drvdata(fn);
}

int lm_fake_stop(struct lm_function *fn)
{
	int ret = lm_fake_call(lm_fake(fn), 'S');

	if (!ret)
		lm_fake(fn)->stopped = true;
	return ret;
}

int lm_fake_restart(struct lm_function *fn)
{
	int ret = lm_fake_call(lm_fake(fn), 'R');

	if (!ret)
		lm_fake(fn)->stopped = false;
	return ret;
}

int lm_fake_quiesce(struct lm_function *fn)
{
	return lm_fake_call(lm_fake(fn), 'Q');
}

static int lm_fake_p2p_resume(struct lm_function *fn)
{
	return lm_fake_call(lm_fake(fn), 'U');
}

int lm_fake_save_begin(struct lm_function *fn, enum lm_save_phase phase,
		       struct lm_segment *seg)
{
	struct fake_fn *f = lm_fake(fn);
	int ret = lm_fake_call(f, phase == LM_SAVE_FINAL ? 'F' : 'B');

	if (ret)
		return ret;
	if (phase == LM_SAVE_FINAL && !f->stopped)
		return -EINVAL;	/* the core must stop us first */
	if (!f->open_saves++)
		f->produced = 0;
	f->seg_start = f->produced;
	if (phase == LM_SAVE_FINAL)
		seg->len = f->state_len - f->produced;
	else
		seg->len = min(f->precopy_step, f->state_len - f->produced);
	f->produced += seg->len;
	seg->dirty = f->state_len - f->produced;
	if (f->use_buf && seg->len && seg->len >= f->buf_min) {
		lm_buffer_get(f->mem);
		seg->buf = f->mem;
		seg->offset = f->seg_start + f->buf_skew;
	}
	return 0;
}

static int lm_fake_save_read(struct lm_function *fn, void *buf, size_t len,
			     u64 offset)
{
	struct fake_fn *f = lm_fake(fn);
	u8 *p = buf;
	size_t i;

	/* not recorded: too many; but failures can be injected */
	if (f->fail_nth && ++f->counted == f->fail_nth)
		return f->fail_err;
	if (f->underfill)
		return 0;
	for (i = 0; i < len; i++)
		p[i] = lm_fake_byte(f->seed, f->seg_start + offset + i);
	return 0;
}

static void lm_fake_save_end(struct lm_function *fn)
{
	struct fake_fn *f = lm_fake(fn);

	/* recorded, but it cannot fail, so it does not count for fail_nth */
	if (f->ncalls < FAKE_MAX_CALLS)
		f->calls[f->ncalls++] = 'E';
	f->calls[f->ncalls] = 0;
	f->open_saves = 0;
}

static int lm_fake_load(struct lm_function *fn, const void *buf, size_t len,
			u64 offset, u64 total)
{
	struct fake_fn *f = lm_fake(fn);
	const u8 *p = buf;
	size_t i;
	int ret;

	if (!offset) {
		ret = lm_fake_call(f, 'L');
		if (ret)
			return ret;
		f->loaded = 0;
		f->load_bad = false;
	}
	f->loads++;
	if (offset != f->loaded)
		f->load_bad = true;
	for (i = 0; i < len; i++)
		if (p[i] != lm_fake_byte(f->seed, offset + i))
			f->load_bad = true;
	f->loaded += len;
	return 0;
}

int lm_fake_state_size(struct lm_function *fn, u64 *len)
{
	*len = lm_fake(fn)->state_len;
	return 0;
}

static int lm_fake_reset(struct lm_function *fn)
{
	struct fake_fn *f = lm_fake(fn);

	f->stopped = false;
	f->open_saves = 0;
	return lm_fake_call(f, 'Z');
}

int lm_fake_log_start(struct lm_function *fn,
		      const struct lm_log_range *ranges, unsigned int nr,
		      u64 *page_size)
{
	struct fake_fn *f = lm_fake(fn);

	if (f->log_granted)
		*page_size = f->log_granted;
	f->dirty_iova = ranges[0].iova + *page_size;
	return lm_fake_call(lm_fake(fn), 'D');
}

int lm_fake_log_stop(struct lm_function *fn)
{
	return lm_fake_call(lm_fake(fn), 'd');
}

static int lm_fake_log_report(struct lm_function *fn, unsigned long iova,
			      unsigned long length, lm_dirty_fn fn_dirty,
			      void *opaque)
{
	struct fake_fn *f = lm_fake(fn);
	unsigned long d = f->dirty_iova;
	int i;

	if (f->nrep) {
		/* as a device might: ranges given whatever was asked */
		for (i = 0; i < f->nrep; i++)
			fn_dirty(opaque, f->rep_iova[i], f->rep_len[i]);
		return 0;
	}
	if (d >= iova && d < iova + length)
		fn_dirty(opaque, d, 4096);
	return 0;
}

const u8 lm_fake_compat_a[5] = { 'f', 'a', 'k', 'e', 1 };

/* As the core judges without it, unless told to fail. */
static int lm_fake_compat_check(struct lm_function *fn, const u8 *remote,
				size_t len)
{
	if (lm_fake(fn)->compat_err)
		return lm_fake(fn)->compat_err;
	if (len != sizeof(lm_fake_compat_a) ||
	    memcmp(remote, lm_fake_compat_a, len))
		return -EXDEV;
	return 0;
}

/* The claim's descriptor, unless told otherwise. */
static int lm_fake_describe(struct lm_function *fn, u8 *buf, u16 *len)
{
	struct fake_fn *f = lm_fake(fn);

	if (f->describe_err)
		return f->describe_err;
	if (*len < sizeof(lm_fake_compat_a))
		return -ENOSPC;
	memcpy(buf, lm_fake_compat_a, sizeof(lm_fake_compat_a));
	buf[sizeof(lm_fake_compat_a) - 1] ^= f->describe_flip;
	*len = f->describe_len ?: sizeof(lm_fake_compat_a);
	return 0;
}

static const struct lm_migration_ops lm_fake_mig_ops = {
	.stop = lm_fake_stop,
	.restart = lm_fake_restart,
	.save_begin = lm_fake_save_begin,
	.save_read = lm_fake_save_read,
	.save_end = lm_fake_save_end,
	.load = lm_fake_load,
	.state_size = lm_fake_state_size,
	.reset = lm_fake_reset,
	.compat_check = lm_fake_compat_check,
	.describe = lm_fake_describe,
};

const struct lm_p2p_ops lm_fake_p2p_ops = {
	.quiesce = lm_fake_quiesce,
	.resume = lm_fake_p2p_resume,
};

static const struct lm_log_ops lm_fake_log_ops = {
	.log_start = lm_fake_log_start,
	.log_stop = lm_fake_log_stop,
	.log_report = lm_fake_log_report,
};

/* lm_log_start() with the granularity asked given by value */
int lm_kt_log_start(struct lm_function *fn, const struct lm_log_range *r,
		    unsigned int nr, u64 page_size)
{
	return lm_log_start(fn, r, nr, &page_size);
}

void lm_kt_ctx_unregister(void *data)
{
	struct lm_ctx *ctx = data;

	if (ctx->registered)
		lm_controller_unregister(&ctx->ctrl);
	ctx->registered = false;
}

/* A registered controller with every table; @ops: claim and release. */
struct lm_ctx *lm_kt_ctx_new_ops(struct kunit *test,
				 const struct lm_controller_ops *ops)
{
	struct lm_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	struct device *dev;

	KUNIT_ASSERT_NOT_NULL(test, ctx);
	dev = kunit_device_register(test, "lm-test-ctrl");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	ctx->test = test;
	ctx->ctrl.dev = dev;
	ctx->ctrl.ops = ops;
	ctx->ctrl.mig_ops = &lm_fake_mig_ops;
	ctx->ctrl.p2p_ops = &lm_fake_p2p_ops;
	ctx->ctrl.log_ops = &lm_fake_log_ops;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctx->ctrl), 0);
	ctx->registered = true;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							lm_kt_ctx_unregister,
							ctx), 0);
	return ctx;
}

struct lm_ctx *lm_kt_ctx_new(struct kunit *test)
{
	return lm_kt_ctx_new_ops(test, NULL);
}

struct lm_function *lm_kt_ctx_add(struct lm_ctx *ctx, u32 caps,
				  u64 state_len, struct fake_fn **fp)
{
	struct kunit *test = ctx->test;
	struct lm_function_info info = {};
	struct lm_function *fn;
	struct fake_fn *f;
	struct device *dev;
	char name[32];

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	f->state_len = state_len;
	f->precopy_step = state_len / 3 + 1;
	f->seed = 7;
	snprintf(name, sizeof(name), "lm-test-fn%d", ctx->nfn++);
	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	info.drvdata = f;
	info.caps = caps;
	info.max_state_size = max_t(u64, state_len, 1);
	info.compat = lm_fake_compat_a;
	info.compat_len = sizeof(lm_fake_compat_a);
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	*fp = f;
	return fn;
}

void lm_fake_mem_put(void *data)
{
	lm_buffer_put(data);
}

/* From now on @f hands its segments over in a buffer. */
void lm_fake_use_buffer(struct kunit *test, struct fake_fn *f)
{
	size_t i;

	f->mem = lm_buffer_alloc(f->state_len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f->mem);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, lm_fake_mem_put,
							f->mem), 0);
	for (i = 0; i < f->state_len; i++)
		((u8 *)f->mem->data)[i] = lm_fake_byte(f->seed, i);
	f->use_buf = true;
}

void lm_kt_fput_now(struct file *file)
{
	if (file)
		__fput_sync(file);
}

/* Reads a whole saving file; returns bytes read or a negative errno. */
ssize_t lm_kt_read_all(struct file *file, u8 *buf, size_t cap, size_t step)
{
	size_t done = 0;
	loff_t pos = 0;

	for (;;) {
		ssize_t n = kernel_read(file, buf + done,
					min(step, cap - done), &pos);

		if (n < 0)
			return n;
		if (!n || done + n == cap)
			return done + n;
		done += n;
	}
}

ssize_t lm_kt_write_all(struct file *file, const u8 *buf, size_t len,
			size_t step)
{
	size_t done = 0;
	loff_t pos = 0;

	while (done < len) {
		ssize_t n = kernel_write(file, buf + done,
					 min(step, len - done), &pos);

		if (n <= 0)
			return n ? n : -EIO;
		done += n;
	}
	return done;
}

/*
 * A complete stream of the fake's first @n (<= 256 KiB) bytes in one
 * record, for leaving RESUMING.
 */
/* A stream header for @fn, as a save starting now would write it. */
void lm_kt_fill_header(struct lm_function *fn, u8 *buf)
{
	mutex_lock(&fn->lock);
	WARN_ON(lm_stream_fill_header(fn, (struct lm_stream_header *)buf));
	mutex_unlock(&fn->lock);
}

size_t lm_kt_small_stream(struct lm_function *fn, u32 seed, size_t n,
			  u8 *buf)
{
	const size_t hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	u8 *payload = buf + hdr + rec;
	size_t i;
	u32 crc;

	lm_kt_fill_header(fn, buf);
	for (i = 0; i < n; i++)
		payload[i] = lm_fake_byte(seed, i);
	crc = crc32c(~0U, payload, n);
	lm_stream_fill_record((void *)(buf + hdr), LM_REC_DATA, n, crc);
	lm_stream_fill_record((void *)(payload + n), LM_REC_END, n, crc);
	return hdr + 2 * rec + n;
}

void lm_kt_free_saved(void *data)
{
	vfree(data);
}

/* Saves fn's state through STOP_COPY (and PRE_COPY if it has it). */
struct saved lm_kt_save_stream(struct kunit *test, struct lm_function *fn,
			       struct fake_fn *f, size_t step)
{
	/* framing: a 32-byte record per 256 KiB of payload, and the ends */
	size_t cap = f->state_len + f->state_len / 8192 + 4096;
	struct file *file = NULL;
	struct saved s = {};
	loff_t pos = 0;
	ssize_t n;
	struct file *none;
	u64 init, dirty;

	s.buf = vmalloc(cap);
	KUNIT_ASSERT_NOT_NULL(test, s.buf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, lm_kt_free_saved,
							s.buf), 0);
	if (lm_function_caps(fn) & LM_CAP_PRE_COPY) {
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_PRE_COPY, NULL,
						   &file), 0);
		KUNIT_ASSERT_NOT_NULL(test, file);
		for (;;) {
			n = kernel_read(file, s.buf + s.len,
					min(step, cap - s.len), &pos);
			if (n == -ENOMSG) {
				KUNIT_ASSERT_EQ(test,
						lm_file_precopy_info(file,
								     &init,
								     &dirty),
						0);
				if (!init && !dirty)
					break;
				continue;
			}
			KUNIT_ASSERT_GT(test, n, 0);
			s.len += n;
		}
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY,
						   NULL, &none), 0);
		KUNIT_ASSERT_NULL(test, none);
	} else {
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY,
						   NULL, &file), 0);
		KUNIT_ASSERT_NOT_NULL(test, file);
	}
	n = lm_kt_read_all(file, s.buf + s.len, cap - s.len, step);
	KUNIT_ASSERT_GE(test, n, 0);
	s.len += n;
	/* EOF stays EOF */
	KUNIT_EXPECT_EQ(test, kernel_read(file, s.buf, 1, &pos), 0);
	lm_kt_fput_now(file);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	return s;
}

int lm_fake_claim_count;

static int lm_fake_claim(struct lm_controller *ctrl, struct device *dev,
			 struct lm_function_info *info)
{
	struct fake_fn *f;

	/* a driver's bug: a count where an errno belongs */
	if (!strcmp(dev_name(dev), "lm-claim-positive"))
		return 1;
	if (strcmp(dev_name(dev), "lm-claim-yes"))
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->state_len = 32;
	lm_fake_claim_count++;
	info->drvdata = f;
	info->caps = LM_CAP_STOP_COPY | LM_CAP_P2P;
	info->max_state_size = 32;
	return 0;
}

/* What the last released fake was asked for, kept past its release. */
static char lm_fake_claim_calls[FAKE_MAX_CALLS + 1];

const char *lm_fake_claim_seen;

void lm_fake_release(struct lm_controller *ctrl, struct device *dev,
		     void *drvdata)
{
	struct fake_fn *f = drvdata;

	strscpy(lm_fake_claim_calls, f->calls, sizeof(lm_fake_claim_calls));
	lm_fake_claim_seen = lm_fake_claim_calls;
	kfree(drvdata);
}

const struct lm_controller_ops lm_fake_claim_ops = {
	.claim = lm_fake_claim,
	.release = lm_fake_release,
};

/* a plainer driver: no save_end, no reset, no logging */
const struct lm_migration_ops lm_fake_claim_mig_ops = {
	.stop = lm_fake_stop,
	.restart = lm_fake_restart,
	.save_begin = lm_fake_save_begin,
	.save_read = lm_fake_save_read,
	.load = lm_fake_load,
	.state_size = lm_fake_state_size,
};

void lm_kt_child_release(struct device *dev)
{
	kfree(dev);
}

struct device *lm_kt_child_new(struct kunit *test, struct device *parent,
			       const char *name)
{
	struct device *dev = kzalloc(sizeof(*dev), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, dev);
	device_initialize(dev);
	dev->parent = parent;
	dev->release = lm_kt_child_release;
	dev_set_name(dev, "%s", name);
	KUNIT_ASSERT_EQ(test, device_add(dev), 0);
	return dev;
}
