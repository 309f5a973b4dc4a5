// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the buffers a driver hands over with a segment
 * (lm_segment.buf).  Reference counted, because a data file may keep one
 * after the driver and the function are gone.
 */

#include <linux/kref.h>
#include <linux/live_migration.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "lm_internal.h"

/*
 * Memory for a state user space makes the kernel hold: kmalloc if it
 * comes at once, else vmalloc, which past the limit of the memory cgroup
 * it is charged to fails rather than have a task killed for it.  Unlike
 * kvmalloc(), it never makes the kmalloc attempt try hard, and it takes
 * more than INT_MAX bytes.  Freed with kvfree().
 */
void *lm_state_mem_alloc(size_t len, gfp_t gfp)
{
	void *p = NULL;

	if (len <= KMALLOC_MAX_SIZE)
		p = kmalloc(len, gfp | __GFP_NORETRY | __GFP_NOWARN);
	return p ?: __vmalloc(len, gfp | __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
}

/**
 * lm_buffer_alloc() - allocate a state buffer for lm_segment.buf
 * @len: its size in bytes, not 0
 * @gfp: allocation flags, %GFP_KERNEL or stricter; %GFP_KERNEL_ACCOUNT
 *	for a state saved for user space
 *
 * The bytes are zeroed, so what a device does not fill in never shows old
 * heap contents.  A state too large for the memory cgroup it is charged
 * to fails to allocate rather than have a task killed for it.  The caller
 * holds the only reference.
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
	buf->data = lm_state_mem_alloc(len, gfp | __GFP_ZERO);
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
