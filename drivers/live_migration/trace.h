/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM live_migration

#if !defined(_LM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _LM_TRACE_H

#include <linux/tracepoint.h>

#include "lm_internal.h"

#define lm_show_state(s)						\
	__print_symbolic(s, { LM_STATE_ERROR, "error" },		\
			 { LM_STATE_STOP, "stop" },			\
			 { LM_STATE_RUNNING, "running" },		\
			 { LM_STATE_STOP_COPY, "stop_copy" },		\
			 { LM_STATE_RESUMING, "resuming" },		\
			 { LM_STATE_RUNNING_P2P, "running_p2p" },	\
			 { LM_STATE_PRE_COPY, "pre_copy" },		\
			 { LM_STATE_PRE_COPY_P2P, "pre_copy_p2p" })

TRACE_EVENT(lm_transition,
	    TP_PROTO(struct lm_function *fn, enum lm_state from,
		     enum lm_state to, int ret),
	    TP_ARGS(fn, from, to, ret),
	    TP_STRUCT__entry(__string(name, dev_name(&fn->dev))
			     __field(u8, from)
			     __field(u8, to)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(name);
			   __entry->from = from;
			   __entry->to = to;
			   __entry->ret = ret;),
	    TP_printk("%s %s -> %s ret=%d", __get_str(name),
		      lm_show_state(__entry->from),
		      lm_show_state(__entry->to), __entry->ret)
);

TRACE_EVENT(lm_op,
	    TP_PROTO(struct lm_function *fn, const char *op, int ret),
	    TP_ARGS(fn, op, ret),
	    TP_STRUCT__entry(__string(name, dev_name(&fn->dev))
			     __string(op, op)
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(name);
			   __assign_str(op);
			   __entry->ret = ret;),
	    TP_printk("%s %s ret=%d", __get_str(name), __get_str(op),
		      __entry->ret)
);

TRACE_EVENT(lm_claim,
	    TP_PROTO(struct device *dev, int ret),
	    TP_ARGS(dev, ret),
	    TP_STRUCT__entry(__string(name, dev_name(dev))
			     __field(int, ret)),
	    TP_fast_assign(__assign_str(name);
			   __entry->ret = ret;),
	    TP_printk("%s claim ret=%d", __get_str(name), __entry->ret)
);

TRACE_EVENT(lm_data,
	    TP_PROTO(struct lm_function *fn, bool saving, u64 offset, u64 len),
	    TP_ARGS(fn, saving, offset, len),
	    TP_STRUCT__entry(__string(name, dev_name(&fn->dev))
			     __field(bool, saving)
			     __field(u64, offset)
			     __field(u64, len)),
	    TP_fast_assign(__assign_str(name);
			   __entry->saving = saving;
			   __entry->offset = offset;
			   __entry->len = len;),
	    TP_printk("%s %s offset=%llu len=%llu", __get_str(name),
		      __entry->saving ? "save" : "load", __entry->offset,
		      __entry->len)
);

#endif /* _LM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
