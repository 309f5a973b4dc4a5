// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the state machine of VFIO migration v2, the reset
 * path and dirty logging.
 */

#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/live_migration.h>
#include <linux/log2.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#include "lm_internal.h"
#include "trace.h"

#define E	LM_STATE_ERROR
#define S	LM_STATE_STOP
#define R	LM_STATE_RUNNING
#define SC	LM_STATE_STOP_COPY
#define RS	LM_STATE_RESUMING
#define RP	LM_STATE_RUNNING_P2P
#define PC	LM_STATE_PRE_COPY
#define PP	LM_STATE_PRE_COPY_P2P

/*
 * lm_step[cur][target] is the first state on the shortest path from cur to
 * target when every optional state is supported.  States the function lacks
 * are stepped over by looking up the next hop from them in turn, so a
 * function without P2P goes STOP -> RUNNING directly.  E marks requests that
 * no path serves (leaving ERROR, entering ERROR, STOP_COPY -> PRE_COPY*).
 *
 * Columns:	    E  S   R   SC  RS  RP  PC  PP
 */
static const u8 lm_step[LM_STATE_NR][LM_STATE_NR] = {
	[E]  =	  { E, E,  E,  E,  E,  E,  E,  E  },
	[S]  =	  { E, S,  RP, SC, RS, RP, RP, RP },
	[R]  =	  { E, RP, R,  RP, RP, RP, PC, RP },
	[SC] =	  { E, S,  S,  SC, S,  S,  E,  E  },
	[RS] =	  { E, S,  S,  S,  RS, S,  S,  S  },
	[RP] =	  { E, S,  R,  S,  S,  RP, R,  PP },
	[PC] =	  { E, R,  R,  PP, R,  R,  PC, PP },
	[PP] =	  { E, RP, RP, SC, RP, RP, PC, PP },
};

/* Capabilities a state needs; ERROR is never a valid target. */
static const u32 lm_state_needs[LM_STATE_NR] = {
	[E]  = U32_MAX,
	[S]  = LM_CAP_STOP_COPY,
	[R]  = LM_CAP_STOP_COPY,
	[SC] = LM_CAP_STOP_COPY,
	[RS] = LM_CAP_STOP_COPY,
	[RP] = LM_CAP_STOP_COPY | LM_CAP_P2P,
	[PC] = LM_CAP_STOP_COPY | LM_CAP_PRE_COPY,
	[PP] = LM_CAP_STOP_COPY | LM_CAP_P2P | LM_CAP_PRE_COPY,
};

static bool lm_state_ok(u32 caps, enum lm_state state)
{
	return (lm_state_needs[state] & caps) == lm_state_needs[state];
}

/**
 * lm_next_state() - next single arc towards a requested state
 * @caps: LM_CAP_* of the function
 * @cur: current state
 * @target: requested state
 * @next: the state to step to next
 *
 * Pure function, exported so consumers and tests can check a request
 * without a function at hand.  Matches the decisions VFIO makes for its
 * migration v2 uAPI.
 *
 * Return: 0 with *@next set, or -EINVAL when @target is not reachable from
 * @cur with @caps.
 */
int lm_next_state(u32 caps, enum lm_state cur, enum lm_state target,
		  enum lm_state *next)
{
	enum lm_state step;

	if ((unsigned int)cur >= LM_STATE_NR ||
	    (unsigned int)target >= LM_STATE_NR ||
	    (cur != E && !lm_state_ok(caps, cur)) || !lm_state_ok(caps, target))
		return -EINVAL;

	step = lm_step[cur][target];
	while (step != E && !lm_state_ok(caps, step))
		step = lm_step[step][target];
	if (step == E)
		return -EINVAL;
	*next = step;
	return 0;
}
EXPORT_SYMBOL_GPL(lm_next_state);

/*
 * State lock held.  The session ends (reset, removal): dirty logging stops.
 * A driver error changes nothing, logging is off for the core either way.
 */
void lm_log_off(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	if (fn->logging)
		fn->ops->log_stop(fn);
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

/* A primitive failed: the device's state is unknown until a reset. */
void lm_fsm_fail(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	lm_file_disable(fn);
	fn->state = E;
	fn->stats.errors++;
}

/*
 * One arc.  Errors from the device move the function to ERROR; errors that
 * leave the device untouched (allocation, validation of a stream) leave the
 * state as it was.
 */
int lm_fsm_step(struct lm_function *fn, enum lm_state next,
		const struct lm_file_ops *fops, struct file **filep)
{
	const struct lm_ops *ops = fn->ops;
	enum lm_state cur = fn->state;
	bool p2p = fn->caps & LM_CAP_P2P;
	bool device_err = true;
	struct file *file;
	int ret;

	lockdep_assert_held(&fn->lock);
	*filep = NULL;

	if ((cur == R && next == RP) || (cur == PC && next == PP)) {
		ret = ops->p2p_quiesce(fn);
	} else if ((cur == RP && next == R) || (cur == PP && next == PC)) {
		ret = ops->p2p_resume(fn);
	} else if ((cur == RP || (cur == R && !p2p)) && next == S) {
		ret = ops->stop(fn);
	} else if (cur == S && (next == RP || (next == R && !p2p))) {
		ret = ops->restart(fn);
	} else if ((cur == S && next == SC) || (cur == R && next == PC) ||
		   (cur == RP && next == PP)) {
		file = lm_file_create_save(fn, next != SC, fops, &device_err);
		ret = PTR_ERR_OR_ZERO(file);
		if (!ret)
			*filep = file;
	} else if (cur == S && next == RS) {
		file = lm_file_create_resume(fn, fops);
		ret = PTR_ERR_OR_ZERO(file);
		device_err = false;
		if (!ret)
			*filep = file;
	} else if ((cur == SC && next == S) || (cur == PC && next == R) ||
		   (cur == PP && next == RP)) {
		lm_file_disable(fn);
		ret = 0;
	} else if ((cur == PC || cur == PP) && next == SC) {
		/* The open saving file goes on with the final state. */
		ret = ops->stop(fn);
	} else if (cur == RS && next == S) {
		ret = lm_file_load(fn, &device_err);
		if (!ret)
			lm_file_disable(fn);
	} else {
		/* lm_step only yields the arcs above */
		ret = -EINVAL;
		device_err = false;
	}

	trace_lm_transition(fn, cur, next, ret);
	if (ret) {
		if (device_err)
			lm_fsm_fail(fn);
		else
			fn->stats.errors++;
		return ret;
	}
	fn->state = next;
	fn->stats.transitions++;
	return 0;
}

/**
 * lm_set_state() - move a function to a new migration state
 * @fn: the function
 * @new_state: the requested state
 * @fops: the consumer's data file ops (ioctl, owner), or NULL
 * @filep: set to the data file opened by the request, or NULL
 *
 * Walks every arc of the path itself, as VFIO migration v2 specifies.  The
 * arcs that open a data file (STOP->STOP_COPY, STOP->RESUMING,
 * RUNNING->PRE_COPY, RUNNING_P2P->PRE_COPY_P2P) are always the last of a
 * path.  The caller owns the returned file's reference.
 *
 * Return: 0; -EINVAL for an unreachable or unsupported state; -ENODEV after
 * the function was removed; the failing step's error otherwise, in which
 * case the function is in %LM_STATE_ERROR if the device may have changed,
 * or in the last state reached if not (a resume stream that is incomplete
 * or invalid leaves it in %LM_STATE_RESUMING, untouched).
 */
int lm_set_state(struct lm_function *fn, enum lm_state new_state,
		 const struct lm_file_ops *fops, struct file **filep)
{
	struct file *file = NULL;
	enum lm_state next;
	int ret = 0;

	*filep = NULL;
	if ((unsigned int)new_state >= LM_STATE_NR || new_state == E)
		return -EINVAL;
	mutex_lock(&fn->lock);
	if (fn->dead) {
		ret = -ENODEV;
		goto out;
	}
	while (fn->state != new_state) {
		ret = lm_next_state(fn->caps, fn->state, new_state, &next);
		if (ret)
			break;
		ret = lm_fsm_step(fn, next, fops, &file);
		if (ret)
			break;
		if (file) {
			*filep = file;
			break;
		}
	}
out:
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_set_state);

/**
 * lm_function_removed() - whether a function's controller removed it
 * @fn: the function
 *
 * Lockless, for a consumer that holds a handle and wants to look the device
 * up again once its function is gone.  A function can be removed right
 * after this returns false; the next call on it then returns -ENODEV.
 *
 * Return: true once the function was removed; it never comes back.
 */
bool lm_function_removed(struct lm_function *fn)
{
	return READ_ONCE(fn->dead);
}
EXPORT_SYMBOL_GPL(lm_function_removed);

/**
 * lm_get_state() - current migration state of a function
 * @fn: the function
 * @state: set to the current state
 *
 * Return: 0, or -ENODEV after the function was removed.
 */
int lm_get_state(struct lm_function *fn, enum lm_state *state)
{
	int ret = 0;

	mutex_lock(&fn->lock);
	if (fn->dead)
		ret = -ENODEV;
	else
		*state = fn->state;
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_get_state);

/**
 * lm_get_data_size() - estimated length of a STOP_COPY stream
 * @fn: the function
 * @size: set to the bytes a STOP_COPY data file would deliver now,
 *	framing included
 *
 * Return: 0, -ENODEV after removal, or the driver's error.
 */
int lm_get_data_size(struct lm_function *fn, u64 *size)
{
	u64 len = 0;
	int ret;

	mutex_lock(&fn->lock);
	if (fn->dead) {
		ret = -ENODEV;
	} else {
		ret = fn->ops->state_size(fn, &len);
		if (!ret)
			*size = sizeof(struct lm_stream_header) +
				lm_stream_framed(len) +
				sizeof(struct lm_stream_record);
	}
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_get_data_size);

/**
 * lm_function_reset() - the function was reset; return to RUNNING
 * @fn: the function
 *
 * Called by a consumer after a reset of the controlled function (for VFIO,
 * from the PCI reset_done handler).  Disables the session's data file, stops
 * dirty logging and lets the driver forget its migration state.  Also the
 * only way out of %LM_STATE_ERROR.
 *
 * Return: 0, -ENODEV after removal, or the driver's error (the function is
 * then in %LM_STATE_ERROR).
 */
int lm_function_reset(struct lm_function *fn)
{
	int ret = 0;

	mutex_lock(&fn->lock);
	if (fn->dead) {
		ret = -ENODEV;
		goto out;
	}
	lm_file_disable(fn);
	lm_log_off(fn);
	fn->stats.resets++;
	if (fn->ops->reset)
		ret = fn->ops->reset(fn);
	trace_lm_transition(fn, fn->state, R, ret);
	if (ret) {
		fn->state = E;
		fn->stats.errors++;
	} else {
		fn->state = R;
	}
out:
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_function_reset);

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
		ret = fn->ops->log_start(fn, ranges, nr, &granted);
		/*
		 * A granularity the bitmaps cannot hold is the driver's bug;
		 * ranges not aligned to it would make windows straddle pages.
		 */
		if (!ret && (!is_power_of_2(granted) || granted < asked ||
			     granted > LM_LOG_PAGE_MAX ||
			     lm_log_check(ranges, nr, granted))) {
			fn->ops->log_stop(fn);
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
		ret = fn->ops->log_stop(fn);
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
			ret = fn->ops->log_report(fn, w.first,
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
