// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the state machine of VFIO migration v2 and the
 * reset path.  The only code that sets a function's state.
 */

#include <kunit/visibility.h>

#include "lm_internal.h"
#include "trace.h"

/* Short names for the tables and the arcs, up to lm_fsm_step(). */
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
 * Pure function, matching the decisions VFIO makes for its migration v2
 * uAPI: vfio-pci's KUnit suite checks it against VFIO's own
 * vfio_mig_get_next_state(), so it is exported only with KUnit.
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
EXPORT_SYMBOL_IF_KUNIT(lm_next_state);

/*
 * A primitive failed (called from ops.c): the device's state is unknown
 * until a reset.
 */
void lm_fsm_error(struct lm_function *fn)
{
	lockdep_assert_held(&fn->lock);
	lm_file_disable(fn);
	fn->state = E;
	fn->stats.errors++;
}

/*
 * One arc.  A driver's failure has moved the function to ERROR (ops.c);
 * failures that leave the device untouched (allocation, validation of a
 * stream) leave the state as it was.
 */
static int lm_fsm_step(struct lm_function *fn, enum lm_state next,
		       const struct lm_file_ops *fops, struct file **filep)
{
	enum lm_state cur = fn->state;
	bool p2p = fn->caps & LM_CAP_P2P;
	struct file *file;
	int ret;

	lockdep_assert_held(&fn->lock);
	*filep = NULL;

	if ((cur == R && next == RP) || (cur == PC && next == PP)) {
		ret = lm_op_p2p_quiesce(fn);
	} else if ((cur == RP && next == R) || (cur == PP && next == PC)) {
		ret = lm_op_p2p_resume(fn);
	} else if ((cur == RP || (cur == R && !p2p)) && next == S) {
		ret = lm_op_stop(fn);
	} else if (cur == S && (next == RP || (next == R && !p2p))) {
		ret = lm_op_restart(fn);
	} else if ((cur == S && next == SC) || (cur == R && next == PC) ||
		   (cur == RP && next == PP)) {
		file = lm_file_create_save(fn, next != SC, fops);
		ret = PTR_ERR_OR_ZERO(file);
		if (!ret)
			*filep = file;
	} else if (cur == S && next == RS) {
		file = lm_file_create_resume(fn, fops);
		ret = PTR_ERR_OR_ZERO(file);
		if (!ret)
			*filep = file;
	} else if ((cur == SC && next == S) || (cur == PC && next == R) ||
		   (cur == PP && next == RP)) {
		lm_file_disable(fn);
		ret = 0;
	} else if ((cur == PC || cur == PP) && next == SC) {
		/* The open saving file goes on with the final state. */
		ret = lm_op_stop(fn);
	} else if (cur == RS && next == S) {
		ret = lm_file_load(fn);
		if (!ret)
			lm_file_disable(fn);
	} else {
		/* lm_step only yields the arcs above */
		ret = -EINVAL;
	}

	trace_lm_transition(fn, cur, next, ret);
	if (ret) {
		/* a driver's failure was counted as it moved to ERROR */
		if (fn->state != E)
			fn->stats.errors++;
		return ret;
	}
	fn->state = next;
	fn->stats.transitions++;
	return 0;
}

#undef E
#undef S
#undef R
#undef SC
#undef RS
#undef RP
#undef PC
#undef PP

/*
 * State lock held.  A function its controller lets go of is left running,
 * as a reset leaves it: nobody will ever restart it otherwise.  A failure
 * leaves it in ERROR; nothing more can be done, the driver said why if at
 * all.
 */
void lm_fsm_restore_running(struct lm_function *fn)
{
	enum lm_state cur = fn->state;
	int ret = 0;

	lockdep_assert_held(&fn->lock);
	if (cur == LM_STATE_RUNNING || cur == LM_STATE_PRE_COPY)
		return;
	/* the driver's reset brings it back from anywhere, or the arcs do */
	if (fn->mig->reset) {
		ret = lm_op_reset(fn);
	} else {
		if (cur != LM_STATE_RUNNING_P2P && cur != LM_STATE_PRE_COPY_P2P)
			ret = lm_op_restart(fn);
		if (!ret && (fn->caps & LM_CAP_P2P))
			ret = lm_op_p2p_resume(fn);
	}
	trace_lm_transition(fn, cur, LM_STATE_RUNNING, ret);
	if (!ret) {
		fn->state = LM_STATE_RUNNING;
		fn->stats.transitions++;
	}
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
	if ((unsigned int)new_state >= LM_STATE_NR ||
	    new_state == LM_STATE_ERROR)
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
		ret = lm_op_state_size(fn, &len);
		/* no stream is larger, whatever the driver estimates */
		if (!ret)
			*size = lm_stream_size(min(len, fn->max_state_size));
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
	enum lm_state cur;
	int ret = 0;

	mutex_lock(&fn->lock);
	if (fn->dead) {
		ret = -ENODEV;
		goto out;
	}
	lm_file_disable(fn);
	lm_log_off(fn);
	fn->stats.resets++;
	cur = fn->state;
	ret = lm_op_reset(fn);
	trace_lm_transition(fn, cur, LM_STATE_RUNNING, ret);
	if (!ret)
		fn->state = LM_STATE_RUNNING;
out:
	mutex_unlock(&fn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_function_reset);
