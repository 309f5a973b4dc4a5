// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the saving and resuming data files.
 *
 * Locking: each file has io_lock, which serialises read, write and ioctl on
 * it and may be held across copies to and from user space.  The function's
 * state lock (fn->lock) nests inside io_lock and is taken only around driver
 * calls and to publish progress; the state machine never waits for io_lock
 * (it only tries it), so a transition, reset or unregister never waits for
 * a user copy.
 *
 * Saving: the driver's bytes are produced into the file's bounce buffer
 * under fn->lock, then copied out without it; a segment the driver attached
 * (lm_save_attach()) is copied out of its buffer, which the file holds a
 * reference on.  Resuming: bytes are copied into the file's own chunks
 * without fn->lock and parsed as they come; progress (payload length, end
 * seen, first error) is published under fn->lock, and only published bytes
 * are ever handed to the driver.  Chunks, the bounce buffer and attached
 * buffers are freed when the session ends, not when user space closes the
 * file: the state machine frees them if no read or write is under way
 * (it only tries io_lock), else that read or write does as it returns.
 *
 * The payload hash is a hash of the hashes of 128 KiB pieces, so pieces can
 * be hashed apart.  Whole pieces in memory that stays put (an attached
 * segment, the received chunks) are claimed in order by a worker, beside the
 * copy to or from user space, and by a caller that would otherwise wait for
 * it; the other bytes (bounce buffer contents, the ends of a segment) are
 * streamed by the caller under io_lock.  hash_lock orders the claims and
 * folds the pieces' digests in piece order.
 */

#include <linux/anon_inodes.h>
#include <linux/sched/clock.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "lm_internal.h"
#include "trace.h"

#define LM_BOUNCE_SIZE		(256 * 1024)
#define LM_CHUNK_SHIFT		20
#define LM_CHUNK_SIZE		BIT(LM_CHUNK_SHIFT)
#define LM_PIECE_SHIFT		17
#define LM_PIECE_SIZE		BIT(LM_PIECE_SHIFT)
/* Received payload is published to the hashers a piece at a time. */
#define LM_RESUME_STEP		LM_PIECE_SIZE
/* Pieces hashed ahead of the oldest unfinished one, at most. */
#define LM_HASH_WINDOW		16
/* About the time a piece takes on the slowest machine measured (TCG). */
#define LM_HASH_SPIN_NS		(50 * NSEC_PER_USEC)

enum lm_parse {
	LM_PARSE_HEADER,
	LM_PARSE_RECORD,
	LM_PARSE_PAYLOAD,
	LM_PARSE_DONE,
};

struct lm_file {
	struct lm_function *fn;		/* holds a reference on fn->dev */
	bool saving;
	const struct lm_file_ops *fops;	/* pins fops->owner while set */
	struct mutex io_lock;		/* see the top of this file */

	/* the payload hash, see the top of this file */
	spinlock_t hash_lock;
	struct xxh64_state fold;	/* hash_lock: digests of pieces... */
	u64 folded;			/* hash_lock: ...0 to folded - 1 */
	u64 digests[LM_HASH_WINDOW];	/* hash_lock: finished, not folded */
	DECLARE_BITMAP(finished, LM_HASH_WINDOW);	/* hash_lock */
	u64 claim_next;			/* hash_lock: pieces claim_next to */
	u64 claim_end;			/* hash_lock: claim_end - 1 claimable */
	bool hash_running;		/* hash_lock: hash_work queued */
	bool hash_stop;			/* hash_lock: the file is going */
	struct work_struct hash_work;
	wait_queue_head_t hash_wq;	/* a piece finished */
	struct xxh64_state piece;	/* io_lock: the piece being streamed */
	u64 piece_idx;			/* io_lock */
	size_t piece_have;		/* io_lock: its bytes streamed so far */

	/* fn->lock */
	bool disabled;
	int err;			/* sticky, returned by later calls */

	/* saving; io_lock (set up before the file is published) */
	u8 *out;			/* bounce: framing or payload */
	const u8 *cur;			/* queued bytes: out or seg_data */
	size_t out_len;
	size_t out_pos;
	struct lm_buffer *seg_buf;	/* attached segment, if any */
	const u8 *seg_data;		/* its first byte */
	u64 seg_base;			/* payload offset of its first byte */
	u64 seg_len;
	u64 seg_pos;
	unsigned int segments;
	u64 dirty_estimate;
	bool final_begun;
	bool end_queued;
	u64 total;			/* payload bytes produced */

	/* resuming; io_lock */
	void **chunks;
	unsigned long nr_chunks;
	u64 max_payload;
	enum lm_parse parse;
	size_t frame_have;
	union {
		struct lm_stream_header hdr;
		struct lm_stream_record rec;
	} frame;
	u64 rec_left;
	u64 payload_len;
	int parse_err;

	/* resuming; fn->lock */
	u64 committed_len;
	bool committed_done;
};

static const struct file_operations lm_file_fops;

atomic_t lm_live_files = ATOMIC_INIT(0);
atomic_long_t lm_file_mem = ATOMIC_LONG_INIT(0);
/* counted for the KUnit suites only */
atomic_long_t lm_worker_pieces = ATOMIC_LONG_INIT(0);

/* fn->lock held.  Why this file cannot be used any more, or 0. */
static int lm_file_usable(struct lm_file *migf)
{
	lockdep_assert_held(&migf->fn->lock);
	/* a driver's error says more than the session's end it caused */
	if (migf->err)
		return migf->err;
	if (migf->fn->dead || migf->disabled)
		return -ENODEV;
	return 0;
}

/* The last chunk holds only what max_payload leaves of it. */
static size_t lm_chunk_len(const struct lm_file *migf, unsigned long idx)
{
	return min_t(u64, LM_CHUNK_SIZE,
		     migf->max_payload - ((u64)idx << LM_CHUNK_SHIFT));
}

/*
 * io_lock held, or the file unpublished.  Let go of every buffer: the
 * session ended, so no byte of it is read or written again.
 */
static void lm_file_trim(struct lm_file *migf)
{
	unsigned long i;

	spin_lock(&migf->hash_lock);
	migf->hash_stop = true;
	spin_unlock(&migf->hash_lock);
	cancel_work_sync(&migf->hash_work);
	lm_buffer_put(migf->seg_buf);
	migf->seg_buf = NULL;
	migf->seg_data = NULL;
	migf->seg_len = 0;
	migf->seg_pos = 0;
	for (i = 0; migf->chunks && i < migf->nr_chunks; i++)
		if (migf->chunks[i]) {
			kvfree(migf->chunks[i]);
			atomic_long_sub(lm_chunk_len(migf, i), &lm_file_mem);
		}
	kvfree(migf->chunks);
	migf->chunks = NULL;
	migf->nr_chunks = 0;
	if (migf->out)
		atomic_long_sub(LM_BOUNCE_SIZE, &lm_file_mem);
	kvfree(migf->out);
	migf->out = NULL;
	migf->cur = NULL;
	migf->out_len = 0;
	migf->out_pos = 0;
}

void lm_file_disable(struct lm_function *fn)
{
	struct lm_file *migf = fn->file;

	lockdep_assert_held(&fn->lock);
	if (!migf)
		return;
	migf->disabled = true;
	fn->file = NULL;
	if (migf->saving && fn->ops->save_end && !fn->dead)
		fn->ops->save_end(fn);
	/* a trylock adds no lock order: io_lock nests outside fn->lock */
	if (mutex_trylock(&migf->io_lock)) {
		lm_file_trim(migf);
		mutex_unlock(&migf->io_lock);
	}
}

/*
 * Ends a read, write or ioctl: drops io_lock and, if the session ended
 * while it was held, frees what lm_file_disable() could not.
 */
static void lm_file_io_end(struct lm_file *migf)
{
	bool disabled;

	mutex_unlock(&migf->io_lock);
	mutex_lock(&migf->fn->lock);
	disabled = migf->disabled;
	mutex_unlock(&migf->fn->lock);
	/*
	 * Whoever holds io_lock now frees them as it returns, and a file
	 * never comes back from disabled: no need to wait for it.
	 */
	if (disabled && mutex_trylock(&migf->io_lock)) {
		lm_file_trim(migf);
		mutex_unlock(&migf->io_lock);
	}
}

bool lm_file_is_lm(struct file *file)
{
	return file->f_op == &lm_file_fops;
}

/**
 * lm_buffer_alloc() - allocate a state buffer for lm_save_attach()
 * @len: its size in bytes, not 0
 * @gfp: allocation flags, %GFP_KERNEL or stricter
 *
 * The bytes are zeroed, so what a device does not fill in never shows old
 * heap contents.  The caller holds the only reference.
 *
 * Return: the buffer, or NULL if out of memory or @len is 0.
 */
struct lm_buffer *lm_buffer_alloc(size_t len, gfp_t gfp)
{
	struct lm_buffer *buf;

	if (!len)
		return NULL;
	buf = kzalloc(sizeof(*buf), gfp);
	if (!buf)
		return NULL;
	/* kvmalloc() refuses more than INT_MAX; a state may be larger */
	buf->data = len <= INT_MAX ? kvzalloc(len, gfp) :
		    __vmalloc(len, gfp | __GFP_ZERO);
	if (!buf->data) {
		kfree(buf);
		return NULL;
	}
	buf->len = len;
	kref_init(&buf->ref);
	return buf;
}
EXPORT_SYMBOL_GPL(lm_buffer_alloc);

/**
 * lm_buffer_get() - take a reference on a state buffer
 * @buf: the buffer
 */
void lm_buffer_get(struct lm_buffer *buf)
{
	kref_get(&buf->ref);
}
EXPORT_SYMBOL_GPL(lm_buffer_get);

static void lm_buffer_free(struct kref *ref)
{
	struct lm_buffer *buf = container_of(ref, struct lm_buffer, ref);

	kvfree(buf->data);
	kfree(buf);
}

/**
 * lm_buffer_put() - drop a reference on a state buffer
 * @buf: the buffer, or NULL
 *
 * The last reference frees it.  May sleep.
 */
void lm_buffer_put(struct lm_buffer *buf)
{
	if (buf)
		kref_put(&buf->ref, lm_buffer_free);
}
EXPORT_SYMBOL_GPL(lm_buffer_put);

/**
 * lm_save_attach() - hand the segment being begun over as a buffer
 * @fn: the function whose lm_ops.save_begin is running
 * @buf: holds the segment's bytes, from @offset on
 * @offset: where the segment starts in @buf
 *
 * Only valid from lm_ops.save_begin.  The core takes its own reference and
 * copies the segment (the length save_begin reports) out of @buf instead of
 * calling lm_ops.save_read; a segment longer than what follows @offset fails
 * save_begin with -EINVAL.  @buf must stay unchanged while the core holds
 * its reference, which may outlive lm_ops.save_end and the function: a
 * data file keeps it until its session ends (a read under way when it
 * ends keeps it until that read returns).
 *
 * Return: 0, or -EINVAL if @offset lies beyond @buf or the caller is not
 * lm_ops.save_begin.
 */
int lm_save_attach(struct lm_function *fn, struct lm_buffer *buf,
		   size_t offset)
{
	lockdep_assert_held(&fn->lock);
	if (!fn->in_save_begin || offset > buf->len)
		return -EINVAL;
	lm_buffer_get(buf);
	lm_buffer_put(fn->attach_buf);
	fn->attach_buf = buf;
	fn->attach_off = offset;
	return 0;
}
EXPORT_SYMBOL_GPL(lm_save_attach);

/*
 * Where payload byte @off sits in memory that stays put; trims *@len to the
 * bytes that follow it there.
 */
static const u8 *lm_hash_src(struct lm_file *migf, u64 off, size_t *len)
{
	size_t in;

	if (migf->saving)
		return migf->seg_data + (off - migf->seg_base);
	in = off & (LM_CHUNK_SIZE - 1);
	*len = min_t(size_t, *len, LM_CHUNK_SIZE - in);
	return (const u8 *)migf->chunks[off >> LM_CHUNK_SHIFT] + in;
}

static u64 lm_hash_range(struct lm_file *migf, u64 off, size_t len)
{
	struct xxh64_state st;

	xxh64_reset(&st, 0);
	while (len) {
		size_t n = len;
		const u8 *p = lm_hash_src(migf, off, &n);

		xxh64_update(&st, p, n);
		off += n;
		len -= n;
	}
	return xxh64_digest(&st);
}

/* Record piece @idx's digest; fold every piece now finished in order. */
static void lm_hash_finish(struct lm_file *migf, u64 idx, u64 digest)
{
	unsigned int slot = idx % LM_HASH_WINDOW;
	__le64 le;

	spin_lock(&migf->hash_lock);
	migf->digests[slot] = digest;
	__set_bit(slot, migf->finished);
	for (slot = migf->folded % LM_HASH_WINDOW;
	     test_bit(slot, migf->finished);
	     slot = migf->folded % LM_HASH_WINDOW) {
		__clear_bit(slot, migf->finished);
		le = cpu_to_le64(migf->digests[slot]);
		xxh64_update(&migf->fold, &le, sizeof(le));
		migf->folded++;
	}
	spin_unlock(&migf->hash_lock);
	wake_up_all(&migf->hash_wq);
}

/* hash_lock held. */
static bool lm_hash_claimable(struct lm_file *migf)
{
	return !migf->hash_stop && migf->claim_next < migf->claim_end &&
	       migf->claim_next < migf->folded + LM_HASH_WINDOW;
}

/* Hash claimable pieces, one after the other, until none is left. */
static void lm_hash_claimed(struct lm_file *migf, bool worker)
{
	u64 idx;

	for (;;) {
		spin_lock(&migf->hash_lock);
		if (!lm_hash_claimable(migf)) {
			spin_unlock(&migf->hash_lock);
			return;
		}
		idx = migf->claim_next++;
		spin_unlock(&migf->hash_lock);
		lm_hash_finish(migf, idx,
			       lm_hash_range(migf, idx << LM_PIECE_SHIFT,
					     LM_PIECE_SIZE));
		if (IS_ENABLED(CONFIG_LIVE_MIGRATION_KUNIT_TEST) && worker)
			atomic_long_inc(&lm_worker_pieces);
	}
}

static void lm_hash_work(struct work_struct *work)
{
	struct lm_file *migf = container_of(work, struct lm_file, hash_work);
	bool more;

	do {
		lm_hash_claimed(migf, true);
		spin_lock(&migf->hash_lock);
		more = lm_hash_claimable(migf);
		if (!more)
			migf->hash_running = false;
		spin_unlock(&migf->hash_lock);
	} while (more);
	wake_up_all(&migf->hash_wq);
}

/*
 * io_lock held.  Pieces up to @end - 1 stay put and may be claimed; on a
 * saving file they start at @first, after the previous ones were all
 * finished.
 */
static void lm_hash_publish(struct lm_file *migf, u64 first, u64 end)
{
	bool start = false;

	spin_lock(&migf->hash_lock);
	if (migf->saving)
		migf->claim_next = first;
	migf->claim_end = end;
	if (!migf->hash_running && lm_hash_claimable(migf)) {
		migf->hash_running = true;
		start = true;
	}
	spin_unlock(&migf->hash_lock);
	if (start)
		queue_work(system_unbound_wq, &migf->hash_work);
}

static bool lm_hash_progress(struct lm_file *migf, u64 pieces)
{
	bool ret;

	spin_lock(&migf->hash_lock);
	ret = migf->folded >= pieces || lm_hash_claimable(migf);
	spin_unlock(&migf->hash_lock);
	return ret;
}

/*
 * io_lock held.  Until pieces 0 to @pieces - 1 are all folded, hash what can
 * be claimed here, and sleep only while the worker finishes its last piece.
 * Bounded by memory speed, so not interruptible.
 */
static void lm_hash_wait(struct lm_file *migf, u64 pieces)
{
	for (;;) {
		u64 t0;

		lm_hash_claimed(migf, false);
		/*
		 * Nothing is left to claim, so the worker is inside a piece:
		 * spin briefly, a sleep and wake-up can cost more than that.
		 */
		t0 = local_clock();
		while (!lm_hash_progress(migf, pieces) &&
		       local_clock() - t0 < LM_HASH_SPIN_NS)
			cpu_relax();
		wait_event(migf->hash_wq, lm_hash_progress(migf, pieces));
		spin_lock(&migf->hash_lock);
		if (migf->folded >= pieces) {
			spin_unlock(&migf->hash_lock);
			return;
		}
		spin_unlock(&migf->hash_lock);
	}
}

/* io_lock held.  Stream @len payload bytes that follow those streamed. */
static void lm_hash_stream(struct lm_file *migf, const u8 *p, size_t len)
{
	while (len) {
		size_t n = min(len, LM_PIECE_SIZE - migf->piece_have);

		xxh64_update(&migf->piece, p, n);
		migf->piece_have += n;
		p += n;
		len -= n;
		if (migf->piece_have == LM_PIECE_SIZE) {
			lm_hash_finish(migf, migf->piece_idx++,
				       xxh64_digest(&migf->piece));
			xxh64_reset(&migf->piece, 0);
			migf->piece_have = 0;
		}
	}
}

/* io_lock held.  The hash of @total payload bytes, all hashed or streamed. */
static u64 lm_hash_end(struct lm_file *migf, u64 total)
{
	u64 pieces = DIV_ROUND_UP(total, LM_PIECE_SIZE), digest;

	if (migf->piece_have) {
		lm_hash_finish(migf, migf->piece_idx++,
			       xxh64_digest(&migf->piece));
		migf->piece_have = 0;
	}
	lm_hash_wait(migf, pieces);
	spin_lock(&migf->hash_lock);
	digest = xxh64_digest(&migf->fold);
	spin_unlock(&migf->hash_lock);
	return digest;
}

static void lm_file_free(struct lm_file *migf)
{
	lm_file_trim(migf);
	mutex_destroy(&migf->io_lock);
	kfree(migf);
	atomic_dec(&lm_live_files);
}

static struct lm_file *lm_file_alloc(struct lm_function *fn, bool saving)
{
	struct lm_file *migf;

	migf = lm_should_fail() ? NULL :
	       kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return NULL;
	atomic_inc(&lm_live_files);
	mutex_init(&migf->io_lock);
	migf->fn = fn;
	migf->saving = saving;
	xxh64_reset(&migf->fold, 0);
	xxh64_reset(&migf->piece, 0);
	INIT_WORK(&migf->hash_work, lm_hash_work);
	init_waitqueue_head(&migf->hash_wq);
	spin_lock_init(&migf->hash_lock);
	if (saving) {
		/* a driver's save_read may fill less than asked */
		migf->out = lm_should_fail() ? NULL :
			    kvzalloc(LM_BOUNCE_SIZE, GFP_KERNEL_ACCOUNT);
		if (!migf->out)
			goto fail;
		atomic_long_add(LM_BOUNCE_SIZE, &lm_file_mem);
	} else {
		migf->max_payload = fn->max_state_size;
		migf->nr_chunks = DIV_ROUND_UP_ULL(fn->max_state_size,
						   LM_CHUNK_SIZE);
		migf->chunks = lm_should_fail() ? NULL :
			       kvcalloc(migf->nr_chunks, sizeof(void *),
					GFP_KERNEL_ACCOUNT);
		if (!migf->chunks)
			goto fail;
	}
	return migf;
fail:
	lm_file_free(migf);
	return NULL;
}

static struct file *lm_file_publish(struct lm_file *migf,
				    const struct lm_file_ops *fops)
{
	struct lm_function *fn = migf->fn;
	struct file *file;

	/* the file may outlive the consumer's device: pin its ioctl code */
	if (fops && !try_module_get(fops->owner))
		return ERR_PTR(-ENODEV);
	file = lm_should_fail() ? ERR_PTR(-ENOMEM) :
	       anon_inode_getfile("[live_migration]", &lm_file_fops, migf,
				  migf->saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(file)) {
		if (fops)
			module_put(fops->owner);
		return file;
	}
	migf->fops = fops;
	stream_open(file->f_inode, file);
	get_device(&fn->dev);
	fn->file = migf;
	return file;
}

/* io_lock or unpublished.  Queue a record as the next output. */
static void lm_save_queue_record(struct lm_file *migf,
				 enum lm_record_type type, u64 len, u64 hash)
{
	lm_stream_fill_record((struct lm_stream_record *)migf->out, type, len,
			      hash);
	migf->cur = migf->out;
	migf->out_pos = 0;
	migf->out_len = sizeof(struct lm_stream_record);
}

/*
 * fn->lock held; io_lock held or unpublished; the previous segment is
 * consumed and hashed (lm_save_hash_segment()).
 */
static int lm_save_begin(struct lm_file *migf, enum lm_save_phase phase)
{
	struct lm_function *fn = migf->fn;
	u64 len = 0, dirty = 0;
	struct lm_buffer *buf;
	size_t off;
	int ret;

	fn->in_save_begin = true;
	ret = fn->ops->save_begin(fn, phase, &len, &dirty);
	fn->in_save_begin = false;
	buf = fn->attach_buf;
	off = fn->attach_off;
	fn->attach_buf = NULL;
	/* the driver's bugs: fail the save, not the kernel */
	if (!ret && buf && len > buf->len - off)
		ret = -EINVAL;
	if (!ret && len && !buf && !fn->ops->save_read)
		ret = -EINVAL;
	if (ret || !len) {
		lm_buffer_put(buf);
		buf = NULL;
	}
	if (ret)
		return ret;
	lm_buffer_put(migf->seg_buf);
	migf->seg_buf = buf;
	migf->seg_data = buf ? (const u8 *)buf->data + off : NULL;
	migf->seg_base = migf->total;
	if (buf) {
		u64 up = round_up(migf->total, LM_PIECE_SIZE);
		u64 down = round_down(migf->total + len, LM_PIECE_SIZE);

		/* whole pieces go to the hashers, the ends are streamed */
		if (up < down)
			lm_hash_publish(migf, up >> LM_PIECE_SHIFT,
					down >> LM_PIECE_SHIFT);
	}
	if (phase == LM_SAVE_FINAL) {
		migf->final_begun = true;
		dirty = 0;
	}
	migf->dirty_estimate = dirty;
	migf->seg_len = len;
	migf->seg_pos = 0;
	if (len) {
		migf->segments++;
		lm_save_queue_record(migf, LM_REC_DATA, len, 0);
	}
	return 0;
}

/* fn->lock held; the driver failed while streaming. */
static void lm_save_failed(struct lm_file *migf, int err)
{
	migf->err = err;
	lm_fsm_fail(migf->fn);
}

struct file *lm_file_create_save(struct lm_function *fn, bool precopy,
				 const struct lm_file_ops *fops,
				 bool *device_err)
{
	struct lm_file *migf;
	struct file *file;
	int ret;

	lockdep_assert_held(&fn->lock);
	*device_err = false;
	migf = lm_file_alloc(fn, true);
	if (!migf)
		return ERR_PTR(-ENOMEM);

	ret = lm_save_begin(migf, precopy ? LM_SAVE_PRECOPY : LM_SAVE_FINAL);
	if (ret) {
		*device_err = true;
		goto fail;
	}
	/* The stream header goes out in front of the first record. */
	if (migf->out_len)
		memmove(migf->out + sizeof(struct lm_stream_header), migf->out,
			migf->out_len);
	lm_stream_fill_header(fn, (struct lm_stream_header *)migf->out);
	migf->out_len += sizeof(struct lm_stream_header);
	migf->cur = migf->out;

	file = lm_file_publish(migf, fops);
	if (!IS_ERR(file))
		return file;
	ret = PTR_ERR(file);
	if (fn->ops->save_end)
		fn->ops->save_end(fn);
fail:
	lm_file_free(migf);
	return ERR_PTR(ret);
}

struct file *lm_file_create_resume(struct lm_function *fn,
				   const struct lm_file_ops *fops)
{
	struct lm_file *migf;
	struct file *file;

	lockdep_assert_held(&fn->lock);
	migf = lm_file_alloc(fn, false);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->parse = LM_PARSE_HEADER;
	file = lm_file_publish(migf, fops);
	if (IS_ERR(file))
		lm_file_free(migf);
	return file;
}

/* An attached segment's bytes before its first whole piece end here. */
static u64 lm_save_head_end(const struct lm_file *migf)
{
	return min(migf->seg_base + migf->seg_len,
		   round_up(migf->seg_base, LM_PIECE_SIZE));
}

/*
 * io_lock held; the segment is consumed.  Stream the bytes of an attached
 * segment after its last whole piece, see its whole pieces hashed, and let
 * its buffer go.  Its head was streamed with the first bytes read.
 */
static void lm_save_hash_segment(struct lm_file *migf)
{
	u64 end = migf->seg_base + migf->seg_len;
	u64 tail = max(lm_save_head_end(migf), round_down(end, LM_PIECE_SIZE));

	if (!migf->seg_buf)
		return;
	/* the whole pieces in between are the hashers' */
	migf->piece_idx = tail >> LM_PIECE_SHIFT;
	lm_hash_stream(migf, migf->seg_data + (tail - migf->seg_base),
		       end - tail);
	lm_hash_wait(migf, round_down(end, LM_PIECE_SIZE) >> LM_PIECE_SHIFT);
	lm_buffer_put(migf->seg_buf);
	migf->seg_buf = NULL;
	migf->seg_data = NULL;
}

/*
 * io_lock held.  Refill the bounce buffer with the next framing or payload
 * bytes.  Returns 0 with data queued, -ENOMSG at the end of what PRE_COPY
 * has for now, 1 at the end of the stream, or an error.
 */
static int lm_save_refill(struct lm_file *migf)
{
	struct lm_function *fn = migf->fn;
	const u8 *stream = NULL;
	bool head = false;
	size_t n = 0;
	u64 end_hash = 0;
	int ret;

	/* a new segment or the end record: this segment must be hashed */
	if (migf->seg_pos == migf->seg_len) {
		lm_save_hash_segment(migf);
		if (migf->final_begun && !migf->end_queued)
			end_hash = lm_hash_end(migf, migf->total);
	}
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	if (ret)
		goto out;

	if (migf->seg_pos < migf->seg_len) {
		u64 pos = migf->seg_pos;

		if (migf->seg_buf) {
			/* attached: copied out from where it is */
			n = min_t(u64, migf->seg_len - pos, LM_CHUNK_SIZE);
			migf->cur = migf->seg_data + pos;
			head = !pos;
		} else {
			n = min_t(u64, migf->seg_len - pos, LM_BOUNCE_SIZE);
			ret = fn->ops->save_read(fn, migf->out, n, pos);
			if (ret) {
				lm_save_failed(migf, ret);
				goto out;
			}
			migf->cur = migf->out;
			stream = migf->out;	/* overwritten next time */
		}
		migf->seg_pos += n;
		migf->total += n;
		migf->out_pos = 0;
		migf->out_len = n;
		fn->stats.bytes_saved += n;
		trace_lm_data(fn, true, pos, n);
	} else if (migf->final_begun) {
		if (migf->end_queued) {
			ret = 1;
		} else if (!migf->total) {
			/*
			 * No destination takes an empty state.  The device
			 * is as it was: no reason for ERROR.
			 */
			ret = -ENODATA;
			migf->err = ret;
		} else {
			lm_save_queue_record(migf, LM_REC_END, migf->total,
					     end_hash);
			migf->end_queued = true;
		}
	} else if (fn->state == LM_STATE_STOP_COPY) {
		ret = lm_save_begin(migf, LM_SAVE_FINAL);
		if (ret)
			lm_save_failed(migf, ret);
	} else {
		ret = -ENOMSG;
	}
out:
	mutex_unlock(&fn->lock);
	if (stream)
		lm_hash_stream(migf, stream, n);
	else if (head)
		lm_hash_stream(migf, migf->seg_data,
			       lm_save_head_end(migf) - migf->seg_base);
	return ret;
}

static ssize_t lm_save_read(struct lm_file *migf, struct iov_iter *to)
{
	size_t done = 0;
	int ret = 0;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	/* queued bytes too are void once the session ended */
	mutex_lock(&migf->fn->lock);
	ret = lm_file_usable(migf);
	mutex_unlock(&migf->fn->lock);
	while (!ret && iov_iter_count(to)) {
		size_t avail = migf->out_len - migf->out_pos;
		size_t n;

		if (!avail) {
			ret = lm_save_refill(migf);
			if (ret)
				break;
			continue;
		}
		n = copy_to_iter(migf->cur + migf->out_pos,
				 min(avail, iov_iter_count(to)), to);
		if (!n) {
			ret = -EFAULT;
			break;
		}
		migf->out_pos += n;
		done += n;
	}
	lm_file_io_end(migf);
	if (done)
		return done;
	return ret == 1 ? 0 : ret;
}

/* io_lock held.  The hash of the payload received, which is complete. */
static u64 lm_resume_hash_end(struct lm_file *migf)
{
	u64 total = migf->payload_len;
	u64 whole = total >> LM_PIECE_SHIFT;

	lm_hash_wait(migf, whole);
	if (total & (LM_PIECE_SIZE - 1))
		lm_hash_finish(migf, whole,
			       lm_hash_range(migf, whole << LM_PIECE_SHIFT,
					     total & (LM_PIECE_SIZE - 1)));
	return lm_hash_end(migf, total);
}

/* io_lock held.  A complete header or record sits in migf->frame. */
static int lm_resume_frame_done(struct lm_file *migf)
{
	struct lm_function *fn = migf->fn;
	const struct lm_stream_record *rec = &migf->frame.rec;
	u64 len;
	int ret;

	migf->frame_have = 0;
	if (migf->parse == LM_PARSE_HEADER) {
		/* the driver may judge compatibility: it needs fn->lock */
		mutex_lock(&fn->lock);
		ret = lm_file_usable(migf);
		if (!ret)
			ret = lm_stream_check_header(fn, &migf->frame.hdr);
		mutex_unlock(&fn->lock);
		if (ret)
			return ret;
		migf->parse = LM_PARSE_RECORD;
		return 0;
	}

	ret = lm_stream_check_record(rec);
	if (ret)
		return ret;
	len = le64_to_cpu(rec->len);
	if (le32_to_cpu(rec->type) == LM_REC_END) {
		if (len != migf->payload_len ||
		    le64_to_cpu(rec->payload_hash) !=
		    lm_resume_hash_end(migf))
			return -EBADMSG;
		migf->parse = LM_PARSE_DONE;
		return 0;
	}
	if (len > migf->max_payload - migf->payload_len)
		return -EFBIG;
	migf->rec_left = len;
	if (len)
		migf->parse = LM_PARSE_PAYLOAD;
	return 0;
}

/* io_lock held.  Copy payload into the chunks, allocating as needed. */
static ssize_t lm_resume_payload(struct lm_file *migf, struct iov_iter *from)
{
	u64 pos = migf->payload_len;
	unsigned long idx = pos >> LM_CHUNK_SHIFT;
	size_t off = pos & (LM_CHUNK_SIZE - 1);
	size_t chunk_len, n;

	chunk_len = lm_chunk_len(migf, idx);
	if (!migf->chunks[idx]) {
		migf->chunks[idx] = lm_should_fail() ? NULL :
				    kvmalloc(chunk_len, GFP_KERNEL_ACCOUNT);
		if (!migf->chunks[idx])
			return -ENOMEM;
		atomic_long_add(chunk_len, &lm_file_mem);
	}
	n = min_t(u64, migf->rec_left, chunk_len - off);
	n = min3(n, iov_iter_count(from), LM_RESUME_STEP);
	n = copy_from_iter(migf->chunks[idx] + off, n, from);
	if (!n)
		return -EFAULT;
	migf->payload_len += n;
	/* whole pieces received stay put in the chunks: hash them */
	lm_hash_publish(migf, 0, migf->payload_len >> LM_PIECE_SHIFT);
	migf->rec_left -= n;
	if (!migf->rec_left)
		migf->parse = LM_PARSE_RECORD;
	return n;
}

static ssize_t lm_resume_write(struct lm_file *migf, struct iov_iter *from)
{
	struct lm_function *fn = migf->fn;
	size_t done = 0;
	ssize_t ret;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	mutex_unlock(&fn->lock);
	if (!ret)
		ret = migf->parse_err;

	while (!ret && iov_iter_count(from)) {
		size_t frame_size, n;
		u8 *frame = (u8 *)&migf->frame;

		switch (migf->parse) {
		case LM_PARSE_HEADER:
		case LM_PARSE_RECORD:
			frame_size = migf->parse == LM_PARSE_HEADER ?
				     sizeof(migf->frame.hdr) :
				     sizeof(migf->frame.rec);
			n = min(frame_size - migf->frame_have,
				iov_iter_count(from));
			n = copy_from_iter(frame + migf->frame_have, n, from);
			if (!n) {
				ret = -EFAULT;
				break;
			}
			migf->frame_have += n;
			done += n;
			if (migf->frame_have == frame_size)
				ret = lm_resume_frame_done(migf);
			break;
		case LM_PARSE_PAYLOAD:
			ret = lm_resume_payload(migf, from);
			if (ret > 0) {
				done += ret;
				ret = 0;
			}
			break;
		case LM_PARSE_DONE:
			ret = -EBADMSG;		/* bytes after the end */
			break;
		}
	}
	/* A broken stream stays broken; faults and -ENOMEM may be retried. */
	if (ret && ret != -EFAULT && ret != -ENODEV && ret != -ENOMEM)
		migf->parse_err = ret;

	mutex_lock(&fn->lock);
	if (fn->dead || migf->disabled) {
		ret = -ENODEV;
	} else {
		migf->committed_len = migf->payload_len;
		migf->committed_done = migf->parse == LM_PARSE_DONE;
		migf->err = migf->parse_err;
	}
	mutex_unlock(&fn->lock);
	lm_file_io_end(migf);
	/*
	 * Bytes taken are reported even if what followed failed in a way a
	 * retry can get past, so the retry starts after them.
	 */
	if (ret && (!done || (ret != -EFAULT && ret != -ENOMEM)))
		return ret;
	return done;
}

int lm_file_load(struct lm_function *fn, bool *device_err)
{
	struct lm_file *migf = fn->file;
	u64 total, off;
	int ret;

	lockdep_assert_held(&fn->lock);
	*device_err = false;
	if (!migf || migf->saving)
		return -ENODATA;
	if (migf->err)
		return migf->err;
	if (!migf->committed_done)
		return -ENODATA;

	total = migf->committed_len;
	/* a stream without payload is nobody's state: not for the device */
	if (!total)
		return -ENODATA;
	*device_err = true;
	for (off = 0; off < total; off += LM_CHUNK_SIZE) {
		size_t n = min_t(u64, total - off, LM_CHUNK_SIZE);

		ret = fn->ops->load(fn, migf->chunks[off >> LM_CHUNK_SHIFT], n,
				    off, total);
		if (ret)
			return ret;
		trace_lm_data(fn, false, off, n);
	}
	fn->stats.bytes_loaded += total;
	return 0;
}

static ssize_t lm_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct lm_file *migf = iocb->ki_filp->private_data;

	if (!migf->saving)
		return -EINVAL;
	return lm_save_read(migf, to);
}

static ssize_t lm_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct lm_file *migf = iocb->ki_filp->private_data;

	if (migf->saving)
		return -EINVAL;
	return lm_resume_write(migf, from);
}

/**
 * lm_file_precopy_info() - how much PRE_COPY data is left to read
 * @file: a saving data file
 * @initial_bytes: set to the bytes of the initial segment still unread
 * @dirty_bytes: set to the bytes of later segments still unread plus the
 *	driver's estimate of what will follow
 *
 * When everything read so far has been consumed, asks the driver for a new
 * segment first, so read() returns data again instead of -ENOMSG.
 *
 * Return: 0; -EINVAL if @file is not a data file of a function in PRE_COPY
 * or PRE_COPY_P2P; -ENODEV if the session ended; or the driver's error.
 */
int lm_file_precopy_info(struct file *file, u64 *initial_bytes,
			 u64 *dirty_bytes)
{
	struct lm_file *migf;
	struct lm_function *fn;
	u64 left;
	int ret;

	if (!lm_file_is_lm(file))
		return -EINVAL;
	migf = file->private_data;
	fn = migf->fn;
	if (!migf->saving)
		return -EINVAL;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	if (migf->out_pos == migf->out_len && migf->seg_pos == migf->seg_len)
		lm_save_hash_segment(migf);	/* a new segment may begin */
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	if (ret)
		goto out;
	if (fn->state != LM_STATE_PRE_COPY &&
	    fn->state != LM_STATE_PRE_COPY_P2P) {
		ret = -EINVAL;
		goto out;
	}
	if (migf->out_pos == migf->out_len &&
	    migf->seg_pos == migf->seg_len) {
		ret = lm_save_begin(migf, LM_SAVE_PRECOPY);
		if (ret) {
			lm_save_failed(migf, ret);
			goto out;
		}
	}
	/* queued framing or payload, then what the segment still holds */
	left = migf->out_len - migf->out_pos + migf->seg_len - migf->seg_pos;
	*initial_bytes = migf->segments <= 1 ? left : 0;
	*dirty_bytes = (migf->segments > 1 ? left : 0) + migf->dirty_estimate;
out:
	mutex_unlock(&fn->lock);
	lm_file_io_end(migf);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_file_precopy_info);

static long lm_file_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct lm_file *migf = file->private_data;

	if (!migf->fops || !migf->fops->ioctl)
		return -ENOTTY;
	return migf->fops->ioctl(file, cmd, arg);
}

static int lm_file_release(struct inode *inode, struct file *file)
{
	struct lm_file *migf = file->private_data;
	struct lm_function *fn = migf->fn;

	mutex_lock(&fn->lock);
	if (fn->file == migf)
		lm_file_disable(fn);
	mutex_unlock(&fn->lock);
	if (migf->fops)
		module_put(migf->fops->owner);
	lm_file_free(migf);
	put_device(&fn->dev);
	return 0;
}

static const struct file_operations lm_file_fops = {
	.owner = THIS_MODULE,
	.read_iter = lm_file_read_iter,
	.write_iter = lm_file_write_iter,
	.unlocked_ioctl = lm_file_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = lm_file_release,
};
