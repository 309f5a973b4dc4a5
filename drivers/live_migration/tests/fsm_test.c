// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the state machine.  Every (from, to) pair for every capability
 * set against the arcs VFIO takes, and a failure injected into each
 * primitive of each path.
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
		len = lm_kt_small_stream(fn, lm_fake(fn)->seed, 16, buf);
		KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, buf, len, len),
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	int c, checked = 0;
	enum lm_state s;

	for (c = 0; c < ARRAY_SIZE(cap_sets); c++) {
		struct lm_function *fn;
		struct file *file;
		struct fake_fn *f;
		enum lm_state got;

		fn = lm_kt_ctx_add(ctx, cap_sets[c], 64, &f);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	enum lm_state to;

	for (to = 0; to < LM_STATE_NR; to++) {
		enum lm_state path[8], got;
		struct file *before, *file = NULL;
		char want[16] = "";
		struct lm_function *fn;
		struct fake_fn *f;
		int n, i, ret;

		fn = lm_kt_ctx_add(ctx, p->caps, 64, &f);
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
		lm_kt_fput_now(file);
		lm_kt_fput_now(before);
		lm_function_remove(fn);
	}
}

/* ---- a failure injected into each primitive on each path ---- */

static void lm_test_fault_each_step(struct kunit *test)
{
	const struct fsm_param *p = test->param_value;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
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

			fn = lm_kt_ctx_add(ctx, p->caps, 64, &f);
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
			lm_kt_fput_now(before);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state got;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &f);
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

/*
 * -EAGAIN from stop or restart says the driver did nothing to the device:
 * the function stays where it was, not in ERROR, and the arc can be tried
 * again.
 */
static void lm_test_again(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file = NULL;
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state got;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 16, &f);
	f->fail_nth = 1;
	f->fail_err = -EAGAIN;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	f->counted = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_STOP);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			0);
	KUNIT_EXPECT_STREQ(test, f->calls, "SSRR");
	KUNIT_EXPECT_EQ(test, fn->stats.errors, 2);
	KUNIT_EXPECT_NULL(test, file);
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

static struct kunit_case lm_fsm_cases[] = {
	KUNIT_CASE_PARAM(lm_test_fsm_pairs, fsm_gen),
	KUNIT_CASE_PARAM(lm_test_fault_each_step, fault_gen),
	KUNIT_CASE(lm_test_unsupported_from),
	KUNIT_CASE(lm_test_reset_fails),
	KUNIT_CASE(lm_test_again),
	KUNIT_CASE(lm_test_next_state_args),
	{}
};

static struct kunit_suite lm_fsm_suite = {
	.name = "live_migration_fsm",
	.test_cases = lm_fsm_cases,
};

kunit_test_suite(lm_fsm_suite);
