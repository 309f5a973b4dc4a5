// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the saving data file.
 *
 * The driver's state comes in segments (lm_migration_ops.save_begin), each
 * read into the bounce buffer under fn->lock (lm_migration_ops.save_read)
 * or given in a buffer (lm_segment.buf) that the file holds a reference
 * on.  Either way it goes out as DATA records of at most LM_RECORD_MAX
 * bytes, each carrying the crc32c of the payload up to its end, computed
 * before the record is queued and without fn->lock; then one END record.
 */

#include <linux/crc32c.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "file.h"
#include "trace.h"

int lm_save_init(struct lm_file *migf)
{
	/* zeroed: a driver's save_read may fill less than asked */
	migf->save.out = lm_should_fail() ? NULL :
			 kvzalloc(LM_BOUNCE_SIZE, GFP_KERNEL_ACCOUNT);
	if (!migf->save.out)
		return -ENOMEM;
	atomic_long_add(LM_BOUNCE_SIZE, &lm_file_mem);
	migf->save.crc = ~0U;
	return 0;
}

void lm_save_trim(struct lm_file *migf)
{
	struct lm_save *s = &migf->save;

	lm_buffer_put(s->seg_buf);
	s->seg_buf = NULL;
	s->seg_data = NULL;
	s->seg_len = 0;
	s->seg_pos = 0;
	s->next = NULL;
	s->next_len = 0;
	if (s->out)
		atomic_long_sub(LM_BOUNCE_SIZE, &lm_file_mem);
	kvfree(s->out);
	s->out = NULL;
	s->cur = NULL;
	s->out_len = 0;
	s->out_pos = 0;
}

/* io_lock held, or unpublished.  Queue @len bytes of out as the output. */
static void lm_save_queue(struct lm_save *s, size_t len)
{
	s->cur = s->out;
	s->out_pos = 0;
	s->out_len = len;
}

/*
 * fn->lock held; io_lock held or unpublished; the segment is consumed.
 * A failure is the driver's: the function is in ERROR, the file unusable.
 */
static int lm_save_begin(struct lm_file *migf, enum lm_save_phase phase)
{
	struct lm_save *s = &migf->save;
	struct lm_segment seg;
	const u8 *data;
	int ret;

	ret = lm_op_save_begin(migf->fn, phase,
			       migf->fn->max_state_size - s->total, &seg, &data);
	if (ret) {
		migf->err = ret;
		return ret;
	}
	lm_buffer_put(s->seg_buf);
	s->seg_buf = seg.buf;
	s->seg_data = data;
	if (phase == LM_SAVE_FINAL)
		s->final_begun = true;
	s->dirty_estimate = seg.dirty;
	s->seg_len = seg.len;
	s->seg_pos = 0;
	if (seg.len)
		s->segments++;
	return 0;
}

struct file *lm_file_create_save(struct lm_function *fn, bool precopy,
				 const struct lm_file_ops *fops)
{
	struct lm_file *migf;
	struct file *file;
	int ret;

	lockdep_assert_held(&fn->lock);
	migf = lm_file_alloc(fn, true);
	if (IS_ERR(migf))
		return ERR_CAST(migf);

	/* the descriptor first: it may choose what save_begin saves */
	ret = lm_stream_fill_header(fn,
				    (struct lm_stream_header *)migf->save.out);
	if (ret)
		goto fail;
	ret = lm_save_begin(migf, precopy ? LM_SAVE_PRECOPY : LM_SAVE_FINAL);
	if (ret)
		goto fail;
	lm_save_queue(&migf->save, sizeof(struct lm_stream_header));

	file = lm_file_publish(migf, fops);
	if (!IS_ERR(file))
		return file;
	ret = PTR_ERR(file);
	lm_op_save_end(fn);
fail:
	lm_file_free(migf);
	return ERR_PTR(ret);
}

/*
 * io_lock held.  Queue the next framing or payload bytes.  Returns 0 with
 * data queued or a segment begun, -ENOMSG at the end of what PRE_COPY has
 * for now, 1 at the end of the stream, or an error.
 */
static int lm_save_refill(struct lm_file *migf)
{
	struct lm_function *fn = migf->fn;
	struct lm_save *s = &migf->save;
	const u8 *payload = NULL;
	size_t n = 0;
	int ret;

	/*
	 * A record's payload in a buffer follows its header: queued with it,
	 * so like any queued byte it is checked when a read begins, and the
	 * buffer stays until io_lock is dropped.
	 */
	if (s->next_len) {
		s->cur = s->next;
		s->out_pos = 0;
		s->out_len = s->next_len;
		s->next_len = 0;
		return 0;
	}
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	if (ret)
		goto out;

	if (s->seg_pos < s->seg_len) {
		u64 pos = s->seg_pos;

		n = min_t(u64, s->seg_len - pos, LM_RECORD_MAX);
		if (s->seg_buf) {
			payload = s->seg_data + pos;
		} else {
			payload = s->out + sizeof(struct lm_stream_record);
			ret = lm_op_save_read(fn, (u8 *)payload, n, pos);
			if (ret) {
				migf->err = ret;
				goto out;
			}
		}
		s->seg_pos += n;
		s->total += n;
		fn->stats.bytes_saved += n;
		trace_lm_data(fn, true, pos, n);
	} else if (s->final_begun) {
		if (s->end_queued) {
			ret = 1;
		} else if (!s->total) {
			/*
			 * No destination takes an empty state.  The device
			 * is as it was: no reason for ERROR.
			 */
			ret = -ENODATA;
			migf->err = ret;
		} else {
			lm_stream_fill_record((void *)s->out, LM_REC_END,
					      s->total, s->crc);
			lm_save_queue(s, sizeof(struct lm_stream_record));
			s->end_queued = true;
		}
	} else if (fn->state == LM_STATE_STOP_COPY) {
		ret = lm_save_begin(migf, LM_SAVE_FINAL);
	} else {
		ret = -ENOMSG;
	}
out:
	mutex_unlock(&fn->lock);
	if (!payload || ret)
		return ret;
	/* the checksum costs a pass over bytes the copy then finds cached */
	s->crc = crc32c(s->crc, payload, n);
	lm_stream_fill_record((void *)s->out, LM_REC_DATA, n, s->crc);
	if (s->seg_buf) {
		lm_save_queue(s, sizeof(struct lm_stream_record));
		s->next = payload;
		s->next_len = n;
	} else {
		lm_save_queue(s, sizeof(struct lm_stream_record) + n);
	}
	return 0;
}

ssize_t lm_save_read(struct lm_file *migf, struct iov_iter *to)
{
	struct lm_save *s = &migf->save;
	size_t done = 0;
	int ret = 0;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	/* queued bytes too are void once the session ended */
	mutex_lock(&migf->fn->lock);
	ret = lm_file_usable(migf);
	mutex_unlock(&migf->fn->lock);
	while (!ret && iov_iter_count(to)) {
		size_t avail = s->out_len - s->out_pos;
		size_t n;

		if (!avail) {
			ret = lm_save_refill(migf);
			continue;
		}
		n = copy_to_iter(s->cur + s->out_pos,
				 min(avail, iov_iter_count(to)), to);
		if (!n) {
			ret = -EFAULT;
			break;
		}
		s->out_pos += n;
		done += n;
	}
	lm_file_io_end(migf);
	if (done)
		return done;
	return ret == 1 ? 0 : ret;
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
 * or PRE_COPY_P2P; -ENODEV if the session ended; -EINTR if the caller was
 * killed while another call on @file was under way; or the driver's error.
 */
int lm_file_precopy_info(struct file *file, u64 *initial_bytes,
			 u64 *dirty_bytes)
{
	struct lm_file *migf;
	struct lm_function *fn;
	struct lm_save *s;
	u64 left;
	int ret;

	if (!lm_file_is_lm(file))
		return -EINVAL;
	migf = file->private_data;
	fn = migf->fn;
	s = &migf->save;
	if (!migf->saving)
		return -EINVAL;

	if (mutex_lock_killable(&migf->io_lock))
		return -EINTR;
	mutex_lock(&fn->lock);
	ret = lm_file_usable(migf);
	if (ret)
		goto out;
	if (fn->state != LM_STATE_PRE_COPY &&
	    fn->state != LM_STATE_PRE_COPY_P2P) {
		ret = -EINVAL;
		goto out;
	}
	if (s->out_pos == s->out_len && !s->next_len &&
	    s->seg_pos == s->seg_len) {
		ret = lm_save_begin(migf, LM_SAVE_PRECOPY);
		if (ret)
			goto out;
	}
	/* queued framing or payload, then what the segment still holds */
	left = s->out_len - s->out_pos + s->next_len +
	       lm_stream_framed(s->seg_len - s->seg_pos);
	*initial_bytes = s->segments <= 1 ? left : 0;
	*dirty_bytes = (s->segments > 1 ? left : 0) + s->dirty_estimate;
out:
	mutex_unlock(&fn->lock);
	lm_file_io_end(migf);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_file_precopy_info);
