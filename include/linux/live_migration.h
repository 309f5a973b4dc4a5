/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Live migration of controlled functions (SR-IOV VFs and the like) through
 * their controlling function's driver.  See
 * Documentation/driver-api/live_migration.rst.
 */
#ifndef _LINUX_LIVE_MIGRATION_H
#define _LINUX_LIVE_MIGRATION_H

#include <linux/bits.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/types.h>

struct device;
struct file;
struct module;
struct lm_function;

/**
 * enum lm_state - migration state of a controlled function
 * @LM_STATE_ERROR: a primitive failed; only lm_function_reset() leaves it
 * @LM_STATE_STOP: stopped, no DMA, no state change, no data file
 * @LM_STATE_RUNNING: running normally
 * @LM_STATE_STOP_COPY: stopped, the saving data file streams the final state
 * @LM_STATE_RESUMING: stopped, the resuming data file takes a new state
 * @LM_STATE_RUNNING_P2P: running but initiating no peer-to-peer DMA
 * @LM_STATE_PRE_COPY: running, the saving data file streams state early
 * @LM_STATE_PRE_COPY_P2P: @LM_STATE_PRE_COPY without initiating P2P DMA
 * @LM_STATE_NR: number of states
 *
 * The states and their numbering are those of the VFIO migration v2 uAPI,
 * so a consumer serving that uAPI passes values through unchanged.
 */
enum lm_state {
	LM_STATE_ERROR = 0,
	LM_STATE_STOP = 1,
	LM_STATE_RUNNING = 2,
	LM_STATE_STOP_COPY = 3,
	LM_STATE_RESUMING = 4,
	LM_STATE_RUNNING_P2P = 5,
	LM_STATE_PRE_COPY = 6,
	LM_STATE_PRE_COPY_P2P = 7,
	LM_STATE_NR
};

/* Capabilities of a function, in lm_function_info.caps */
#define LM_CAP_STOP_COPY	BIT(0)	/* mandatory */
#define LM_CAP_P2P		BIT(1)	/* RUNNING_P2P (and PRE_COPY_P2P) */
#define LM_CAP_PRE_COPY		BIT(2)	/* PRE_COPY (and PRE_COPY_P2P) */
#define LM_CAP_DIRTY_LOG	BIT(3)	/* DMA dirty page logging */
#define LM_CAP_ALL		(LM_CAP_STOP_COPY | LM_CAP_P2P | \
				 LM_CAP_PRE_COPY | LM_CAP_DIRTY_LOG)

/* Largest compatibility descriptor a function may declare, in bytes */
#define LM_COMPAT_MAX		128

/*
 * Largest state a function may declare (lm_function_info.max_state_size):
 * a resuming data file may hold this much kernel memory.
 */
#ifdef CONFIG_64BIT
#define LM_MAX_STATE_SIZE	SZ_64G
#else
#define LM_MAX_STATE_SIZE	SZ_1G
#endif

/**
 * enum lm_save_phase - which part of the state a segment begins
 * @LM_SAVE_PRECOPY: the function is running; produce what can be sent early
 * @LM_SAVE_FINAL: the function is stopped; produce everything still missing
 */
enum lm_save_phase {
	LM_SAVE_PRECOPY,
	LM_SAVE_FINAL,
};

/**
 * struct lm_log_range - an IOVA range whose DMA writes are to be logged
 * @iova: start of the range
 * @length: length of the range in bytes
 */
struct lm_log_range {
	u64 iova;
	u64 length;
};

/**
 * typedef lm_dirty_fn - receives one dirty range
 * @opaque: the cookie passed with it (to lm_log_report() by a consumer, to
 *	lm_log_ops.log_report by the core)
 * @iova: start of the dirty range
 * @length: length of the dirty range in bytes
 */
typedef void (*lm_dirty_fn)(void *opaque, unsigned long iova,
			    unsigned long length);

/**
 * struct lm_file_ops - a consumer's part in the data files it opens
 * @owner: the module of @ioctl; a data file holds a reference on it, so
 *	the consumer can be unloaded only after its last data file is closed
 * @ioctl: handles ioctls on a data file; NULL answers -ENOTTY.  The core
 *	owns the data files but not the ioctl numbers of any uAPI: a consumer
 *	implements its commands with lm_file_precopy_info().  Returns as
 *	&file_operations.unlocked_ioctl does.
 */
struct lm_file_ops {
	struct module *owner;
	long (*ioctl)(struct file *file, unsigned int cmd, unsigned long arg);
};

/**
 * struct lm_buffer - saved state in memory, shared by a driver and the core
 * @data: the bytes
 * @len: the size of @data
 * @ref: references; the last lm_buffer_put() frees the buffer
 *
 * A driver whose state already sits in memory (read from the device with
 * DMA, or kept by a function implemented in software) hands it to the core
 * in lm_segment.buf instead of copying it out in lm_migration_ops.save_read,
 * which saves a copy of every byte.  The bytes must not change while anyone
 * else holds a reference: a driver whose state changes moves to a new
 * buffer.
 */
struct lm_buffer {
	void *data;
	size_t len;
	struct kref ref;
};

struct lm_controller;

/**
 * struct lm_function_info - what a controlling driver declares for a function
 * @drvdata: the driver's private data, see lm_function_drvdata()
 * @caps: LM_CAP_* of this function; must include %LM_CAP_STOP_COPY, and
 *	%LM_CAP_P2P and %LM_CAP_DIRTY_LOG only with the controller's tables
 *	for them
 * @max_state_size: upper bound of the state the function can produce or
 *	consume, in bytes; bounds the memory a resuming data file may use
 * @compat: compatibility descriptor: a destination accepts a stream only if
 *	the source's descriptor is byte-identical to its own, or
 *	lm_migration_ops.compat_check accepts it
 * @compat_len: length of @compat, at most %LM_COMPAT_MAX
 */
struct lm_function_info {
	void *drvdata;
	u32 caps;
	u64 max_state_size;
	const u8 *compat;
	u16 compat_len;
};

/**
 * struct lm_segment - a segment of saved state, as lm_migration_ops.save_begin
 *	describes it
 * @len: its length in bytes; 0: nothing now
 * @dirty: an estimate of the bytes later segments will add
 * @buf: optional, the buffer that holds the segment, from @offset on.  The
 *	core then copies the segment out of it instead of calling
 *	lm_migration_ops.save_read.  Setting it gives the core a reference
 *	(whatever save_begin returns, the core puts it), which may outlive
 *	lm_migration_ops.save_end and the function: a data file keeps it
 *	until its session ends (a read under way when it ends keeps it until
 *	that read returns).  The bytes must not change meanwhile.  A
 *	segment longer than what follows @offset fails with -EINVAL.
 * @offset: where the segment starts in @buf
 *
 * The core zeroes it before each call.
 */
struct lm_segment {
	u64 len;
	u64 dirty;
	struct lm_buffer *buf;
	size_t offset;
};

/**
 * DOC: calls into a controlling driver
 *
 * The core calls every op that has a function with the function's state
 * lock held, never two at once for one function, and never after the
 * function was released (lm_controller_ops.release is the last).
 * lm_controller_ops.claim has no function yet and runs under the
 * controller's claim lock alone; the release of a function whose creation
 * failed runs with no lock of the core's held.  Ops may sleep.  Every op
 * that returns int returns 0 or a negative errno, never a count: anything
 * else is taken as -EIO.  A negative errno from an op that acts on the
 * device (stop, restart, the P2P ops, saving, load, reset) moves the
 * function to %LM_STATE_ERROR, except -EAGAIN from stop or restart, by
 * which the op says it did nothing to the device (it lacked a resource to
 * start with): the function stays where it was and the caller may try
 * again.  Drivers
 * never see migration states or data files: the core derives the calls
 * from the state machine.
 */

/**
 * struct lm_migration_ops - the primitives of every migratable function
 * @stop: stop the function completely: no DMA, no interrupts, no internal
 *	state change.  With P2P it is already quiesced by lm_p2p_ops.quiesce.
 * @restart: undo @stop.  With P2P the function comes back quiesced and
 *	lm_p2p_ops.resume follows.
 * @save_begin: start a segment of saved state and describe it in @seg.
 *	%LM_SAVE_PRECOPY segments (only with %LM_CAP_PRE_COPY) are taken
 *	while the function runs; the %LM_SAVE_FINAL one after @stop, and it
 *	must complete the state.
 * @save_read: copy @len bytes at @offset of the current segment into @buf.
 *	Called with increasing offsets until the segment is consumed; not
 *	called for a segment in a buffer (lm_segment.buf).  Optional for a
 *	driver that always gives a buffer.
 * @save_end: the saving session ended (consumed, abandoned or reset): drop
 *	what @save_begin kept.  Optional.
 * @load: give the function @len bytes at @offset of a @total byte state
 *	that the core has already received completely and validated; called in
 *	offset order with the function stopped.
 * @state_size: estimate the bytes a %LM_SAVE_FINAL save would produce now.
 * @reset: optional; the function was reset (e.g. FLR), or its controller
 *	lets go of it while it is not running (unregister,
 *	lm_function_remove()): forget migration state kept for it; on return
 *	it must be running.  Dirty logging, if it was on, has been stopped
 *	just before.  Without it, a function let go of is brought back with
 *	@restart and lm_p2p_ops.resume.
 * @compat_check: optional; decide whether a stream whose compatibility
 *	descriptor is @remote can be loaded.  Return 0 or a negative errno.
 * @describe: optional; write the compatibility descriptor of a save that
 *	starts now into @buf, whose room *@len gives (%LM_COMPAT_MAX, zeroed),
 *	and its length into *@len.  For a device whose compatibility can
 *	change while it is claimed (a firmware activation); without it, the
 *	descriptor given at claim is used (sysfs shows that one).  Called
 *	before the first @save_begin of a save; it may issue device
 *	commands.  A failure fails the save and leaves the function where it
 *	was.
 *
 * @stop, @restart, @save_begin, @load and @state_size are mandatory; a
 * controller without them does not register.  @load is given at most
 * 1 MiB per call.  The calling rules are in "calls into a controlling
 * driver" above.
 */
struct lm_migration_ops {
	int (*stop)(struct lm_function *fn);
	int (*restart)(struct lm_function *fn);
	int (*save_begin)(struct lm_function *fn, enum lm_save_phase phase,
			  struct lm_segment *seg);
	int (*save_read)(struct lm_function *fn, void *buf, size_t len,
			 u64 offset);
	void (*save_end)(struct lm_function *fn);
	int (*load)(struct lm_function *fn, const void *buf, size_t len,
		    u64 offset, u64 total);
	int (*state_size)(struct lm_function *fn, u64 *len);
	int (*reset)(struct lm_function *fn);
	int (*compat_check)(struct lm_function *fn, const u8 *remote,
			    size_t len);
	int (*describe)(struct lm_function *fn, u8 *buf, u16 *len);
};

/**
 * struct lm_p2p_ops - the P2P arcs, for a controller whose functions can
 *	stop initiating peer-to-peer DMA on their own (%LM_CAP_P2P)
 * @quiesce: stop initiating DMA to peers while still answering requests.
 * @resume: undo @quiesce.
 *
 * Both are mandatory in the table.
 */
struct lm_p2p_ops {
	int (*quiesce)(struct lm_function *fn);
	int (*resume)(struct lm_function *fn);
};

/**
 * struct lm_log_ops - DMA dirty logging (%LM_CAP_DIRTY_LOG)
 * @log_start: start logging DMA writes to @nr ranges.  *@page_size is the
 *	granularity asked; a device that tracks coarser sets it to its own, a
 *	power of two, at most 1 GiB.  The core checked the ranges: non-empty,
 *	aligned to the size asked, ascending, not overlapping.
 * @log_stop: stop logging.
 * @log_report: report and clear the pages written within [@iova, @iova +
 *	@length) by calling @fn_dirty for each dirty range.  The core asks a
 *	window at a time (at most PAGE_SIZE * 8 logging pages, starting on
 *	one, within one logged range); what is reported outside the window
 *	is dropped, so only pages within it may be cleared.
 *
 * All three are mandatory in the table.
 */
struct lm_log_ops {
	int (*log_start)(struct lm_function *fn,
			 const struct lm_log_range *ranges, unsigned int nr,
			 u64 *page_size);
	int (*log_stop)(struct lm_function *fn);
	int (*log_report)(struct lm_function *fn, unsigned long iova,
			  unsigned long length, lm_dirty_fn fn_dirty,
			  void *opaque);
};

/**
 * struct lm_controller_ops - making and ending a controller's functions
 * @claim: asked by lm_function_get() for a device the core does not know
 *	yet whose controlling device is this controller's: for a PCI
 *	controller only its own VFs, never a PF or another child of a PCI
 *	device; for other controllers their (non-PCI) children.  Fill @info
 *	and return 0 to create the function, or -ENODEV if the device is not
 *	migratable.  Claims of one controller are serialised and never run
 *	for a device twice; lookups of other devices go on meanwhile, and
 *	lm_controller_unregister() waits for a claim under way, so @claim may
 *	issue device commands.  Optional.
 * @release: the function of @dev is going away (its controller
 *	unregisters, lm_function_remove(), a claimed function whose device is
 *	deleted, or its creation after @claim failed): free @drvdata.  No
 *	other op follows for it.  For a claimed function whose device is
 *	deleted it runs, after lm_migration_ops.save_end and
 *	lm_log_ops.log_stop, from that device's deletion (a bus notifier,
 *	inside device_del(), for a VF with the PF's device lock held by
 *	sriov_numvfs): it must not take locks held around
 *	pci_disable_sriov().  For a function added with lm_function_add()
 *	whose device was deleted, no op runs at the deletion and @release
 *	comes from lm_function_remove() without save_end or log_stop before
 *	it: it ends a session and logging still under way itself.  Optional.
 */
struct lm_controller_ops {
	int (*claim)(struct lm_controller *ctrl, struct device *dev,
		     struct lm_function_info *info);
	void (*release)(struct lm_controller *ctrl, struct device *dev,
			void *drvdata);
};

/**
 * struct lm_controller - a controlling function, registered by its driver
 * @dev: the controlling device (e.g. the SR-IOV PF)
 * @name: who controls, as sysfs shows it; the driver's name if NULL
 * @ops: claim and release; NULL if the driver adds every function itself
 *	and keeps no data for them
 * @mig_ops: the migration primitives, mandatory
 * @p2p_ops: the P2P arcs; its functions may then have %LM_CAP_P2P
 * @log_ops: dirty logging; its functions may then have %LM_CAP_DIRTY_LOG
 *
 * The driver embeds this in its own data, fills @dev and the tables it has
 * and calls lm_controller_register().  The memory must stay valid until
 * lm_controller_unregister() returns; afterwards the core never touches it.
 */
struct lm_controller {
	struct device *dev;
	const char *name;
	const struct lm_controller_ops *ops;
	const struct lm_migration_ops *mig_ops;
	const struct lm_p2p_ops *p2p_ops;
	const struct lm_log_ops *log_ops;

	/* private: the core's, under its registry lock unless said */
	struct list_head node;
	struct list_head functions;
	struct mutex claim_lock;	/* one claim at a time */
	unsigned int claims;		/* claims under way */
};

/* Controlling drivers */
int lm_controller_register(struct lm_controller *ctrl);
void lm_controller_unregister(struct lm_controller *ctrl);
struct lm_function *lm_function_add(struct lm_controller *ctrl,
				    struct device *dev,
				    const struct lm_function_info *info);
void lm_function_remove(struct lm_function *fn);
void *lm_function_drvdata(struct lm_function *fn);
struct device *lm_function_device(struct lm_function *fn);
struct lm_buffer *lm_buffer_alloc(size_t len, gfp_t gfp);
void lm_buffer_get(struct lm_buffer *buf);
void lm_buffer_put(struct lm_buffer *buf);

/* Consumers */
struct lm_function *lm_function_get(struct device *dev);
struct lm_function *lm_function_hold(struct lm_function *fn);
void lm_function_put(struct lm_function *fn);
u32 lm_function_caps(struct lm_function *fn);
int lm_set_state(struct lm_function *fn, enum lm_state new_state,
		 const struct lm_file_ops *fops, struct file **filep);
int lm_get_state(struct lm_function *fn, enum lm_state *state);
bool lm_function_removed(struct lm_function *fn);
int lm_get_data_size(struct lm_function *fn, u64 *size);
int lm_function_reset(struct lm_function *fn);
int lm_file_precopy_info(struct file *file, u64 *initial_bytes,
			 u64 *dirty_bytes);
int lm_log_start(struct lm_function *fn, const struct lm_log_range *ranges,
		 unsigned int nr, u64 *page_size);
int lm_log_stop(struct lm_function *fn);
int lm_log_report(struct lm_function *fn, unsigned long iova,
		  unsigned long length, lm_dirty_fn fn_dirty, void *opaque);
/* for KUnit suites outside the core (EXPORTED_FOR_KUNIT_TESTING) */
int lm_next_state(u32 caps, enum lm_state cur, enum lm_state target,
		  enum lm_state *next);

#endif /* _LINUX_LIVE_MIGRATION_H */
