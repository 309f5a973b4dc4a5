/* SPDX-License-Identifier: GPL-2.0 */
/* The fake controlling driver and the fixtures of the KUnit suites. */
#ifndef _LM_TEST_FAKE_H
#define _LM_TEST_FAKE_H

#include <kunit/test.h>
#include <linux/live_migration.h>
#include <linux/types.h>

#include "../lm_internal.h"

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
	bool use_buf;			/* hand segments over in mem */
	u64 buf_min;			/* ... those of this size or more */
	size_t buf_skew;		/* an offset this much too far: a bug */
	struct lm_buffer *mem;		/* the whole state, for use_buf */
	bool underfill;			/* save_read writes nothing: a bug */
	u64 log_granted;		/* granularity log_start answers */
	int compat_err;			/* compat_check answers this if set */
	int describe_err;		/* describe answers this if set */
	u16 describe_len;		/* describe's length, if set */
	u8 describe_flip;		/* xored into the descriptor's last byte */
	int nrep;			/* dirty ranges log_report gives */
	unsigned long rep_iova[4];
	unsigned long rep_len[4];
};

/* ---- fixtures ---- */

struct lm_ctx {
	struct kunit *test;
	struct lm_controller ctrl;
	bool registered;
	int nfn;
};

struct saved {
	u8 *buf;
	size_t len;
};

int lm_fake_call(struct fake_fn *f, char c);
struct fake_fn *lm_fake(struct lm_function *fn);
int lm_fake_stop(struct lm_function *fn);
int lm_fake_restart(struct lm_function *fn);
int lm_fake_quiesce(struct lm_function *fn);
int lm_fake_save_begin(struct lm_function *fn, enum lm_save_phase phase,
		       struct lm_segment *seg);
int lm_fake_state_size(struct lm_function *fn, u64 *len);
int lm_fake_log_start(struct lm_function *fn,
		      const struct lm_log_range *ranges, unsigned int nr,
		      u64 *page_size);
int lm_fake_log_stop(struct lm_function *fn);
extern const struct lm_p2p_ops lm_fake_p2p_ops;
int lm_kt_log_start(struct lm_function *fn, const struct lm_log_range *r,
		    unsigned int nr, u64 page_size);
void lm_kt_ctx_unregister(void *data);
struct lm_ctx *lm_kt_ctx_new_ops(struct kunit *test,
				 const struct lm_controller_ops *ops);
struct lm_ctx *lm_kt_ctx_new(struct kunit *test);
extern const u8 lm_fake_compat_a[5];
struct lm_function *lm_kt_ctx_add(struct lm_ctx *ctx, u32 caps,
				  u64 state_len, struct fake_fn **fp);
void lm_fake_mem_put(void *data);
void lm_fake_use_buffer(struct kunit *test, struct fake_fn *f);
void lm_kt_fput_now(struct file *file);
void lm_kt_fill_header(struct lm_function *fn, u8 *buf);
ssize_t lm_kt_read_all(struct file *file, u8 *buf, size_t cap, size_t step);
ssize_t lm_kt_write_all(struct file *file, const u8 *buf, size_t len,
			size_t step);
size_t lm_kt_small_stream(struct lm_function *fn, u32 seed, size_t n,
			  u8 *buf);
void lm_kt_free_saved(void *data);
struct saved lm_kt_save_stream(struct kunit *test, struct lm_function *fn,
			       struct fake_fn *f, size_t step);
extern int lm_fake_claim_count;
extern const char *lm_fake_claim_seen;
void lm_fake_release(struct lm_controller *ctrl, struct device *dev,
		     void *drvdata);
extern const struct lm_controller_ops lm_fake_claim_ops;
extern const struct lm_migration_ops lm_fake_claim_mig_ops;
void lm_kt_child_release(struct device *dev);
struct device *lm_kt_child_new(struct kunit *test, struct device *parent,
			       const char *name);

#endif /* _LM_TEST_FAKE_H */
