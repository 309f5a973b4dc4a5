// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the resuming data file.
 *
 * Bytes are copied into the file's own chunks without fn->lock and parsed
 * as they come: the header is checked (and the source's compatibility
 * judged) at the write that completes it, each DATA record's crc32c at the
 * write that completes its payload, the END record's length and crc32c
 * against everything received.  Progress (payload length, end seen, first
 * error) is published under fn->lock, and only a complete, checked stream
 * is ever handed to the driver.
 */

#include <linux/crc32c.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "file.h"
#include "trace.h"

/* The last chunk holds only what max_payload leaves of it. */
static size_t lm_chunk_len(const struct lm_resume *r, unsigned long idx)
{
	return min_t(u64, LM_CHUNK_SIZE,
		     r->max_payload - ((u64)idx << LM_CHUNK_SHIFT));
}

int lm_resume_init(struct lm_file *migf)
{
	struct lm_resume *r = &migf->resume;
	u64 max = migf->fn->max_state_size;

	r->max_payload = max;
	r->nr_chunks = DIV_ROUND_UP_ULL(max, LM_CHUNK_SIZE);
	r->chunks = lm_should_fail() ? NULL :
		    kvcalloc(r->nr_chunks, sizeof(void *), GFP_KERNEL_ACCOUNT);
	if (!r->chunks)
		return -ENOMEM;
	r->parse = LM_PARSE_HEADER;
	r->crc = ~0U;
	return 0;
}

void lm_resume_trim(struct lm_file *migf)
{
	struct lm_resume *r = &migf->resume;
	unsigned long i;

	for (i = 0; r->chunks && i < r->nr_chunks; i++)
		if (r->chunks[i]) {
			kvfree(r->chunks[i]);
			atomic_long_sub(lm_chunk_len(r, i), &lm_file_mem);
		}
	kvfree(r->chunks);
	r->chunks = NULL;
	r->nr_chunks = 0;
}

struct file *lm_file_create_resume(struct lm_function *fn,
				   const struct lm_file_ops *fops)
{
	struct lm_file *migf;
	struct file *file;

	lockdep_assert_held(&fn->lock);
	migf = lm_file_alloc(fn, false);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	file = lm_file_publish(migf, fops);
	if (IS_ERR(file))
		lm_file_free(migf);
	return file;
}

/* io_lock held.  A complete header or record sits in r->frame. */
static int lm_resume_frame_done(struct lm_file *migf)
{
	struct lm_function *fn = migf->fn;
	struct lm_resume *r = &migf->resume;
	const struct lm_stream_record *rec = &r->frame.rec;
	u64 len;
	int ret;

	r->frame_have = 0;
	if (r->parse == LM_PARSE_HEADER) {
		/* the driver may judge compatibility: it needs fn->lock */
		mutex_lock(&fn->lock);
		ret = lm_file_usable(migf);
		if (!ret)
			ret = lm_stream_check_header(fn, &r->frame.hdr);
		mutex_unlock(&fn->lock);
		if (ret)
			return ret;
		r->parse = LM_PARSE_RECORD;
		return 0;
	}

	ret = lm_stream_check_record(rec);
	if (ret)
		return ret;
	len = le64_to_cpu(rec->len);
	if (le32_to_cpu(rec->type) == LM_REC_END) {
		if (len != r->payload_len ||
		    le32_to_cpu(rec->payload_crc) != r->crc)
			return -EBADMSG;
		r->parse = LM_PARSE_DONE;
		return 0;
	}
	/* saving makes none, and one would say nothing a crc could check */
	if (!len)
		return -EBADMSG;
	if (len > r->max_payload - r->payload_len)
		return -EFBIG;
	r->rec_left = len;
	r->parse = LM_PARSE_PAYLOAD;
	return 0;
}

/* io_lock held.  Copy payload into the chunks, allocating as needed. */
static ssize_t lm_resume_payload(struct lm_file *migf, struct iov_iter *from)
{
	struct lm_resume *r = &migf->resume;
	u64 pos = r->payload_len;
	unsigned long idx = pos >> LM_CHUNK_SHIFT;
	size_t off = pos & (LM_CHUNK_SIZE - 1);
	size_t chunk_len, n;
	u8 *dst;

	chunk_len = lm_chunk_len(r, idx);
	if (!r->chunks[idx]) {
		r->chunks[idx] = lm_should_fail() ? NULL :
				 lm_state_mem_alloc(chunk_len,
						    GFP_KERNEL_ACCOUNT);
		if (!r->chunks[idx])
			return -ENOMEM;
		atomic_long_add(chunk_len, &lm_file_mem);
	}
	dst = (u8 *)r->chunks[idx] + off;
	n = min_t(u64, r->rec_left, chunk_len - off);
	n = copy_from_iter(dst, min(n, iov_iter_count(from)), from);
	if (!n)
		return -EFAULT;
	r->crc = crc32c(r->crc, dst, n);
	r->payload_len += n;
	r->rec_left -= n;
	if (!r->rec_left) {
		if (le32_to_cpu(r->frame.rec.payload_crc) != r->crc)
			return -EBADMSG;
		r->parse = LM_PARSE_RECORD;
	}
	return n;
}

ssize_t lm_resume_write(struct lm_file *migf, struct iov_iter *from)
{
	struct lm_function *fn = migf->fn;
	struct lm_resume *r = &migf->resume;
	size_t done = 0;
	int sticky;
	ssize_t ret;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	mutex_unlock(&fn->lock);
	if (!ret)
		ret = r->parse_err;

	while (!ret && iov_iter_count(from)) {
		size_t frame_size, n;
		u8 *frame = (u8 *)&r->frame;

		switch (r->parse) {
		case LM_PARSE_HEADER:
		case LM_PARSE_RECORD:
			frame_size = r->parse == LM_PARSE_HEADER ?
				     sizeof(r->frame.hdr) :
				     sizeof(r->frame.rec);
			n = min(frame_size - r->frame_have,
				iov_iter_count(from));
			n = copy_from_iter(frame + r->frame_have, n, from);
			if (!n) {
				ret = -EFAULT;
				break;
			}
			r->frame_have += n;
			done += n;
			if (r->frame_have == frame_size) {
				ret = lm_resume_frame_done(migf);
				/* consumed: its error is the stream's, whatever */
				if (ret)
					r->parse_err = ret;
			}
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
	/*
	 * A broken stream stays broken; a fault or -ENOMEM in the payload,
	 * which took none of the bytes it failed on, may be retried.
	 */
	if (ret && ret != -EFAULT && ret != -ENODEV && ret != -ENOMEM)
		r->parse_err = ret;
	sticky = r->parse_err;

	mutex_lock(&fn->lock);
	if (fn->dead || migf->disabled) {
		ret = -ENODEV;
	} else {
		r->committed_len = r->payload_len;
		r->committed_done = r->parse == LM_PARSE_DONE;
		migf->err = r->parse_err;
	}
	mutex_unlock(&fn->lock);
	lm_file_io_end(migf);
	/*
	 * Bytes taken are reported even if what followed failed in a way a
	 * retry can get past, so the retry starts after them.
	 */
	if (ret && (!done || sticky || (ret != -EFAULT && ret != -ENOMEM)))
		return ret;
	return done;
}

/*
 * fn->lock held.  Hands a complete, checked stream to the driver.  Errors
 * of the stream leave the function as it was; the driver's move it to ERROR.
 */
int lm_file_load(struct lm_function *fn)
{
	struct lm_file *migf = fn->file;
	struct lm_resume *r;
	u64 total, off;
	int ret;

	lockdep_assert_held(&fn->lock);
	if (!migf || migf->saving)
		return -ENODATA;
	if (migf->err)
		return migf->err;
	r = &migf->resume;
	if (!r->committed_done)
		return -ENODATA;

	total = r->committed_len;
	/* a stream without payload is nobody's state: not for the device */
	if (!total)
		return -ENODATA;
	for (off = 0; off < total; off += LM_CHUNK_SIZE) {
		size_t n = min_t(u64, total - off, LM_CHUNK_SIZE);

		ret = lm_op_load(fn, r->chunks[off >> LM_CHUNK_SHIFT], n, off,
				 total);
		if (ret)
			return ret;
		trace_lm_data(fn, false, off, n);
	}
	fn->stats.bytes_loaded += total;
	return 0;
}
