// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the live migration core against a fake controlling driver
 * that records every primitive it is asked for and fails the N-th on demand.
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

#include "lm_internal.h"

#define FAKE_MAX_CALLS	64

struct fake_fn {
	char calls[FAKE_MAX_CALLS + 1];	/* one letter per primitive */
	int ncalls;
	int fail_nth;			/* fail the N-th primitive, 0: never */
	int fail_err;
	int counted;
	u64 state_len;			/* bytes of synthetic state */
	u64 precopy_step;		/* bytes offered per PRE_COPY segment */
	u32 seed;
	u64 produced;			/* payload bytes handed out so far */
	u64 seg_start;
	bool stopped;
	u64 loaded;			/* bytes given to load, all verified */
	int loads;
	bool load_bad;
	int open_saves;			/* save_begin .. save_end balance */
	unsigned long dirty_iova;
	bool attach;			/* hand segments over in mem */
	u64 attach_min;			/* ... those of this size or more */
	size_t attach_skew;		/* attach this much too late: a bug */
	struct lm_buffer *mem;		/* the whole state, when attaching */
	bool underfill;			/* save_read writes nothing: a bug */
	u64 log_granted;		/* granularity log_start answers */
	int nrep;			/* dirty ranges log_report gives */
	unsigned long rep_iova[4];
	unsigned long rep_len[4];
};

/* No period of a power of two up to 64 KiB: two DATA records differ. */
static u8 fake_byte(u32 seed, u64 off)
{
	return (u8)(seed * 131 + off * 7 + (off >> 9) + (off >> 17));
}

/* Records op letter c; returns the injected error when it is due. */
static int fake_call(struct fake_fn *f, char c)
{
	if (f->ncalls < FAKE_MAX_CALLS)
		f->calls[f->ncalls++] = c;
	f->calls[f->ncalls] = 0;
	if (f->fail_nth && ++f->counted == f->fail_nth)
		return f->fail_err;
	return 0;
}

static struct fake_fn *fake(struct lm_function *fn)
{
	return lm_function_drvdata(fn);
}

static int fake_stop(struct lm_function *fn)
{
	int ret = fake_call(fake(fn), 'S');

	if (!ret)
		fake(fn)->stopped = true;
	return ret;
}

static int fake_restart(struct lm_function *fn)
{
	int ret = fake_call(fake(fn), 'R');

	if (!ret)
		fake(fn)->stopped = false;
	return ret;
}

static int fake_quiesce(struct lm_function *fn)
{
	return fake_call(fake(fn), 'Q');
}

static int fake_p2p_resume(struct lm_function *fn)
{
	return fake_call(fake(fn), 'U');
}

static int fake_save_begin(struct lm_function *fn, enum lm_save_phase phase,
			   struct lm_segment *seg)
{
	struct fake_fn *f = fake(fn);
	int ret = fake_call(f, phase == LM_SAVE_FINAL ? 'F' : 'B');

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
	if (f->attach && seg->len && seg->len >= f->attach_min) {
		lm_buffer_get(f->mem);
		seg->buf = f->mem;
		seg->offset = f->seg_start + f->attach_skew;
	}
	return 0;
}

static int fake_save_read(struct lm_function *fn, void *buf, size_t len,
			  u64 offset)
{
	struct fake_fn *f = fake(fn);
	u8 *p = buf;
	size_t i;

	/* not recorded: too many; but failures can be injected */
	if (f->fail_nth && ++f->counted == f->fail_nth)
		return f->fail_err;
	if (f->underfill)
		return 0;
	for (i = 0; i < len; i++)
		p[i] = fake_byte(f->seed, f->seg_start + offset + i);
	return 0;
}

static void fake_save_end(struct lm_function *fn)
{
	struct fake_fn *f = fake(fn);

	/* recorded, but it cannot fail, so it does not count for fail_nth */
	if (f->ncalls < FAKE_MAX_CALLS)
		f->calls[f->ncalls++] = 'E';
	f->calls[f->ncalls] = 0;
	f->open_saves = 0;
}

static int fake_load(struct lm_function *fn, const void *buf, size_t len,
		     u64 offset, u64 total)
{
	struct fake_fn *f = fake(fn);
	const u8 *p = buf;
	size_t i;
	int ret;

	if (!offset) {
		ret = fake_call(f, 'L');
		if (ret)
			return ret;
		f->loaded = 0;
		f->load_bad = false;
	}
	f->loads++;
	if (offset != f->loaded)
		f->load_bad = true;
	for (i = 0; i < len; i++)
		if (p[i] != fake_byte(f->seed, offset + i))
			f->load_bad = true;
	f->loaded += len;
	return 0;
}

static int fake_state_size(struct lm_function *fn, u64 *len)
{
	*len = fake(fn)->state_len;
	return 0;
}

static int fake_reset(struct lm_function *fn)
{
	struct fake_fn *f = fake(fn);

	f->stopped = false;
	f->open_saves = 0;
	return fake_call(f, 'Z');
}

static int fake_log_start(struct lm_function *fn,
			  const struct lm_log_range *ranges, unsigned int nr,
			  u64 *page_size)
{
	struct fake_fn *f = fake(fn);

	if (f->log_granted)
		*page_size = f->log_granted;
	f->dirty_iova = ranges[0].iova + *page_size;
	return fake_call(fake(fn), 'D');
}

static int fake_log_stop(struct lm_function *fn)
{
	return fake_call(fake(fn), 'd');
}

static int fake_log_report(struct lm_function *fn, unsigned long iova,
			   unsigned long length, lm_dirty_fn fn_dirty,
			   void *opaque)
{
	struct fake_fn *f = fake(fn);
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

static const struct lm_migration_ops fake_mig_ops = {
	.stop = fake_stop,
	.restart = fake_restart,
	.save_begin = fake_save_begin,
	.save_read = fake_save_read,
	.save_end = fake_save_end,
	.load = fake_load,
	.state_size = fake_state_size,
	.reset = fake_reset,
};

static const struct lm_p2p_ops fake_p2p_ops = {
	.quiesce = fake_quiesce,
	.resume = fake_p2p_resume,
};

static const struct lm_log_ops fake_log_ops = {
	.log_start = fake_log_start,
	.log_stop = fake_log_stop,
	.log_report = fake_log_report,
};

/* lm_log_start() with the granularity asked given by value */
static int log_start(struct lm_function *fn, const struct lm_log_range *r,
		     unsigned int nr, u64 page_size)
{
	return lm_log_start(fn, r, nr, &page_size);
}

/* ---- fixtures ---- */

struct lm_ctx {
	struct kunit *test;
	struct lm_controller ctrl;
	bool registered;
	int nfn;
};

static void lm_ctx_unregister(void *data)
{
	struct lm_ctx *ctx = data;

	if (ctx->registered)
		lm_controller_unregister(&ctx->ctrl);
	ctx->registered = false;
}

/* A registered controller with every table; @ops: claim and release. */
static struct lm_ctx *lm_ctx_new_ops(struct kunit *test,
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
	ctx->ctrl.mig_ops = &fake_mig_ops;
	ctx->ctrl.p2p_ops = &fake_p2p_ops;
	ctx->ctrl.log_ops = &fake_log_ops;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctx->ctrl), 0);
	ctx->registered = true;
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							lm_ctx_unregister,
							ctx), 0);
	return ctx;
}

static struct lm_ctx *lm_ctx_new(struct kunit *test)
{
	return lm_ctx_new_ops(test, NULL);
}

static const u8 compat_a[] = { 'f', 'a', 'k', 'e', 1 };
static const u8 compat_b[] = { 'f', 'a', 'k', 'e', 2 };

static struct lm_function *lm_ctx_add(struct lm_ctx *ctx, u32 caps,
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
	info.compat = compat_a;
	info.compat_len = sizeof(compat_a);
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	*fp = f;
	return fn;
}

static void fake_mem_put(void *data)
{
	lm_buffer_put(data);
}

/* From now on @f hands its segments over in a buffer. */
static void fake_attach(struct kunit *test, struct fake_fn *f)
{
	size_t i;

	f->mem = lm_buffer_alloc(f->state_len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f->mem);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, fake_mem_put,
							f->mem), 0);
	for (i = 0; i < f->state_len; i++)
		((u8 *)f->mem->data)[i] = fake_byte(f->seed, i);
	f->attach = true;
}

static void fput_now(struct file *file)
{
	if (file)
		__fput_sync(file);
}

/* Reads a whole saving file; returns bytes read or a negative errno. */
static ssize_t read_all(struct file *file, u8 *buf, size_t cap, size_t step)
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

static ssize_t write_all(struct file *file, const u8 *buf, size_t len,
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

/* A complete stream with no payload: every destination refuses it. */
static size_t empty_stream(struct lm_function *fn, u8 *buf)
{
	lm_stream_fill_header(fn, (struct lm_stream_header *)buf);
	lm_stream_fill_record((void *)(buf + sizeof(struct lm_stream_header)),
			      LM_REC_END, 0, ~0U);
	return sizeof(struct lm_stream_header) +
	       sizeof(struct lm_stream_record);
}

/*
 * A complete stream of the fake's first @n (<= 256 KiB) bytes in one
 * record, for leaving RESUMING.
 */
static size_t small_stream(struct lm_function *fn, u32 seed, size_t n,
			   u8 *buf)
{
	const size_t hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	u8 *payload = buf + hdr + rec;
	size_t i;
	u32 crc;

	lm_stream_fill_header(fn, (struct lm_stream_header *)buf);
	for (i = 0; i < n; i++)
		payload[i] = fake_byte(seed, i);
	crc = crc32c(~0U, payload, n);
	lm_stream_fill_record((void *)(buf + hdr), LM_REC_DATA, n, crc);
	lm_stream_fill_record((void *)(payload + n), LM_REC_END, n, crc);
	return hdr + 2 * rec + n;
}

/* ---- state machine: every (from, to) pair for every capability set ---- */

static const u32 cap_sets[] = {
	LM_CAP_STOP_COPY,
	LM_CAP_STOP_COPY | LM_CAP_P2P,
	LM_CAP_STOP_COPY | LM_CAP_PRE_COPY,
	LM_CAP_STOP_COPY | LM_CAP_P2P | LM_CAP_PRE_COPY,
};

/*
 * The paths VFIO migration v2 documents with every optional state present,
 * written out independently of the core's table: the path for a smaller
 * capability set is this one with the missing states left out.  "" marks a
 * request that must fail.
 */
static const char * const full_paths[LM_STATE_NR][LM_STATE_NR] = {
	[LM_STATE_STOP] = {
		[1] = "S", [2] = "S P R", [3] = "S C", [4] = "S M",
		[5] = "S P", [6] = "S P R X", [7] = "S P Y",
	},
	[LM_STATE_RUNNING] = {
		[1] = "R P S", [2] = "R", [3] = "R P S C", [4] = "R P S M",
		[5] = "R P", [6] = "R X", [7] = "R P Y",
	},
	[LM_STATE_STOP_COPY] = {
		[1] = "C S", [2] = "C S P R", [3] = "C", [4] = "C S M",
		[5] = "C S P", [6] = "", [7] = "",
	},
	[LM_STATE_RESUMING] = {
		[1] = "M S", [2] = "M S P R", [3] = "M S C", [4] = "M",
		[5] = "M S P", [6] = "M S P R X", [7] = "M S P Y",
	},
	[LM_STATE_RUNNING_P2P] = {
		[1] = "P S", [2] = "P R", [3] = "P S C", [4] = "P S M",
		[5] = "P", [6] = "P R X", [7] = "P Y",
	},
	[LM_STATE_PRE_COPY] = {
		[1] = "X R P S", [2] = "X R", [3] = "X Y C", [4] = "X R P S M",
		[5] = "X R P", [6] = "X", [7] = "X Y",
	},
	[LM_STATE_PRE_COPY_P2P] = {
		[1] = "Y P S", [2] = "Y P R", [3] = "Y C", [4] = "Y P S M",
		[5] = "Y P", [6] = "Y X", [7] = "Y",
	},
};

static enum lm_state letter_state(char c)
{
	switch (c) {
	case 'S': return LM_STATE_STOP;
	case 'R': return LM_STATE_RUNNING;
	case 'C': return LM_STATE_STOP_COPY;
	case 'M': return LM_STATE_RESUMING;
	case 'P': return LM_STATE_RUNNING_P2P;
	case 'X': return LM_STATE_PRE_COPY;
	case 'Y': return LM_STATE_PRE_COPY_P2P;
	}
	return LM_STATE_ERROR;
}

static bool state_supported(u32 caps, enum lm_state s)
{
	if (s == LM_STATE_ERROR)
		return false;
	if ((s == LM_STATE_RUNNING_P2P || s == LM_STATE_PRE_COPY_P2P) &&
	    !(caps & LM_CAP_P2P))
		return false;
	if ((s == LM_STATE_PRE_COPY || s == LM_STATE_PRE_COPY_P2P) &&
	    !(caps & LM_CAP_PRE_COPY))
		return false;
	return true;
}

/* The primitive letters the fake records for one arc. */
static const char *arc_calls(enum lm_state a, enum lm_state b)
{
	static const struct { u8 a, b; const char *calls; } arcs[] = {
		{ LM_STATE_RUNNING, LM_STATE_RUNNING_P2P, "Q" },
		{ LM_STATE_PRE_COPY, LM_STATE_PRE_COPY_P2P, "Q" },
		{ LM_STATE_RUNNING_P2P, LM_STATE_RUNNING, "U" },
		{ LM_STATE_PRE_COPY_P2P, LM_STATE_PRE_COPY, "U" },
		{ LM_STATE_RUNNING, LM_STATE_STOP, "S" },
		{ LM_STATE_RUNNING_P2P, LM_STATE_STOP, "S" },
		{ LM_STATE_STOP, LM_STATE_RUNNING, "R" },
		{ LM_STATE_STOP, LM_STATE_RUNNING_P2P, "R" },
		{ LM_STATE_STOP, LM_STATE_STOP_COPY, "F" },
		{ LM_STATE_RUNNING, LM_STATE_PRE_COPY, "B" },
		{ LM_STATE_RUNNING_P2P, LM_STATE_PRE_COPY_P2P, "B" },
		{ LM_STATE_PRE_COPY, LM_STATE_STOP_COPY, "S" },
		{ LM_STATE_PRE_COPY_P2P, LM_STATE_STOP_COPY, "S" },
		{ LM_STATE_STOP_COPY, LM_STATE_STOP, "E" },
		{ LM_STATE_PRE_COPY, LM_STATE_RUNNING, "E" },
		{ LM_STATE_PRE_COPY_P2P, LM_STATE_RUNNING_P2P, "E" },
		{ LM_STATE_STOP, LM_STATE_RESUMING, "" },
		{ LM_STATE_RESUMING, LM_STATE_STOP, "L" },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(arcs); i++)
		if (arcs[i].a == a && arcs[i].b == b)
			return arcs[i].calls;
	return "?";
}

/*
 * Expected path for caps: the states of full_paths minus unsupported ones.
 * Returns the number of states (first is cur), 0 if the request must fail.
 */
static int expected_path(u32 caps, enum lm_state cur, enum lm_state to,
			 enum lm_state *path)
{
	const char *p;
	int n = 0;

	if (cur == LM_STATE_ERROR || !state_supported(caps, cur) ||
	    !state_supported(caps, to))
		return 0;
	p = full_paths[cur][to];
	if (!p || !*p)
		return 0;
	for (; *p; p++) {
		enum lm_state s = letter_state(*p);

		if (*p == ' ' || !state_supported(caps, s))
			continue;
		path[n++] = s;
	}
	return n;
}

static bool opens_file(enum lm_state a, enum lm_state b)
{
	return (a == LM_STATE_STOP && b == LM_STATE_STOP_COPY) ||
	       (a == LM_STATE_STOP && b == LM_STATE_RESUMING) ||
	       (a == LM_STATE_RUNNING && b == LM_STATE_PRE_COPY) ||
	       (a == LM_STATE_RUNNING_P2P && b == LM_STATE_PRE_COPY_P2P);
}

/*
 * Brings fn from RUNNING to @to through lm_set_state(); in RESUMING a
 * complete empty stream is written so the way out works.
 */
static struct file *drive_to(struct kunit *test, struct lm_function *fn,
			     enum lm_state to)
{
	struct file *file = NULL;
	u8 buf[512];
	size_t len;

	if (to == LM_STATE_ERROR)
		return NULL;
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, to, NULL, &file), 0);
	if (to == LM_STATE_RESUMING) {
		KUNIT_ASSERT_NOT_NULL(test, file);
		len = small_stream(fn, fake(fn)->seed, 16, buf);
		KUNIT_ASSERT_EQ(test, write_all(file, buf, len, len),
				(ssize_t)len);
	}
	return file;
}

struct fsm_param {
	u32 caps;
	enum lm_state from;
};

static struct fsm_param fsm_params[ARRAY_SIZE(cap_sets) * LM_STATE_NR];

/*
 * Start states a function with the caps can be in: every case checks
 * something of its own; unsupported ones are lm_test_unsupported_from's.
 */
static const void *fsm_gen_from(const void *prev, char *desc,
				bool with_error)
{
	const struct fsm_param *p = prev;
	int i;

	for (i = p ? p - fsm_params + 1 : 0; i < ARRAY_SIZE(fsm_params); i++) {
		u32 caps = cap_sets[i / LM_STATE_NR];
		enum lm_state from = i % LM_STATE_NR;

		if (from == LM_STATE_ERROR ? with_error :
		    state_supported(caps, from))
			break;
	}
	if (i >= ARRAY_SIZE(fsm_params))
		return NULL;
	fsm_params[i].caps = cap_sets[i / LM_STATE_NR];
	fsm_params[i].from = i % LM_STATE_NR;
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "caps=%#x from=%s",
		 fsm_params[i].caps, lm_state_name(fsm_params[i].from));
	return &fsm_params[i];
}

static const void *fsm_gen(const void *prev, char *desc)
{
	return fsm_gen_from(prev, desc, true);
}

/* A primitive fails on the way: ERROR as a start has none to fail. */
static const void *fault_gen(const void *prev, char *desc)
{
	return fsm_gen_from(prev, desc, false);
}

/* States a function lacks can never be entered, from anywhere. */
static void lm_test_unsupported_from(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	int c, checked = 0;
	enum lm_state s;

	for (c = 0; c < ARRAY_SIZE(cap_sets); c++) {
		struct lm_function *fn;
		struct file *file;
		struct fake_fn *f;
		enum lm_state got;

		fn = lm_ctx_add(ctx, cap_sets[c], 64, &f);
		for (s = LM_STATE_STOP; s < LM_STATE_NR; s++) {
			if (state_supported(cap_sets[c], s))
				continue;
			KUNIT_EXPECT_EQ_MSG(test, lm_set_state(fn, s, NULL,
							       &file),
					    -EINVAL, "caps %#x to %s",
					    cap_sets[c], lm_state_name(s));
			KUNIT_EXPECT_NULL(test, file);
			checked++;
		}
		KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
		KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
		KUNIT_EXPECT_STREQ(test, f->calls, "");
		lm_function_remove(fn);
	}
	/* the sets without P2P and without PRE_COPY lack some state */
	KUNIT_EXPECT_GT(test, checked, 0);
}

static void lm_test_fsm_pairs(struct kunit *test)
{
	const struct fsm_param *p = test->param_value;
	struct lm_ctx *ctx = lm_ctx_new(test);
	enum lm_state to;

	for (to = 0; to < LM_STATE_NR; to++) {
		enum lm_state path[8], got;
		struct file *before, *file = NULL;
		char want[16] = "";
		struct lm_function *fn;
		struct fake_fn *f;
		int n, i, ret;

		fn = lm_ctx_add(ctx, p->caps, 64, &f);
		n = expected_path(p->caps, p->from, to, path);
		if (p->from == LM_STATE_ERROR) {
			f->fail_nth = 1;
			f->fail_err = -EIO;
			KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP,
							   NULL, &file), -EIO);
			f->fail_nth = 0;
			before = NULL;
		} else {
			before = drive_to(test, fn, p->from);
		}
		KUNIT_ASSERT_EQ(test, lm_get_state(fn, &got), 0);
		KUNIT_ASSERT_EQ(test, got, p->from);

		f->ncalls = 0;
		f->calls[0] = 0;
		ret = lm_set_state(fn, to, NULL, &file);
		KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
		if (!n) {
			KUNIT_EXPECT_EQ_MSG(test, ret, -EINVAL, "to %s",
					    lm_state_name(to));
			KUNIT_EXPECT_EQ(test, got, p->from);
			KUNIT_EXPECT_STREQ(test, f->calls, "");
			KUNIT_EXPECT_NULL(test, file);
		} else {
			for (i = 1; i < n; i++)
				strcat(want, arc_calls(path[i - 1], path[i]));
			KUNIT_EXPECT_EQ_MSG(test, ret, 0, "to %s",
					    lm_state_name(to));
			KUNIT_EXPECT_EQ(test, got, to);
			KUNIT_EXPECT_STREQ_MSG(test, f->calls, want, "to %s",
					       lm_state_name(to));
			if (n > 1 && opens_file(path[n - 2], path[n - 1]))
				KUNIT_EXPECT_NOT_NULL(test, file);
			else
				KUNIT_EXPECT_NULL(test, file);
		}
		fput_now(file);
		fput_now(before);
		lm_function_remove(fn);
	}
}

/* ---- a failure injected into each primitive on each path ---- */

static void lm_test_fault_each_step(struct kunit *test)
{
	const struct fsm_param *p = test->param_value;
	struct lm_ctx *ctx = lm_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	int faults = 0;
	enum lm_state to;

	for (to = 0; to < LM_STATE_NR; to++) {
		enum lm_state path[8];
		int n, k, nprims = 0, i;

		n = expected_path(p->caps, p->from, to, path);
		for (i = 1; i < n; i++)
			nprims += strlen(arc_calls(path[i - 1], path[i])) &&
				  arc_calls(path[i - 1], path[i])[0] != 'E';
		for (k = 1; k <= nprims; k++) {
			struct file *before, *file = NULL;
			struct lm_function *fn;
			struct fake_fn *f;
			enum lm_state got;
			u8 byte;
			loff_t pos = 0;

			fn = lm_ctx_add(ctx, p->caps, 64, &f);
			before = drive_to(test, fn, p->from);
			f->fail_nth = k;
			f->fail_err = -EREMOTEIO;
			f->counted = 0;
			KUNIT_EXPECT_EQ_MSG(test, lm_set_state(fn, to, NULL,
							       &file),
					    -EREMOTEIO, "to %s step %d",
					    lm_state_name(to), k);
			KUNIT_EXPECT_NULL(test, file);
			KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
			KUNIT_EXPECT_EQ_MSG(test, got, LM_STATE_ERROR,
					    "to %s step %d", lm_state_name(to),
					    k);
			/* one failure, counted once */
			KUNIT_EXPECT_EQ_MSG(test, fn->stats.errors, 1,
					    "to %s step %d", lm_state_name(to),
					    k);
			/* the session is over: its file is disabled */
			if (before && (p->from == LM_STATE_PRE_COPY ||
				       p->from == LM_STATE_PRE_COPY_P2P ||
				       p->from == LM_STATE_STOP_COPY))
				KUNIT_EXPECT_EQ(test,
						kernel_read(before, &byte, 1,
							    &pos), -ENODEV);
			/* the failure ended the driver's save session */
			KUNIT_EXPECT_EQ(test, f->open_saves, 0);
			/* nothing but reset leaves ERROR */
			KUNIT_EXPECT_EQ(test, lm_set_state(fn,
							   LM_STATE_RUNNING,
							   NULL, &file),
					-EINVAL);
			f->fail_nth = 0;
			KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
			KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
			KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
			fput_now(before);
			lm_function_remove(fn);
			KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files),
					files);
			faults++;
		}
	}
	/* from any state some request makes a primitive run */
	KUNIT_EXPECT_GT(test, faults, 0);
}

static void lm_test_reset_fails(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state got;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &f);
	f->fail_nth = 1;
	f->fail_err = -ETIMEDOUT;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_ERROR);
	f->fail_nth = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, fn->stats.resets, 2);
	KUNIT_EXPECT_EQ(test, fn->stats.errors, 1);
}

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

struct saved {
	u8 *buf;
	size_t len;
};

static void free_saved(void *data)
{
	vfree(data);
}

/* Saves fn's state through STOP_COPY (and PRE_COPY if it has it). */
static struct saved save_stream(struct kunit *test, struct lm_function *fn,
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
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, free_saved,
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
	n = read_all(file, s.buf + s.len, cap - s.len, step);
	KUNIT_ASSERT_GE(test, n, 0);
	s.len += n;
	/* EOF stays EOF */
	KUNIT_EXPECT_EQ(test, kernel_read(file, s.buf, 1, &pos), 0);
	fput_now(file);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	return s;
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file = NULL;
	enum lm_state got;
	struct saved s;
	u32 caps;

	/* with and without PRE_COPY, copied out by save_read or attached */
	for (caps = 0; caps < 4; caps++) {
		u32 c = LM_CAP_STOP_COPY | (caps & 1 ? LM_CAP_PRE_COPY : 0);

		src = lm_ctx_add(ctx, c, size, &fs);
		dst = lm_ctx_add(ctx, c, size, &fd);
		if (caps & 2 && size)
			fake_attach(test, fs);
		s = save_stream(test, src, fs, size > 8192 ? 65536 + 3 : 777);
		KUNIT_EXPECT_EQ(test, src->stats.bytes_saved, size);
		expect_format_crc(test, s.buf, s.len);
		/* the closed file dropped the core's references */
		if (fs->mem)
			KUNIT_EXPECT_EQ(test, kref_read(&fs->mem->ref), 1);

		KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL,
						   &file), 0);
		KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING,
						   NULL, &file), 0);
		KUNIT_ASSERT_EQ(test, write_all(file, s.buf, s.len,
						size > 8192 ? 100000 : 333),
				(ssize_t)s.len);
		KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_RUNNING, NULL,
						   &file), 0);
		KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
		KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
		KUNIT_EXPECT_EQ(test, fd->loaded, size);
		KUNIT_EXPECT_FALSE(test, fd->load_bad);
		KUNIT_EXPECT_EQ(test, dst->stats.bytes_loaded, size);
		fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	int i, accepted = 0, rejected = 0;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct rnd_state rnd;
	struct saved s;
	u8 *buf;

	prandom_seed_state(&rnd, 0x6c6d5f74);
	src = lm_ctx_add(ctx, caps, size, &fs);
	dst = lm_ctx_add(ctx, caps, size, &fd);
	s = save_stream(test, src, fs, 4096);
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
		write_all(file, buf, len, step);	/* may fail: bad stream */
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
		fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
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

	src = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	s = save_stream(test, src, fs, 4096);
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
	info.compat = compat_a;
	info.compat_len = sizeof(compat_a);
	dst = lm_function_add(&ctx->ctrl,
			      kunit_device_register(test, "lm-test-dst"),
			      &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dst);

	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	fd->ncalls = 0;
	fd->calls[0] = 0;
	ret = write_all(file, buf, len, 3000);
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
	fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct file *save = NULL, *resume = NULL;
	struct lm_function *a, *b;
	struct fake_fn *fa, *fb;
	u64 init, dirty;
	u8 byte = 0;

	a = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 100, &fa);
	b = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 100, &fb);
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
	fput_now(save);
	fput_now(resume);
}

static void lm_test_precopy_info(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct file *file = NULL;
	struct fake_fn *f;
	const size_t hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	u64 init, dirty, size;
	u8 *buf;
	ssize_t n;
	loff_t pos = 0;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 3000, &f);
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
	n = read_all(file, buf, 8192, 512);
	/* what PRE_COPY left, then the final segment and the end */
	KUNIT_EXPECT_EQ(test, n, (ssize_t)(1000 - (100 - rec) + rec + 1000 +
				       rec));
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 1, &pos), 0);
	fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct file_reader r[2] = {};
	struct lm_function *fn;
	struct file *file;
	struct fake_fn *f;
	u64 estimate;
	int i;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &f);
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
	fput_now(file);
}

/*
 * A reader streams while resets end its session again and again: it ends
 * with -ENODEV at some read, never with anything else, and every session
 * frees what it held.
 */
static void lm_test_read_vs_reset(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	int round, ended = 0;
	struct lm_function *fn;
	struct fake_fn *f;
	long mem;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 4 << 20, &f);
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
		fput_now(file);
		KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), mem);
	}
	kunit_info(test, "%d of 10 sessions ended under the reader\n", ended);
	KUNIT_EXPECT_GT(test, ended, 0);
}

/* ---- lifetime ---- */

static void lm_test_unregister_with_users(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct file *file = NULL, *tmp = NULL;
	struct lm_function *fn, *h;
	struct device *cd;
	struct fake_fn *f;
	enum lm_state st;
	u64 init, dirty, size;
	int files = atomic_read(&lm_live_files);
	int fns;
	u8 byte;

	fn = lm_ctx_add(ctx, LM_CAP_ALL, 4096, &f);
	fns = atomic_read(&lm_live_functions);
	h = lm_function_get(lm_function_device(fn));
	KUNIT_ASSERT_PTR_EQ(test, h, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(h, LM_STATE_PRE_COPY, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, log_start(h, &(struct lm_log_range){ 0, 1 << 20 },
					1, 4096), 0);
	cd = class_find_device_by_name(&lm_class, dev_name(&fn->dev));
	KUNIT_EXPECT_PTR_EQ(test, cd, &fn->dev);
	put_device(cd);

	KUNIT_EXPECT_FALSE(test, lm_function_removed(h));
	lm_ctx_unregister(ctx);
	KUNIT_EXPECT_TRUE(test, lm_function_removed(h));
	/* the driver saw the session and logging end, and nothing after */
	KUNIT_EXPECT_EQ(test, f->open_saves, 0);
	KUNIT_EXPECT_NOT_NULL(test, strchr(f->calls, 'd'));
	f->ncalls = 0;
	f->calls[0] = 0;

	KUNIT_EXPECT_EQ(test, lm_set_state(h, LM_STATE_RUNNING, NULL, &tmp),
			-ENODEV);
	KUNIT_EXPECT_EQ(test, lm_get_state(h, &st), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_get_data_size(h, &size), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_function_reset(h), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_log_stop(h), -ENODEV);
	KUNIT_EXPECT_EQ(test, kernel_read(file, &byte, 1, &(loff_t){0}),
			(ssize_t)-ENODEV);
	KUNIT_EXPECT_EQ(test, lm_file_precopy_info(file, &init, &dirty),
			-ENODEV);
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	cd = class_find_device_by_name(&lm_class, dev_name(&fn->dev));
	KUNIT_EXPECT_NULL(test, cd);
	put_device(cd);
	/* the device is gone from the registry */
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(lm_function_device(h))),
			-ENODEV);
	/* last users go in either order; KASAN checks nothing was freed */
	lm_function_put(h);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns);
	fput_now(file);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns - 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

/*
 * Attached segments: an attach outside save_begin and a driver's bad
 * offset fail cleanly; the core's reference keeps the bytes valid after the
 * driver dropped its own and the function went away; a file closed between
 * a record and its attached payload leaks nothing.
 */
static void lm_test_attach(struct kunit *test)
{
	const size_t size = 8 << 20;
	struct lm_ctx *ctx = lm_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	struct file *file = NULL;
	struct lm_function *fn;
	struct lm_buffer *mem;
	struct fake_fn *f;
	enum lm_state st;
	u8 *buf;

	buf = kunit_kmalloc(test, 4096, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &f);
	fake_attach(test, f);
	mem = f->mem;

	/* an offset past the buffer's end: the reference given comes back */
	f->attach_skew = size + 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EINVAL);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* a segment longer than what follows the offset */
	f->attach_skew = 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EINVAL);
	KUNIT_EXPECT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	f->attach_skew = 0;

	/* header and first record read, its payload queued from the buffer */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf,
					  sizeof(struct lm_stream_header) +
					  sizeof(struct lm_stream_record),
					  &(loff_t){0}),
			(ssize_t)(sizeof(struct lm_stream_header) +
				  sizeof(struct lm_stream_record)));
	fput_now(file);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			0);

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_ASSERT_NOT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 4096, &(loff_t){0}),
			4096);
	lm_buffer_get(mem);
	kunit_release_action(test, fake_mem_put, mem);	/* the driver's */
	lm_ctx_unregister(ctx);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 4096, &(loff_t){0}),
			(ssize_t)-ENODEV);
	/* the session ended: the file let go although it is still open */
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	fput_now(file);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	lm_buffer_put(mem);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

/*
 * Copied and attached segments in one stream, written back in steps that
 * cut records anywhere: every record is framed as the format says and the
 * stream loads.
 */
static void lm_test_records_mixed(struct kunit *test)
{
	const u32 caps = LM_CAP_STOP_COPY | LM_CAP_PRE_COPY;
	const size_t size = (2 << 20) + 3, cap = size + 4096;
	struct lm_ctx *ctx = lm_ctx_new(test);
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
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, free_saved, buf),
			0);
	src = lm_ctx_add(ctx, caps, size, &fs);
	dst = lm_ctx_add(ctx, caps, size, &fd);
	fake_attach(test, fs);
	fs->attach_min = 64 * 1024;
	fs->precopy_step = 5000;

	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_PRE_COPY, NULL,
					   &file), 0);
	n = kernel_read(file, buf, cap, &pos);
	KUNIT_ASSERT_GT(test, n, 5000);
	len = n;
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &none), 0);
	n = read_all(file, buf + len, cap - len, 100000);
	KUNIT_ASSERT_GT(test, n, 0);
	len += n;
	fput_now(file);
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
	fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	enum lm_state got;
	struct saved s;
	u8 *buf;

	src = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = save_stream(test, src, fs, 65536);
	KUNIT_ASSERT_EQ(test, s.len, hlen + 3 * one + rlen);
	buf = vmalloc(s.len);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, free_saved, buf),
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
	fput_now(file);

	/* records 1 and 2 swapped: the second record in place fails */
	memcpy(buf, s.buf, s.len);
	KUNIT_ASSERT_NE(test, memcmp(buf + hlen + one + rlen,
				     buf + hlen + 2 * one + rlen, 256 * 1024), 0);
	memcpy(buf + hlen + one, s.buf + hlen + 2 * one, one);
	memcpy(buf + hlen + 2 * one, s.buf + hlen + one, one);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, write_all(file, buf, s.len, one),
			(ssize_t)-EBADMSG);
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none),
			-EBADMSG);
	KUNIT_EXPECT_EQ(test, lm_get_state(dst, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RESUMING);
	KUNIT_EXPECT_EQ(test, fd->loads, 0);
	fput_now(file);
}

static int claim_count;

static int fake_claim(struct lm_controller *ctrl, struct device *dev,
		      struct lm_function_info *info)
{
	struct fake_fn *f;

	if (strcmp(dev_name(dev), "lm-claim-yes"))
		return -ENODEV;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->state_len = 32;
	claim_count++;
	info->drvdata = f;
	info->caps = LM_CAP_STOP_COPY | LM_CAP_P2P;
	info->max_state_size = 32;
	return 0;
}

/* What the last released fake was asked for, kept past its release. */
static char fake_claim_calls[FAKE_MAX_CALLS + 1];
static const char *fake_claim_seen;

static void fake_release(struct lm_controller *ctrl, struct device *dev,
			 void *drvdata)
{
	struct fake_fn *f = drvdata;

	strscpy(fake_claim_calls, f->calls, sizeof(fake_claim_calls));
	fake_claim_seen = fake_claim_calls;
	kfree(drvdata);
}

static const struct lm_controller_ops fake_claim_ops = {
	.claim = fake_claim,
	.release = fake_release,
};

/* a plainer driver: no save_end, no reset, no logging */
static const struct lm_migration_ops fake_claim_mig_ops = {
	.stop = fake_stop,
	.restart = fake_restart,
	.save_begin = fake_save_begin,
	.save_read = fake_save_read,
	.load = fake_load,
	.state_size = fake_state_size,
};

static void child_release(struct device *dev)
{
	kfree(dev);
}

static struct device *child_new(struct kunit *test, struct device *parent,
				const char *name)
{
	struct device *dev = kzalloc(sizeof(*dev), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, dev);
	device_initialize(dev);
	dev->parent = parent;
	dev->release = child_release;
	dev_set_name(dev, "%s", name);
	KUNIT_ASSERT_EQ(test, device_add(dev), 0);
	return dev;
}

static void lm_test_claim_on_demand(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &fake_claim_ops,
				      .mig_ops = &fake_claim_mig_ops,
				      .p2p_ops = &fake_p2p_ops };
	struct device *pf, *yes, *no, *orphan;
	struct lm_function *a, *b;
	struct file *file;

	claim_count = 0;
	pf = kunit_device_register(test, "lm-claim-pf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pf);
	yes = child_new(test, pf, "lm-claim-yes");
	no = child_new(test, pf, "lm-claim-no");
	orphan = child_new(test, NULL, "lm-claim-orphan");

	/* before the controller registers, nothing is migratable */
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(yes)), -ENODEV);
	ctrl.dev = pf;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	KUNIT_EXPECT_EQ(test, lm_controller_register(&ctrl), -EEXIST);

	a = lm_function_get(yes);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	b = lm_function_get(yes);
	KUNIT_EXPECT_PTR_EQ(test, a, b);
	KUNIT_EXPECT_EQ(test, claim_count, 1);
	KUNIT_EXPECT_EQ(test, lm_function_caps(a),
			LM_CAP_STOP_COPY | LM_CAP_P2P);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(no)), -ENODEV);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(orphan)), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_set_state(a, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_STREQ(test, fake(a)->calls, "QS");

	lm_controller_unregister(&ctrl);
	KUNIT_EXPECT_EQ(test, lm_set_state(b, LM_STATE_RUNNING, NULL, &file),
			-ENODEV);
	lm_function_put(a);
	lm_function_put(b);
	device_unregister(yes);
	device_unregister(no);
	device_unregister(orphan);
}

/* ---- claims run outside the registry lock ---- */

static struct {
	struct completion entered;	/* a claim is under way */
	struct completion go;		/* let it finish */
	atomic_t claims;
	bool starved;			/* go never came */
} slow;

static int slow_claim(struct lm_controller *ctrl, struct device *dev,
		      struct lm_function_info *info)
{
	struct fake_fn *f;

	atomic_inc(&slow.claims);
	complete(&slow.entered);
	/* the test completes go at once unless the core deadlocks it */
	if (!wait_for_completion_timeout(&slow.go, 10 * HZ))
		slow.starved = true;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->state_len = 32;
	info->drvdata = f;
	info->caps = LM_CAP_STOP_COPY;
	info->max_state_size = 32;
	return 0;
}

static const struct lm_controller_ops slow_claim_ops = {
	.claim = slow_claim,
	.release = fake_release,
};

struct getter {
	struct device *dev;
	struct lm_function *fn;
	struct completion done;
};

static int getter_fn(void *data)
{
	struct getter *g = data;

	g->fn = lm_function_get(g->dev);
	complete(&g->done);
	return 0;
}

static void getter_start(struct kunit *test, struct getter *g,
			 struct device *dev)
{
	struct task_struct *t;

	g->dev = dev;
	g->fn = NULL;
	init_completion(&g->done);
	t = kthread_run(getter_fn, g, "lm-getter");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
}

static struct lm_function *getter_wait(struct kunit *test, struct getter *g)
{
	KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&g->done, 20 * HZ),
			0UL);
	return g->fn;
}

struct unregisterer {
	struct lm_controller ctrl;
	bool unregistered;
	struct completion done;
};

static int unregister_fn(void *data)
{
	struct unregisterer *u = data;

	lm_controller_unregister(&u->ctrl);
	u->unregistered = true;
	complete(&u->done);
	return 0;
}

/* a failed assertion must not leave the controller registered */
static void unregisterer_cleanup(void *data)
{
	struct unregisterer *u = data;

	complete_all(&slow.go);
	if (!u->unregistered)
		unregister_fn(u);
}

static void lm_test_claim_outside_registry_lock(struct kunit *test)
{
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 8 };
	struct unregisterer *u = kunit_kzalloc(test, sizeof(*u), GFP_KERNEL);
	struct device *pf, *vf, *vf2, *known;
	struct lm_function *k, *a, *b, *c;
	struct fake_fn *kf;
	struct getter g[3];
	enum lm_state state;
	int fns = atomic_read(&lm_live_functions);

	init_completion(&slow.entered);
	init_completion(&slow.go);
	atomic_set(&slow.claims, 0);
	slow.starved = false;
	pf = kunit_device_register(test, "lm-slow-pf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pf);
	vf = child_new(test, pf, "lm-slow-vf");
	vf2 = child_new(test, pf, "lm-slow-vf2");
	known = child_new(test, pf, "lm-slow-known");
	KUNIT_ASSERT_NOT_NULL(test, u);
	u->ctrl.ops = &slow_claim_ops;
	u->ctrl.mig_ops = &fake_claim_mig_ops;
	u->ctrl.dev = pf;
	init_completion(&u->done);
	KUNIT_ASSERT_EQ(test, lm_controller_register(&u->ctrl), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							unregisterer_cleanup,
							u), 0);
	kf = kzalloc(sizeof(*kf), GFP_KERNEL);	/* freed by fake_release */
	KUNIT_ASSERT_NOT_NULL(test, kf);
	info.drvdata = kf;
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, lm_function_add(&u->ctrl, known,
							   &info));

	/* two consumers ask about one device while its claim is under way */
	getter_start(test, &g[0], vf);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&slow.entered,
							  20 * HZ), 0UL);
	getter_start(test, &g[1], vf);
	/* lookups of known functions do not wait for the claim */
	k = lm_function_get(known);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(k));
	lm_function_put(k);
	complete_all(&slow.go);
	a = getter_wait(test, &g[0]);
	b = getter_wait(test, &g[1]);
	KUNIT_EXPECT_FALSE(test, slow.starved);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(a));
	KUNIT_EXPECT_PTR_EQ(test, a, b);
	KUNIT_EXPECT_EQ(test, atomic_read(&slow.claims), 1);

	/* unregister waits for a claim under way, then removes its result */
	reinit_completion(&slow.entered);
	reinit_completion(&slow.go);
	getter_start(test, &g[2], vf2);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&slow.entered,
							  20 * HZ), 0UL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kthread_run(unregister_fn, u,
						    "lm-unreg")));
	/* cannot fail on a correct core; on a broken one it usually does */
	msleep(20);
	KUNIT_EXPECT_FALSE(test, completion_done(&u->done));
	complete_all(&slow.go);
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&u->done, 20 * HZ),
			0UL);
	c = getter_wait(test, &g[2]);
	KUNIT_ASSERT_FALSE(test, IS_ERR_OR_NULL(c));
	/* the handle outlived its function: clean errors, no leak */
	KUNIT_EXPECT_EQ(test, lm_get_state(c, &state), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_get_state(a, &state), -ENODEV);
	KUNIT_EXPECT_EQ(test, atomic_read(&slow.claims), 2);
	lm_function_put(a);
	lm_function_put(b);
	lm_function_put(c);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns);
	device_unregister(vf);
	device_unregister(vf2);
	device_unregister(known);
}

static void lm_test_register_rejects(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 8 };
	static const struct lm_migration_ops no_load = {
		.stop = fake_stop, .restart = fake_restart,
		.save_begin = fake_save_begin, .state_size = fake_state_size,
	};
	static const struct lm_p2p_ops half_p2p = { .quiesce = fake_quiesce };
	static const struct lm_log_ops half_log = {
		.log_start = fake_log_start, .log_stop = fake_log_stop,
	};
	struct lm_controller bad = { .dev = kunit_device_register(test,
								  "lm-bad") };
	struct device *dev = kunit_device_register(test, "lm-test-rej");
	struct lm_function *fn;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, bad.dev);
	/* incomplete tables */
	KUNIT_EXPECT_EQ(test, lm_controller_register(&bad), -EINVAL);
	bad.mig_ops = &no_load;
	KUNIT_EXPECT_EQ(test, lm_controller_register(&bad), -EINVAL);
	bad.mig_ops = &fake_claim_mig_ops;
	bad.p2p_ops = &half_p2p;
	KUNIT_EXPECT_EQ(test, lm_controller_register(&bad), -EINVAL);
	bad.p2p_ops = NULL;
	bad.log_ops = &half_log;
	KUNIT_EXPECT_EQ(test, lm_controller_register(&bad), -EINVAL);
	/* no table for P2P nor logging: no function may have them */
	bad.log_ops = NULL;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&bad), 0);
	info.caps = LM_CAP_STOP_COPY | LM_CAP_P2P;
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&bad, dev, &info)),
			-EINVAL);
	info.caps = LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG;
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&bad, dev, &info)),
			-EINVAL);
	lm_controller_unregister(&bad);
	/* no STOP_COPY */
	info.caps = LM_CAP_P2P;
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&ctx->ctrl, dev, &info)),
			-EINVAL);
	info.caps = LM_CAP_STOP_COPY;
	info.max_state_size = 0;
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&ctx->ctrl, dev, &info)),
			-EINVAL);
	info.max_state_size = 8;
	info.compat_len = LM_COMPAT_MAX + 1;
	info.compat = compat_a;
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&ctx->ctrl, dev, &info)),
			-EINVAL);
	info.compat_len = 0;
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_add(&ctx->ctrl, dev, &info)),
			-EEXIST);
	lm_function_remove(fn);
}

static void record_dirty(void *opaque, unsigned long iova,
			 unsigned long length)
{
	*(unsigned long *)opaque = iova;
}

static void lm_test_dirty_log(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_log_range r = { .iova = 0x100000, .length = 0x100000 };
	struct lm_function *fn, *plain;
	struct fake_fn *f, *fp;
	unsigned long got = 0;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	plain = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 8, &fp);
	KUNIT_EXPECT_EQ(test, log_start(plain, &r, 1, 4096), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 1, 3000), -EINVAL);
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 0, 4096), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 1, 4096), 0);
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 1, 4096), -EBUSY);
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, ULONG_MAX, 2, record_dirty,
					    &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), 0);
	KUNIT_EXPECT_EQ(test, got, 0x100000UL + 4096);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), -EINVAL);
	KUNIT_EXPECT_STREQ(test, f->calls, "Dd");

	/* a reset stops logging through the driver before its reset */
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 1, 4096), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_STREQ(test, f->calls, "DdDdZ");
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, log_start(fn, &r, 1, 4096), 0);
	/* without logging, reset calls only the driver's reset */
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_STREQ(test, f->calls, "DdDdZDdZ");
}

/* ---- concurrency: state changes racing an unregister ---- */

struct racer {
	struct lm_function *fn;
	struct completion done;
	int enodev;
	int iterations;
	int stale;		/* reads of a file the unregister disabled */
};

static int racer_fn(void *data)
{
	struct racer *r = data;
	u8 buf[256];

	for (;;) {
		struct file *file = NULL;
		int ret;

		ret = lm_set_state(r->fn, LM_STATE_STOP_COPY, NULL, &file);
		if (!ret && file) {
			/* the unregister may come in while the file is open */
			cond_resched();
			/* another racer's session change also ends it */
			if (kernel_read(file, buf, sizeof(buf),
					&(loff_t){0}) == -ENODEV &&
			    lm_function_removed(r->fn))
				r->stale++;
			__fput_sync(file);
		}
		if (ret != -ENODEV)
			ret = lm_set_state(r->fn, LM_STATE_RUNNING, NULL,
					   &file);
		if (ret == -ENODEV)
			break;
		if (ret)
			lm_function_reset(r->fn);
		WRITE_ONCE(r->iterations, r->iterations + 1);
		cond_resched();
	}
	r->enodev = 1;
	complete(&r->done);
	return 0;
}

/*
 * Three threads move a function through sessions while its controller
 * unregisters: each ends with -ENODEV, nothing leaks, and the race was
 * real (every thread ran before the unregister, and some read found its
 * open file disabled under it).  Rounds repeat until that happened.
 */
static void lm_test_race_unregister(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	int round, stale = 0;

	for (round = 0; round < 20 && !stale; round++) {
		struct racer r[3];
		struct lm_function *fn;
		unsigned long left;
		struct fake_fn *f;
		int i;

		if (!ctx->registered) {
			KUNIT_ASSERT_EQ(test,
					lm_controller_register(&ctx->ctrl), 0);
			ctx->registered = true;
		}
		fn = lm_ctx_add(ctx, LM_CAP_ALL, 1000, &f);
		for (i = 0; i < ARRAY_SIZE(r); i++) {
			struct task_struct *t;

			memset(&r[i], 0, sizeof(r[i]));
			r[i].fn = lm_function_get(lm_function_device(fn));
			KUNIT_ASSERT_FALSE(test, IS_ERR(r[i].fn));
			init_completion(&r[i].done);
			t = kthread_run(racer_fn, &r[i], "lm-racer-%d", i);
			KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		}
		for (i = 0; i < ARRAY_SIZE(r); i++)
			while (!READ_ONCE(r[i].iterations))
				usleep_range(1000, 2000);
		lm_ctx_unregister(ctx);
		for (i = 0; i < ARRAY_SIZE(r); i++) {
			left = wait_for_completion_timeout(&r[i].done,
							   10 * HZ);
			KUNIT_EXPECT_NE(test, left, 0UL);
			KUNIT_EXPECT_EQ(test, r[i].enodev, 1);
			stale += r[i].stale;
			lm_function_put(r[i].fn);
		}
		KUNIT_EXPECT_EQ(test, f->open_saves, 0);
	}
	kunit_info(test, "%d rounds, %d stale reads\n", round, stale);
	KUNIT_EXPECT_GT(test, stale, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

static void lm_test_next_state_args(struct kunit *test)
{
	enum lm_state next;

	KUNIT_EXPECT_EQ(test, lm_next_state(LM_CAP_ALL, LM_STATE_NR,
					    LM_STATE_STOP, &next), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_next_state(LM_CAP_ALL, LM_STATE_STOP, 99,
					    &next), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_next_state(LM_CAP_ALL, LM_STATE_RUNNING,
					    LM_STATE_ERROR, &next), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_next_state(LM_CAP_ALL, LM_STATE_ERROR,
					    LM_STATE_ERROR, &next), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_next_state(LM_CAP_STOP_COPY,
					    LM_STATE_RUNNING,
					    LM_STATE_STOP_COPY, &next), 0);
	KUNIT_EXPECT_EQ(test, next, LM_STATE_STOP);
	KUNIT_EXPECT_STREQ(test, lm_state_name(LM_STATE_PRE_COPY_P2P),
			   "pre_copy_p2p");
	KUNIT_EXPECT_STREQ(test, lm_state_name(LM_STATE_NR), "invalid");
}

/* ---- hardening: lifetimes, memory and input found by review ---- */

/* A device beside @sibling on its bus, whose parent is @parent. */
static struct device *bus_child_new(struct kunit *test, struct device *parent,
				    struct device *sibling, const char *name)
{
	struct device *dev = kzalloc(sizeof(*dev), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, dev);
	device_initialize(dev);
	dev->parent = parent;
	dev->bus = sibling->bus;
	dev->release = child_release;
	dev_set_name(dev, "%s", name);
	KUNIT_ASSERT_EQ(test, device_add(dev), 0);
	return dev;
}

/*
 * A function lives as long as its controlled device, not longer: a VF
 * destroyed (sriov_numvfs N -> 0) while a consumer holds its function, and
 * created again, is claimed afresh.
 */
static void lm_test_device_deleted(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &fake_claim_ops,
				      .mig_ops = &fake_claim_mig_ops,
				      .p2p_ops = &fake_p2p_ops };
	int fns = atomic_read(&lm_live_functions);
	struct lm_function *h, *again;
	struct device *pf, *vf, *cd;
	struct file *file;

	claim_count = 0;
	pf = kunit_device_register(test, "lm-claim-pf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pf);
	ctrl.dev = pf;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	vf = bus_child_new(test, pf, pf, "lm-claim-yes");
	h = lm_function_get(vf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, h);
	KUNIT_ASSERT_EQ(test, lm_set_state(h, LM_STATE_STOP, NULL, &file), 0);

	device_unregister(vf);
	KUNIT_EXPECT_TRUE(test, lm_function_removed(h));
	cd = class_find_device_by_name(&lm_class, "lm-claim-yes");
	KUNIT_EXPECT_NULL(test, cd);
	put_device(cd);
	KUNIT_EXPECT_EQ(test, lm_set_state(h, LM_STATE_RUNNING, NULL, &file),
			-ENODEV);
	/* the consumer's reference is the last: nothing else pins the VF */
	lm_function_put(h);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns);

	vf = bus_child_new(test, pf, pf, "lm-claim-yes");
	again = lm_function_get(vf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, again);
	KUNIT_EXPECT_EQ(test, claim_count, 2);
	KUNIT_EXPECT_EQ(test, lm_set_state(again, LM_STATE_STOP, NULL, &file),
			0);
	lm_function_put(again);
	lm_controller_unregister(&ctrl);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns);
	device_unregister(vf);
}

/* Release only notes that it came: the fake's memory is the test's. */
static void fake_release_noted(struct lm_controller *ctrl, struct device *dev,
			       void *drvdata)
{
	fake_call(drvdata, 'X');
}

static const struct lm_controller_ops fake_ops_rel = {
	.release = fake_release_noted,
};

/*
 * A function added explicitly stops working with its device, frees the
 * device's name, and stays valid for its driver's lm_function_remove().
 */
static void lm_test_device_deleted_added(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new_ops(test, &fake_ops_rel);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 64 };
	int fns = atomic_read(&lm_live_functions);
	struct lm_function *fn, *again;
	struct file *file, *saving;
	struct device *dev;
	struct fake_fn *f;

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	info.drvdata = f;
	dev = kunit_device_register(test, "lm-test-vf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	f->state_len = 64;
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &saving), 0);
	f->ncalls = 0;
	f->calls[0] = 0;
	kunit_device_unregister(test, dev);
	KUNIT_EXPECT_TRUE(test, lm_function_removed(fn));
	/* nothing of the driver's ran from device_del() */
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	KUNIT_EXPECT_EQ(test, f->open_saves, 1);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ENODEV);
	fput_now(saving);

	dev = kunit_device_register(test, "lm-test-vf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	again = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, again);
	KUNIT_EXPECT_EQ(test, lm_set_state(again, LM_STATE_STOP, NULL, &file),
			0);
	f->ncalls = 0;		/* "again" shares the fake */
	f->calls[0] = 0;
	lm_function_remove(fn);		/* KASAN: still valid */
	/* release came now, once */
	KUNIT_EXPECT_STREQ(test, f->calls, "X");
	/* "again", stopped, is reset to running, then released */
	lm_function_remove(again);
	KUNIT_EXPECT_STREQ(test, f->calls, "XZX");
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns);
}

/* Whatever state the controller leaves a function in, it ends running. */
static void lm_test_unregister_restarts(struct kunit *test)
{
	static const enum lm_state states[] = {
		LM_STATE_STOP, LM_STATE_STOP_COPY, LM_STATE_RESUMING,
		LM_STATE_RUNNING_P2P, LM_STATE_PRE_COPY_P2P, LM_STATE_ERROR,
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct file *files[ARRAY_SIZE(states)] = {};
	struct fake_fn *f[ARRAY_SIZE(states)];
	struct lm_function *fn;
	int i;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		fn = lm_ctx_add(ctx, LM_CAP_ALL, 64, &f[i]);
		if (states[i] == LM_STATE_ERROR) {
			f[i]->fail_nth = 1;
			f[i]->fail_err = -EIO;
			KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP,
							   NULL, &files[i]),
					-EIO);
			f[i]->stopped = true;	/* as far as anyone knows */
		} else {
			KUNIT_ASSERT_EQ(test, lm_set_state(fn, states[i], NULL,
							   &files[i]), 0);
		}
		f[i]->ncalls = 0;
	}
	lm_ctx_unregister(ctx);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		KUNIT_EXPECT_FALSE_MSG(test, f[i]->stopped, "from %s",
				       lm_state_name(states[i]));
		/* the core reset it (fake's Z), last */
		KUNIT_EXPECT_EQ_MSG(test, f[i]->calls[f[i]->ncalls - 1], 'Z',
				    "from %s: %s", lm_state_name(states[i]),
				    f[i]->calls);
		fput_now(files[i]);
	}
}

#if IS_ENABLED(CONFIG_PCI) && !IS_ENABLED(CONFIG_UML)
/* A PCI controller's claim only ever sees its VFs, never other children. */
static void lm_test_claim_pci_child(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &fake_claim_ops,
				      .mig_ops = &fake_claim_mig_ops,
				      .p2p_ops = &fake_p2p_ops };
	struct pci_dev *pdev = NULL;
	struct device *child;

	/* any PCI function no real controlling driver registered */
	while ((pdev = pci_get_device(PCI_ANY_ID, PCI_ANY_ID, pdev))) {
		ctrl.dev = &pdev->dev;
		if (!lm_controller_register(&ctrl))
			break;
	}
	KUNIT_ASSERT_NOT_NULL(test, pdev);
	claim_count = 0;
	child = child_new(test, &pdev->dev, "lm-claim-yes");
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(child)), -ENODEV);
	KUNIT_EXPECT_EQ(test, claim_count, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(&pdev->dev)), -ENODEV);
	KUNIT_EXPECT_EQ(test, claim_count, 0);
	lm_controller_unregister(&ctrl);
	device_unregister(child);
	pci_dev_put(pdev);
}
#endif

/* An ended session holds no buffers, although its file is still open. */
static void lm_test_disable_frees(struct kunit *test)
{
	const size_t size = 3 << 20;
	struct lm_ctx *ctx = lm_ctx_new(test);
	long base;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	struct saved s;
	u8 *buf;

	src = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = save_stream(test, src, fs, 1 << 20);
	/* earlier tests' files closed with fput() go now, not during ours */
	flush_delayed_fput();
	base = atomic_long_read(&lm_file_mem);

	/* RESUMING -> STOP loads, and the chunks go with the session */
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, write_all(file, s.buf, s.len, 1 << 20),
			(ssize_t)s.len);
	KUNIT_EXPECT_GE(test, atomic_long_read(&lm_file_mem), base + (long)size);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, (u64)size);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), base);
	fput_now(file);

	/* RESUMING -> STOP half way: the same */
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, write_all(file, s.buf, s.len / 2, 1 << 20),
			(ssize_t)(s.len / 2));
	KUNIT_EXPECT_NE(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	lm_function_reset(dst);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), base);
	fput_now(file);

	/* STOP_COPY -> STOP half read: bounce and attached bytes go */
	fake_attach(test, fs);
	buf = kunit_kmalloc(test, 4096, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_ASSERT_EQ(test, kernel_read(file, buf, 4096, &(loff_t){0}),
			(ssize_t)4096);
	KUNIT_EXPECT_GT(test, kref_read(&fs->mem->ref), 1U);
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&fs->mem->ref), 1U);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), base);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 1, &(loff_t){0}),
			(ssize_t)-ENODEV);
	fput_now(file);
}

/* The largest state a driver may declare, and what lies beyond it. */
static void lm_test_state_size_bound(struct kunit *test)
{
	static const u64 bad[] = {
		LM_MAX_STATE_SIZE + 1, U64_MAX, U64_MAX - SZ_1M + 2,
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY };
	struct lm_function *fn;
	struct file *file, *none;
	struct device *dev;
	int i;

	dev = kunit_device_register(test, "lm-test-big");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		info.max_state_size = bad[i];
		KUNIT_EXPECT_EQ_MSG(test,
				    PTR_ERR(lm_function_add(&ctx->ctrl, dev,
							    &info)),
				    -EINVAL, "size %llu", bad[i]);
	}
	info.max_state_size = LM_MAX_STATE_SIZE;
	info.drvdata = kunit_kzalloc(test, sizeof(struct fake_fn), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, info.drvdata);
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none),
			-ENODATA);
	fput_now(file);
	lm_function_remove(fn);
}

/* Bytes a driver did not produce never show old heap contents. */
static void lm_test_underfill(struct kunit *test)
{
	const size_t size = 256 * 1024, hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct lm_buffer *lb;
	struct fake_fn *f;
	struct file *file;
	size_t i, bad = 0;
	ssize_t n;
	u8 *p, *buf;

	/* leave recognisable bytes where the next allocations may land */
	p = kvmalloc(size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	memset(p, 0xa5, size);
	kvfree(p);
	lb = lm_buffer_alloc(size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, lb);
	for (i = 0; i < size; i++)
		bad += ((u8 *)lb->data)[i] != 0;
	KUNIT_EXPECT_EQ(test, bad, 0UL);
	lm_buffer_put(lb);

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 4096, &f);
	f->underfill = true;
	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	p = kvmalloc(size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	memset(p, 0xa5, size);
	kvfree(p);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL, &file),
			0);
	n = read_all(file, buf, 8192, 8192);
	KUNIT_ASSERT_EQ(test, n, (ssize_t)(hdr + 2 * rec + 4096));
	/*
	 * The bounce buffer held the header and record before (the stream's
	 * own bytes); past them, nothing was ever written: zeros.
	 */
	for (i = hdr + rec, bad = 0; i < 4096; i++)
		bad += buf[hdr + rec + i] != 0;
	KUNIT_EXPECT_EQ(test, bad, 0UL);
	fput_now(file);
}

/* An empty state is no state: it never reaches a device, either side. */
static void lm_test_empty_stream(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn, *empty;
	struct fake_fn *f, *fe;
	struct file *file, *none;
	enum lm_state st;
	u8 buf[512];
	size_t len;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 64, &f);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	len = empty_stream(fn, buf);
	KUNIT_ASSERT_EQ(test, write_all(file, buf, len, len), (ssize_t)len);
	f->ncalls = 0;
	f->calls[0] = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none),
			-ENODATA);
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_RESUMING);
	fput_now(file);

	/* a driver that saves nothing fails the save, not the destination */
	empty = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 0, &fe);
	KUNIT_ASSERT_EQ(test, lm_set_state(empty, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, read_all(file, buf, sizeof(buf), sizeof(buf)),
			(ssize_t)-ENODATA);
	/* the device is as it was: no reason for ERROR */
	KUNIT_EXPECT_EQ(test, lm_get_state(empty, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_STOP_COPY);
	fput_now(file);
}

/* sysfs shows the whole compatibility descriptor, the largest too. */
static void lm_test_compat_sysfs(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 8,
					 .compat_len = LM_COMPAT_MAX };
	struct device_attribute *attr = NULL;
	struct attribute **a;
	struct lm_function *fn;
	struct device *dev;
	char *buf, want[3];
	u8 *compat;
	int i;

	compat = kunit_kzalloc(test, LM_COMPAT_MAX, GFP_KERNEL);
	buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, compat);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	for (i = 0; i < LM_COMPAT_MAX; i++)
		compat[i] = i * 3;
	info.compat = compat;
	dev = kunit_device_register(test, "lm-test-compat");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	for (a = lm_function_groups[0]->attrs; *a; a++)
		if (!strcmp((*a)->name, "compat"))
			attr = container_of(*a, struct device_attribute, attr);
	KUNIT_ASSERT_NOT_NULL(test, attr);
	KUNIT_EXPECT_EQ(test, attr->show(&fn->dev, attr, buf),
			(ssize_t)(2 * LM_COMPAT_MAX + 1));
	for (i = 0; i < LM_COMPAT_MAX; i++) {
		snprintf(want, sizeof(want), "%02x", (u8)(i * 3));
		KUNIT_EXPECT_EQ_MSG(test, memcmp(buf + 2 * i, want, 2), 0,
				    "byte %d", i);
	}
	lm_function_remove(fn);
}

/* Logging requests that make no sense never reach the driver. */
static void lm_test_log_input(struct kunit *test)
{
	static const struct {
		struct lm_log_range r[2];
		unsigned int nr;
		u64 page_size;
	} bad[] = {
		{ { { 0x100000, 0x100000 } }, 1, 1 },
		{ { { 0x100000, 0x100000 } }, 1, 1ULL << 63 },
		{ { { 0x100000, 0x100000 } }, 1, 3 << 12 },
		{ { { 0x100000, 0 } }, 1, 4096 },
		{ { { 0x100800, 0x1000 } }, 1, 4096 },
		{ { { 0x100000, 0x1800 } }, 1, 4096 },
		{ { { -0x1000ULL, 0x2000 } }, 1, 4096 },
		{ { { 0x100000, 0x2000 }, { 0x101000, 0x2000 } }, 2, 4096 },
		{ { { 0x200000, 0x2000 }, { 0x100000, 0x2000 } }, 2, 4096 },
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test, log_start(fn, bad[i].r, bad[i].nr,
						    bad[i].page_size),
				    -EINVAL, "case %d", i);
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	KUNIT_EXPECT_EQ(test, log_start(fn, bad[7].r, 1, 4096), 0);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
}

struct dirty_seen {
	struct lm_function *fn;
	int calls;
	bool locked;
	unsigned long iova[8];
	unsigned long len[8];
};

static void record_runs(void *opaque, unsigned long iova, unsigned long len)
{
	struct dirty_seen *d = opaque;

	/* the consumer may fault on user memory: no state lock held */
	if (mutex_is_locked(&d->fn->lock))
		d->locked = true;
	if (d->calls < ARRAY_SIZE(d->iova)) {
		d->iova[d->calls] = iova;
		d->len[d->calls] = len;
	}
	d->calls++;
}

/*
 * Reports reach the consumer outside the state lock, clipped to the range
 * asked, at the logging page size.
 */
static void lm_test_dirty_report(struct kunit *test)
{
	struct lm_log_range r = { .iova = 0x100000, .length = 0x100000 };
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, log_start(fn, &r, 1, 4096), 0);
	f->nrep = 4;
	f->rep_iova[0] = 0x0ff000;	/* starts before the range */
	f->rep_len[0] = 0x3000;
	f->rep_iova[1] = 0x104100;	/* inside a page: the whole page */
	f->rep_len[1] = 0x10;
	f->rep_iova[2] = 0x105000;	/* adjacent pages run together */
	f->rep_len[2] = 0x1000;
	f->rep_iova[3] = 0x1ff000;	/* runs past the end */
	f->rep_len[3] = 0x10000;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_runs, &d), 0);
	KUNIT_EXPECT_FALSE(test, d.locked);
	KUNIT_EXPECT_EQ(test, d.calls, 3);
	KUNIT_EXPECT_EQ(test, d.iova[0], 0x100000UL);
	KUNIT_EXPECT_EQ(test, d.len[0], 0x2000UL);
	KUNIT_EXPECT_EQ(test, d.iova[1], 0x104000UL);
	KUNIT_EXPECT_EQ(test, d.len[1], 0x2000UL);
	KUNIT_EXPECT_EQ(test, d.iova[2], 0x1ff000UL);
	KUNIT_EXPECT_EQ(test, d.len[2], 0x1000UL);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
}

/* A device tracking coarser than asked says so; nonsense is refused. */
static void lm_test_log_granularity(struct kunit *test)
{
	static const u64 bad[] = { 3 * 4096, 2048, 1ULL << 31 };
	struct lm_log_range r = { .iova = 0x100000, .length = 0x100000 };
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;
	u64 ps = 4096;
	int i;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	d.fn = fn;
	f->log_granted = 16384;
	KUNIT_ASSERT_EQ(test, lm_log_start(fn, &r, 1, &ps), 0);
	KUNIT_EXPECT_EQ(test, ps, 16384ULL);
	f->nrep = 1;
	f->rep_iova[0] = 0x105000;
	f->rep_len[0] = 0x10;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_runs, &d), 0);
	KUNIT_ASSERT_EQ(test, d.calls, 1);
	KUNIT_EXPECT_EQ(test, d.iova[0], 0x104000UL);
	KUNIT_EXPECT_EQ(test, d.len[0], 0x4000UL);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);

	/* the range is 4K aligned only: a 2M grant would straddle it */
	r.iova = 0x101000;
	f->log_granted = SZ_2M;
	f->ncalls = 0;
	ps = 4096;
	KUNIT_EXPECT_EQ(test, lm_log_start(fn, &r, 1, &ps), -EINVAL);
	KUNIT_EXPECT_STREQ(test, f->calls, "Dd");
	r.iova = 0x100000;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		f->log_granted = bad[i];
		f->ncalls = 0;
		ps = 4096;
		KUNIT_EXPECT_EQ_MSG(test, lm_log_start(fn, &r, 1, &ps), -EINVAL,
				    "granted %llu", bad[i]);
		/* the driver was told to stop again; logging is off */
		KUNIT_EXPECT_STREQ(test, f->calls, "Dd");
		KUNIT_EXPECT_EQ(test, ps, 4096ULL);
		KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
						    record_runs, &d), -EINVAL);
	}
}

struct restarter {
	struct dirty_seen d;
	struct lm_log_range r;
	int ret;
};

/* Stops and starts logging again, fewer ranges, from the consumer. */
static void restart_logging(void *opaque, unsigned long iova,
			    unsigned long len)
{
	struct restarter *rs = opaque;

	record_runs(&rs->d, iova, len);
	if (rs->d.calls == 1) {
		lm_log_stop(rs->d.fn);
		rs->ret = log_start(rs->d.fn, &rs->r, 1, 4096);
	}
}

/* A report whose logging session is restarted under it ends, -EINVAL. */
static void lm_test_dirty_report_restarted(struct kunit *test)
{
	const unsigned long win = (unsigned long)PAGE_SIZE * BITS_PER_BYTE *
				  4096;
	struct lm_log_range r[3] = {
		{ .iova = 0, .length = win },
		{ .iova = 2 * win, .length = win },
		{ .iova = 4 * win, .length = win },
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct restarter rs = { .r = { .iova = 0, .length = 0x1000 } };
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	rs.d.fn = fn;
	KUNIT_ASSERT_EQ(test, log_start(fn, r, 3, 4096), 0);
	f->nrep = 2;
	f->rep_iova[0] = 0;
	f->rep_len[0] = 0x1000;
	f->rep_iova[1] = 4 * win;
	f->rep_len[1] = 0x1000;
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0, 5 * win, restart_logging,
					    &rs), -EINVAL);
	KUNIT_EXPECT_EQ(test, rs.ret, 0);
	/* the first window's page only, nothing of the new session's */
	KUNIT_EXPECT_EQ(test, rs.d.calls, 1);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
}

/* Without a reset op, the arcs back: restart, then p2p_resume. */
static void lm_test_unregister_restarts_no_reset(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &fake_claim_ops,
				      .mig_ops = &fake_claim_mig_ops,
				      .p2p_ops = &fake_p2p_ops };
	struct device *pf, *vf;
	struct lm_function *fn;
	struct file *file;

	pf = kunit_device_register(test, "lm-claim-pf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pf);
	ctrl.dev = pf;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	vf = bus_child_new(test, pf, pf, "lm-claim-yes");
	fn = lm_function_get(vf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_STREQ(test, fake(fn)->calls, "QS");
	/* the fake's data goes with release: look before it */
	fake(fn)->ncalls = 0;
	fake_claim_seen = NULL;
	lm_controller_unregister(&ctrl);
	KUNIT_ASSERT_NOT_NULL(test, fake_claim_seen);
	KUNIT_EXPECT_STREQ(test, fake_claim_seen, "RU");
	lm_function_put(fn);

	/* a restart that fails: nothing more is tried */
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	fn = lm_function_get(vf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	fake(fn)->ncalls = 0;
	fake(fn)->fail_nth = 1;
	fake(fn)->counted = 0;
	fake(fn)->fail_err = -EIO;
	fake_claim_seen = NULL;
	lm_controller_unregister(&ctrl);
	KUNIT_ASSERT_NOT_NULL(test, fake_claim_seen);
	KUNIT_EXPECT_STREQ(test, fake_claim_seen, "R");
	lm_function_put(fn);
	device_unregister(vf);
}

/*
 * Reports over more than one window, at the top of the address space and
 * from an unaligned start; nothing is asked where logging is off.
 */
static void lm_test_dirty_report_windows(struct kunit *test)
{
	const unsigned long win = (unsigned long)PAGE_SIZE * BITS_PER_BYTE *
				  4096;
	struct lm_log_range r[2] = {
		{ .iova = 0, .length = 3 * win },
		{ .iova = -0x2000UL, .length = 0x2000 },
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, log_start(fn, r, 2, 4096), 0);
	f->nrep = 4;
	f->rep_iova[0] = 0;
	f->rep_len[0] = 0x1000;
	f->rep_iova[1] = win - 0x1000;	/* across the first windows' edge */
	f->rep_len[1] = 0x2000;
	f->rep_iova[2] = 3 * win - 0x1000;
	f->rep_len[2] = 0x1000;
	f->rep_iova[3] = -0x1000UL;	/* the last page there is */
	f->rep_len[3] = 0x1000;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, 0, 3 * win, record_runs, &d),
			0);
	KUNIT_EXPECT_FALSE(test, d.locked);
	KUNIT_ASSERT_EQ(test, d.calls, 4);
	KUNIT_EXPECT_EQ(test, d.iova[0], 0UL);
	KUNIT_EXPECT_EQ(test, d.len[0], 0x1000UL);
	/* one run per window: the edge splits it */
	KUNIT_EXPECT_EQ(test, d.iova[1], win - 0x1000);
	KUNIT_EXPECT_EQ(test, d.len[1], 0x1000UL);
	KUNIT_EXPECT_EQ(test, d.iova[2], win);
	KUNIT_EXPECT_EQ(test, d.len[2], 0x1000UL);
	KUNIT_EXPECT_EQ(test, d.iova[3], 3 * win - 0x1000);

	memset(&d, 0, sizeof(d));
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, -0x2000UL, 0x2000, record_runs,
					    &d), 0);
	KUNIT_ASSERT_EQ(test, d.calls, 1);
	KUNIT_EXPECT_EQ(test, d.iova[0], -0x1000UL);
	KUNIT_EXPECT_EQ(test, d.len[0], 0x1000UL);

	/* an unaligned start: the dirty page, clipped to what was asked */
	memset(&d, 0, sizeof(d));
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, 0x800, 0x1000, record_runs,
					    &d), 0);
	KUNIT_ASSERT_EQ(test, d.calls, 1);
	KUNIT_EXPECT_EQ(test, d.iova[0], 0x800UL);
	KUNIT_EXPECT_EQ(test, d.len[0], 0x800UL);

	/* nothing logged there: no driver call, nothing dirty */
	memset(&d, 0, sizeof(d));
	d.fn = fn;
	f->nrep = 0;
	f->dirty_iova = 4 * win;
	KUNIT_ASSERT_EQ(test, lm_log_report(fn, 4 * win, win, record_runs,
					    &d), 0);
	KUNIT_EXPECT_EQ(test, d.calls, 0);
	KUNIT_EXPECT_EQ(test, lm_log_stop(fn), 0);
}

#ifdef CONFIG_LIVE_MIGRATION_FAULT_INJECTION
/*
 * Each of the core's allocations and file creations on the way into a
 * session fails in turn (the task's fail-nth): the call fails with -ENOMEM,
 * the state stays, the driver's session is closed again, nothing leaks.
 */
static void lm_test_fail_nth(struct kunit *test)
{
	static const enum lm_state arcs[][2] = {
		{ LM_STATE_STOP, LM_STATE_STOP_COPY },
		{ LM_STATE_RUNNING, LM_STATE_PRE_COPY },
		{ LM_STATE_STOP, LM_STATE_RESUMING },
	};
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i, n;

	fn = lm_ctx_add(ctx, LM_CAP_ALL, 3 << 20, &f);
	flush_delayed_fput();
	for (i = 0; i < ARRAY_SIZE(arcs); i++) {
		int files = atomic_read(&lm_live_files);
		long mem = atomic_long_read(&lm_file_mem);
		int injected = 0;
		bool hit = true;

		for (n = 1; hit && n < 32; n++) {
			struct file *file = NULL;
			enum lm_state st;
			int ret;

			KUNIT_ASSERT_EQ(test, lm_set_state(fn, arcs[i][0], NULL,
							   &file), 0);
			current->fail_nth = n;
			ret = lm_set_state(fn, arcs[i][1], NULL, &file);
			hit = !current->fail_nth;
			current->fail_nth = 0;
			KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
			if (!hit) {
				KUNIT_EXPECT_EQ(test, ret, 0);
				KUNIT_EXPECT_EQ(test, st, arcs[i][1]);
				fput_now(file);
			} else {
				injected++;
				KUNIT_EXPECT_EQ(test, ret, -ENOMEM);
				KUNIT_EXPECT_EQ(test, st, arcs[i][0]);
				KUNIT_EXPECT_NULL(test, file);
				KUNIT_EXPECT_EQ(test, f->open_saves, 0);
				KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files),
						files);
				KUNIT_EXPECT_EQ(test,
						atomic_long_read(&lm_file_mem),
						mem);
			}
			KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
		}
		KUNIT_EXPECT_FALSE(test, hit);
		KUNIT_EXPECT_GT(test, injected, 0);
	}
}

/*
 * A write whose payload allocation fails part way reports the bytes it
 * took; writing the rest then completes the stream.
 */
static void lm_test_fail_nth_write_retry(struct kunit *test)
{
	const size_t size = 3 << 20;
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	struct saved s;
	ssize_t n;

	src = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = save_stream(test, src, fs, 1 << 20);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	current->fail_nth = 2;		/* the second 1 MiB chunk */
	n = kernel_write(file, s.buf, s.len, &(loff_t){0});
	KUNIT_EXPECT_EQ(test, current->fail_nth, 0U);
	current->fail_nth = 0;
	KUNIT_ASSERT_GT(test, n, (ssize_t)(1 << 20));
	KUNIT_ASSERT_LT(test, n, (ssize_t)s.len);
	KUNIT_ASSERT_EQ(test, write_all(file, s.buf + n, s.len - n, s.len),
			(ssize_t)(s.len - n));
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, (u64)size);
	KUNIT_EXPECT_FALSE(test, fd->load_bad);
	fput_now(file);
}
#endif

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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	u8 *buf;
	int i;

	buf = kunit_kzalloc(test, 512, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	src = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &fs);
	dst = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &fd);
	KUNIT_ASSERT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_ASSERT_EQ(test, read_all(file, buf, 512, 512),
			(ssize_t)sizeof(lm_ref_stream));
	fput_now(file);
	for (i = 0; i < sizeof(lm_ref_stream); i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], lm_ref_stream[i],
				    "byte %d", i);

	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, write_all(file, lm_ref_stream,
					sizeof(lm_ref_stream), 7),
			(ssize_t)sizeof(lm_ref_stream));
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, 16ULL);
	KUNIT_EXPECT_FALSE(test, fd->load_bad);
	fput_now(file);
}

/*
 * The driver fails while read() streams: in STOP_COPY (save_read), and in
 * the final save that PRE_COPY -> STOP_COPY defers to the next read().
 * read() returns the driver's error, the function is in ERROR, the
 * driver's session is over.
 */
static void lm_test_save_fails_in_read(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct file *file, *none;
	struct fake_fn *f;
	enum lm_state st;
	u8 *buf;
	ssize_t n;

	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_PRE_COPY, 3000, &f);

	/* save_read is the first primitive counted after save_begin */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	f->fail_nth = 1;
	f->counted = 0;
	f->fail_err = -EREMOTEIO;
	n = read_all(file, buf, 8192, 8192);
	/* the header and record went out before the payload failed */
	KUNIT_EXPECT_EQ(test, n, (ssize_t)-EREMOTEIO);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 1, &(loff_t){0}),
			(ssize_t)-EREMOTEIO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, f->open_saves, 0);
	fput_now(file);
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
	fput_now(file);
	f->fail_nth = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
}

/*
 * PRE_COPY's temporary end stays an end until PRECOPY_INFO asks for more;
 * in PRE_COPY_P2P the same rules hold.
 */
static void lm_test_precopy_enomsg_rules(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct file *file;
	struct fake_fn *f;
	u64 init, dirty;
	loff_t pos = 0;
	u8 *buf;

	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_ctx_add(ctx, LM_CAP_ALL, 3000, &f);
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
	fput_now(file);
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
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i;

	fn = lm_ctx_add(ctx, LM_CAP_ALL, 5000, &f);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		struct file *file = NULL;
		u64 size = 0;

		KUNIT_ASSERT_EQ(test, lm_set_state(fn, states[i], NULL, &file),
				0);
		KUNIT_EXPECT_EQ(test, lm_get_data_size(fn, &size), 0);
		KUNIT_EXPECT_EQ_MSG(test, size, 5000 + framing, "in %s",
				    lm_state_name(states[i]));
		fput_now(file);
		KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	}
}

/*
 * Bytes after the END record, and writes after the session ended, are
 * refused; what was loaded stays loaded.
 */
static void lm_test_write_after_end(struct kunit *test)
{
	struct lm_ctx *ctx = lm_ctx_new(test);
	struct lm_function *fn;
	struct file *file, *none;
	struct fake_fn *f;
	enum lm_state st;
	size_t len;
	u8 buf[512];

	fn = lm_ctx_add(ctx, LM_CAP_STOP_COPY, 64, &f);
	len = small_stream(fn, f->seed, 16, buf);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, write_all(file, buf, len, len), (ssize_t)len);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, 1, &(loff_t){0}),
			(ssize_t)-EBADMSG);
	/* the stream is broken for good: RESUMING -> STOP refuses it */
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none),
			-EBADMSG);
	KUNIT_EXPECT_EQ(test, f->loads, 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_RESUMING);
	fput_now(file);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, write_all(file, buf, len, 5), (ssize_t)len);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, f->loaded, 16ULL);
	KUNIT_EXPECT_EQ(test, kernel_write(file, buf, len, &(loff_t){0}),
			(ssize_t)-ENODEV);
	KUNIT_EXPECT_EQ(test, f->loaded, 16ULL);
	fput_now(file);
}

static struct kunit_case lm_fsm_cases[] = {
	KUNIT_CASE_PARAM(lm_test_fsm_pairs, fsm_gen),
	KUNIT_CASE_PARAM(lm_test_fault_each_step, fault_gen),
	KUNIT_CASE(lm_test_unsupported_from),
	KUNIT_CASE(lm_test_reset_fails),
	KUNIT_CASE(lm_test_next_state_args),
	{}
};

static struct kunit_suite lm_fsm_suite = {
	.name = "live_migration_fsm",
	.test_cases = lm_fsm_cases,
};

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

static struct kunit_case lm_lifetime_cases[] = {
	KUNIT_CASE(lm_test_unregister_with_users),
	KUNIT_CASE(lm_test_attach),
	KUNIT_CASE(lm_test_claim_on_demand),
	KUNIT_CASE(lm_test_claim_outside_registry_lock),
	KUNIT_CASE(lm_test_register_rejects),
	KUNIT_CASE(lm_test_dirty_log),
	KUNIT_CASE(lm_test_race_unregister),
	{}
};

static struct kunit_suite lm_lifetime_suite = {
	.name = "live_migration_lifetime",
	.test_cases = lm_lifetime_cases,
};

static struct kunit_case lm_hardening_cases[] = {
	KUNIT_CASE(lm_test_device_deleted),
	KUNIT_CASE(lm_test_device_deleted_added),
	KUNIT_CASE(lm_test_unregister_restarts),
#if IS_ENABLED(CONFIG_PCI) && !IS_ENABLED(CONFIG_UML)
	KUNIT_CASE(lm_test_claim_pci_child),
#endif
	KUNIT_CASE(lm_test_disable_frees),
	KUNIT_CASE(lm_test_state_size_bound),
	KUNIT_CASE(lm_test_underfill),
	KUNIT_CASE(lm_test_empty_stream),
	KUNIT_CASE(lm_test_compat_sysfs),
	KUNIT_CASE(lm_test_log_input),
	KUNIT_CASE(lm_test_dirty_report),
	KUNIT_CASE(lm_test_dirty_report_windows),
	KUNIT_CASE(lm_test_log_granularity),
	KUNIT_CASE(lm_test_dirty_report_restarted),
	KUNIT_CASE(lm_test_unregister_restarts_no_reset),
#ifdef CONFIG_LIVE_MIGRATION_FAULT_INJECTION
	KUNIT_CASE(lm_test_fail_nth),
	KUNIT_CASE(lm_test_fail_nth_write_retry),
#endif
	{}
};

static struct kunit_suite lm_hardening_suite = {
	.name = "live_migration_hardening",
	.test_cases = lm_hardening_cases,
};

kunit_test_suites(&lm_fsm_suite, &lm_stream_suite, &lm_lifetime_suite,
		  &lm_hardening_suite);
