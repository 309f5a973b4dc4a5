// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: lifetimes.  Unregister with users, segment buffers, sessions a
 * stalled read keeps, claims on demand and outside the registry lock,
 * registration checks, dirty logging, state changes racing an unregister.
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

#include "../file.h"
#include "fake.h"

/* ---- lifetime ---- */

static void lm_test_unregister_with_users(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file = NULL, *tmp = NULL;
	struct lm_function *fn, *h;
	struct device *cd;
	struct fake_fn *f;
	enum lm_state st;
	u64 init, dirty, size;
	int files = atomic_read(&lm_live_files);
	int fns;
	u8 byte;

	fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 4096, &f);
	fns = atomic_read(&lm_live_functions);
	h = lm_function_get(lm_function_device(fn));
	KUNIT_ASSERT_PTR_EQ(test, h, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(h, LM_STATE_PRE_COPY, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_log_start(h, &(struct lm_log_range){ 0, 1 << 20 },
					      1, 4096), 0);
	cd = class_find_device_by_name(&lm_class, dev_name(&fn->dev));
	KUNIT_EXPECT_PTR_EQ(test, cd, &fn->dev);
	put_device(cd);

	KUNIT_EXPECT_FALSE(test, lm_function_removed(h));
	lm_kt_ctx_unregister(ctx);
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
	lm_kt_fput_now(file);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_functions), fns - 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

/*
 * Segments in a buffer: a driver's bad offsets fail cleanly; the core's
 * reference keeps the bytes valid after the driver dropped its own and the
 * function went away; a file closed between a record and its payload in
 * the buffer leaks nothing.
 */
static void lm_test_segment_buffer(struct kunit *test)
{
	const size_t size = 8 << 20;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	int files = atomic_read(&lm_live_files);
	struct file *file = NULL;
	struct lm_function *fn;
	struct lm_buffer *mem;
	struct fake_fn *f;
	enum lm_state st;
	u8 *buf;

	buf = kunit_kmalloc(test, 4096, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &f);
	lm_fake_use_buffer(test, f);
	mem = f->mem;

	/* an offset past the buffer's end: the reference given comes back */
	f->buf_skew = size + 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EINVAL);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* a segment longer than what follows the offset */
	f->buf_skew = 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EINVAL);
	KUNIT_EXPECT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	f->buf_skew = 0;

	/* header and first record read, its payload queued from the buffer */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf,
					  sizeof(struct lm_stream_header) +
					  sizeof(struct lm_stream_record),
					  &(loff_t){0}),
			(ssize_t)(sizeof(struct lm_stream_header) +
				  sizeof(struct lm_stream_record)));
	lm_kt_fput_now(file);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			0);

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_ASSERT_NOT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 4096, &(loff_t){0}),
			4096);
	lm_buffer_get(mem);
	kunit_release_action(test, lm_fake_mem_put, mem);	/* the driver's */
	lm_kt_ctx_unregister(ctx);
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, 4096, &(loff_t){0}),
			(ssize_t)-ENODEV);
	/* the session ended: the file let go although it is still open */
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	lm_kt_fput_now(file);
	KUNIT_EXPECT_EQ(test, kref_read(&mem->ref), 1);
	lm_buffer_put(mem);
	KUNIT_EXPECT_EQ(test, atomic_read(&lm_live_files), files);
}

/*
 * A read user space stalls (a buffer behind userfaultfd) keeps its
 * session's buffer after the session ends.  A function holds at most two
 * such sessions: a third is refused with -EBUSY, the function staying in
 * STOP, until a stalled read returns and its buffer goes.
 */
static void lm_test_held_sessions(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file[3] = {};
	struct lm_file *migf[2];
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state st;
	int i;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, SZ_1M, &f);
	lm_fake_use_buffer(test, f);
	for (i = 0; i < 2; i++) {
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY,
						   NULL, &file[i]), 0);
		KUNIT_ASSERT_NOT_NULL(test, file[i]);
		migf[i] = file[i]->private_data;
		/* a read, copying (a trylock: two files, one lock class) */
		KUNIT_ASSERT_TRUE(test, mutex_trylock(&migf[i]->io_lock));
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL,
						   &file[2]), 0);
	}
	/* the driver's reference and one per stalled session */
	KUNIT_EXPECT_EQ(test, kref_read(&f->mem->ref), 3);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file[2]), -EBUSY);
	KUNIT_EXPECT_NULL(test, file[2]);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_STOP);
	KUNIT_EXPECT_EQ(test, kref_read(&f->mem->ref), 3);

	/* the first read returns: its buffer goes, a session opens again */
	lm_file_io_end(migf[0]);
	KUNIT_EXPECT_EQ(test, kref_read(&f->mem->ref), 2);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file[2]), 0);
	lm_file_io_end(migf[1]);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL,
					   &(struct file *){NULL}), 0);
	KUNIT_EXPECT_EQ(test, kref_read(&f->mem->ref), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&fn->held_sessions), 0);
	for (i = 0; i < 3; i++)
		lm_kt_fput_now(file[i]);
	KUNIT_EXPECT_EQ(test, atomic_read(&fn->held_sessions), 0);
}

static void lm_test_claim_on_demand(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &lm_fake_claim_ops,
				      .mig_ops = &lm_fake_claim_mig_ops,
				      .p2p_ops = &lm_fake_p2p_ops };
	struct device *pf, *yes, *no, *orphan, *positive;
	struct lm_function *a, *b;
	struct file *file;

	lm_fake_claim_count = 0;
	pf = kunit_device_register(test, "lm-claim-pf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, pf);
	yes = lm_kt_child_new(test, pf, "lm-claim-yes");
	no = lm_kt_child_new(test, pf, "lm-claim-no");
	orphan = lm_kt_child_new(test, NULL, "lm-claim-orphan");
	positive = lm_kt_child_new(test, pf, "lm-claim-positive");

	/* before the controller registers, nothing is migratable */
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(yes)), -ENODEV);
	ctrl.dev = pf;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	KUNIT_EXPECT_EQ(test, lm_controller_register(&ctrl), -EEXIST);

	a = lm_function_get(yes);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, a);
	b = lm_function_get(yes);
	KUNIT_EXPECT_PTR_EQ(test, a, b);
	KUNIT_EXPECT_EQ(test, lm_fake_claim_count, 1);
	KUNIT_EXPECT_EQ(test, lm_function_caps(a),
			LM_CAP_STOP_COPY | LM_CAP_P2P);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(no)), -ENODEV);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(orphan)), -ENODEV);
	/* a claim's answer that is not an errno is an error, not a pointer */
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(positive)), -EIO);
	KUNIT_EXPECT_EQ(test, lm_set_state(a, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_STREQ(test, lm_fake(a)->calls, "QS");

	lm_controller_unregister(&ctrl);
	KUNIT_EXPECT_EQ(test, lm_set_state(b, LM_STATE_RUNNING, NULL, &file),
			-ENODEV);
	lm_function_put(a);
	lm_function_put(b);
	device_unregister(yes);
	device_unregister(no);
	device_unregister(orphan);
	device_unregister(positive);
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
	.release = lm_fake_release,
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
	vf = lm_kt_child_new(test, pf, "lm-slow-vf");
	vf2 = lm_kt_child_new(test, pf, "lm-slow-vf2");
	known = lm_kt_child_new(test, pf, "lm-slow-known");
	KUNIT_ASSERT_NOT_NULL(test, u);
	u->ctrl.ops = &slow_claim_ops;
	u->ctrl.mig_ops = &lm_fake_claim_mig_ops;
	u->ctrl.dev = pf;
	init_completion(&u->done);
	KUNIT_ASSERT_EQ(test, lm_controller_register(&u->ctrl), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							unregisterer_cleanup,
							u), 0);
	kf = kzalloc(sizeof(*kf), GFP_KERNEL);	/* freed by lm_fake_release */
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 8 };
	static const struct lm_migration_ops no_load = {
		.stop = lm_fake_stop, .restart = lm_fake_restart,
		.save_begin = lm_fake_save_begin, .state_size = lm_fake_state_size,
	};
	static const struct lm_p2p_ops half_p2p = { .quiesce = lm_fake_quiesce };
	static const struct lm_log_ops half_log = {
		.log_start = lm_fake_log_start, .log_stop = lm_fake_log_stop,
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
	bad.mig_ops = &lm_fake_claim_mig_ops;
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
	info.compat = lm_fake_compat_a;
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_log_range r = { .iova = 0x100000, .length = 0x100000 };
	struct lm_function *fn, *plain;
	struct fake_fn *f, *fp;
	unsigned long got = 0;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	plain = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 8, &fp);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(plain, &r, 1, 4096), -EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 1, 3000), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 0, 4096), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 1, 4096), 0);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 1, 4096), -EBUSY);
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
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 1, 4096), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_STREQ(test, f->calls, "DdDdZ");
	KUNIT_EXPECT_EQ(test, lm_log_report(fn, 0x100000, 0x100000,
					    record_dirty, &got), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, &r, 1, 4096), 0);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
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
		fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 1000, &f);
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
		lm_kt_ctx_unregister(ctx);
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

static struct kunit_case lm_lifetime_cases[] = {
	KUNIT_CASE(lm_test_unregister_with_users),
	KUNIT_CASE(lm_test_segment_buffer),
	KUNIT_CASE(lm_test_held_sessions),
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

kunit_test_suite(lm_lifetime_suite);
