// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: every call into a controlling driver.  Nothing
 * else in the core calls the driver's tables.
 *
 * Each call for a function is made with the function's state lock held
 * and traced with its result; a claim, which makes a function, runs under
 * its controller's claim lock.  A failed primitive that acts on the device
 * (stop, restart, the P2P arcs, saving, loading, reset) leaves the device
 * in a state nobody knows: the function goes to ERROR here, in one place,
 * and stays there until a reset; -EAGAIN from stop or restart says the
 * device was not touched, and leaves the state as it was.  The other calls (queries, logging,
 * compatibility) change nothing when they fail.
 */

#include "lm_internal.h"
#include "trace.h"

/* Callers take a positive value for a count or a pointer: never pass one. */
static int lm_op_errno(struct device *dev, const char *op, int ret)
{
	if (ret > 0 || ret < -MAX_ERRNO) {
		dev_err_ratelimited(dev, "%s returned %d, not an errno\n", op,
				    ret);
		return -EIO;
	}
	return ret;
}

/* State lock held.  Traces a call and its result; see the top of the file. */
static int lm_op_done(struct lm_function *fn, const char *op, int ret,
		      bool device)
{
	trace_lm_op(fn, op, ret);
	ret = lm_op_errno(&fn->dev, op, ret);
	if (ret && device)
		lm_fsm_error(fn);
	return ret;
}

int lm_op_stop(struct lm_function *fn)
{
	int ret;

	lockdep_assert_held(&fn->lock);
	ret = fn->mig->stop(fn);
	return lm_op_done(fn, "stop", ret, ret != -EAGAIN);
}

int lm_op_restart(struct lm_function *fn)
{
	int ret;

	lockdep_assert_held(&fn->lock);
	ret = fn->mig->restart(fn);
	return lm_op_done(fn, "restart", ret, ret != -EAGAIN);
}

int lm_op_p2p_quiesce(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "p2p_quiesce", fn->p2p->quiesce(fn), true);
}

int lm_op_p2p_resume(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "p2p_resume", fn->p2p->resume(fn), true);
}

/*
 * Begins a segment as the driver describes it in @seg, of at most @room
 * bytes.  With a buffer, the caller owns the driver's reference in
 * seg->buf, and *@data points at the first byte.  A driver's inconsistent
 * answer fails like its error: the stream cannot go on.
 */
int lm_op_save_begin(struct lm_function *fn, enum lm_save_phase phase,
		     u64 room, struct lm_segment *seg, const u8 **data)
{
	struct lm_buffer *buf;
	int ret;

	lockdep_assert_held(&fn->lock);
	memset(seg, 0, sizeof(*seg));
	*data = NULL;
	ret = fn->mig->save_begin(fn, phase, seg);
	/* the core's reference from here on, whatever save_begin returned */
	buf = seg->buf;
	seg->buf = NULL;
	/* more than max_state_size in all: no destination would take it */
	if (!ret && seg->len > room)
		ret = -EINVAL;
	else if (!ret && buf && (seg->offset > buf->len ||
				 seg->len > buf->len - seg->offset))
		ret = -EINVAL;
	else if (!ret && seg->len && !buf && !fn->mig->save_read)
		ret = -EINVAL;
	if (ret || !seg->len) {
		lm_buffer_put(buf);
		buf = NULL;
	}
	if (buf) {
		seg->buf = buf;
		*data = (const u8 *)buf->data + seg->offset;
	}
	if (phase == LM_SAVE_FINAL)
		seg->dirty = 0;
	return lm_op_done(fn, "save_begin", ret, true);
}

int lm_op_save_read(struct lm_function *fn, void *buf, size_t len,
		    u64 offset)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "save_read",
			  fn->mig->save_read(fn, buf, len, offset), true);
}

/* The function's saving session ended; a removed driver is not told. */
void lm_op_save_end(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	if (!fn->mig->save_end || fn->dead)
		return;
	fn->mig->save_end(fn);
	lm_op_done(fn, "save_end", 0, false);
}

int lm_op_load(struct lm_function *fn, const void *buf, size_t len,
	       u64 offset, u64 total)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "load",
			  fn->mig->load(fn, buf, len, offset, total), true);
}

int lm_op_state_size(struct lm_function *fn, u64 *len)
{
	lockdep_assert_held(&fn->lock);
	*len = 0;
	return lm_op_done(fn, "state_size", fn->mig->state_size(fn, len),
			  false);
}

/* After a reset of the function; a driver without reset keeps nothing. */
int lm_op_reset(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	if (!fn->mig->reset)
		return 0;
	return lm_op_done(fn, "reset", fn->mig->reset(fn), true);
}

int lm_op_compat_check(struct lm_function *fn, const u8 *remote,
		       size_t len)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "compat_check",
			  fn->mig->compat_check(fn, remote, len), false);
}

int lm_op_describe(struct lm_function *fn, u8 *buf, u16 *len)
{
	int ret;

	lockdep_assert_held(&fn->lock);
	if (!fn->mig->describe) {
		memcpy(buf, fn->compat, fn->compat_len);
		*len = fn->compat_len;
		return 0;
	}
	*len = LM_COMPAT_MAX;	/* the room in buf */
	ret = lm_op_done(fn, "describe", fn->mig->describe(fn, buf, len),
			 false);
	if (!ret && *len > LM_COMPAT_MAX) {
		dev_err_ratelimited(&fn->dev, "describe: %u bytes, more than %u\n",
				    *len, LM_COMPAT_MAX);
		ret = -EIO;
	}
	return ret;
}

int lm_op_log_start(struct lm_function *fn, const struct lm_log_range *ranges,
		    unsigned int nr, u64 *page_size)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "log_start",
			  fn->log->log_start(fn, ranges, nr, page_size),
			  false);
}

int lm_op_log_stop(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "log_stop", fn->log->log_stop(fn), false);
}

int lm_op_log_report(struct lm_function *fn, unsigned long iova,
		     unsigned long length, lm_dirty_fn fn_dirty, void *opaque)
{
	lockdep_assert_held(&fn->lock);
	return lm_op_done(fn, "log_report",
			  fn->log->log_report(fn, iova, length, fn_dirty,
					      opaque), false);
}

/* The driver's last call for the function. */
void lm_op_release(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	if (!fn->ctrl->ops || !fn->ctrl->ops->release)
		return;
	fn->ctrl->ops->release(fn->ctrl, fn->controlled, fn->drvdata);
	lm_op_done(fn, "release", 0, false);
}

/* Claim lock held.  Asks the controller to make @dev's function. */
int lm_op_claim(struct lm_controller *ctrl, struct device *dev,
		struct lm_function_info *info)
{
	int ret;

	lockdep_assert_held(&ctrl->claim_lock);
	ret = ctrl->ops->claim(ctrl, dev, info);
	trace_lm_claim(dev, ret);
	return lm_op_errno(dev, "claim", ret);
}

/* A claim made no function: the driver frees what it set up for it. */
void lm_op_release_unmade(struct lm_controller *ctrl, struct device *dev,
			  void *drvdata)
{
	if (ctrl->ops->release)
		ctrl->ops->release(ctrl, dev, drvdata);
}
