/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private to file.c, save.c and resume.c: a data file and the two halves
 * of it.  The locking rules are at the top of file.c.
 */
#ifndef _LM_FILE_H
#define _LM_FILE_H

#include <linux/mutex.h>
#include <linux/types.h>

#include "lm_internal.h"

#define LM_BOUNCE_SIZE		(LM_RECORD_MAX + sizeof(struct lm_stream_record))
#define LM_CHUNK_SHIFT		20
#define LM_CHUNK_SIZE		BIT(LM_CHUNK_SHIFT)

/* saving; io_lock (set up before the file is published) */
struct lm_save {
	u8 *out;			/* bounce: framing, payload read */
	const u8 *cur;			/* queued bytes: out or seg_data */
	size_t out_len;
	size_t out_pos;
	const u8 *next;			/* a buffer's payload after its record */
	size_t next_len;
	struct lm_buffer *seg_buf;	/* the segment's buffer, if any */
	const u8 *seg_data;		/* its first byte */
	u64 seg_len;
	u64 seg_pos;
	unsigned int segments;
	u64 dirty_estimate;
	bool final_begun;
	bool end_queued;
	u64 total;			/* payload bytes produced */
	u32 crc;			/* of those bytes */
};

enum lm_parse {
	LM_PARSE_HEADER,
	LM_PARSE_RECORD,
	LM_PARSE_PAYLOAD,
	LM_PARSE_DONE,
};

struct lm_resume {
	/* io_lock */
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
	u32 crc;			/* of the payload_len bytes */
	int parse_err;

	/* fn->lock: what a load may use */
	u64 committed_len;
	bool committed_done;
};

struct lm_file {
	struct lm_function *fn;		/* holds a reference on fn->dev */
	bool saving;
	const struct lm_file_ops *fops;	/* pins fops->owner while set */
	struct mutex io_lock;		/* see the top of file.c */
	bool held;			/* io_lock: counted in held_sessions */

	/* fn->lock */
	bool disabled;
	int err;			/* sticky, returned by later calls */

	union {
		struct lm_save save;	/* if saving */
		struct lm_resume resume;
	};
};

/* file.c */
struct lm_file *lm_file_alloc(struct lm_function *fn, bool saving);
void lm_file_free(struct lm_file *migf);
struct file *lm_file_publish(struct lm_file *migf,
			     const struct lm_file_ops *fops);
int lm_file_usable(struct lm_file *migf);
void lm_file_io_end(struct lm_file *migf);

/* save.c */
int lm_save_init(struct lm_file *migf);
void lm_save_trim(struct lm_file *migf);
ssize_t lm_save_read(struct lm_file *migf, struct iov_iter *to);

/* resume.c */
int lm_resume_init(struct lm_file *migf);
void lm_resume_trim(struct lm_file *migf);
ssize_t lm_resume_write(struct lm_file *migf, struct iov_iter *from);

#endif /* _LM_FILE_H */
