// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the saving and resuming data files.
 *
 * Locking: each file has io_lock, which serialises read, write and ioctl on
 * it and may be held across copies to and from user space.  The function's
 * state lock (fn->lock) nests inside io_lock and is taken only around driver
 * calls and to publish progress; the state machine never takes io_lock, so
 * a transition, reset or unregister never waits for a user copy.
 *
 * Saving: the driver's bytes are produced into the file's bounce buffer
 * under fn->lock, then copied out without it; a segment the driver attached
 * (lm_save_attach()) is copied out of its buffer, which the file holds a
 * reference on.  Resuming: bytes are copied into the file's own chunks
 * without fn->lock and parsed as they come; progress (payload length, end
 * seen, first error) is published under fn->lock, and only published bytes
 * are ever handed to the driver.  Chunks, the bounce buffer and attached
 * buffers are freed only when the file is released.
 *
 * The payload hash of attached segments and of received chunks runs in a
 * worker, beside the copy to or from user space, since those bytes stay put;
 * hash_lock publishes how far it got, and the end record waits for it.
 * Bounce buffer bytes are hashed in place while the worker is idle.
 */

#include <linux/anon_inodes.h>
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
#define LM_HASH_STEP		LM_CHUNK_SIZE
/* Waking the worker costs more than hashing less than this in place. */
#define LM_HASH_ASYNC_MIN	(64 * 1024)
/* Received payload goes to the worker in pieces, to overlap the copy. */
#define LM_RESUME_PIECE		(128 * 1024)

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

	/*
	 * xxh64 of the payload produced or received so far: the worker's
	 * while bytes are queued for it, else io_lock's.
	 */
	struct xxh64_state hash;
	struct work_struct hash_work;
	wait_queue_head_t hash_wq;	/* the worker caught up */
	spinlock_t hash_lock;
	u64 hash_end;			/* hash_lock: payload offset queued */
	u64 hash_pos;			/* hash_lock: payload offset hashed */
	bool hash_running;		/* hash_lock: hash_work queued */
	bool hash_stop;			/* hash_lock: the file is going */

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
	bool seg_async;			/* the worker hashes it */
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

/* fn->lock held.  Why this file cannot be used any more, or 0. */
static int lm_file_usable(struct lm_file *migf)
{
	lockdep_assert_held(&migf->fn->lock);
	if (migf->fn->dead || migf->disabled)
		return -ENODEV;
	return migf->err;
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
 * The bytes are not initialised.  The caller holds the only reference.
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
	buf->data = len <= INT_MAX ? kvmalloc(len, gfp) : __vmalloc(len, gfp);
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
 * its reference, which may outlive the session, lm_ops.save_end and the
 * function: a data file keeps it until it is closed.
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

/* Where payload byte @pos sits; trims *@len to the bytes that follow it. */
static const u8 *lm_hash_src(struct lm_file *migf, u64 pos, size_t *len)
{
	size_t off;

	if (migf->saving)
		return migf->seg_data + (pos - migf->seg_base);
	off = pos & (LM_CHUNK_SIZE - 1);
	*len = min_t(size_t, *len, LM_CHUNK_SIZE - off);
	return (const u8 *)migf->chunks[pos >> LM_CHUNK_SHIFT] + off;
}

static void lm_hash_work(struct work_struct *work)
{
	struct lm_file *migf = container_of(work, struct lm_file, hash_work);
	const u8 *src;
	size_t n;
	u64 pos;

	spin_lock(&migf->hash_lock);
	while (!migf->hash_stop && migf->hash_pos < migf->hash_end) {
		pos = migf->hash_pos;
		n = min_t(u64, migf->hash_end - pos, LM_HASH_STEP);
		spin_unlock(&migf->hash_lock);
		src = lm_hash_src(migf, pos, &n);
		xxh64_update(&migf->hash, src, n);
		spin_lock(&migf->hash_lock);
		migf->hash_pos = pos + n;
	}
	migf->hash_running = false;
	spin_unlock(&migf->hash_lock);
	wake_up_all(&migf->hash_wq);
}

/* io_lock held.  Hash @len more payload bytes, which stay put, in the worker. */
static void lm_hash_queue(struct lm_file *migf, u64 len)
{
	bool start;

	spin_lock(&migf->hash_lock);
	migf->hash_end += len;
	start = !migf->hash_running;
	migf->hash_running = true;
	spin_unlock(&migf->hash_lock);
	if (start)
		queue_work(system_unbound_wq, &migf->hash_work);
}

static bool lm_hash_idle(struct lm_file *migf)
{
	bool idle;

	spin_lock(&migf->hash_lock);
	idle = migf->hash_pos == migf->hash_end;
	spin_unlock(&migf->hash_lock);
	return idle;
}

/*
 * io_lock held.  Wait until every queued byte is hashed: then migf->hash is
 * io_lock's again.  Bounded by memory speed, so not interruptible.
 */
static void lm_hash_wait(struct lm_file *migf)
{
	wait_event(migf->hash_wq, lm_hash_idle(migf));
}

/*
 * io_lock held, the worker idle.  Hash @len bytes here; the positions move
 * on too, so they stay payload offsets for the worker.
 */
static void lm_hash_inline(struct lm_file *migf, const u8 *src, size_t len)
{
	xxh64_update(&migf->hash, src, len);
	spin_lock(&migf->hash_lock);
	migf->hash_pos += len;
	migf->hash_end += len;
	spin_unlock(&migf->hash_lock);
}

static void lm_file_free(struct lm_file *migf)
{
	unsigned long i;

	spin_lock(&migf->hash_lock);
	migf->hash_stop = true;
	spin_unlock(&migf->hash_lock);
	cancel_work_sync(&migf->hash_work);
	lm_buffer_put(migf->seg_buf);
	if (migf->chunks)
		for (i = 0; i < migf->nr_chunks; i++)
			kvfree(migf->chunks[i]);
	kvfree(migf->chunks);
	kvfree(migf->out);
	mutex_destroy(&migf->io_lock);
	kfree(migf);
	atomic_dec(&lm_live_files);
}

static struct lm_file *lm_file_alloc(struct lm_function *fn, bool saving)
{
	struct lm_file *migf;

	migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return NULL;
	atomic_inc(&lm_live_files);
	mutex_init(&migf->io_lock);
	migf->fn = fn;
	migf->saving = saving;
	xxh64_reset(&migf->hash, 0);
	INIT_WORK(&migf->hash_work, lm_hash_work);
	init_waitqueue_head(&migf->hash_wq);
	spin_lock_init(&migf->hash_lock);
	if (saving) {
		migf->out = kvmalloc(LM_BOUNCE_SIZE, GFP_KERNEL_ACCOUNT);
		if (!migf->out)
			goto fail;
	} else {
		migf->max_payload = fn->max_state_size;
		migf->nr_chunks = DIV_ROUND_UP_ULL(fn->max_state_size,
						   LM_CHUNK_SIZE);
		migf->chunks = kvcalloc(migf->nr_chunks, sizeof(void *),
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
	file = anon_inode_getfile("[live_migration]", &lm_file_fops, migf,
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
 * consumed and the hash worker idle.
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
	migf->seg_async = buf && len >= LM_HASH_ASYNC_MIN;
	if (migf->seg_async)
		lm_hash_queue(migf, len);
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

/*
 * io_lock held.  Refill the bounce buffer with the next framing or payload
 * bytes.  Returns 0 with data queued, -ENOMSG at the end of what PRE_COPY
 * has for now, 1 at the end of the stream, or an error.
 */
static int lm_save_refill(struct lm_file *migf)
{
	struct lm_function *fn = migf->fn;
	size_t n = 0;
	int ret;

	/* a new segment or the end record: the hash must be complete */
	if (migf->seg_pos == migf->seg_len)
		lm_hash_wait(migf);
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	if (ret)
		goto out;

	if (migf->seg_pos < migf->seg_len && migf->seg_buf) {
		/* attached: copied out from where it is */
		n = min_t(u64, migf->seg_len - migf->seg_pos, LM_CHUNK_SIZE);
		migf->cur = migf->seg_data + migf->seg_pos;
		migf->seg_pos += n;
		migf->total += n;
		migf->out_pos = 0;
		migf->out_len = n;
		fn->stats.bytes_saved += n;
		trace_lm_data(fn, true, migf->seg_pos - n, n);
		if (migf->seg_async)
			n = 0;
	} else if (migf->seg_pos < migf->seg_len) {
		n = min_t(u64, migf->seg_len - migf->seg_pos, LM_BOUNCE_SIZE);
		ret = fn->ops->save_read(fn, migf->out, n, migf->seg_pos);
		if (ret) {
			lm_save_failed(migf, ret);
			n = 0;
			goto out;
		}
		migf->seg_pos += n;
		migf->total += n;
		migf->cur = migf->out;
		migf->out_pos = 0;
		migf->out_len = n;
		fn->stats.bytes_saved += n;
		trace_lm_data(fn, true, migf->seg_pos - n, n);
	} else if (migf->final_begun) {
		if (migf->end_queued) {
			ret = 1;
		} else {
			lm_save_queue_record(migf, LM_REC_END, migf->total,
					     xxh64_digest(&migf->hash));
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
	/* bytes not for the worker: hashed here, it is idle */
	if (n)
		lm_hash_inline(migf, migf->cur, n);
	return ret;
}

static ssize_t lm_save_read(struct lm_file *migf, struct iov_iter *to)
{
	size_t done = 0;
	int ret = 0;

	mutex_lock(&migf->io_lock);
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
	mutex_unlock(&migf->io_lock);
	if (done)
		return done;
	return ret == 1 ? 0 : ret;
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
		lm_hash_wait(migf);
		if (len != migf->payload_len ||
		    le64_to_cpu(rec->payload_hash) !=
		    xxh64_digest(&migf->hash))
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

	chunk_len = min_t(u64, LM_CHUNK_SIZE,
			  migf->max_payload - ((u64)idx << LM_CHUNK_SHIFT));
	if (!migf->chunks[idx]) {
		migf->chunks[idx] = kvmalloc(chunk_len, GFP_KERNEL_ACCOUNT);
		if (!migf->chunks[idx])
			return -ENOMEM;
	}
	n = min_t(u64, migf->rec_left, chunk_len - off);
	n = min3(n, iov_iter_count(from), LM_RESUME_PIECE);
	n = copy_from_iter(migf->chunks[idx] + off, n, from);
	if (!n)
		return -EFAULT;
	if (n < LM_HASH_ASYNC_MIN && lm_hash_idle(migf))
		lm_hash_inline(migf, migf->chunks[idx] + off, n);
	else
		lm_hash_queue(migf, n);
	migf->payload_len += n;
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

	mutex_lock(&migf->io_lock);
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
	mutex_unlock(&migf->io_lock);
	if (ret && (ret != -EFAULT || !done))
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

	*device_err = true;
	total = migf->committed_len;
	if (!total)
		return fn->ops->load(fn, NULL, 0, 0, 0);
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

	mutex_lock(&migf->io_lock);
	if (migf->out_pos == migf->out_len && migf->seg_pos == migf->seg_len)
		lm_hash_wait(migf);	/* a new segment may begin */
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
	mutex_unlock(&migf->io_lock);
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
