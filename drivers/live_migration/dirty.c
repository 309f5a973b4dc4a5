// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: DMA dirty logging.  The consumer's ranges are
 * checked here, so a driver only sees well-formed ones, and reports reach
 * the consumer without any lock of the core's held.
 */

#include <linux/bitmap.h>
#include <linux/log2.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "lm_internal.h"

/*
 * State lock held.  The session ends (reset, removal): dirty logging stops.
 * A driver error changes nothing, logging is off for the core either way.
 */
void lm_log_off(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	if (fn->logging)
		lm_op_log_stop(fn);
	lm_log_forget(fn);
}

/* State lock held.  Logging is off for the core; the driver is not told. */
void lm_log_forget(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	fn->logging = false;
	kfree(fn->log_ranges);
	fn->log_ranges = NULL;
	fn->log_nr = 0;
}

/* Bounds of the logging page size, in bytes */
#define LM_LOG_PAGE_MIN		SZ_4K
#define LM_LOG_PAGE_MAX		SZ_1G
/* Pages reported to the driver per call: one page of bitmap */
#define LM_LOG_WINDOW_BITS	(PAGE_SIZE * BITS_PER_BYTE)
/* Ranges kept per function while logging: VFIO's own limit */
#define LM_LOG_MAX_RANGES	256

/*
 * Every consumer's requests are checked here, so a driver only ever sees
 * non-empty, page aligned ranges in ascending order that neither overlap
 * nor wrap.
 */
static int lm_log_check(const struct lm_log_range *ranges, unsigned int nr,
			u64 page_size)
{
	u64 end, prev_end = 0;
	unsigned int i;

	if (!nr || nr > LM_LOG_MAX_RANGES || !ranges || !is_power_of_2(page_size) ||
	    page_size < LM_LOG_PAGE_MIN || page_size > LM_LOG_PAGE_MAX)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		const struct lm_log_range *r = &ranges[i];

		/* the last byte may be ULONG_MAX: compare last bytes */
		if (!r->length || !IS_ALIGNED(r->iova | r->length, page_size) ||
		    check_add_overflow(r->iova, r->length - 1, &end) ||
		    end > ULONG_MAX || (i && r->iova <= prev_end))
			return -EINVAL;
		prev_end = end;
	}
	return 0;
}

/**
 * lm_log_start() - start DMA dirty logging
 * @fn: the function
 * @ranges: IOVA ranges to track: non-empty, aligned to *@page_size, in
 *	ascending order and not overlapping
 * @nr: number of @ranges, at least one and at most 256
 * @page_size: in: the tracking granularity asked, a power of two from
 *	4 KiB to 1 GiB; out: the one the device uses, which may be coarser
 *
 * Return: 0; -EOPNOTSUPP without %LM_CAP_DIRTY_LOG; -EBUSY if logging is
 * already on; -EINVAL for bad arguments, or a granularity from the driver
 * that is not a power of two between the one asked and 1 GiB (logging is
 * then off again); -ENODEV after removal; -ENOMEM; or the driver's error.
 */
int lm_log_start(struct lm_function *fn, const struct lm_log_range *ranges,
		 unsigned int nr, u64 *page_size)
{
	u64 asked = *page_size, granted = asked;
	struct lm_log_range *copy;
	int ret;

	ret = lm_log_check(ranges, nr, asked);
	if (ret)
		return ret;
	/* reports look only where logging is on */
	copy = lm_should_fail() ? NULL :
	       kmemdup_array(ranges, nr, sizeof(*ranges), GFP_KERNEL_ACCOUNT);
	if (!copy)
		return -ENOMEM;
	mutex_lock(&fn->lock);
	if (fn->dead) {
		ret = -ENODEV;
	} else if (!(fn->caps & LM_CAP_DIRTY_LOG)) {
		ret = -EOPNOTSUPP;
	} else if (fn->logging) {
		ret = -EBUSY;
	} else {
		ret = lm_op_log_start(fn, ranges, nr, &granted);
		/*
		 * A granularity the bitmaps cannot hold is the driver's bug;
		 * ranges not aligned to it would make windows straddle pages.
		 */
		if (!ret && (!is_power_of_2(granted) || granted < asked ||
			     granted > LM_LOG_PAGE_MAX ||
			     lm_log_check(ranges, nr, granted))) {
			lm_op_log_stop(fn);
			ret = -EINVAL;
		}
	}
	if (!ret) {
		fn->logging = true;
		fn->log_gen++;
		fn->log_shift = ilog2(granted);
		fn->log_ranges = copy;
		fn->log_nr = nr;
		copy = NULL;
		*page_size = granted;
	}
	mutex_unlock(&fn->lock);
	kfree(copy);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_log_start);

/**
 * lm_log_stop() - stop DMA dirty logging
 * @fn: the function
 *
 * Return: 0 (also when logging was off), -EOPNOTSUPP without
 * %LM_CAP_DIRTY_LOG, -ENODEV after removal, or the driver's error.
 */
int lm_log_stop(struct lm_function *fn)
{
	int ret = 0;

	mutex_lock(&fn->lock);
	if (fn->dead)
		ret = -ENODEV;
	else if (!(fn->caps & LM_CAP_DIRTY_LOG))
		ret = -EOPNOTSUPP;
	else if (fn->logging)
		ret = lm_op_log_stop(fn);
	lm_log_forget(fn);
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_log_stop);

/*
 * What the driver reports for one window, a bit per logging page: the
 * window starts on a page and lies within one logged range.
 */
struct lm_log_window {
	unsigned long *bits;
	unsigned long first;		/* the window's first byte */
	unsigned long last;		/* its last byte */
	unsigned int shift;
};

/* Any byte a driver reports outside the window is not the consumer's. */
static void lm_log_collect(void *opaque, unsigned long iova,
			   unsigned long length)
{
	struct lm_log_window *w = opaque;
	unsigned long first, last;

	if (!length || check_add_overflow(iova, length - 1, &last) ||
	    iova > w->last || last < w->first)
		return;
	first = max(iova, w->first) - w->first;
	last = min(last, w->last) - w->first;
	bitmap_set(w->bits, first >> w->shift,
		   (last >> w->shift) - (first >> w->shift) + 1);
}

/* The window's dirty pages to the consumer, as runs clipped to [lo, hi]. */
static void lm_log_flush(struct lm_log_window *w, unsigned long lo,
			 unsigned long hi, lm_dirty_fn fn_dirty, void *opaque)
{
	unsigned long nbits = ((w->last - w->first) >> w->shift) + 1;
	unsigned long a, b;

	for_each_set_bitrange(a, b, w->bits, nbits) {
		unsigned long first = w->first + (a << w->shift);
		unsigned long last = w->first + (b << w->shift) - 1;

		/* a run to the window's end: b << shift may wrap */
		if (b >= nbits)
			last = w->last;
		first = max(first, lo);
		last = min(last, hi);
		if (first <= last)
			fn_dirty(opaque, first, last - first + 1);
	}
}

/**
 * lm_log_report() - report and clear dirty pages in an IOVA range
 * @fn: the function
 * @iova: start of the range
 * @length: length of the range, non-zero
 * @fn_dirty: called for every dirty range found, in ascending order
 * @opaque: passed to @fn_dirty
 *
 * Only the logged parts of the range are looked at.  The driver reports
 * into a kernel bitmap under the state lock, a window of up to one page of
 * bitmap at a time, starting on a logging page; @fn_dirty runs without any
 * lock of the core's held, so it may fault on user memory (VFIO pins the
 * user's bitmap there).  Dirty ranges cover whole logging pages, clipped
 * to the range asked: so with a granularity coarser than the one asked, a
 * consumer asks for ranges aligned to it, or the parts of pages outside
 * its range, which the driver cleared, are not reported.  A logging
 * session stopped and started again meanwhile ends the report with
 * -EINVAL.
 *
 * Return: 0; -EINVAL if logging is off or the range is empty or wraps;
 * -ENODEV after removal; -ENOMEM; -EINTR if the caller was killed; or the
 * driver's error, after which the consumer must treat all memory as dirty.
 */
int lm_log_report(struct lm_function *fn, unsigned long iova,
		  unsigned long length, lm_dirty_fn fn_dirty, void *opaque)
{
	struct lm_log_window w = {};
	unsigned long last, pos;
	bool started = false;
	unsigned int r, gen = 0;
	int ret = 0;

	if (!length || check_add_overflow(iova, length - 1, &last) ||
	    !fn_dirty)
		return -EINVAL;
	w.bits = lm_should_fail() ? NULL :
		 bitmap_zalloc(LM_LOG_WINDOW_BITS, GFP_KERNEL_ACCOUNT);
	if (!w.bits)
		return -ENOMEM;
	pos = iova;
	for (;;) {
		const struct lm_log_range *lr = NULL;
		unsigned long rlast = 0, span;

		mutex_lock(&fn->lock);
		if (fn->dead) {
			ret = -ENODEV;
		} else if (!fn->logging || (started && gen != fn->log_gen)) {
			/* off, or restarted since the last window: not ours */
			ret = -EINVAL;
		} else {
			started = true;
			gen = fn->log_gen;
			/* the first logged range that holds bytes from pos on */
			for (r = 0; r < fn->log_nr; r++) {
				lr = &fn->log_ranges[r];
				rlast = lr->iova + (lr->length - 1);
				if (rlast >= pos)
					break;
			}
			if (r == fn->log_nr || lr->iova > last)
				lr = NULL;
		}
		if (!ret && lr) {
			unsigned long mask;

			w.shift = fn->log_shift;
			mask = (1UL << w.shift) - 1;
			/* ranges are page aligned: so are windows */
			w.first = max_t(unsigned long, lr->iova, pos & ~mask);
			w.last = min(rlast, last | mask);
			if (w.shift + ilog2(LM_LOG_WINDOW_BITS) < BITS_PER_LONG) {
				span = (LM_LOG_WINDOW_BITS << w.shift) - 1;
				if (w.last - w.first > span)
					w.last = w.first + span;
			}
			bitmap_zero(w.bits, LM_LOG_WINDOW_BITS);
			ret = lm_op_log_report(fn, w.first,
					       w.last - w.first + 1,
					       lm_log_collect, &w);
		}
		mutex_unlock(&fn->lock);
		if (ret || !lr)
			break;
		lm_log_flush(&w, iova, last, fn_dirty, opaque);
		if (w.last >= last)
			break;
		pos = w.last + 1;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	bitmap_free(w.bits);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_log_report);
