/* SPDX-License-Identifier: GPL-2.0 */
/* Private to drivers/live_migration: objects shared between its files. */
#ifndef _LM_INTERNAL_H
#define _LM_INTERNAL_H

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/live_migration.h>
#include <linux/mutex.h>
#include <linux/types.h>

#define LM_STREAM_MAGIC		0x4d5254534d494c4cULL	/* "LLIMSTRM" */
#define LM_STREAM_VERSION	4	/* 4: a crc32c in every DATA record */

/*
 * The longest DATA record saving makes: a bounce buffer's worth.  A
 * destination takes any length up to its max_state_size.
 */
#define LM_RECORD_MAX		(256 * 1024)

enum lm_record_type {
	LM_REC_DATA = 1,	/* followed by len (> 0) payload bytes */
	LM_REC_END = 2,		/* len and crc cover all payload bytes */
};

/*
 * On the wire, little endian: one header, then DATA records, then one END
 * record.  Header and records carry a crc32c (seeded with ~0, not
 * inverted) of their own bytes.  Every record also carries the crc32c of
 * the payload from the stream's first payload byte to the record's end
 * (the same crc, continued across records), so a destination checks each
 * DATA record as it completes, and the END record covers the whole payload
 * and its order.
 */
struct lm_stream_header {
	__le64 magic;
	__le16 version;
	__le16 compat_len;
	__le32 flags;			/* none defined: must be 0 */
	u8 compat[LM_COMPAT_MAX];
	__le32 reserved;
	__le32 hdr_crc;			/* over all bytes before it */
};

struct lm_stream_record {
	__le32 type;
	__le32 payload_crc;		/* of the payload up to here */
	__le64 len;
	__le64 reserved;
	__le32 reserved2;
	__le32 rec_crc;			/* over all bytes before it */
};

struct lm_stats {
	u64 transitions;
	u64 errors;
	u64 bytes_saved;
	u64 bytes_loaded;
	u64 resets;
};

/*
 * struct lm_function - one controlled function
 *
 * Its lifetime is that of @dev: the registry, every consumer handle and
 * every open data file hold a reference.
 *
 * @lock (the "state lock") protects @state, @dead, @released, @file, the
 * logging fields, @stats and the data file fields marked so; every driver
 * op that has a function is called under it (a claim has none yet).
 * It is never held across copy_to_user()/copy_from_user(): data files copy
 * through their own buffers and take @lock only around driver calls.
 * lm_registry_lock nests outside @lock.
 */
struct lm_function {
	struct device dev;
	struct device *controlled;	/* reference held until release */
	struct lm_controller *ctrl;	/* NULL once removed */
	const struct lm_migration_ops *mig;
	const struct lm_p2p_ops *p2p;	/* NULL without LM_CAP_P2P */
	const struct lm_log_ops *log;	/* NULL without LM_CAP_DIRTY_LOG */
	void *drvdata;
	u32 caps;
	u64 max_state_size;
	u16 compat_len;
	char ctrl_name[32];		/* survives the controller */
	bool claimed;			/* made by a claim: the core's */
	bool listed;			/* registry lock: held by the list */
	bool released;			/* the driver's release was called */

	struct mutex lock;		/* the state lock, see above */
	enum lm_state state;
	bool dead;
	bool logging;
	u8 log_shift;			/* log2 of the logging page size */
	unsigned int log_gen;		/* logging sessions started */
	unsigned int log_nr;		/* the logged ranges, sorted */
	struct lm_log_range *log_ranges;
	struct lm_file *file;		/* the session's data file, if any */
	struct lm_stats stats;
	/* sessions, ended or not, whose buffers are not freed yet */
	atomic_t held_sessions;

	struct hlist_node hnode;	/* registry hash, registry lock */
	struct list_head ctrl_node;	/* ctrl->functions, registry lock */
	/* sized to fit: a lookup touches fewer pages when objects are small */
	u8 compat[] __counted_by(compat_len);
};

extern const struct class lm_class;
/* live objects, so tests can prove nothing leaks */
extern atomic_t lm_live_functions;
extern atomic_t lm_live_files;
extern atomic_long_t lm_file_mem;	/* bytes data files hold */

extern const struct attribute_group *lm_function_groups[];

/* buffer.c */
void *lm_state_mem_alloc(size_t len, gfp_t gfp);

/* sysfs.c */
const char *lm_state_name(enum lm_state state);

static inline struct lm_function *to_lm_function(struct device *dev)
{
	return container_of(dev, struct lm_function, dev);
}

/* debugfs.c */
void lm_debugfs_init(void);
void lm_debugfs_exit(void);
#ifdef CONFIG_LIVE_MIGRATION_FAULT_INJECTION
bool lm_should_fail(void);
#else
static inline bool lm_should_fail(void)
{
	return false;
}
#endif

/* fsm.c */
void lm_fsm_error(struct lm_function *fn);
void lm_fsm_restore_running(struct lm_function *fn);

/* dirty.c */
void lm_log_off(struct lm_function *fn);
void lm_log_forget(struct lm_function *fn);

/* ops.c: the driver's primitives, state lock held */
int lm_op_stop(struct lm_function *fn);
int lm_op_restart(struct lm_function *fn);
int lm_op_p2p_quiesce(struct lm_function *fn);
int lm_op_p2p_resume(struct lm_function *fn);
int lm_op_save_begin(struct lm_function *fn, enum lm_save_phase phase,
		     u64 room, struct lm_segment *seg, const u8 **data);
int lm_op_save_read(struct lm_function *fn, void *buf, size_t len,
		    u64 offset);
void lm_op_save_end(struct lm_function *fn);
int lm_op_load(struct lm_function *fn, const void *buf, size_t len,
	       u64 offset, u64 total);
int lm_op_state_size(struct lm_function *fn, u64 *len);
int lm_op_reset(struct lm_function *fn);
int lm_op_compat_check(struct lm_function *fn, const u8 *remote,
		       size_t len);
int lm_op_describe(struct lm_function *fn, u8 *buf, u16 *len);
int lm_op_log_start(struct lm_function *fn, const struct lm_log_range *ranges,
		    unsigned int nr, u64 *page_size);
int lm_op_log_stop(struct lm_function *fn);
int lm_op_log_report(struct lm_function *fn, unsigned long iova,
		     unsigned long length, lm_dirty_fn fn_dirty, void *opaque);
void lm_op_release(struct lm_function *fn);
int lm_op_claim(struct lm_controller *ctrl, struct device *dev,
		struct lm_function_info *info);
void lm_op_release_unmade(struct lm_controller *ctrl, struct device *dev,
			  void *drvdata);

/* file.c, save.c, resume.c */
struct lm_file;
struct file *lm_file_create_save(struct lm_function *fn, bool precopy,
				 const struct lm_file_ops *fops);
struct file *lm_file_create_resume(struct lm_function *fn,
				   const struct lm_file_ops *fops);
int lm_file_load(struct lm_function *fn);
void lm_file_disable(struct lm_function *fn);
bool lm_file_is_lm(struct file *file);

/* stream.c */
u32 lm_crc(u32 crc, const void *buf, size_t len);
int lm_stream_fill_header(struct lm_function *fn,
			  struct lm_stream_header *hdr);
int lm_stream_check_header(struct lm_function *fn,
			   const struct lm_stream_header *hdr);
void lm_stream_fill_record(struct lm_stream_record *rec,
			   enum lm_record_type type, u64 len, u32 payload_crc);
int lm_stream_check_record(const struct lm_stream_record *rec);
u64 lm_stream_framed(u64 payload);
u64 lm_stream_size(u64 payload);

#endif /* _LM_INTERNAL_H */
