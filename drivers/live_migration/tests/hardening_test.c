// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: what reviews found.  Deleted devices, restarts on unregister,
 * memory bounds, bad input to logging, fault injection at the core's
 * allocations.
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

/* A complete stream with no payload: every destination refuses it. */
static size_t empty_stream(struct lm_function *fn, u8 *buf)
{
	lm_kt_fill_header(fn, buf);
	lm_stream_fill_record((void *)(buf + sizeof(struct lm_stream_header)),
			      LM_REC_END, 0, ~0U);
	return sizeof(struct lm_stream_header) +
	       sizeof(struct lm_stream_record);
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
	dev->release = lm_kt_child_release;
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
	struct lm_controller ctrl = { .ops = &lm_fake_claim_ops,
				      .mig_ops = &lm_fake_claim_mig_ops,
				      .p2p_ops = &lm_fake_p2p_ops };
	int fns = atomic_read(&lm_live_functions);
	struct lm_function *h, *again;
	struct device *pf, *vf, *cd;
	struct file *file;

	lm_fake_claim_count = 0;
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
	KUNIT_EXPECT_EQ(test, lm_fake_claim_count, 2);
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
	lm_fake_call(drvdata, 'X');
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
	struct lm_ctx *ctx = lm_kt_ctx_new_ops(test, &fake_ops_rel);
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
	lm_kt_fput_now(saving);

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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *files[ARRAY_SIZE(states)] = {};
	struct fake_fn *f[ARRAY_SIZE(states)];
	struct lm_function *fn;
	int i;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 64, &f[i]);
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
	lm_kt_ctx_unregister(ctx);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		KUNIT_EXPECT_FALSE_MSG(test, f[i]->stopped, "from %s",
				       lm_state_name(states[i]));
		/* the core reset it (fake's Z), last */
		KUNIT_EXPECT_EQ_MSG(test, f[i]->calls[f[i]->ncalls - 1], 'Z',
				    "from %s: %s", lm_state_name(states[i]),
				    f[i]->calls);
		lm_kt_fput_now(files[i]);
	}
}

#if IS_ENABLED(CONFIG_PCI) && !IS_ENABLED(CONFIG_UML)

/* A PCI controller's claim only ever sees its VFs, never other children. */
static void lm_test_claim_pci_child(struct kunit *test)
{
	struct lm_controller ctrl = { .ops = &lm_fake_claim_ops,
				      .mig_ops = &lm_fake_claim_mig_ops,
				      .p2p_ops = &lm_fake_p2p_ops };
	struct pci_dev *pdev = NULL;
	struct device *child;

	/* any PCI function no real controlling driver registered */
	while ((pdev = pci_get_device(PCI_ANY_ID, PCI_ANY_ID, pdev))) {
		ctrl.dev = &pdev->dev;
		if (!lm_controller_register(&ctrl))
			break;
	}
	KUNIT_ASSERT_NOT_NULL(test, pdev);
	lm_fake_claim_count = 0;
	child = lm_kt_child_new(test, &pdev->dev, "lm-claim-yes");
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(child)), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_fake_claim_count, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(lm_function_get(&pdev->dev)), -ENODEV);
	KUNIT_EXPECT_EQ(test, lm_fake_claim_count, 0);
	lm_controller_unregister(&ctrl);
	device_unregister(child);
	pci_dev_put(pdev);
}

#endif

/* An ended session holds no buffers, although its file is still open. */
static void lm_test_disable_frees(struct kunit *test)
{
	const size_t size = 3 << 20;
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	long base;
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	struct saved s;
	u8 *buf;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = lm_kt_save_stream(test, src, fs, 1 << 20);
	/* earlier tests' files closed with fput() go now, not during ours */
	flush_delayed_fput();
	base = atomic_long_read(&lm_file_mem);

	/* RESUMING -> STOP loads, and the chunks go with the session */
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, s.buf, s.len, 1 << 20),
			(ssize_t)s.len);
	KUNIT_EXPECT_GE(test, atomic_long_read(&lm_file_mem), base + (long)size);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, (u64)size);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), base);
	lm_kt_fput_now(file);

	/* RESUMING -> STOP half way: the same */
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, s.buf, s.len / 2, 1 << 20),
			(ssize_t)(s.len / 2));
	KUNIT_EXPECT_NE(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	lm_function_reset(dst);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&lm_file_mem), base);
	lm_kt_fput_now(file);

	/* STOP_COPY -> STOP half read: bounce and segment buffer go */
	lm_fake_use_buffer(test, fs);
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
	lm_kt_fput_now(file);
}

/* The largest state a driver may declare, and what lies beyond it. */
static void lm_test_state_size_bound(struct kunit *test)
{
	static const u64 bad[] = {
		LM_MAX_STATE_SIZE + 1, U64_MAX, U64_MAX - SZ_1M + 2,
	};
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
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
	lm_kt_fput_now(file);
	lm_function_remove(fn);
}

/* Bytes a driver did not produce never show old heap contents. */
static void lm_test_underfill(struct kunit *test)
{
	const size_t size = 256 * 1024, hdr = sizeof(struct lm_stream_header);
	const size_t rec = sizeof(struct lm_stream_record);
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
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

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 4096, &f);
	f->underfill = true;
	buf = kunit_kzalloc(test, 8192, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	p = kvmalloc(size, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p);
	memset(p, 0xa5, size);
	kvfree(p);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL, &file),
			0);
	n = lm_kt_read_all(file, buf, 8192, 8192);
	KUNIT_ASSERT_EQ(test, n, (ssize_t)(hdr + 2 * rec + 4096));
	/*
	 * The bounce buffer held the header and record before (the stream's
	 * own bytes); past them, nothing was ever written: zeros.
	 */
	for (i = hdr + rec, bad = 0; i < 4096; i++)
		bad += buf[hdr + rec + i] != 0;
	KUNIT_EXPECT_EQ(test, bad, 0UL);
	lm_kt_fput_now(file);
}

/* An empty state is no state: it never reaches a device, either side. */
static void lm_test_empty_stream(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn, *empty;
	struct fake_fn *f, *fe;
	struct file *file, *none;
	enum lm_state st;
	u8 buf[512];
	size_t len;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 64, &f);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_RESUMING, NULL, &file),
			0);
	len = empty_stream(fn, buf);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, buf, len, len), (ssize_t)len);
	f->ncalls = 0;
	f->calls[0] = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &none),
			-ENODATA);
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_RESUMING);
	lm_kt_fput_now(file);

	/* a driver that saves nothing fails the save, not the destination */
	empty = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 0, &fe);
	KUNIT_ASSERT_EQ(test, lm_set_state(empty, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, lm_kt_read_all(file, buf, sizeof(buf), sizeof(buf)),
			(ssize_t)-ENODATA);
	/* the device is as it was: no reason for ERROR */
	KUNIT_EXPECT_EQ(test, lm_get_state(empty, &st), 0);
	KUNIT_EXPECT_EQ(test, st, LM_STATE_STOP_COPY);
	lm_kt_fput_now(file);
}

/* sysfs shows the whole compatibility descriptor, the largest too. */
/*
 * A function's class device is a child of the device it migrates, which
 * gives it the "device" link; it goes before its parent does.
 */
static void lm_test_sysfs_parent(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 8 };
	struct lm_function *fn;
	struct device *dev;

	dev = kunit_device_register(test, "lm-test-parent");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	fn = lm_function_add(&ctx->ctrl, dev, &info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_EXPECT_PTR_EQ(test, fn->dev.parent, dev);
	KUNIT_EXPECT_TRUE(test, device_is_registered(&fn->dev));
	kunit_device_unregister(test, dev);
	KUNIT_EXPECT_FALSE(test, device_is_registered(&fn->dev));
	lm_function_remove(fn);
}

/*
 * A driver's answer that is not 0 or an errno (a positive count, say) is
 * an error like any other: the function goes to ERROR, the caller gets
 * -EIO and no file.  Neither a read nor a state change takes it for
 * success or for a byte count.
 */
static void lm_test_driver_positive_return(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file = NULL;
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state got;
	u8 buf[sizeof(struct lm_stream_header)];

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 4096, &f);
	f->fail_nth = 2;		/* S, then F: save_begin */
	f->fail_err = 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EIO);
	KUNIT_EXPECT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_ERROR);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* save_read says 2 in the middle of the stream */
	f->counted = 0;
	f->fail_nth = 3;		/* S, F, then the first save_read */
	f->fail_err = 2;
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), 0);
	/* the header is queued already; the next read asks the driver */
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf,
					  sizeof(struct lm_stream_header),
					  &(loff_t){0}),
			(ssize_t)sizeof(struct lm_stream_header));
	KUNIT_EXPECT_EQ(test, kernel_read(file, buf, sizeof(buf),
					  &(loff_t){0}), (ssize_t)-EIO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_ERROR);
	lm_kt_fput_now(file);
}

/*
 * A driver whose segments add up to more than the function's declared
 * maximum fails its save (a destination would refuse the stream, and only
 * once the source had stopped); its size estimate is bounded too.
 */
static void lm_test_save_beyond_max(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct file *file = NULL;
	struct lm_function *fn;
	struct fake_fn *f;
	enum lm_state got;
	u64 size;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 4096, &f);
	f->state_len = 4097;		/* one byte more than it declared */
	KUNIT_ASSERT_EQ(test, lm_get_data_size(fn, &size), 0);
	KUNIT_EXPECT_EQ(test, size, lm_stream_size(4096));
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -EINVAL);
	KUNIT_EXPECT_NULL(test, file);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &got), 0);
	KUNIT_EXPECT_EQ(test, got, LM_STATE_ERROR);
}

/*
 * The driver's compat_check fails in a way that looks retryable: the
 * header was consumed, so the stream is broken for good, not parsed again
 * from its records as if they were a header.
 */
static void lm_test_header_error_sticky(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	struct saved s;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 3000, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 3000, &fd);
	s = lm_kt_save_stream(test, src, fs, 4096);
	fd->compat_err = -ENOMEM;
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_write(file, s.buf,
					   sizeof(struct lm_stream_header),
					   &(loff_t){0}), (ssize_t)-ENOMEM);
	fd->compat_err = 0;
	KUNIT_EXPECT_EQ(test, kernel_write(file, s.buf +
					   sizeof(struct lm_stream_header),
					   s.len - sizeof(struct lm_stream_header),
					   &(loff_t){0}), (ssize_t)-ENOMEM);
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none),
			-ENOMEM);
	KUNIT_EXPECT_EQ(test, fd->loads, 0);
	lm_kt_fput_now(file);
}

/*
 * The descriptor in a stream's header is the one describe gives when the
 * save starts, not the claim's; a describe that fails or overflows fails
 * the save without touching the device.
 */
static void lm_test_describe(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	enum lm_state state;
	struct file *file;
	struct saved s;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 3000, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, 3000, &fd);
	fs->describe_flip = 1;
	s = lm_kt_save_stream(test, src, fs, 4096);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_write(file, s.buf,
					   sizeof(struct lm_stream_header),
					   &(loff_t){0}), (ssize_t)-EXDEV);
	lm_kt_fput_now(file);

	KUNIT_ASSERT_EQ(test, lm_function_reset(src), 0);
	fs->describe_flip = 0;
	fs->describe_len = LM_COMPAT_MAX + 1;
	KUNIT_EXPECT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &file), -EIO);
	fs->describe_len = 0;
	fs->describe_err = -ENOMEM;
	KUNIT_EXPECT_EQ(test, lm_set_state(src, LM_STATE_STOP_COPY, NULL,
					   &file), -ENOMEM);
	KUNIT_EXPECT_EQ(test, lm_get_state(src, &state), 0);
	KUNIT_EXPECT_NE(test, state, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, fs->open_saves, 0);
	fs->describe_err = 0;
	KUNIT_ASSERT_EQ(test, lm_function_reset(src), 0);
	s = lm_kt_save_stream(test, src, fs, 4096);
	KUNIT_ASSERT_EQ(test, lm_function_reset(dst), 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL,
					   &file), 0);
	KUNIT_EXPECT_EQ(test, kernel_write(file, s.buf, s.len, &(loff_t){0}),
			(ssize_t)s.len);
	lm_kt_fput_now(file);
}

static void lm_test_compat_sysfs(struct kunit *test)
{
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test, lm_kt_log_start(fn, bad[i].r, bad[i].nr,
							  bad[i].page_size),
				    -EINVAL, "case %d", i);
	KUNIT_EXPECT_STREQ(test, f->calls, "");
	KUNIT_EXPECT_EQ(test, lm_kt_log_start(fn, bad[7].r, 1, 4096), 0);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, lm_kt_log_start(fn, &r, 1, 4096), 0);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;
	u64 ps = 4096;
	int i;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
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
		rs->ret = lm_kt_log_start(rs->d.fn, &rs->r, 1, 4096);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct restarter rs = { .r = { .iova = 0, .length = 0x1000 } };
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	rs.d.fn = fn;
	KUNIT_ASSERT_EQ(test, lm_kt_log_start(fn, r, 3, 4096), 0);
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
	struct lm_controller ctrl = { .ops = &lm_fake_claim_ops,
				      .mig_ops = &lm_fake_claim_mig_ops,
				      .p2p_ops = &lm_fake_p2p_ops };
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
	KUNIT_EXPECT_STREQ(test, lm_fake(fn)->calls, "QS");
	/* the fake's data goes with release: look before it */
	lm_fake(fn)->ncalls = 0;
	lm_fake_claim_seen = NULL;
	lm_controller_unregister(&ctrl);
	KUNIT_ASSERT_NOT_NULL(test, lm_fake_claim_seen);
	KUNIT_EXPECT_STREQ(test, lm_fake_claim_seen, "RU");
	lm_function_put(fn);

	/* a restart that fails: nothing more is tried */
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	fn = lm_function_get(vf);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, fn);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	lm_fake(fn)->ncalls = 0;
	lm_fake(fn)->fail_nth = 1;
	lm_fake(fn)->counted = 0;
	lm_fake(fn)->fail_err = -EIO;
	lm_fake_claim_seen = NULL;
	lm_controller_unregister(&ctrl);
	KUNIT_ASSERT_NOT_NULL(test, lm_fake_claim_seen);
	KUNIT_EXPECT_STREQ(test, lm_fake_claim_seen, "R");
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct dirty_seen d = {};
	struct lm_function *fn;
	struct fake_fn *f;

	fn = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY | LM_CAP_DIRTY_LOG, 8, &f);
	d.fn = fn;
	KUNIT_ASSERT_EQ(test, lm_kt_log_start(fn, r, 2, 4096), 0);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *fn;
	struct fake_fn *f;
	int i, n;

	fn = lm_kt_ctx_add(ctx, LM_CAP_ALL, 3 << 20, &f);
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
				lm_kt_fput_now(file);
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
	struct lm_ctx *ctx = lm_kt_ctx_new(test);
	struct lm_function *src, *dst;
	struct fake_fn *fs, *fd;
	struct file *file, *none;
	struct saved s;
	ssize_t n;

	src = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fs);
	dst = lm_kt_ctx_add(ctx, LM_CAP_STOP_COPY, size, &fd);
	s = lm_kt_save_stream(test, src, fs, 1 << 20);
	KUNIT_ASSERT_EQ(test, lm_set_state(dst, LM_STATE_RESUMING, NULL, &file),
			0);
	current->fail_nth = 2;		/* the second 1 MiB chunk */
	n = kernel_write(file, s.buf, s.len, &(loff_t){0});
	KUNIT_EXPECT_EQ(test, current->fail_nth, 0U);
	current->fail_nth = 0;
	KUNIT_ASSERT_GT(test, n, (ssize_t)(1 << 20));
	KUNIT_ASSERT_LT(test, n, (ssize_t)s.len);
	KUNIT_ASSERT_EQ(test, lm_kt_write_all(file, s.buf + n, s.len - n, s.len),
			(ssize_t)(s.len - n));
	KUNIT_EXPECT_EQ(test, lm_set_state(dst, LM_STATE_STOP, NULL, &none), 0);
	KUNIT_EXPECT_EQ(test, fd->loaded, (u64)size);
	KUNIT_EXPECT_FALSE(test, fd->load_bad);
	lm_kt_fput_now(file);
}

#endif

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
	KUNIT_CASE(lm_test_sysfs_parent),
	KUNIT_CASE(lm_test_driver_positive_return),
	KUNIT_CASE(lm_test_save_beyond_max),
	KUNIT_CASE(lm_test_header_error_sticky),
	KUNIT_CASE(lm_test_describe),
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

kunit_test_suite(lm_hardening_suite);
