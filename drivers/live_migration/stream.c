// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: the framing around a device's state.
 *
 * Every stream starts with a header naming the format and the source's
 * compatibility descriptor, so a destination refuses a foreign or
 * incompatible stream at the write that completes the header, before any
 * byte reaches its device.  The payload follows in DATA records, each with
 * the crc32c of the payload up to its end; an END record carries the total
 * length and the crc32c of all of it, so truncation, corruption and records
 * out of order are found before loading.
 */

#include <linux/crc32c.h>
#include <linux/math.h>
#include <linux/string.h>

#include "lm_internal.h"

u32 lm_crc(u32 crc, const void *buf, size_t len)
{
	return crc32c(crc, buf, len);
}

/* fn->lock held (for describe). */
int lm_stream_fill_header(struct lm_function *fn,
			  struct lm_stream_header *hdr)
{
	u16 compat_len;
	int ret;

	memset(hdr, 0, sizeof(*hdr));
	ret = lm_op_describe(fn, hdr->compat, &compat_len);
	if (ret)
		return ret;
	hdr->magic = cpu_to_le64(LM_STREAM_MAGIC);
	hdr->version = cpu_to_le16(LM_STREAM_VERSION);
	hdr->compat_len = cpu_to_le16(compat_len);
	hdr->hdr_crc = cpu_to_le32(lm_crc(~0U, hdr,
					  offsetof(struct lm_stream_header,
						   hdr_crc)));
	return 0;
}

/*
 * fn->lock held (for compat_check).  Returns -EPROTO for something that is
 * not our stream, -EPROTONOSUPPORT for a version or flags we do not know,
 * -EBADMSG for corruption, -EXDEV (or the driver's error) when the source
 * is not compatible with this function.
 */
int lm_stream_check_header(struct lm_function *fn,
			   const struct lm_stream_header *hdr)
{
	u16 compat_len = le16_to_cpu(hdr->compat_len);

	lockdep_assert_held(&fn->lock);
	if (le64_to_cpu(hdr->magic) != LM_STREAM_MAGIC)
		return -EPROTO;
	if (le16_to_cpu(hdr->version) != LM_STREAM_VERSION)
		return -EPROTONOSUPPORT;
	if (le32_to_cpu(hdr->hdr_crc) !=
	    lm_crc(~0U, hdr, offsetof(struct lm_stream_header, hdr_crc)))
		return -EBADMSG;
	if (hdr->flags)
		return -EPROTONOSUPPORT;
	if (compat_len > LM_COMPAT_MAX || hdr->reserved)
		return -EBADMSG;
	if (fn->mig->compat_check)
		return lm_op_compat_check(fn, hdr->compat, compat_len);
	if (compat_len != fn->compat_len ||
	    memcmp(hdr->compat, fn->compat, compat_len))
		return -EXDEV;
	return 0;
}

void lm_stream_fill_record(struct lm_stream_record *rec,
			   enum lm_record_type type, u64 len, u32 payload_crc)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = cpu_to_le32(type);
	rec->payload_crc = cpu_to_le32(payload_crc);
	rec->len = cpu_to_le64(len);
	rec->rec_crc = cpu_to_le32(lm_crc(~0U, rec,
					  offsetof(struct lm_stream_record,
						   rec_crc)));
}

int lm_stream_check_record(const struct lm_stream_record *rec)
{
	u32 type = le32_to_cpu(rec->type);

	if (le32_to_cpu(rec->rec_crc) !=
	    lm_crc(~0U, rec, offsetof(struct lm_stream_record, rec_crc)))
		return -EBADMSG;
	if ((type != LM_REC_DATA && type != LM_REC_END) || rec->reserved ||
	    rec->reserved2)
		return -EBADMSG;
	return 0;
}

/* The bytes a stream of one segment of @payload bytes takes on the wire. */
u64 lm_stream_size(u64 payload)
{
	return sizeof(struct lm_stream_header) + lm_stream_framed(payload) +
	       sizeof(struct lm_stream_record);
}

/* The bytes a segment of @payload bytes takes on the wire, its records too. */
u64 lm_stream_framed(u64 payload)
{
	return payload + DIV_ROUND_UP_ULL(payload, LM_RECORD_MAX) *
			 sizeof(struct lm_stream_record);
}
