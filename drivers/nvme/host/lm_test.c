// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of nvme-pci's live migration controlling function against a
 * fake admin queue that records every command and answers as a TP4159
 * controller would, or lies as told.  Included by lm.c.
 */

#include <kunit/device.h>
#include <kunit/test.h>

#define FAKE_CMDS	64
#define FAKE_PRIMARY	0x7	/* the PF's CNTLID */
#define FAKE_VFS	200
#define FAKE_NS		4

/* the fake's vendor format, and the others the tests list */
static const u8 fake_uuid[16] = { 0xfa, 0xce, 0x4e, 0x76, 0x6d, 0x65 };
static const u8 u1[16] = { 1, 1 }, u2[16] = { 2, 2 }, u3[16] = { 3 };
static const uuid_t fake_accepted[] = {
	UUID_INIT(0xface4e76, 0x6d65, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	UUID_INIT(0xa5010203, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	UUID_INIT(0x00000003, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	UUID_INIT(0x5a000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	UUID_INIT(0x01010000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	UUID_INIT(0x02020000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
};

/*
 * A TP4159 primary controller as NVMe 2.1 describes it: CNS 20h lists the
 * NVMe-defined format (version value 0) and vendor formats by UUID; Get
 * and Set Controller State name them by 1-based index (CSVI, CSUUIDI); a
 * Resume of a controller that is not suspended gets Controller Not
 * Suspended (13Ah); a Controller Level Reset of a secondary and a reset of
 * the primary end suspensions; a Controller Level Reset of a secondary
 * also ends its pending Suspend, which completes then.  Abort is best
 * effort (NVMe 2.1, 5.1.1): the controller may leave the command be.
 * Buffers are checked as the block layer maps them: never on the stack,
 * a vmalloc'ed one page by page.
 */
struct fake_aq {
	struct nvme_lm lm;
	struct nvme_command cmds[FAKE_CMDS];
	int ncmds;
	int fail_status;		/* answer commands with this */
	u8 fail_opcode;			/* ... those with this opcode, 0: all */
	int fail_set_at;		/* fail the Set at this offset, once */
	u32 map_segs;			/* pages of a vmalloc'ed buffer mapped */
	u32 max_bytes;			/* MDTS, in bytes */
	u32 short_by;			/* Get leaves this many bytes unwritten */
	u8 *state;			/* what Get Controller State returns */
	u32 state_len;
	u8 *loaded;			/* what Set Controller State received */
	u32 loaded_len;
	u32 loaded_next;		/* the offset the next piece must have */
	bool committed;			/* a SEQIND last or entire arrived */
	bool suspend_times_out;		/* Suspend suspends, its answer is lost */
	bool suspend_hangs;		/* Suspend completes only if aborted */
	bool resume_hangs;		/* so does Resume */
	bool abort_ignored;		/* ... and the Abort does nothing */
	bool pending[FAKE_VFS];		/* a Suspend outstanding for the VF */
	atomic_t outstanding;		/* lm.c's Suspend slots: not completed */
	bool left_pending;		/* this call left a Suspend pending */
	unsigned long timeouts[FAKE_CMDS];	/* each command's bound */
	int nvfs;			/* VFs in the Secondary Controller List */
	struct device *vf_dev[FAKE_VFS];	/* functions made by the test */
	u16 scid[FAKE_VFS];		/* their CNTLIDs (VF i + 1) */
	u16 nvq[FAKE_VFS];
	u16 foreign_scid;		/* a VF 1 of another primary, if set */
	bool suspended[FAKE_VFS];
	int identifies;
	int pages;			/* CNS 15h commands */
	u8 nv, nuuid;			/* CNS 20h */
	__le16 vers[4];
	u8 uuids[4][16];
	int nns;			/* allocated namespaces */
	struct {
		u32 nsid;
		u64 nsze;
		u8 flbas;
		u8 ds;
		u16 ms;
		u8 dps;
		int only_vf;		/* attached to this VF only, -1: all */
		bool gone;		/* deleted once CNS 10h listed it */
		bool other_csi;		/* CNS 11h: Invalid I/O Command Set */
	} ns[FAKE_NS];
	bool view_lies;			/* Get returns every part, asked or not */
	bool ns_unordered;		/* CNS 10h lists NSIDs out of order */
	bool ns_full;			/* CNS 10h fills its page */
	bool no_nms;			/* OACS without Namespace Management */
	char fw[8];			/* Identify Controller */
	char model[40];
	u8 mdts;
	atomic_t pf_resets;		/* as nvme-pci counts them */
	atomic_t changes;		/* as nvme_ctrl.config_changes */
};

/*
 * The configuration changed the way the host sees it happen (an admin
 * command from user space, a namespace or firmware notice): the core
 * counts it.
 */
static void fake_changed(struct fake_aq *aq)
{
	atomic_inc(&aq->changes);
}

static int fake_ns_of(struct fake_aq *aq, u32 nsid)
{
	int i;

	for (i = 0; i < aq->nns; i++)
		if (aq->ns[i].nsid == nsid)
			return i;
	return -1;
}

/*
 * A bounded command the controller holds: the Abort nvme-pci sends at the
 * bound is honoured, or it is not and the command stays outstanding after
 * the call.
 */
static int fake_bounded_hang(struct fake_aq *aq, int vf)
{
	if (!aq->abort_ignored)
		return NVME_SC_ABORT_REQ;
	aq->pending[vf] = true;
	aq->left_pending = true;
	return -ETIMEDOUT;
}

/* Identify CNS 10h, 11h and 12h, as the primary controller answers them */
static int fake_identify_ns(struct fake_aq *aq, struct nvme_command *cmd,
			    void *buf)
{
	u32 nsid = le32_to_cpu(cmd->identify.nsid);
	u16 from = le16_to_cpu(cmd->identify.ctrlid);
	int i, n = 0, ns = fake_ns_of(aq, nsid);
	struct nvme_id_ns *id = buf;
	__le32 *nsids = buf;
	__le16 *ctrls = buf;

	switch (cmd->identify.cns) {
	case NVME_ID_CNS_NS_PRESENT_LIST:
		for (i = 0; i < aq->nns; i++)
			if (aq->ns[i].nsid > nsid)
				nsids[n++] = cpu_to_le32(aq->ns[i].nsid);
		if (aq->ns_unordered && n > 1)
			swap(nsids[0], nsids[1]);
		for (i = 0; aq->ns_full && i < 1024; i++)
			nsids[i] = cpu_to_le32(nsid + i + 1);
		return 0;
	case NVME_ID_CNS_CTRL_NS_LIST:
		if (ns < 0 || aq->ns[ns].gone)
			return NVME_SC_INVALID_NS | NVME_STATUS_DNR;
		for (i = 0; i < aq->nvfs; i++)
			if (aq->scid[i] >= from &&
			    (aq->ns[ns].only_vf < 0 || aq->ns[ns].only_vf == i))
				ctrls[1 + n++] = cpu_to_le16(aq->scid[i]);
		ctrls[0] = cpu_to_le16(n);
		return 0;
	}
	if (ns < 0 || aq->ns[ns].gone)
		return NVME_SC_INVALID_NS | NVME_STATUS_DNR;
	if (aq->ns[ns].other_csi)
		return NVME_SC_INVALID_IO_CMD_SET | NVME_STATUS_DNR;
	id->nsze = cpu_to_le64(aq->ns[ns].nsze);
	id->dps = aq->ns[ns].dps;
	id->ncap = id->nsze;
	id->flbas = aq->ns[ns].flbas;
	id->nlbaf = 1;
	id->lbaf[nvme_lbaf_index(id->flbas)].ds = aq->ns[ns].ds;
	id->lbaf[nvme_lbaf_index(id->flbas)].ms = cpu_to_le16(aq->ns[ns].ms);
	return 0;
}

/* The VF a CNTLID names, or -1. */
static int fake_vf_of(struct fake_aq *aq, u32 cntlid)
{
	int i;

	for (i = 0; i < aq->nvfs; i++)
		if (aq->scid[i] == (cntlid & 0xffff))
			return i;
	return -1;
}

/*
 * A state as a controller saves one: I/O queues 1..n of 64 entries, each
 * SQ on a CQ of the state (CQ 1 when there is none: invalid on purpose),
 * CQs interrupting on vector 0; then vendor state of a byte pattern.
 */
static u8 *fake_state(struct kunit *test, u16 niosq, u16 niocq, u32 vss)
{
	u32 css = sizeof(struct nvme_ctrl_state_nvme) +
		  niosq * sizeof(struct nvme_ctrl_state_sq) +
		  niocq * sizeof(struct nvme_ctrl_state_cq);
	u32 len = NVME_LM_HDR_LEN + css + vss;
	struct nvme_ctrl_state_hdr *hdr;
	struct nvme_ctrl_state_nvme *cs;
	struct nvme_ctrl_state_sq *sq;
	struct nvme_ctrl_state_cq *cq;
	u8 *p = kunit_kzalloc(test, len, GFP_KERNEL);
	u32 i;

	KUNIT_ASSERT_NOT_NULL(test, p);
	hdr = (void *)p;
	hdr->ver = cpu_to_le16(0);	/* "shall be cleared to 0h" */
	hdr->csattr = NVME_CTRL_STATE_ATTR_SUSPENDED;
	put_unaligned_le64(css / 4, hdr->nvmecss);
	put_unaligned_le64(vss / 4, hdr->vss);
	cs = (void *)(p + NVME_LM_HDR_LEN);
	cs->ver = cpu_to_le16(0);
	cs->niosq = cpu_to_le16(niosq);
	cs->niocq = cpu_to_le16(niocq);
	sq = (void *)(cs + 1);
	for (i = 0; i < niosq; i++, sq++) {
		sq->prp1 = cpu_to_le64(0x100000ULL * (i + 1));
		sq->qsize = cpu_to_le16(63);
		sq->qid = cpu_to_le16(i + 1);
		sq->cqid = cpu_to_le16(niocq ? i % niocq + 1 : 1);
		sq->attr = cpu_to_le16(1);		/* PC */
		sq->head = cpu_to_le16(i % 64);
		sq->tail = cpu_to_le16((i + 3) % 64);
	}
	cq = (void *)sq;
	for (i = 0; i < niocq; i++, cq++) {
		cq->prp1 = cpu_to_le64(0x80000000ULL + 0x100000ULL * i);
		cq->qsize = cpu_to_le16(63);
		cq->qid = cpu_to_le16(i + 1);
		cq->head = cpu_to_le16(i % 64);
		cq->tail = cpu_to_le16((i + 5) % 64);
		cq->attr = cpu_to_le32(0x3);		/* PC, IEN, vector 0 */
	}
	for (i = len - vss; i < len; i++)
		p[i] = i * 13;
	return p;
}

static u32 fake_state_len(u16 niosq, u16 niocq, u32 vss)
{
	return NVME_LM_HDR_LEN + sizeof(struct nvme_ctrl_state_nvme) +
	       niosq * sizeof(struct nvme_ctrl_state_sq) +
	       niocq * sizeof(struct nvme_ctrl_state_cq) + vss;
}

/*
 * CSVI names version value 0 or none, CSUUIDI a listed UUID or none
 * (NVMe 2.1, Figures 345, 346, 354).
 */
static bool fake_fmt_ok(struct fake_aq *aq, u32 csvi, u32 csuuidi)
{
	return (!csvi || (csvi <= aq->nv && csvi <= ARRAY_SIZE(aq->vers) &&
			  !aq->vers[csvi - 1])) && csuuidi <= aq->nuuid;
}

/*
 * What Get Controller State returns of the fake's state: without CSVI
 * the NVMe-defined part is left out and its size is 0, without CSUUIDI
 * the vendor part (Figures 345, 346).  Freed by the caller.
 */
static u8 *fake_view(struct fake_aq *aq, u32 csvi, u32 csuuidi, u32 *len)
{
	struct nvme_ctrl_state_hdr *hdr;
	u64 css = 0, vss = 0;
	u8 *v;

	if (aq->state_len >= NVME_LM_HDR_LEN) {
		hdr = (void *)aq->state;
		css = get_unaligned_le64(hdr->nvmecss) * 4;
		vss = get_unaligned_le64(hdr->vss) * 4;
	}
	if (NVME_LM_HDR_LEN + css + vss != aq->state_len || (csvi && csuuidi) ||
	    aq->view_lies) {
		*len = aq->state_len;
		return kmemdup(aq->state, aq->state_len, GFP_KERNEL);
	}
	*len = NVME_LM_HDR_LEN + (csvi ? css : 0) + (csuuidi ? vss : 0);
	v = kzalloc(*len, GFP_KERNEL);
	if (!v)
		return NULL;
	memcpy(v, aq->state, NVME_LM_HDR_LEN);
	hdr = (void *)v;
	if (!csvi)
		put_unaligned_le64(0, hdr->nvmecss);
	if (!csuuidi)
		put_unaligned_le64(0, hdr->vss);
	if (csvi)
		memcpy(v + NVME_LM_HDR_LEN, aq->state + NVME_LM_HDR_LEN, css);
	if (csuuidi)
		memcpy(v + NVME_LM_HDR_LEN + (csvi ? css : 0),
		       aq->state + NVME_LM_HDR_LEN + css, vss);
	return v;
}

/* Identify CNS 15h: entries with a SCID of CNTID or more, 127 at most. */
static void fake_sec_list(struct fake_aq *aq, struct nvme_command *cmd,
			  struct nvme_sec_ctrl_list *l)
{
	u16 first = le16_to_cpu(cmd->identify.ctrlid);
	int i;

	aq->pages++;
	for (i = 0; i < aq->nvfs && l->num < ARRAY_SIZE(l->entries); i++) {
		struct nvme_sec_ctrl_entry *e = &l->entries[l->num];

		if (aq->scid[i] < first)
			continue;
		e->scid = cpu_to_le16(aq->scid[i]);
		e->pcid = cpu_to_le16(FAKE_PRIMARY);
		e->scs = 1;
		e->vfn = cpu_to_le16(i + 1);
		e->nvq = cpu_to_le16(aq->nvq[i]);
		e->nvi = cpu_to_le16(1);
		l->num++;
	}
	if (aq->foreign_scid >= first && aq->foreign_scid &&
	    l->num < ARRAY_SIZE(l->entries)) {
		l->entries[l->num].scid = cpu_to_le16(aq->foreign_scid);
		l->entries[l->num].pcid = cpu_to_le16(FAKE_PRIMARY + 1);
		l->entries[l->num].vfn = cpu_to_le16(1);
		l->num++;
	}
}

static void fake_reset(struct fake_aq *aq, int vf);

static int fake_migrate_send(struct fake_aq *aq, struct nvme_command *cmd,
			     void *buf, u32 len, unsigned long timeout)
{
	u32 cdw10 = le32_to_cpu(cmd->common.cdw10);
	u32 cdw11 = le32_to_cpu(cmd->common.cdw11);
	u64 off = le32_to_cpu(cmd->common.cdw12) |
		  (u64)le32_to_cpu(cmd->common.cdw13) << 32;
	/* NUMD is not 0's based (libnvme, libvfn) */
	u64 bytes = (u64)le32_to_cpu(cmd->common.cdw15) * 4;
	u32 seq = cdw10 >> 16 & 3;
	int vf = fake_vf_of(aq, cdw11);

	if (vf < 0)
		return NVME_SC_CTRL_ID_INVALID | NVME_STATUS_DNR;
	switch (cdw10 & 0xff) {
	case NVME_MIGSEND_SUSPEND:
		/*
		 * A Suspend the guest holds up: bounded, see
		 * fake_bounded_hang(); without a bound, the admin timeout
		 * resets the PF.
		 */
		if (aq->pending[vf])
			return NVME_SC_CMD_SEQ_ERROR | NVME_STATUS_DNR;
		if (aq->suspend_hangs && timeout)
			return fake_bounded_hang(aq, vf);
		if (aq->suspend_hangs) {
			fake_reset(aq, -1);
			return -EINTR;
		}
		aq->suspended[vf] = true;
		return aq->suspend_times_out ? -EINTR : 0;
	case NVME_MIGSEND_RESUME:
		if (aq->resume_hangs && timeout)
			return fake_bounded_hang(aq, vf);
		if (!aq->suspended[vf])
			return NVME_SC_CTRL_NOT_SUSPENDED | NVME_STATUS_DNR;
		aq->suspended[vf] = false;
		return 0;
	case NVME_MIGSEND_SET_STATE:
		break;
	default:
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	}
	if (!aq->suspended[vf])
		return NVME_SC_CTRL_NOT_SUSPENDED | NVME_STATUS_DNR;
	if (!fake_fmt_ok(aq, cdw11 >> 16 & 0xff, cdw11 >> 24) ||
	    !(cdw11 >> 16) || bytes != len || off + bytes > aq->loaded_len)
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	if (aq->fail_set_at >= 0 && off == aq->fail_set_at) {
		aq->fail_set_at = -1;
		aq->loaded_next = 0;
		return NVME_SC_INTERNAL;
	}
	/* first or entire starts over; then in order without gaps */
	if (seq == NVME_MIG_SEQ_FIRST || seq == NVME_MIG_SEQ_ENTIRE) {
		if (off)
			return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
		aq->committed = false;
	} else if (!off || off != aq->loaded_next) {
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	}
	memcpy(aq->loaded + off, buf, bytes);
	aq->loaded_next = off + bytes;
	/* NVMe 2.1: a part without its format is Invalid Field (Fig. 354) */
	if ((seq == NVME_MIG_SEQ_LAST || seq == NVME_MIG_SEQ_ENTIRE) &&
	    aq->loaded_next >= NVME_LM_HDR_LEN &&
	    ((!(cdw11 >> 24) &&
	      get_unaligned_le64(((struct nvme_ctrl_state_hdr *)
				  aq->loaded)->vss)) ||
	     (!(cdw11 >> 16 & 0xff) &&
	      get_unaligned_le64(((struct nvme_ctrl_state_hdr *)
				  aq->loaded)->nvmecss))))
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	if (seq == NVME_MIG_SEQ_LAST || seq == NVME_MIG_SEQ_ENTIRE) {
		aq->committed = true;
		aq->loaded_next = 0;
	}
	return 0;
}

static int fake_submit_one(struct nvme_lm *lm, struct nvme_command *cmd,
			   void *buf, u32 len, u32 *result,
			   unsigned long timeout)
{
	struct fake_aq *aq = container_of(lm, struct fake_aq, lm);
	u64 off = le32_to_cpu(cmd->common.cdw12) |
		  (u64)le32_to_cpu(cmd->common.cdw13) << 32;
	u32 cdw10 = le32_to_cpu(cmd->common.cdw10);
	u32 cdw11 = le32_to_cpu(cmd->common.cdw11);
	u32 view_len;
	u8 *view;
	int vf;

	if (aq->ncmds < FAKE_CMDS) {
		aq->timeouts[aq->ncmds] = timeout;
		aq->cmds[aq->ncmds++] = *cmd;
	}
	/* as blk_rq_map_kern(): no stack, a vmalloc'ed buffer page by page */
	if (buf && object_is_on_stack(buf))
		return -EFAULT;
	if (buf && is_vmalloc_addr(buf) &&
	    DIV_ROUND_UP(offset_in_page(buf) + len, PAGE_SIZE) > aq->map_segs)
		return -EINVAL;
	if (len > aq->max_bytes)
		return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
	if (aq->fail_status &&
	    (!aq->fail_opcode || aq->fail_opcode == cmd->common.opcode))
		return aq->fail_status;
	switch (cmd->common.opcode) {
	case nvme_admin_identify:
		memset(buf, 0, len);
		if (cmd->identify.cns == NVME_ID_CNS_CTRL) {
			struct nvme_id_ctrl *id = buf;

			id->vid = cpu_to_le16(0x1b36);
			if (!aq->no_nms)
				id->oacs = cpu_to_le16(NVME_CTRL_OACS_NS_MNGT_SUPP);
			memcpy(id->mn, aq->model, sizeof(id->mn));
			memcpy(id->fr, aq->fw, sizeof(id->fr));
			id->mdts = aq->mdts;
			return 0;
		}
		if (cmd->identify.cns == NVME_ID_CNS_CTRL_STATE_FMT) {
			u8 *p = buf;

			/* the counts as set, the entries the fake has */
			p[0] = aq->nv;
			p[1] = aq->nuuid;
			memcpy(p + 2, aq->vers,
			       2 * min_t(int, aq->nv, ARRAY_SIZE(aq->vers)));
			if (2 + 2 * aq->nv + sizeof(aq->uuids) <= len)
				memcpy(p + 2 + 2 * aq->nv, aq->uuids,
				       16 * min_t(int, aq->nuuid,
						  ARRAY_SIZE(aq->uuids)));
			return 0;
		}
		if (cmd->identify.cns == NVME_ID_CNS_NS_PRESENT_LIST ||
		    cmd->identify.cns == NVME_ID_CNS_NS_PRESENT ||
		    cmd->identify.cns == NVME_ID_CNS_CTRL_NS_LIST)
			return fake_identify_ns(aq, cmd, buf);
		aq->identifies++;
		fake_sec_list(aq, cmd, buf);
		return 0;
	case nvme_admin_migrate_recv:
		vf = fake_vf_of(aq, cdw11);
		if (vf < 0)
			return NVME_SC_CTRL_ID_INVALID | NVME_STATUS_DNR;
		if ((cdw10 & 0xff) != NVME_MIGRECV_GET_STATE ||
		    !fake_fmt_ok(aq, cdw10 >> 16 & 0xff, cdw11 >> 16 & 0xff) ||
		    le32_to_cpu(cmd->common.cdw15) + 1 != len / 4)
			return NVME_SC_INVALID_FIELD | NVME_STATUS_DNR;
		/* beyond the state, dwords are undefined: leave them */
		view = fake_view(aq, cdw10 >> 16 & 0xff, cdw11 >> 16 & 0xff,
				 &view_len);
		if (!view)
			return -ENOMEM;
		if (off < view_len)
			memcpy(buf, view + off,
			       min_t(u64, len, view_len - off) -
			       (len > aq->short_by ? aq->short_by : 0));
		kfree(view);
		*result = aq->suspended[vf] ? NVME_MIGRECV_CSUP : 0;
		return 0;
	case nvme_admin_migrate_send:
		return fake_migrate_send(aq, cmd, buf, len, timeout);
	}
	return NVME_SC_INVALID_OPCODE | NVME_STATUS_DNR;
}

/*
 * A Controller Level Reset of VF @vf, or a reset of the primary (-1),
 * counted as nvme-pci counts it: before and after the controller stops.
 */
/*
 * As nvme_submit_admin_cmd_abortable() treats the slot lm.c raised for a
 * command with a bound: freed when the command completes or is not sent.
 */
static int fake_submit(struct nvme_lm *lm, struct nvme_command *cmd,
		       void *buf, u32 len, u32 *result, unsigned long timeout)
{
	struct fake_aq *aq = container_of(lm, struct fake_aq, lm);
	int ret;

	aq->left_pending = false;
	ret = fake_submit_one(lm, cmd, buf, len, result, timeout);
	if (timeout && !aq->left_pending)
		atomic_dec(&aq->outstanding);
	return ret;
}

static void fake_reset(struct fake_aq *aq, int vf)
{
	int i;

	if (vf < 0)
		atomic_inc(&aq->pf_resets);
	for (i = 0; i < aq->nvfs; i++) {
		if (vf >= 0 && i != vf)
			continue;
		aq->suspended[i] = false;
		/* the pending Suspend completes: its tag comes back */
		if (aq->pending[i]) {
			aq->pending[i] = false;
			atomic_dec(&aq->outstanding);
		}
	}
	aq->loaded_next = 0;
	if (vf < 0)
		atomic_inc(&aq->pf_resets);
}

static int nvme_lm_test_names;

static struct device *nvme_lm_test_dev(struct kunit *test, const char *what)
{
	struct device *dev;
	char name[32];

	snprintf(name, sizeof(name), "nvme-lm-%s%d", what,
		 nvme_lm_test_names++);
	dev = kunit_device_register(test, name);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	return dev;
}

static struct fake_aq *fake_aq_new_mdts(struct kunit *test, u32 mdts,
					u32 map_segs)
{
	struct fake_aq *aq = kunit_kzalloc(test, sizeof(*aq), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, aq);
	aq->fail_set_at = -1;
	aq->map_segs = map_segs;
	strscpy(aq->model, "fake nvme", sizeof(aq->model));
	memcpy(aq->fw, "1.0     ", sizeof(aq->fw));
	aq->mdts = 5;
	nvme_lm_init(&aq->lm, nvme_lm_test_dev(test, "pf"), fake_submit,
		     mdts, map_segs * PAGE_SIZE, FAKE_PRIMARY, &aq->pf_resets,
		     &aq->changes, &aq->outstanding);
	aq->max_bytes = mdts;
	aq->nvfs = 2;
	aq->scid[0] = 0x21;
	aq->scid[1] = 0x22;
	for (i = 0; i < FAKE_VFS; i++)
		aq->nvq[i] = 4;	/* 3 I/O queues */
	/* one namespace of 32 MiB in 4 KiB blocks, attached to every VF */
	aq->nns = 1;
	aq->ns[0].nsid = 1;
	aq->ns[0].nsze = 8192;
	aq->ns[0].ds = 12;
	aq->ns[0].only_vf = -1;
	/* the NVMe-defined format, and a vendor one the host accepts */
	aq->nv = 1;
	aq->vers[0] = cpu_to_le16(0);
	aq->nuuid = 1;
	memcpy(aq->uuids[0], fake_uuid, 16);
	KUNIT_ASSERT_EQ(test, nvme_lm_set_formats(fake_accepted,
						  ARRAY_SIZE(fake_accepted)),
			0);
	return aq;
}

static struct fake_aq *fake_aq_new(struct kunit *test, u32 max_xfer)
{
	return fake_aq_new_mdts(test, max_xfer, 32);
}

static u32 dw(const struct nvme_command *c, int n)
{
	return le32_to_cpu(((const __le32 *)c)[n]);
}

/* Every dword of every command, as ref/nvme-tp4159.md encodes them. */
static void nvme_lm_test_encoding(struct kunit *test)
{
	const struct nvme_lm_fmt fmt = { .csvi = 3, .csuuidi = 2 };
	struct nvme_command c;

	nvme_lm_cmd_suspend(&c, 0x1234);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x41);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x0U);		/* SEL 0 */
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x00011234U);	/* STYPE 1 */
	KUNIT_EXPECT_EQ(test, dw(&c, 12) | dw(&c, 13) | dw(&c, 14) |
			dw(&c, 15), 0U);

	nvme_lm_cmd_resume(&c, 0x1234);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x41);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x1U);
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x1234U);

	nvme_lm_cmd_get_state(&c, 0x1234, &fmt, 0x100000010ULL, 4096);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x42);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x00030000U);	/* SEL 0, CSVI 3 */
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x00021234U);	/* CSUUIDI 2 */
	KUNIT_EXPECT_EQ(test, dw(&c, 12), 0x10U);
	KUNIT_EXPECT_EQ(test, dw(&c, 13), 0x1U);
	KUNIT_EXPECT_EQ(test, dw(&c, 14), 0U);
	KUNIT_EXPECT_EQ(test, dw(&c, 15), 1023U);	/* NUMDL 0's based */

	nvme_lm_cmd_set_state(&c, 0x1234, &fmt, 8192, 4096, NVME_MIG_SEQ_LAST);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x41);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x00020002U);	/* SEL 2, SEQIND 2 */
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x02031234U);	/* CSVI 3, CSUUIDI 2 */
	KUNIT_EXPECT_EQ(test, dw(&c, 12), 8192U);
	KUNIT_EXPECT_EQ(test, dw(&c, 13), 0U);
	KUNIT_EXPECT_EQ(test, dw(&c, 15), 1024U);	/* NUMD */

	nvme_lm_cmd_sec_list(&c, 0x80);
	KUNIT_EXPECT_EQ(test, c.identify.opcode, nvme_admin_identify);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x00800015U);	/* CNTID, CNS 15h */

	nvme_lm_cmd_state_formats(&c);
	KUNIT_EXPECT_EQ(test, c.identify.opcode, nvme_admin_identify);
	KUNIT_EXPECT_EQ(test, dw(&c, 1), 0U);		/* NSID */
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x20U);	/* CNS 20h */
	KUNIT_EXPECT_EQ(test, dw(&c, 11) | dw(&c, 14), 0U);

	KUNIT_EXPECT_EQ(test, nvme_admin_track_send, 0x3d);
	KUNIT_EXPECT_EQ(test, nvme_admin_track_recv, 0x3e);
	KUNIT_EXPECT_EQ(test, nvme_admin_ctrl_data_queue, 0x45);
	KUNIT_EXPECT_EQ(test, NVME_CTRL_OACS_HMLM, 1 << 11);
	KUNIT_EXPECT_EQ(test, sizeof(struct nvme_lm_compat), 80U);
}

/* A function as nvme_lm_claim() makes one, for a kunit device. */
static struct lm_function *nvme_lm_test_fn(struct kunit *test,
					   struct fake_aq *aq, int vf)
{
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = NVME_LM_MAX_STATE };
	/* freed by nvme_lm_release() when the controller goes */
	struct nvme_lm_fn *f = kzalloc(sizeof(*f), GFP_KERNEL);
	struct lm_function *fn;

	KUNIT_ASSERT_NOT_NULL(test, f);
	f->lm = &aq->lm;
	f->vf = vf;
	f->dev = nvme_lm_test_dev(test, "vf");
	aq->vf_dev[vf] = f->dev;
	/* as nvme_lm_claim() does */
	KUNIT_ASSERT_EQ(test, nvme_lm_read_desc(f, &f->cntlid), 0);
	f->compat = f->desc;
	f->save_fmt = f->desc_fmt;
	info.drvdata = f;
	info.compat = (const u8 *)&f->compat;
	info.compat_len = sizeof(f->compat);
	fn = lm_function_add(&aq->lm.lm_ctrl, f->dev, &info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fn));
	return fn;
}

static void nvme_lm_test_unregister(void *data)
{
	lm_controller_unregister(data);
}

static struct fake_aq *fake_registered_mdts(struct kunit *test, u32 mdts,
					    u32 map_segs)
{
	struct fake_aq *aq = fake_aq_new_mdts(test, mdts, map_segs);

	KUNIT_ASSERT_EQ(test, lm_controller_register(&aq->lm.lm_ctrl), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							nvme_lm_test_unregister,
							&aq->lm.lm_ctrl), 0);
	return aq;
}

static struct fake_aq *fake_registered(struct kunit *test, u32 max_xfer)
{
	return fake_registered_mdts(test, max_xfer, 32);
}

static void fake_unregister(struct kunit *test, struct fake_aq *aq)
{
	lm_controller_unregister(&aq->lm.lm_ctrl);
	kunit_remove_action(test, nvme_lm_test_unregister, &aq->lm.lm_ctrl);
}

/* Where the stream format puts the descriptor's length and bytes. */
#define STREAM_COMPAT_LEN_AT	10
#define STREAM_COMPAT_AT	16
#define STREAM_HDR_LEN		(STREAM_COMPAT_AT + LM_COMPAT_MAX)

/*
 * Saves through the core.  With @state, reads the stream: it must carry
 * those @len bytes, unchanged, within less than a page of framing.  The
 * stream's first STREAM_HDR_LEN bytes are copied to @hdr if given.
 */
static int save_stream(struct kunit *test, struct lm_function *fn,
		       const u8 *state, u32 len, u8 *hdr)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	size_t cap = len + PAGE_SIZE, got = 0, off = 0, at, n_at;
	struct file *file = NULL;
	bool found = true;
	loff_t pos = 0;
	ssize_t n;
	u8 *buf;
	int ret;

	ret = lm_set_state(fn, LM_STATE_STOP_COPY, NULL, &file);
	if (file && (state || hdr)) {
		buf = kunit_kmalloc(test, cap, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, buf);
		while ((n = kernel_read(file, buf + got, cap - got, &pos)) > 0)
			got += n;
		KUNIT_EXPECT_EQ(test, n, 0);
		/*
		 * Records cut the payload every 256 KiB: find it 64 KiB at a
		 * time, in order.
		 */
		for (at = 0; state && found && at < len; at += n_at) {
			n_at = min_t(size_t, len - at, SZ_64K);
			for (found = false; !found && off + n_at <= got; off++)
				found = !memcmp(buf + off, state + at, n_at);
			off += n_at - 1;
		}
		KUNIT_EXPECT_TRUE(test, found);
		KUNIT_EXPECT_LT(test, got, cap);
		if (hdr)
			memcpy(hdr, buf, STREAM_HDR_LEN);
	}
	if (file)
		fput(file);
	/* the function was suspended before its state was read */
	if (!ret)
		KUNIT_EXPECT_TRUE(test, f->suspended);
	return ret;
}

static int save_payload(struct kunit *test, struct lm_function *fn,
			const u8 *state, u32 len)
{
	return save_stream(test, fn, state, len, NULL);
}

/* The destination's side: check @desc as the core does, then stop. */
static void load_prepare(struct kunit *test, struct lm_function *fn,
			 const void *desc)
{
	KUNIT_ASSERT_EQ(test, nvme_lm_compat_check(fn, desc,
						   sizeof(struct nvme_lm_compat)),
			0);
	KUNIT_ASSERT_EQ(test, nvme_lm_stop(fn), 0);
}

static void nvme_lm_test_chunking(struct kunit *test)
{
	static const u32 vss[] = { 0, 4096 - 48 - 8 - 48, 10000 };
	static const u8 uuid[16] = { 0xa5, 1, 2, 3 };
	const u32 max_xfer = 4096;
	int i;

	for (i = 0; i < ARRAY_SIZE(vss); i++) {
		struct fake_aq *aq = fake_registered(test, max_xfer);
		struct lm_function *fn;
		u32 expect_cmds, j, off = 0, n;
		struct nvme_lm_fn *f;

		if (vss[i]) {
			/* vendor state comes only with a vendor format */
			aq->nuuid = 1;
			memcpy(aq->uuids[0], uuid, 16);
		}
		fn = nvme_lm_test_fn(test, aq, 1);
		f = nvme_lm_fn(fn);
		aq->state = fake_state(test, 1, 1, vss[i]);
		aq->state_len = fake_state_len(1, 1, vss[i]);
		aq->ncmds = 0;
		/* the core copies out what the controller wrote, as it was */
		KUNIT_ASSERT_EQ(test, save_payload(test, fn, aq->state,
						   aq->state_len), 0);
		KUNIT_EXPECT_EQ(test, f->save_fmt.csuuidi, 1);
		/*
		 * Suspend; the header, then the state in max_xfer pieces:
		 * nothing else in the downtime (the descriptor is the
		 * claim's).
		 */
		expect_cmds = 2 + DIV_ROUND_UP(aq->state_len, max_xfer);
		KUNIT_EXPECT_EQ(test, aq->ncmds, (int)expect_cmds);
		KUNIT_EXPECT_EQ(test, aq->cmds[0].common.opcode, 0x41);
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 11), 0x10022U);
		KUNIT_EXPECT_EQ(test, aq->cmds[1].common.opcode, 0x42);
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[1], 15), 48 / 4 - 1);
		for (j = 2; j < expect_cmds; j++) {
			n = min(aq->state_len - off, max_xfer);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 10), 0x10000U);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 11),
					0x10022U);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 12), off);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 15), n / 4 - 1);
			off += n;
		}

		/* load: SEQIND first/middle/last or entire, same pieces */
		aq->loaded_len = aq->state_len;
		aq->loaded = kunit_kzalloc(test, aq->loaded_len, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
		KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
		load_prepare(test, fn, &f->compat);
		aq->ncmds = 0;
		KUNIT_ASSERT_EQ(test, nvme_lm_load(fn, aq->state,
						   aq->state_len, 0,
						   aq->state_len), 0);
		KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state,
					     aq->state_len), 0);
		KUNIT_EXPECT_TRUE(test, aq->committed);
		KUNIT_EXPECT_EQ(test, aq->ncmds,
				(int)DIV_ROUND_UP(aq->state_len, max_xfer));
		for (j = 0; j < aq->ncmds; j++) {
			u32 seq = dw(&aq->cmds[j], 10) >> 16;

			if (aq->ncmds == 1)
				KUNIT_EXPECT_EQ(test, seq, 3U);
			else if (!j)
				KUNIT_EXPECT_EQ(test, seq, 1U);
			else if (j == aq->ncmds - 1)
				KUNIT_EXPECT_EQ(test, seq, 2U);
			else
				KUNIT_EXPECT_EQ(test, seq, 0U);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 11),
					0x01010022U);
		}
		fake_unregister(test, aq);
	}
}

/*
 * A controller with a large MDTS: pieces stay within what the admin queue
 * maps in one request, and no command's buffer is on the stack.
 */
static void nvme_lm_test_dma_buffers(struct kunit *test)
{
	struct fake_aq *aq = fake_registered_mdts(test, 8 << 20, 32);
	u32 vss = 3 << 20, i;
	struct lm_function *fn;
	struct nvme_lm_fn *f;

	aq->nuuid = 1;
	memset(aq->uuids[0], 0, 16);
	aq->uuids[0][0] = 0x5a;
	fn = nvme_lm_test_fn(test, aq, 0);
	f = nvme_lm_fn(fn);
	KUNIT_EXPECT_EQ(test, aq->lm.max_xfer,
			min(32 * (u32)PAGE_SIZE, NVME_LM_XFER_MAX));
	aq->state = fake_state(test, 2, 2, vss);
	aq->state_len = fake_state_len(2, 2, vss);
	KUNIT_ASSERT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
	for (i = 0; i < min(aq->ncmds, FAKE_CMDS); i++)
		if (aq->cmds[i].common.opcode == nvme_admin_migrate_recv)
			KUNIT_EXPECT_LE(test, dw(&aq->cmds[i], 15) + 1,
					aq->lm.max_xfer / 4);
	aq->loaded_len = aq->state_len;
	aq->loaded = kunit_kzalloc(test, aq->loaded_len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	load_prepare(test, fn, &f->compat);
	for (i = 0; i < aq->state_len; i += 1 << 20)
		KUNIT_ASSERT_EQ(test, nvme_lm_load(fn, aq->state + i,
						   min(aq->state_len - i,
						       1U << 20),
						   i, aq->state_len), 0);
	KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state, aq->state_len),
			0);
	KUNIT_EXPECT_TRUE(test, aq->committed);
}

/* Dwords a controller leaves unwritten never reach the stream. */
static void nvme_lm_test_short_transfer(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	u32 len = fake_state_len(200, 0, 0);
	u8 *want;

	aq->state = fake_state(test, 200, 0, 0);
	aq->state_len = len;
	aq->short_by = 64;
	want = kunit_kmalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	memcpy(want, aq->state, len);
	/* two pieces, each 64 bytes short; the header is read on its own */
	KUNIT_ASSERT_TRUE(test, len > 4096 && len < 8192);
	memset(want + 4096 - 64, 0, 64);
	memset(want + len - 64, 0, 64);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, want, len), 0);
}

static void nvme_lm_test_status(struct kunit *test)
{
	static const struct { int status; int err; } map[] = {
		{ NVME_SC_INVALID_CDQ, -EIO },
		{ NVME_SC_NOT_ENOUGH_RESOURCES, -ENOSPC },
		{ NVME_SC_CTRL_SUSPENDED, -EBUSY },
		{ NVME_SC_CTRL_NOT_SUSPENDED, -EINVAL },
		{ NVME_SC_CDQ_FULL, -EIO },
		{ NVME_SC_CTRL_ID_INVALID, -ENODEV },
		{ NVME_SC_INVALID_OPCODE | NVME_STATUS_DNR, -EOPNOTSUPP },
		{ NVME_SC_ABORT_REQ, -ETIMEDOUT },
		{ NVME_SC_INVALID_NS | NVME_STATUS_DNR, -ENXIO },
		{ NVME_SC_INVALID_IO_CMD_SET, -EOPNOTSUPP },
		{ -EINTR, -ETIMEDOUT },
		{ -ENOMEM, -ENOMEM },
		{ 0, 0 },
	};
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	enum lm_state state;
	struct file *file;
	int i;

	KUNIT_EXPECT_EQ(test, NVME_SC_INVALID_CDQ, 0x137);
	KUNIT_EXPECT_EQ(test, NVME_SC_CDQ_FULL, 0x13b);
	for (i = 0; i < ARRAY_SIZE(map); i++)
		KUNIT_EXPECT_EQ_MSG(test, nvme_lm_status_to_errno(map[i].status),
				    map[i].err, "status %#x", map[i].status);

	/*
	 * The VF's controller went away (its CNTLID is no longer valid): the
	 * Suspend's status leaves the function in ERROR; reset recovers.
	 */
	aq->scid[0] = 0x31;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ENODEV);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	aq->scid[0] = 0x21;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);

	/* a timeout while saving */
	aq->state = fake_state(test, 0, 0, 0);
	aq->state_len = fake_state_len(0, 0, 0);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	aq->fail_status = -EINTR;
	aq->fail_opcode = nvme_admin_migrate_recv;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP_COPY, NULL,
					   &file), -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	aq->fail_status = 0;
}

static void nvme_lm_test_lying_device(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_ctrl_state_hdr *hdr;
	struct nvme_ctrl_state_nvme *cs;
	enum lm_state state;
	struct file *file;

	/* a header claiming more than any state may be */
	aq->state = fake_state(test, 1, 1, 0);
	aq->state_len = fake_state_len(1, 1, 0);
	hdr = (void *)aq->state;
	put_unaligned_le64(NVME_LM_MAX_STATE, hdr->nvmecss);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* upper 64 bits of the 128-bit size set */
	put_unaligned_le64((sizeof(*cs) + 48) / 4, hdr->nvmecss);
	put_unaligned_le64(1, hdr->nvmecss + 8);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* queue counts that do not fit the NVMe state size */
	put_unaligned_le64(0, hdr->nvmecss + 8);
	cs = (void *)(aq->state + NVME_LM_HDR_LEN);
	cs->niosq = cpu_to_le16(100);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	cs->niosq = cpu_to_le16(1);

	/*
	 * NVMe state though the NVMe-defined format was not asked for (a
	 * controller listing none, CSVI 0): NVMECSS must be 0
	 */
	aq->nv = 0;
	aq->view_lies = true;
	fake_changed(aq);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	aq->nv = 1;
	aq->view_lies = false;
	fake_changed(aq);

	/* a version other than the one NVMe 2.1 defines, 0 */
	hdr->ver = cpu_to_le16(1);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	hdr->ver = 0;

	/* a state from a controller that says it is not suspended */
	aq->ncmds = 0;
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			0);
	aq->suspended[0] = false;
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* a state that is fine once more */
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/*
	 * A peer's state is checked as the device's is, from its first piece
	 * (the core loads in 1 MiB pieces), before any command is sent.
	 */
	load_prepare(test, fn, &f->compat);
	aq->ncmds = 0;
	cs->niocq = cpu_to_le16(7);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 100,
					   0, aq->state_len), -EPROTO);
	cs->niocq = cpu_to_le16(1);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 100, 0,
					   aq->state_len + 4), -EPROTO);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 40, 0,
					   aq->state_len), -EPROTO);
	put_unaligned_le64(1, hdr->vss);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 100, 0,
					   aq->state_len + 4), -EPROTO);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 0);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	put_unaligned_le64(0, hdr->vss);

	/*
	 * An allocated namespace list out of order (a namespace counted
	 * twice) or longer than a page: the save does not start.
	 */
	aq->nns = 2;
	aq->ns[1] = aq->ns[0];
	aq->ns[1].nsid = 2;
	aq->ns_unordered = true;
	fake_changed(aq);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	aq->ns_unordered = false;
	aq->ns_full = true;
	fake_changed(aq);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -E2BIG);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	aq->ns_full = false;
	fake_changed(aq);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
}

static void nvme_lm_test_vf_map(struct kunit *test)
{
	struct fake_aq *aq = fake_aq_new(test, 4096);
	struct nvme_sec_ctrl_entry e;
	int i;

	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, false, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0x22);
	KUNIT_EXPECT_EQ(test, aq->identifies, 1);
	/* cached */
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 0, false, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0x21);
	KUNIT_EXPECT_EQ(test, aq->identifies, 1);
	/* fresh: read again */
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 0, true, &e), 0);
	KUNIT_EXPECT_EQ(test, aq->identifies, 2);
	/* unknown VF: the list is read again, still unknown */
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 3, false, &e), -ENODEV);
	KUNIT_EXPECT_EQ(test, aq->identifies, 3);
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, -1, false, &e), -ENODEV);
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, NVME_LM_MAX_VFS, false, &e),
			-ENODEV);
	/* sriov_numvfs changed: the map is rebuilt */
	aq->scid[1] = 0x42;
	nvme_lm_vfs_changed(&aq->lm);
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, false, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0x42);
	/* a VF 1 of another primary controller is not ours */
	aq->foreign_scid = 0x99;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 0, true, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0x21);
	/* lies: one controller twice, or a VF given the PF's own CNTLID */
	aq->foreign_scid = 0x42;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, true, &e), -EPROTO);
	aq->foreign_scid = 0;
	aq->scid[1] = aq->scid[0];
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, true, &e), -EPROTO);
	aq->scid[1] = FAKE_PRIMARY;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, true, &e), -EPROTO);
	/* and a truthful list once more */
	aq->scid[1] = 0x42;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, true, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0x42);

	/* 200 VFs: two pages of the list; SCID 0 is a valid controller ID */
	aq->nvfs = FAKE_VFS;
	for (i = 0; i < FAKE_VFS; i++)
		aq->scid[i] = i < FAKE_PRIMARY ? i : i + 1;
	aq->pages = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 0, true, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 0);
	KUNIT_EXPECT_EQ(test, aq->pages, 2);
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 199, false, &e), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(e.scid), 200);
	KUNIT_EXPECT_EQ(test, aq->pages, 2);

	/* identify failing */
	aq->fail_status = NVME_SC_INVALID_FIELD;
	KUNIT_EXPECT_EQ(test, nvme_lm_vf(&aq->lm, 1, true, &e), -EOPNOTSUPP);
}

/* CSVI and CSUUIDI are positions in the controller's own CNS 20h list. */
static void nvme_lm_test_restore_formats(void *unused)
{
	nvme_lm_set_formats(fake_accepted, ARRAY_SIZE(fake_accepted));
}

#define U1	"01010000-0000-0000-0000-000000000000"
#define U2	"02020000-0000-0000-0000-000000000000"
#define UNULL	"00000000-0000-0000-0000-000000000000"

/*
 * Formats: the NVMe-defined one by the index of version 0, none (CSVI 0)
 * when it is not listed; the vendor one the administrator prefers among
 * those listed, and on a destination only one the administrator accepts.
 * A controller without an accepted vendor format has no migratable VF.
 */
static void nvme_lm_test_formats(struct kunit *test)
{
	static const u8 none[16];
	const uuid_t pref[] = { UUID_INIT(0x02020000, 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0),
				UUID_INIT(0x01010000, 0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0) };
	struct fake_aq *aq = fake_aq_new(test, 4096);
	struct nvme_lm_compat desc;
	struct nvme_lm_fmt fmt;
	char *buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	u16 cntlid;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							nvme_lm_test_restore_formats,
							NULL), 0);
	/* NVMe 2.1: the NVMe-defined format's version is 0 */
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csvi, 1);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 1);
	KUNIT_EXPECT_EQ(test, memcmp(fmt.uuid, fake_uuid, 16), 0);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 1);
	KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 10), 0x20U);

	/* version 0 third in the list: index 3, whatever else is listed */
	aq->nv = 3;
	aq->vers[0] = cpu_to_le16(7);
	aq->vers[1] = cpu_to_le16(1);
	aq->vers[2] = cpu_to_le16(0);
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csvi, 3);

	/* vendor formats: the one the administrator prefers */
	aq->nuuid = 2;
	memcpy(aq->uuids[0], u1, 16);
	memcpy(aq->uuids[1], u2, 16);
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 1);
	KUNIT_EXPECT_EQ(test, memcmp(fmt.uuid, u1, 16), 0);
	KUNIT_ASSERT_EQ(test, nvme_lm_set_formats(pref, 2), 0);
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 2);
	KUNIT_EXPECT_EQ(test, memcmp(fmt.uuid, u2, 16), 0);
	/* a destination: the one asked for, if accepted and listed */
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, u1, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 1);
	KUNIT_EXPECT_EQ(test, fmt.csvi, 3);
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, u3, &fmt), -EXDEV);
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, none, &fmt),
			-EXDEV);
	KUNIT_ASSERT_EQ(test, nvme_lm_set_formats(pref, 1), 0);
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, u1, &fmt), -EXDEV);
	/* listed but not accepted: not migratable */
	KUNIT_ASSERT_EQ(test, nvme_lm_set_formats(pref + 1, 1), 0);
	aq->nuuid = 1;
	memcpy(aq->uuids[0], u2, 16);
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 0);
	KUNIT_EXPECT_EQ(test, nvme_lm_describe_vf(&aq->lm, 0, NULL, &desc,
						  &fmt, &cntlid), -EOPNOTSUPP);
	KUNIT_ASSERT_EQ(test, nvme_lm_set_formats(pref, 2), 0);

	/* version value 1 alone: no NVMe-defined part (CSVI 0), still fine */
	aq->nv = 1;
	aq->vers[0] = cpu_to_le16(1);
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csvi, 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 1);
	KUNIT_ASSERT_EQ(test, nvme_lm_describe_vf(&aq->lm, 0, NULL, &desc,
						  &fmt, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc.nvme_ver), 0xffff);
	/* only vendor formats */
	aq->nv = 0;
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csvi, 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 1);
	/* only the NVMe-defined format: the guest's admin queue, features
	 * and AERs would be lost, so the VF is not migratable
	 */
	aq->nv = 1;
	aq->vers[0] = 0;
	aq->nuuid = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_describe_vf(&aq->lm, 0, NULL, &desc,
						  &fmt, &cntlid), -EOPNOTSUPP);
	/* counts that overflow the 4 KiB of Identify data */
	aq->nv = 255;
	aq->nuuid = 255;
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt),
			-EPROTO);
	/* the controller refuses CNS 20h */
	aq->nv = 1;
	aq->nuuid = 1;
	aq->fail_status = NVME_SC_INVALID_FIELD;
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt),
			-EOPNOTSUPP);
	aq->fail_status = 0;

	/* the parameter: UUIDs, comma separated, at most 8, none null */
	KUNIT_EXPECT_EQ(test, lm_formats_set(" " U2 " , " U1 "\n", NULL), 0);
	KUNIT_EXPECT_EQ(test, lm_formats_get(buf, NULL), 74);
	KUNIT_EXPECT_STREQ(test, buf, U2 "," U1 "\n");
	KUNIT_EXPECT_EQ(test, lm_formats_set("not-a-uuid", NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set(UNULL, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set("1-2", NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set(U1 "0", NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set(U1 " " U2, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set(U1 ",," U2, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_formats_set(U1 "," U1 "," U1 "," U1 "," U1 ","
					     U1 "," U1 "," U1 "," U1, NULL),
			-EINVAL);
	/* a refused value leaves the list as it was */
	KUNIT_EXPECT_EQ(test, lm_formats_get(buf, NULL), 74);
	KUNIT_EXPECT_EQ(test, lm_formats_set("", NULL), 0);
	KUNIT_EXPECT_EQ(test, lm_formats_get(buf, NULL), 1);
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&aq->lm, NULL, &fmt), 0);
	KUNIT_EXPECT_EQ(test, fmt.csuuidi, 0);
}

/*
 * A controller that lists only vendor formats: Get and Set name no
 * NVMe-defined part (CSVI 0), the state is the header and vendor state,
 * and it moves from one VF to another.
 */
static void nvme_lm_test_vendor_only(struct kunit *test)
{
	struct fake_aq *src = fake_registered(test, 4096);
	struct fake_aq *dst = fake_registered(test, 4096);
	u32 full = fake_state_len(1, 1, 256), len = NVME_LM_HDR_LEN + 256;
	struct lm_function *sfn, *dfn;
	u8 hdr[STREAM_HDR_LEN];
	struct nvme_lm_compat *desc = (void *)(hdr + STREAM_COMPAT_AT);
	u8 *view;
	u32 n, i;

	src->nv = 0;
	dst->nv = 0;
	sfn = nvme_lm_test_fn(test, src, 0);
	dfn = nvme_lm_test_fn(test, dst, 1);
	src->state = fake_state(test, 1, 1, 256);
	src->state_len = full;
	view = fake_view(src, 0, 1, &n);
	KUNIT_ASSERT_NOT_NULL(test, view);
	KUNIT_ASSERT_EQ(test, n, len);
	src->ncmds = 0;
	KUNIT_ASSERT_EQ(test, save_stream(test, sfn, view, len, hdr), 0);
	for (i = 0; i < src->ncmds; i++)
		if (src->cmds[i].common.opcode == nvme_admin_migrate_recv)
			KUNIT_EXPECT_EQ(test, dw(&src->cmds[i], 10) >> 16, 0U);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc->nvme_ver), 0xffff);

	dst->loaded_len = len;
	dst->loaded = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, dst->loaded);
	load_prepare(test, dfn, desc);
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(dfn, view, len, 0, len), 0);
	KUNIT_EXPECT_EQ(test, dw(&dst->cmds[0], 11), 0x01000022U);
	KUNIT_EXPECT_TRUE(test, dst->committed);
	KUNIT_EXPECT_EQ(test, memcmp(dst->loaded, view, len), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(dfn), 0);
	/* an NVMe part in a state of a format without one is refused */
	load_prepare(test, dfn, desc);
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(dfn, src->state, full, 0, full),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, dst->ncmds, 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(dfn), 0);
	kfree(view);
}

static void nvme_lm_test_restore_same_fw(void *unused)
{
	lm_same_firmware = false;
}

/*
 * The descriptor: a destination listing the same formats in another order
 * takes the state and sends it with its own indexes; other resources, a
 * missing vendor format or another format version are refused before any
 * command reaches the VF, other firmware only when the administrator asks.
 * The source's descriptor follows a firmware activation.
 */
/* compat_check at a destination whose configuration changed, as counted */
static int dst_check(struct fake_aq *dst, struct lm_function *dfn,
		     const struct nvme_lm_compat *desc, size_t len)
{
	fake_changed(dst);
	return nvme_lm_compat_check(dfn, (const u8 *)desc, len);
}

static void nvme_lm_test_compat(struct kunit *test)
{
	struct fake_aq *src = fake_registered(test, 4096);
	struct fake_aq *dst = fake_registered(test, 4096);
	struct lm_function *sfn, *dfn;
	u8 hdr[STREAM_HDR_LEN];
	struct nvme_lm_compat *desc = (void *)(hdr + STREAM_COMPAT_AT);
	struct nvme_lm_compat here;
	struct nvme_lm_fmt fmt;
	struct nvme_lm_fn *df;
	u16 cntlid;
	struct file *file;
	u32 len = fake_state_len(1, 1, 64);
	int i;

	src->nuuid = 2;
	memcpy(src->uuids[0], u1, 16);
	memcpy(src->uuids[1], u2, 16);
	dst->nv = 2;
	dst->vers[0] = cpu_to_le16(5);
	dst->vers[1] = cpu_to_le16(0);
	dst->nuuid = 2;
	memcpy(dst->uuids[0], u2, 16);
	memcpy(dst->uuids[1], u1, 16);
	sfn = nvme_lm_test_fn(test, src, 0);
	dfn = nvme_lm_test_fn(test, dst, 1);
	df = nvme_lm_fn(dfn);
	src->state = fake_state(test, 1, 1, 64);
	src->state_len = len;
	KUNIT_ASSERT_EQ(test, save_stream(test, sfn, src->state, len, hdr), 0);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(hdr + STREAM_COMPAT_LEN_AT),
			sizeof(*desc));
	KUNIT_EXPECT_EQ(test, desc->layout, NVME_LM_COMPAT_LAYOUT);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc->vid), 0x1b36);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc->nvme_ver), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc->nvq), 4);
	KUNIT_EXPECT_EQ(test, desc->mdts, 5);
	KUNIT_EXPECT_EQ(test, memcmp(desc->uuid, u1, 16), 0);
	KUNIT_EXPECT_EQ(test, memcmp(desc->fr, "1.0     ", 8), 0);
	/* NSZE, NSID, MS, DS, FLBAS: what the guest's driver has cached */
	KUNIT_EXPECT_EQ(test, le16_to_cpu(desc->nns), 1);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(desc->ns_crc),
			crc32c(~0, "\x00\x20\0\0\0\0\0\0\x01\0\0\0\0\0\x0c"
				   "\0\0\0\0\0\0\0\0\0", 24));

	/* the destination's own indexes: version 0 is 2nd, u1 2nd */
	dst->loaded_len = len;
	dst->loaded = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, dst->loaded);
	load_prepare(test, dfn, desc);
	KUNIT_EXPECT_EQ(test, df->load_fmt.csvi, 2);
	KUNIT_EXPECT_EQ(test, df->load_fmt.csuuidi, 2);
	dst->ncmds = 0;
	KUNIT_ASSERT_EQ(test, nvme_lm_load(dfn, src->state, len, 0, len), 0);
	KUNIT_EXPECT_EQ(test, dw(&dst->cmds[0], 11), 0x02020022U);
	KUNIT_EXPECT_EQ(test, memcmp(dst->loaded, src->state, len), 0);
	KUNIT_ASSERT_EQ(test, lm_function_reset(dfn), 0);

	/* refused: other queue resources, no such vendor format, a lie */
	dst->nvq[1] = 5;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->nvq[1] = 4;
	dst->nuuid = 1;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->nuuid = 2;
	KUNIT_EXPECT_EQ(test, nvme_lm_compat_check(dfn, (u8 *)desc,
						   sizeof(*desc) - 1), -EXDEV);
	desc->layout = 3;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	desc->layout = NVME_LM_COMPAT_LAYOUT;

	/* refused: a namespace the guest knows with another size or format */
	dst->ns[0].nsze++;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	KUNIT_ASSERT_EQ(test, nvme_lm_describe_vf(&dst->lm, 1, desc->uuid,
						  &here, &fmt, &cntlid), 0);
	KUNIT_EXPECT_STREQ(test, nvme_lm_compat_diff(&here, desc),
			   "attached namespaces");
	dst->ns[0].nsze--;
	dst->ns[0].flbas = 1;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->ns[0].flbas = 0;
	dst->ns[0].dps = 1;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->ns[0].dps = 0;
	/* ... or of a command set Identify CNS 11h does not describe */
	dst->ns[0].other_csi = true;
	KUNIT_ASSERT_EQ(test, nvme_lm_describe_vf(&dst->lm, 1, desc->uuid,
						  &here, &fmt, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(here.nns), 1);
	KUNIT_EXPECT_EQ(test, le32_to_cpu(here.ns_crc),
			crc32c(~0, "\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0"
				   "\0\0\0\0\0\0\0\0", 24));
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->ns[0].other_csi = false;
	/* ... or one more attached; one attached to another VF is no matter */
	dst->nns = 2;
	dst->ns[1] = dst->ns[0];
	dst->ns[1].nsid = 7;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->ns[1].only_vf = 0;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), 0);
	/* one deleted between the list and the question is not attached */
	dst->ns[1].only_vf = -1;
	dst->ns[1].gone = true;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), 0);
	dst->nns = 1;
	/* a controller without Namespace Management says nothing of them */
	dst->no_nms = true;
	KUNIT_ASSERT_EQ(test, nvme_lm_describe_vf(&dst->lm, 1, desc->uuid,
						  &here, &fmt, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, le16_to_cpu(here.nns), NVME_LM_NS_UNKNOWN);
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	dst->no_nms = false;
	/* a load without a checked descriptor sends nothing */
	KUNIT_ASSERT_EQ(test, lm_function_reset(dfn), 0);
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(dfn, src->state, len, 0, len),
			-EPROTO);
	KUNIT_EXPECT_EQ(test, dst->ncmds, 0);

	/*
	 * New firmware activated on the source: its next save says so, and
	 * the destination takes the state all the same (same format), unless
	 * the administrator asked for the same firmware.  Another model of
	 * the vendor listing the format is no matter either.
	 */
	KUNIT_ASSERT_EQ(test, lm_function_reset(sfn), 0);
	memcpy(src->fw, "2.0     ", 8);
	fake_changed(src);
	KUNIT_ASSERT_EQ(test, save_stream(test, sfn, NULL, 0, hdr), 0);
	KUNIT_EXPECT_EQ(test, memcmp(desc->fr, "2.0     ", 8), 0);
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							nvme_lm_test_restore_same_fw,
							NULL), 0);
	lm_same_firmware = true;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	KUNIT_ASSERT_EQ(test, nvme_lm_describe_vf(&dst->lm, 1, desc->uuid,
						  &here, &fmt, &cntlid), 0);
	KUNIT_EXPECT_STREQ(test, nvme_lm_compat_diff(&here, desc),
			   "firmware revisions");
	lm_same_firmware = false;
	desc->mn[0] ^= 1;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), 0);
	desc->mn[0] ^= 1;
	/* another version of the NVMe-defined format: refused, nothing sent */
	desc->nvme_ver = cpu_to_le16(1);
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, dst_check(dst, dfn, desc,
					sizeof(*desc)), -EXDEV);
	for (i = 0; i < dst->ncmds; i++)
		KUNIT_EXPECT_EQ(test, dst->cmds[i].common.opcode,
				nvme_admin_identify);
	desc->nvme_ver = 0;

	/* the controller renumbered VF 0: nothing is sent to another one */
	KUNIT_ASSERT_EQ(test, lm_function_reset(sfn), 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_STOP, NULL, &file), 0);
	src->scid[0] = 0x55;
	fake_changed(src);	/* the host counted a change: it reads again */
	src->suspended[0] = true;
	src->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(sfn, LM_STATE_STOP_COPY, NULL,
					   &file), -ENODEV);
	/* the descriptor's reads: CNS 20h, 15h, 01h, 10h, 12h, 11h */
	KUNIT_EXPECT_EQ(test, src->ncmds, 6);
	src->scid[0] = 0x21;
}

static int fake_count(struct fake_aq *aq, u8 opcode)
{
	int i, n = 0;

	for (i = 0; i < aq->ncmds; i++)
		n += aq->cmds[i].common.opcode == opcode;
	return n;
}

/*
 * Once claimed, a VF's descriptor costs no command until something the
 * host counts may have changed it: a configuration change, a PF reset,
 * new nvme.lm_formats.  The size a VMM asks for costs one Get a
 * suspension, and at most one a second while the VF runs.
 */
static void nvme_lm_test_few_commands(struct kunit *test)
{
	struct fake_aq *src = fake_registered(test, 4096);
	struct fake_aq *dst = fake_registered(test, 4096);
	struct lm_function *sfn, *dfn;
	struct nvme_lm_compat desc;
	u16 len = sizeof(desc);
	struct file *file;
	u64 size;
	int i;

	dst->nuuid = 2;
	memcpy(dst->uuids[1], u1, 16);
	sfn = nvme_lm_test_fn(test, src, 0);
	dfn = nvme_lm_test_fn(test, dst, 1);
	src->state = fake_state(test, 1, 1, 64);
	src->state_len = fake_state_len(1, 1, 64);

	src->ncmds = 0;
	KUNIT_ASSERT_EQ(test, nvme_lm_describe(sfn, (u8 *)&desc, &len), 0);
	KUNIT_EXPECT_EQ(test, len, sizeof(desc));
	KUNIT_EXPECT_EQ(test, src->ncmds, 0);
	KUNIT_EXPECT_EQ(test, memcmp(&desc, &nvme_lm_fn(sfn)->compat,
				     sizeof(desc)), 0);
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_compat_check(dfn, (u8 *)&desc,
						   sizeof(desc)), 0);
	KUNIT_EXPECT_EQ(test, dst->ncmds, 0);
	/* a format the destination lists, but not the one it prefers */
	memcpy(desc.uuid, u1, 16);
	KUNIT_EXPECT_EQ(test, nvme_lm_compat_check(dfn, (u8 *)&desc,
						   sizeof(desc)), 0);
	KUNIT_EXPECT_EQ(test, dst->ncmds, 1);	/* CNS 20h */
	KUNIT_EXPECT_EQ(test, nvme_lm_fn(dfn)->load_fmt.csuuidi, 2);
	/* one this host does not accept costs none */
	desc.uuid[0] = 0x77;
	dst->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_compat_check(dfn, (u8 *)&desc,
						   sizeof(desc)), -EXDEV);
	KUNIT_EXPECT_EQ(test, dst->ncmds, 0);
	memcpy(desc.uuid, fake_uuid, 16);

	/* each event the host counts costs one read of the descriptor */
	for (i = 0; i < 3; i++) {
		if (i == 0)
			fake_changed(src);
		else if (i == 1)
			atomic_inc(&src->pf_resets);
		else
			KUNIT_ASSERT_EQ(test,
					nvme_lm_set_formats(fake_accepted,
							    ARRAY_SIZE(fake_accepted)),
					0);
		src->ncmds = 0;
		len = sizeof(desc);
		KUNIT_EXPECT_EQ(test, nvme_lm_describe(sfn, (u8 *)&desc, &len),
				0);
		/* CNS 20h, 15h, 01h, 10h, 12h, 11h */
		KUNIT_EXPECT_EQ(test, src->ncmds, 6);
		KUNIT_EXPECT_EQ(test, nvme_lm_describe(sfn, (u8 *)&desc, &len),
				0);
		KUNIT_EXPECT_EQ(test, src->ncmds, 6);
	}
	/* ... and sees what changed */
	memcpy(src->fw, "3.0     ", 8);
	fake_changed(src);
	KUNIT_EXPECT_EQ(test, nvme_lm_describe(sfn, (u8 *)&desc, &len), 0);
	KUNIT_EXPECT_EQ(test, memcmp(desc.fr, "3.0     ", 8), 0);

	/* the size: one Get a suspension, whatever the VMM asks */
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_STOP, NULL, &file), 0);
	src->ncmds = 0;
	for (i = 0; i < 5; i++) {
		KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
		KUNIT_EXPECT_EQ(test, size, src->state_len);
	}
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 1);
	/* a new suspension may hold another state: it is read again */
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_RUNNING, NULL, &file),
			0);
	src->state = fake_state(test, 1, 1, 128);
	src->state_len = fake_state_len(1, 1, 128);
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_STOP, NULL, &file), 0);
	src->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	KUNIT_EXPECT_EQ(test, size, src->state_len);
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 1);
	/* a failed Get answers the bound and is not kept */
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_RUNNING, NULL, &file),
			0);
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_STOP, NULL, &file), 0);
	src->fail_opcode = nvme_admin_migrate_recv;
	src->fail_status = NVME_SC_INTERNAL;
	KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	KUNIT_EXPECT_EQ(test, size, NVME_LM_MAX_STATE);
	src->fail_status = 0;
	src->fail_opcode = 0;
	src->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	KUNIT_EXPECT_EQ(test, size, src->state_len);
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 1);
	/* running: a Get once NVME_LM_SIZE_INTERVAL passed, none before */
	KUNIT_ASSERT_EQ(test, lm_set_state(sfn, LM_STATE_RUNNING, NULL, &file),
			0);
	src->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 1);
	for (i = 0; i < 5; i++) {
		nvme_lm_fn(sfn)->size_read_at = jiffies;
		KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	}
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 1);
	nvme_lm_fn(sfn)->size_read_at = jiffies - NVME_LM_SIZE_INTERVAL - 1;
	KUNIT_EXPECT_EQ(test, nvme_lm_state_size(sfn, &size), 0);
	KUNIT_EXPECT_EQ(test, fake_count(src, nvme_admin_migrate_recv), 2);

	/*
	 * A reset (a VFIO open) reads the descriptor again, outside any
	 * downtime: what the PF is not told of shows there.
	 */
	src->ns[0].flbas = 1;
	src->ncmds = 0;
	KUNIT_ASSERT_EQ(test, lm_function_reset(sfn), 0);
	KUNIT_EXPECT_EQ(test, src->ncmds, 6);
	src->ncmds = 0;
	len = sizeof(desc);
	KUNIT_EXPECT_EQ(test, nvme_lm_describe(sfn, (u8 *)&desc, &len), 0);
	KUNIT_EXPECT_EQ(test, src->ncmds, 0);
	KUNIT_EXPECT_NE(test, le32_to_cpu(desc.ns_crc),
			le32_to_cpu(nvme_lm_fn(sfn)->compat.ns_crc));
}

/*
 * A state the core loads in its 1 MiB pieces: SEQIND runs first, middle
 * ... last across the calls, offsets follow each other, every command names
 * the VF's CNTLID and moves NUMD dwords, as a device checks.
 */
static void nvme_lm_test_load_pieces(struct kunit *test)
{
	const u32 max_xfer = 256 * 1024, piece = 1 << 20;
	const u32 vss = 3 * piece;
	struct fake_aq *aq = fake_registered_mdts(test, max_xfer,
						  max_xfer / PAGE_SIZE);
	struct lm_function *fn;
	u32 off, j, len;

	aq->nuuid = 1;
	memset(aq->uuids[0], 0, 16);
	aq->uuids[0][3] = 3;
	fn = nvme_lm_test_fn(test, aq, 1);
	aq->state = fake_state(test, 1, 1, vss);
	aq->state_len = fake_state_len(1, 1, vss);
	aq->loaded_len = aq->state_len;
	aq->loaded = kunit_kzalloc(test, aq->loaded_len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
	load_prepare(test, fn, &nvme_lm_fn(fn)->compat);
	aq->ncmds = 0;
	for (off = 0; off < aq->state_len; off += len) {
		len = min(aq->state_len - off, piece);
		KUNIT_ASSERT_EQ(test, nvme_lm_load(fn, aq->state + off, len,
						   off, aq->state_len), 0);
	}
	KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state, aq->state_len), 0);
	KUNIT_EXPECT_TRUE(test, aq->committed);
	/* the fake keeps the first FAKE_CMDS: first, then middles */
	KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 10) >> 16, 1U);
	for (j = 1; j < min_t(int, aq->ncmds, FAKE_CMDS) - 1; j++)
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 10) >> 16, 0U);
	KUNIT_EXPECT_EQ(test, aq->ncmds,
			(int)(DIV_ROUND_UP(aq->state_len - 3 * piece, max_xfer) +
			      3 * (piece / max_xfer)));

	/* a CNTLID the device does not know: its status, not a load */
	nvme_lm_fn(fn)->cntlid++;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, piece, 0,
					   aq->state_len), -ENODEV);
	nvme_lm_fn(fn)->cntlid--;
}

/*
 * A failed Set Controller State fails the load; the whole state is sent
 * again, from SEQIND "first", by the next resuming session.
 */
static void nvme_lm_test_set_retry(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn;
	struct nvme_lm_fn *f;
	u32 len = fake_state_len(200, 200, 0);

	aq->nvq[0] = 201;
	fn = nvme_lm_test_fn(test, aq, 0);
	f = nvme_lm_fn(fn);
	aq->state = fake_state(test, 200, 200, 0);
	aq->loaded_len = len;
	aq->loaded = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
	load_prepare(test, fn, &f->compat);
	aq->fail_set_at = 8192;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, len, 0, len),
			-EIO);
	KUNIT_EXPECT_FALSE(test, aq->committed);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	load_prepare(test, fn, &f->compat);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, len, 0, len), 0);
	KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 10) >> 16, 1U);
	KUNIT_EXPECT_TRUE(test, aq->committed);
	KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state, len), 0);
}

/*
 * An FLR of the VF ends its suspension: the reset that follows finds it
 * not suspended (13Ah) and the function is running, not in ERROR.  A reset
 * of the PF ends every VF's: the migration under way fails, and the reset
 * after it sends nothing.
 */
static void nvme_lm_test_resets(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	enum lm_state state;
	struct file *file;

	aq->state = fake_state(test, 1, 1, 0);
	aq->state_len = fake_state_len(1, 1, 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_TRUE(test, aq->suspended[0]);
	fake_reset(aq, 0);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);
	/* the Resume, answered 13Ah */
	KUNIT_EXPECT_EQ(test, fake_count(aq, nvme_admin_migrate_send), 1);

	/* without an FLR, the reset resumes the controller */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_FALSE(test, aq->suspended[0]);

	/* the PF is reset while the VF is stopped */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	fake_reset(aq, -1);
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EIO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, fake_count(aq, nvme_admin_migrate_send), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);

	/* ... or while it is stopped for a restart */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	fake_reset(aq, -1);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			-EIO);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	/* and migration works again */
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* a Suspend whose answer timed out suspended it all the same */
	aq->suspend_times_out = true;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ETIMEDOUT);
	aq->suspend_times_out = false;
	KUNIT_EXPECT_TRUE(test, aq->suspended[0]);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_FALSE(test, aq->suspended[0]);

	/* a state the controller refuses is bad data: -EINVAL */
	KUNIT_EXPECT_EQ(test, nvme_lm_stop(fn), 0);
	nvme_lm_fn(fn)->load_fmt.csvi = 2;	/* the fake lists one version */
	nvme_lm_fn(fn)->load_fmt.csuuidi = 1;
	nvme_lm_fn(fn)->load_nvq = 4;
	nvme_lm_fn(fn)->load_nvi = 1;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, aq->state_len, 0,
					   aq->state_len), -EINVAL);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
}

/* Each rule of nvme_lm_check_queues(), broken once in a valid state. */
enum fake_break {
	BREAK_NONE, BREAK_NIOSQ, BREAK_NIOCQ, BREAK_SQ_QID0, BREAK_SQ_QID_HIGH,
	BREAK_SQ_DUP, BREAK_CQ_DUP, BREAK_SQ_NO_CQ, BREAK_SQ_QSIZE0,
	BREAK_CQ_QSIZE_MQES, BREAK_SQ_HEAD, BREAK_CQ_TAIL, BREAK_CQ_VECTOR,
	BREAK_SQ_RSVD, BREAK_CQ_RSVD, BREAK_SQ_ATTR, BREAK_CQ_ATTR,
	BREAK_NVME_RSVD, BREAK_SQ_ORDER, BREAK_CQ_ORDER, BREAK_COUNT
};

/* Two SQs on two CQs; the VF has 3 I/O queues, 1 vector, MQES 127. */
static void fake_break_state(u8 *p, enum fake_break what)
{
	struct nvme_ctrl_state_nvme *cs = (void *)(p + NVME_LM_HDR_LEN);
	struct nvme_ctrl_state_sq *sq = (void *)(cs + 1);
	struct nvme_ctrl_state_cq *cq = (void *)(sq + 2);

	switch (what) {
	case BREAK_NIOSQ:	/* 4 SQs on a VF of 3 I/O queues */
		cs->niosq = cpu_to_le16(4);
		break;
	case BREAK_NIOCQ:
		cs->niocq = cpu_to_le16(4);
		break;
	case BREAK_SQ_QID0:
		sq[1].qid = 0;
		break;
	case BREAK_SQ_QID_HIGH:
		sq[1].qid = cpu_to_le16(4);
		break;
	case BREAK_SQ_DUP:
		sq[1].qid = sq[0].qid;
		break;
	case BREAK_CQ_DUP:
		cq[1].qid = cq[0].qid;
		sq[1].cqid = cq[0].qid;
		break;
	case BREAK_SQ_NO_CQ:	/* CQ 3 is a VF queue, not in the state */
		sq[1].cqid = cpu_to_le16(3);
		break;
	case BREAK_SQ_QSIZE0:
		sq[0].qsize = 0;
		sq[0].head = 0;
		sq[0].tail = 0;
		break;
	case BREAK_CQ_QSIZE_MQES:
		cq[1].qsize = cpu_to_le16(128);
		break;
	case BREAK_SQ_HEAD:
		sq[1].head = cpu_to_le16(64);
		break;
	case BREAK_CQ_TAIL:
		cq[0].tail = cpu_to_le16(64);
		break;
	case BREAK_CQ_VECTOR:
		cq[1].attr = cpu_to_le32(1 << 16 | 0x3);
		break;
	case BREAK_SQ_RSVD:
		sq[0].rsvd20[3] = 1;
		break;
	case BREAK_CQ_RSVD:
		cq[1].rsvd20[0] = 0x80;
		break;
	case BREAK_SQ_ATTR:
		sq[1].attr = cpu_to_le16(0x9);
		break;
	case BREAK_CQ_ATTR:
		cq[0].attr = cpu_to_le32(0x13);
		break;
	case BREAK_NVME_RSVD:
		cs->rsvd6 = cpu_to_le16(1);
		break;
	case BREAK_SQ_ORDER:	/* Figure 359: ascending QIDs */
		swap(sq[0], sq[1]);
		break;
	case BREAK_CQ_ORDER:
		swap(cq[0], cq[1]);
		break;
	default:
		break;
	}
}

/*
 * A stream is the user's, its descriptor too: the NVMe-defined state is
 * checked against the destination VF as the device describes it, and a
 * state that breaks any rule reaches the VF in no Set Controller State.
 * The destination's own descriptor and a valid stream crc do not help.
 */
static void nvme_lm_test_state_checks(struct kunit *test)
{
	u32 len = fake_state_len(2, 2, 0);
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	u8 *state;
	int i, what, sets;

	aq->lm.mqes = 127;
	aq->loaded_len = len;
	aq->loaded = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
	for (what = BREAK_NONE; what < BREAK_COUNT; what++) {
		state = fake_state(test, 2, 2, 0);
		fake_break_state(state, what);
		load_prepare(test, fn, &f->compat);
		aq->ncmds = 0;
		KUNIT_EXPECT_EQ_MSG(test, nvme_lm_load(fn, state, len, 0, len),
				    what == BREAK_NONE ? 0 : -EPROTO,
				    "rule %d", what);
		for (i = 0, sets = 0; i < aq->ncmds; i++)
			sets += aq->cmds[i].common.opcode ==
				nvme_admin_migrate_send;
		KUNIT_EXPECT_EQ_MSG(test, sets, what == BREAK_NONE ? 1 : 0,
				    "rule %d", what);
		KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	}

	/* the VF's resources are the device's, read at compat_check */
	aq->nvq[0] = 2;
	fake_changed(aq);	/* Virtualization Management, from user space */
	state = fake_state(test, 2, 2, 0);
	f->compat.nvq = cpu_to_le16(2);
	load_prepare(test, fn, &f->compat);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, state, len, 0, len), -EPROTO);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 0);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);

	/* a short first piece cannot hide the queues */
	KUNIT_EXPECT_EQ(test, nvme_lm_check_queues(&aq->lm, state,
						   NVME_LM_HDR_LEN + 8 + 24,
						   4, 1), -EPROTO);
	KUNIT_EXPECT_EQ(test, nvme_lm_check_queues(&aq->lm, state,
						   NVME_LM_HDR_LEN, 4, 1),
			-EPROTO);
}

static void nvme_lm_test_restore_bound(void *saved)
{
	lm_suspend_timeout_ms = (uintptr_t)saved;
}

/*
 * A Suspend that the VF's outstanding commands hold up is bounded by
 * lm_suspend_timeout_ms and aborted: the migration fails, the PF is not
 * reset, the VF runs on and migrates later.  0 bounds it by the admin
 * timeout, and still never resets the PF.
 */
static void nvme_lm_test_bounded_suspend(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	enum lm_state state;
	struct file *file;
	void *saved = (void *)(uintptr_t)lm_suspend_timeout_ms;
	int i;

	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							nvme_lm_test_restore_bound,
							saved), 0);
	aq->state = fake_state(test, 1, 1, 0);
	aq->state_len = fake_state_len(1, 1, 0);
	lm_suspend_timeout_ms = 1234;
	aq->suspend_hangs = true;
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
	KUNIT_EXPECT_FALSE(test, aq->suspended[0]);
	/* the aborted Suspend completed: its slot is free */
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 0);
	KUNIT_EXPECT_GT(test, aq->ncmds, 0);
	for (i = 0; i < aq->ncmds; i++)
		KUNIT_EXPECT_EQ_MSG(test, aq->timeouts[i],
				    aq->cmds[i].common.opcode ==
				    nvme_admin_migrate_send ?
				    min(msecs_to_jiffies(1234),
					NVME_ADMIN_TIMEOUT) : 0,
				    "command %d", i);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);

	/* the bound is no longer than the admin timeout */
	lm_suspend_timeout_ms = UINT_MAX;
	KUNIT_EXPECT_EQ(test, nvme_lm_suspend_timeout(),
			max(NVME_ADMIN_TIMEOUT, 1UL));

	/* 0: the admin timeout bounds it; the PF is not reset */
	lm_suspend_timeout_ms = 0;
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
	for (i = 0; i < aq->ncmds; i++)
		if (aq->cmds[i].common.opcode == nvme_admin_migrate_send)
			KUNIT_EXPECT_EQ(test, aq->timeouts[i],
					max(NVME_ADMIN_TIMEOUT, 1UL));
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);

	/* once the VF's commands complete, it migrates */
	lm_suspend_timeout_ms = 1234;
	aq->suspend_hangs = false;
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
}

/*
 * Abort is best effort: a controller may leave the Suspend be.  The PF is
 * still never reset.  The migration fails, the function is in ERROR and
 * the Suspend keeps its slot.  The reset that leaves ERROR (the VMM's
 * VFIO_DEVICE_RESET) is the VF's alone: its FLR ends the suspension, the
 * controller completes the Suspend and the slot comes back; the reset
 * handler brings the function back to RUNNING, and it migrates afterwards.
 */
static void nvme_lm_test_abort_ignored(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 1);
	struct lm_function *other = nvme_lm_test_fn(test, aq, 0);
	enum lm_state state;
	struct file *file;

	aq->state = fake_state(test, 1, 1, 0);
	aq->state_len = fake_state_len(1, 1, 0);
	aq->suspend_hangs = true;
	aq->abort_ignored = true;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 1);
	KUNIT_EXPECT_TRUE(test, aq->pending[1]);
	/* ERROR is left only by a reset: STOP is refused, nothing is sent */
	aq->ncmds = 0;
	KUNIT_EXPECT_LT(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 0);

	/* the VF's FLR, then its reset handler: a Resume, answered 13Ah */
	fake_reset(aq, 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 0);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, fake_count(aq, nvme_admin_migrate_send), 1);

	/* once the guest lets its commands complete, it migrates */
	aq->suspend_hangs = false;
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, aq->state,
					   aq->state_len), 0);
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 0);

	/*
	 * A device that ends none of them: once NVME_LM_MAX_SUSPENDS
	 * Suspends hold admin tags, no VF is sent another until one comes
	 * back, and a refused one takes no slot.
	 */
	atomic_set(&aq->outstanding, NVME_LM_MAX_SUSPENDS);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(other, LM_STATE_STOP, NULL, &file),
			-EAGAIN);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding),
			NVME_LM_MAX_SUSPENDS);
	KUNIT_EXPECT_EQ(test, lm_function_reset(other), 0);
	atomic_dec(&aq->outstanding);
	KUNIT_EXPECT_EQ(test, lm_set_state(other, LM_STATE_STOP, NULL, &file),
			0);
	KUNIT_EXPECT_TRUE(test, aq->suspended[0]);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding),
			NVME_LM_MAX_SUSPENDS - 1);
	KUNIT_EXPECT_EQ(test, lm_function_reset(other), 0);
	atomic_set(&aq->outstanding, 0);
}

/* Migration Send commands of one VF with a bound: how many, how bounded. */
static int nvme_lm_test_bounded_sends(struct fake_aq *aq, u8 select)
{
	int i, n = 0;

	for (i = 0; i < aq->ncmds; i++)
		if (aq->cmds[i].common.opcode == nvme_admin_migrate_send &&
		    (le32_to_cpu(aq->cmds[i].common.cdw10) & 0xff) == select &&
		    aq->timeouts[i] == nvme_lm_suspend_timeout())
			n++;
	return n;
}

/*
 * A device may hold a Resume behind a Suspend still pending: Resume is
 * bounded and slotted as Suspend is, from a stop and from a reset, and a
 * Resume that did not complete leaves the function in ERROR, to be sent
 * again by the next reset.
 */
static void nvme_lm_test_resume_bounded(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	enum lm_state state;
	struct file *file;

	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	KUNIT_ASSERT_TRUE(test, aq->suspended[0]);

	/* aborted: the VF stays suspended, the PF is not reset */
	aq->resume_hangs = true;
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_RUNNING, NULL, &file),
			-ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, nvme_lm_test_bounded_sends(aq,
							 NVME_MIGSEND_RESUME),
			1);
	KUNIT_EXPECT_TRUE(test, aq->suspended[0]);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);

	/* its Abort ignored: the reset fails, the Resume keeps its slot */
	aq->abort_ignored = true;
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), -ETIMEDOUT);
	KUNIT_EXPECT_EQ(test, nvme_lm_test_bounded_sends(aq,
							 NVME_MIGSEND_RESUME),
			1);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 1);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);

	/* no slot free: the reset sends no Resume and fails */
	atomic_set(&aq->outstanding, NVME_LM_MAX_SUSPENDS);
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), -EAGAIN);
	KUNIT_EXPECT_EQ(test, nvme_lm_test_bounded_sends(aq,
							 NVME_MIGSEND_RESUME),
			0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding),
			NVME_LM_MAX_SUSPENDS);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	atomic_set(&aq->outstanding, 1);

	/* the VF's FLR ends the Resume; the next reset resumes nothing */
	fake_reset(aq, 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->outstanding), 0);
	aq->resume_hangs = false;
	aq->abort_ignored = false;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, atomic_read(&aq->pf_resets), 0);
}

/*
 * A reset that cannot tell whether the VF is still its controller (no
 * memory, a failed Identify) leaves a suspended VF in ERROR, not RUNNING;
 * only a VF that is no longer this controller is not resumed.
 */
static void nvme_lm_test_reset_lookup(struct kunit *test)
{
	struct fake_aq *aq = fake_registered(test, 4096);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 0);
	static const int fails[] = { -ENOMEM, -ETIMEDOUT, NVME_SC_INTERNAL };
	enum lm_state state;
	struct file *file;
	int i;

	for (i = 0; i < ARRAY_SIZE(fails); i++) {
		KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL,
						   &file), 0);
		nvme_lm_vfs_changed(&aq->lm);
		aq->fail_status = fails[i];
		aq->fail_opcode = nvme_admin_identify;
		KUNIT_EXPECT_LT(test, lm_function_reset(fn), 0);
		KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
		KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
		KUNIT_EXPECT_TRUE(test, aq->suspended[0]);
		aq->fail_status = 0;
		KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
		KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
		KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);
		KUNIT_EXPECT_FALSE(test, aq->suspended[0]);
	}

	/* renumbered: CNTLID 0x21 is now another VF's; nothing to resume */
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	nvme_lm_vfs_changed(&aq->lm);
	aq->scid[0] = 0x30;
	aq->ncmds = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);
	for (i = 0; i < aq->ncmds; i++)
		KUNIT_EXPECT_NE(test, aq->cmds[i].common.opcode,
				nvme_admin_migrate_send);
}

static struct kunit_case nvme_lm_cases[] = {
	KUNIT_CASE(nvme_lm_test_load_pieces),
	KUNIT_CASE(nvme_lm_test_encoding),
	KUNIT_CASE(nvme_lm_test_chunking),
	KUNIT_CASE(nvme_lm_test_dma_buffers),
	KUNIT_CASE(nvme_lm_test_short_transfer),
	KUNIT_CASE(nvme_lm_test_status),
	KUNIT_CASE(nvme_lm_test_lying_device),
	KUNIT_CASE(nvme_lm_test_vf_map),
	KUNIT_CASE(nvme_lm_test_formats),
	KUNIT_CASE(nvme_lm_test_vendor_only),
	KUNIT_CASE(nvme_lm_test_compat),
	KUNIT_CASE(nvme_lm_test_few_commands),
	KUNIT_CASE(nvme_lm_test_set_retry),
	KUNIT_CASE(nvme_lm_test_resets),
	KUNIT_CASE(nvme_lm_test_bounded_suspend),
	KUNIT_CASE(nvme_lm_test_abort_ignored),
	KUNIT_CASE(nvme_lm_test_resume_bounded),
	KUNIT_CASE(nvme_lm_test_reset_lookup),
	KUNIT_CASE(nvme_lm_test_state_checks),
	{}
};

static struct kunit_suite nvme_lm_suite = {
	.name = "nvme_live_migration",
	.test_cases = nvme_lm_cases,
};

kunit_test_suite(nvme_lm_suite);
