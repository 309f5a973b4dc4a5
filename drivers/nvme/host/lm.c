// SPDX-License-Identifier: GPL-2.0
/*
 * nvme-pci as the controlling function of its SR-IOV VFs for live
 * migration: NVMe Host Managed Live Migration (TP4159) through the primary
 * controller's admin queue.
 *
 * Each VF is a secondary controller named by its controller ID (CNTLID),
 * which the PF learns from the Secondary Controller List (Identify CNS 15h).
 * Every command goes to the PF's admin queue and names the CNTLID resolved
 * here; nothing taken from migration data ever selects a controller.
 */

#include <linux/live_migration.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "nvme.h"
#include "lm.h"

/* The state as it travels: a 48-byte header, then NVMe and vendor state. */
#define NVME_LM_HDR_LEN		sizeof(struct nvme_ctrl_state_hdr)
#define NVME_LM_MAX_STATE	(16U << 20)
#define NVME_LM_CSVI		1	/* controller state version 1 */

struct nvme_lm_fn {
	struct nvme_lm *lm;
	u16 cntlid;
	bool suspended;
};

int nvme_lm_status_to_errno(int status)
{
	if (status < 0)
		return status == -EINTR ? -ETIMEDOUT : status;
	switch (status & NVME_SCT_SC_MASK) {
	case NVME_SC_SUCCESS:
		return 0;
	case NVME_SC_NOT_ENOUGH_RESOURCES:
		return -ENOSPC;
	case NVME_SC_CTRL_SUSPENDED:
		return -EBUSY;
	case NVME_SC_CTRL_NOT_SUSPENDED:
		return -EINVAL;
	case NVME_SC_INVALID_CDQ:
	case NVME_SC_CDQ_FULL:
		return -EIO;
	case NVME_SC_INVALID_OPCODE:
	case NVME_SC_INVALID_FIELD:
		return -EOPNOTSUPP;
	case NVME_SC_CTRL_ID_INVALID:
		return -ENODEV;
	}
	return -EIO;
}

static int nvme_lm_submit(struct nvme_lm *lm, struct nvme_command *cmd,
			  void *buf, u32 len, u32 *result)
{
	u32 res = 0;
	int status = lm->submit(lm, cmd, buf, len, &res);
	int ret = nvme_lm_status_to_errno(status);

	if (ret)
		dev_err_ratelimited(lm->dev, "%s for CNTLID %u failed: %#x (%d)\n",
				    nvme_lm_opcode_name(cmd->common.opcode),
				    le32_to_cpu(cmd->common.cdw11) & 0xffff,
				    status, ret);
	if (result)
		*result = res;
	return ret;
}

const char *nvme_lm_opcode_name(u8 opcode)
{
	switch (opcode) {
	case nvme_admin_migrate_send:
		return "Migration Send";
	case nvme_admin_migrate_recv:
		return "Migration Receive";
	case nvme_admin_identify:
		return "Identify";
	}
	return "admin command";
}

/* ---- command encodings (ref: NVMe Base 2.1, TP4159) ---- */

void nvme_lm_cmd_suspend(struct nvme_command *c, u16 cntlid)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_send;
	c->common.cdw10 = cpu_to_le32(NVME_MIGSEND_SUSPEND);
	c->common.cdw11 = cpu_to_le32(cntlid | NVME_MIG_STYPE_SUSPEND << 16);
}

void nvme_lm_cmd_resume(struct nvme_command *c, u16 cntlid)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_send;
	c->common.cdw10 = cpu_to_le32(NVME_MIGSEND_RESUME);
	c->common.cdw11 = cpu_to_le32(cntlid);
}

/* Get Controller State: @len bytes at @offset; NUMDL is 0's based. */
void nvme_lm_cmd_get_state(struct nvme_command *c, u16 cntlid, u64 offset,
			   u32 len)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_recv;
	c->common.cdw10 = cpu_to_le32(NVME_MIGRECV_GET_STATE |
				      NVME_LM_CSVI << 16);
	c->common.cdw11 = cpu_to_le32(cntlid);
	c->common.cdw12 = cpu_to_le32(lower_32_bits(offset));
	c->common.cdw13 = cpu_to_le32(upper_32_bits(offset));
	c->common.cdw15 = cpu_to_le32(len / 4 - 1);
}

/* Set Controller State; NUMD is not 0's based (libnvme, libvfn). */
void nvme_lm_cmd_set_state(struct nvme_command *c, u16 cntlid, u64 offset,
			   u32 len, u8 seqind)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_send;
	c->common.cdw10 = cpu_to_le32(NVME_MIGSEND_SET_STATE |
				      (u32)(seqind & 3) << 16);
	c->common.cdw11 = cpu_to_le32(cntlid | NVME_LM_CSVI << 16);
	c->common.cdw12 = cpu_to_le32(lower_32_bits(offset));
	c->common.cdw13 = cpu_to_le32(upper_32_bits(offset));
	c->common.cdw15 = cpu_to_le32(len / 4);
}

void nvme_lm_cmd_sec_list(struct nvme_command *c, u16 first_cntlid)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = NVME_ID_CNS_SCNDRY_CTRL_LIST;
	c->identify.ctrlid = cpu_to_le16(first_cntlid);
}

void nvme_lm_cmd_state_formats(struct nvme_command *c)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = NVME_ID_CNS_CTRL_STATE_FMT;
}

/* ---- compatibility ---- */

/*
 * Reads the Supported Controller State Formats (CNS 20h) into the
 * compatibility descriptor.  A controller that cannot produce the version
 * this driver parses is not offered for migration.
 */
int nvme_lm_read_formats(struct nvme_lm *lm)
{
	const struct nvme_ctrl_state_fmts *fmts;
	struct nvme_command c;
	unsigned int i, kept = 0;
	bool ours = false;
	u8 *buf;
	int ret;

	buf = kzalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	nvme_lm_cmd_state_formats(&c);
	ret = nvme_lm_submit(lm, &c, buf, NVME_IDENTIFY_DATA_SIZE, NULL);
	if (ret)
		goto out;
	fmts = (const void *)buf;
	if (sizeof(*fmts) + fmts->nv * sizeof(__le16) + fmts->nuuid * 16 >
	    NVME_IDENTIFY_DATA_SIZE) {
		dev_err_ratelimited(lm->dev,
				    "controller state formats: %u versions and %u UUIDs overflow the data\n",
				    fmts->nv, fmts->nuuid);
		ret = -EPROTO;
		goto out;
	}
	for (i = 0; i < fmts->nv; i++)
		ours |= get_unaligned_le16(&fmts->vers[i]) == NVME_LM_CSVI;
	/* ours first, so a long list never crowds it out of the descriptor */
	put_unaligned_le16(NVME_LM_CSVI, lm->compat + NVME_LM_COMPAT_FIXED);
	kept = 1;
	for (i = 0; i < fmts->nv && kept < NVME_LM_MAX_FMTS; i++) {
		u16 ver = get_unaligned_le16(&fmts->vers[i]);

		if (ver != NVME_LM_CSVI)
			put_unaligned_le16(ver, lm->compat +
					   NVME_LM_COMPAT_FIXED + 2 * kept++);
	}
	if (!ours) {
		dev_info(lm->dev,
			 "controller state version %u not supported\n",
			 NVME_LM_CSVI);
		ret = -EOPNOTSUPP;
		goto out;
	}
	lm->compat[NVME_LM_COMPAT_FIXED - 1] = kept;
	lm->compat_len = NVME_LM_COMPAT_FIXED + 2 * kept;
out:
	kfree(buf);
	return ret;
}

/*
 * A destination takes a state from the same vendor, model and firmware (the
 * vendor specific part of the state has no version of its own) saved in a
 * controller state version it supports.
 */
int nvme_lm_compatible(struct nvme_lm *lm, const u8 *remote, size_t len)
{
	const u8 *ver = lm->compat + NVME_LM_COMPAT_FIXED;
	u16 csvi;
	int i;

	if (len < NVME_LM_COMPAT_FIXED ||
	    len != NVME_LM_COMPAT_FIXED + 2 * remote[NVME_LM_COMPAT_FIXED - 1])
		return -EXDEV;
	if (memcmp(remote, lm->compat, 2) ||
	    memcmp(remote + 4, lm->compat + 4, NVME_LM_COMPAT_FIXED - 5))
		return -EXDEV;
	csvi = get_unaligned_le16(remote + 2);
	for (i = 0; i < lm->compat[NVME_LM_COMPAT_FIXED - 1]; i++)
		if (get_unaligned_le16(ver + 2 * i) == csvi)
			return 0;
	return -EXDEV;
}

/* ---- the VF -> CNTLID map ---- */

/*
 * A list that names one secondary controller twice, gives two of our VFs
 * one number, or gives a VF our own number would let a command for one
 * function reach another: refuse it whole.
 */
static int nvme_lm_check_sec_list(struct nvme_lm *lm,
				  const struct nvme_sec_ctrl_list *list,
				  unsigned int n)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		const struct nvme_sec_ctrl_entry *a = &list->entries[i];
		bool ours = le16_to_cpu(a->pcid) == lm->cntlid && a->vfn;

		if (ours && a->scid == cpu_to_le16(lm->cntlid))
			goto bad;
		for (j = i + 1; j < n; j++) {
			const struct nvme_sec_ctrl_entry *b = &list->entries[j];

			if (a->scid == b->scid ||
			    (ours && a->pcid == b->pcid && a->vfn == b->vfn))
				goto bad;
		}
	}
	return 0;
bad:
	dev_err_ratelimited(lm->dev,
			    "secondary controller list names a controller or VF twice\n");
	return -EPROTO;
}

/* lm->map_lock held.  Rebuilds the map from the Secondary Controller List. */
static int nvme_lm_refresh_map(struct nvme_lm *lm)
{
	struct nvme_sec_ctrl_list *list;
	struct nvme_command c;
	unsigned int i, n;
	int ret;

	list = kzalloc(sizeof(*list), GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	nvme_lm_cmd_sec_list(&c, 0);
	ret = nvme_lm_submit(lm, &c, list, sizeof(*list), NULL);
	if (ret)
		goto out;
	n = min_t(unsigned int, list->num, ARRAY_SIZE(list->entries));
	ret = nvme_lm_check_sec_list(lm, list, n);
	if (ret)
		goto out;
	memset(lm->vf_cntlid, 0, sizeof(lm->vf_cntlid));
	for (i = 0; i < n; i++) {
		const struct nvme_sec_ctrl_entry *e = &list->entries[i];
		u16 vfn = le16_to_cpu(e->vfn);

		/* VFN is 1-based; 0 names no VF.  Others' VFs are not ours. */
		if (vfn && vfn <= NVME_LM_MAX_VFS &&
		    le16_to_cpu(e->pcid) == lm->cntlid)
			lm->vf_cntlid[vfn - 1] = le16_to_cpu(e->scid);
	}
	lm->map_valid = true;
out:
	kfree(list);
	return ret;
}

int nvme_lm_cntlid(struct nvme_lm *lm, int vf, u16 *cntlid)
{
	int ret = 0;

	if (vf < 0 || vf >= NVME_LM_MAX_VFS)
		return -ENODEV;
	mutex_lock(&lm->map_lock);
	if (!lm->map_valid || !lm->vf_cntlid[vf])
		ret = nvme_lm_refresh_map(lm);
	if (!ret && !lm->vf_cntlid[vf])
		ret = -ENODEV;
	if (!ret)
		*cntlid = lm->vf_cntlid[vf];
	mutex_unlock(&lm->map_lock);
	return ret;
}

void nvme_lm_vfs_changed(struct nvme_lm *lm)
{
	if (!lm)
		return;
	mutex_lock(&lm->map_lock);
	lm->map_valid = false;
	mutex_unlock(&lm->map_lock);
}

/* ---- primitives ---- */

static struct nvme_lm_fn *nvme_lm_fn(struct lm_function *fn)
{
	return lm_function_drvdata(fn);
}

static int nvme_lm_stop(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_command c;
	int ret;

	nvme_lm_cmd_suspend(&c, f->cntlid);
	ret = nvme_lm_submit(f->lm, &c, NULL, 0, NULL);
	if (!ret)
		f->suspended = true;
	return ret;
}

static int nvme_lm_restart(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_command c;
	int ret;

	nvme_lm_cmd_resume(&c, f->cntlid);
	ret = nvme_lm_submit(f->lm, &c, NULL, 0, NULL);
	if (!ret)
		f->suspended = false;
	return ret;
}

/*
 * Reads @len bytes of state at @offset in pieces the controller takes.  With
 * @suspended, every piece must come from a suspended controller (CSUP): a
 * state read while it runs could be torn.
 */
static int nvme_lm_get_state(struct nvme_lm_fn *f, void *buf, u64 offset,
			     u32 len, bool suspended)
{
	struct nvme_lm *lm = f->lm;
	struct nvme_command c;
	u32 done = 0, result;
	int ret;

	while (done < len) {
		u32 n = min(len - done, lm->max_xfer);

		nvme_lm_cmd_get_state(&c, f->cntlid, offset + done, n);
		ret = nvme_lm_submit(lm, &c, buf + done, n, &result);
		if (ret)
			return ret;
		if (suspended && !(result & NVME_MIGRECV_CSUP)) {
			dev_err_ratelimited(lm->dev,
					    "CNTLID %u: controller state read while not suspended\n",
					    f->cntlid);
			return -EPROTO;
		}
		done += n;
	}
	return 0;
}

/* The header's sizes are 128-bit dword counts: anything above 2^32 lies. */
static int nvme_lm_hdr_len(struct nvme_lm *lm,
			   const struct nvme_ctrl_state_hdr *hdr, u32 *total)
{
	u64 css = get_unaligned_le64(hdr->nvmecss);
	u64 vss = get_unaligned_le64(hdr->vss);

	if (get_unaligned_le64(hdr->nvmecss + 8) ||
	    get_unaligned_le64(hdr->vss + 8) || css > NVME_LM_MAX_STATE / 4 ||
	    vss > NVME_LM_MAX_STATE / 4 ||
	    NVME_LM_HDR_LEN + (css + vss) * 4 > NVME_LM_MAX_STATE ||
	    le16_to_cpu(hdr->ver) != NVME_LM_CSVI) {
		dev_err_ratelimited(lm->dev,
				    "controller state header out of bounds\n");
		return -EPROTO;
	}
	*total = NVME_LM_HDR_LEN + (css + vss) * 4;
	return 0;
}

/*
 * Checks a state of @total bytes from its first @len: the header and the
 * NVMe state's queue counts, which lead it.  A state that came from a peer
 * is checked as one read from the device.
 */
int nvme_lm_check_state(struct nvme_lm *lm, const u8 *state, u32 len,
			u64 total)
{
	const struct nvme_ctrl_state_hdr *hdr = (const void *)state;
	const struct nvme_ctrl_state_nvme *cs;
	u64 css, need;
	u32 hdr_total;

	if (len < NVME_LM_HDR_LEN + sizeof(*cs) ||
	    nvme_lm_hdr_len(lm, hdr, &hdr_total) || hdr_total != total)
		return -EPROTO;
	css = get_unaligned_le64(hdr->nvmecss) * 4;
	cs = (const void *)(state + NVME_LM_HDR_LEN);
	need = sizeof(*cs) +
	       (u64)le16_to_cpu(cs->niosq) * sizeof(struct nvme_ctrl_state_sq) +
	       (u64)le16_to_cpu(cs->niocq) * sizeof(struct nvme_ctrl_state_cq);
	if (css < sizeof(*cs) || need > css) {
		dev_err_ratelimited(lm->dev,
				    "controller state: %u SQs and %u CQs do not fit %llu bytes\n",
				    le16_to_cpu(cs->niosq),
				    le16_to_cpu(cs->niocq), css);
		return -EPROTO;
	}
	return 0;
}

static int nvme_lm_save_begin(struct lm_function *fn,
			      enum lm_save_phase phase, struct lm_segment *seg)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_ctrl_state_hdr hdr;
	struct lm_buffer *state;
	u32 total;
	int ret;

	if (phase != LM_SAVE_FINAL)
		return 0;
	ret = nvme_lm_get_state(f, &hdr, 0, sizeof(hdr), true);
	if (ret)
		return ret;
	ret = nvme_lm_hdr_len(f->lm, &hdr, &total);
	if (ret)
		return ret;
	state = lm_buffer_alloc(total, GFP_KERNEL);
	if (!state)
		return -ENOMEM;
	ret = nvme_lm_get_state(f, state->data, 0, total, true);
	if (!ret)
		ret = nvme_lm_check_state(f->lm, state->data, total, total);
	if (ret) {
		lm_buffer_put(state);
		return ret;
	}
	/* the core copies out of the buffer the controller wrote, and frees it */
	seg->buf = state;
	seg->len = total;
	return 0;
}

static int nvme_lm_load(struct lm_function *fn, const void *buf, size_t len,
			u64 offset, u64 total)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_lm *lm = f->lm;
	struct nvme_command c;
	size_t done = 0;
	int ret;

	/* the header and NVMe state lead: check them before sending anything */
	if (!offset && (total > U32_MAX || (total & 3) ||
			nvme_lm_check_state(lm, buf, len, total)))
		return -EPROTO;
	while (done < len) {
		u32 n = min_t(size_t, len - done, lm->max_xfer);
		u64 off = offset + done;
		u8 seq;

		if (!off && off + n == total)
			seq = NVME_MIG_SEQ_ENTIRE;
		else if (!off)
			seq = NVME_MIG_SEQ_FIRST;
		else if (off + n == total)
			seq = NVME_MIG_SEQ_LAST;
		else
			seq = NVME_MIG_SEQ_MIDDLE;
		nvme_lm_cmd_set_state(&c, f->cntlid, off, n, seq);
		ret = nvme_lm_submit(lm, &c, (void *)buf + done, n, NULL);
		if (ret)
			return ret;
		done += n;
	}
	return 0;
}

static int nvme_lm_state_size(struct lm_function *fn, u64 *len)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_ctrl_state_hdr hdr;
	u32 total;

	/* a running controller may refuse: then the bound is the estimate */
	if (nvme_lm_get_state(f, &hdr, 0, sizeof(hdr), false) ||
	    nvme_lm_hdr_len(f->lm, &hdr, &total))
		total = NVME_LM_MAX_STATE;
	*len = total;
	return 0;
}

static int nvme_lm_reset(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);

	/* a function level reset does not resume a suspended controller */
	if (f->suspended)
		return nvme_lm_restart(fn);
	return 0;
}

static int nvme_lm_claim(struct lm_controller *ctrl, struct device *dev,
			 struct lm_function_info *info)
{
	struct nvme_lm *lm = container_of(ctrl, struct nvme_lm, lm_ctrl);
	struct pci_dev *vf;
	struct nvme_lm_fn *f;
	u16 cntlid;
	int ret;

	/* the core asks only about our VFs; a wrong guess must not crash */
	if (!dev_is_pci(dev) || !to_pci_dev(dev)->is_virtfn ||
	    &pci_physfn(to_pci_dev(dev))->dev != ctrl->dev)
		return -ENODEV;
	vf = to_pci_dev(dev);
	ret = nvme_lm_cntlid(lm, pci_iov_vf_id(vf), &cntlid);
	if (ret)
		return ret;
	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->lm = lm;
	f->cntlid = cntlid;
	info->drvdata = f;
	info->caps = LM_CAP_STOP_COPY;
	info->max_state_size = NVME_LM_MAX_STATE;
	info->compat = lm->compat;
	info->compat_len = lm->compat_len;
	return 0;
}

static int nvme_lm_compat_check(struct lm_function *fn, const u8 *remote,
				size_t len)
{
	return nvme_lm_compatible(nvme_lm_fn(fn)->lm, remote, len);
}

static void nvme_lm_release(struct lm_controller *ctrl, struct device *dev,
			    void *drvdata)
{
	kfree(drvdata);
}

static const struct lm_controller_ops nvme_lm_ctrl_ops = {
	.claim = nvme_lm_claim,
	.release = nvme_lm_release,
};

static const struct lm_migration_ops nvme_lm_ops = {
	.stop = nvme_lm_stop,
	.restart = nvme_lm_restart,
	.save_begin = nvme_lm_save_begin,
	.load = nvme_lm_load,
	.state_size = nvme_lm_state_size,
	.reset = nvme_lm_reset,
	.compat_check = nvme_lm_compat_check,
};

/**
 * nvme_lm_init() - set up a controlling function, without registering it
 * @lm: zeroed by the caller
 * @dev: the PF's device
 * @submit: sends an admin command to the PF's admin queue
 * @max_xfer: largest data transfer of one command, in bytes (MDTS)
 * @cntlid: the primary controller's CNTLID, which its VFs' entries in the
 *	Secondary Controller List must name
 * @vid: PCI vendor ID, part of the compatibility descriptor
 * @model: model number, 40 bytes, likewise
 * @fw: firmware revision, 8 bytes, likewise
 */
void nvme_lm_init(struct nvme_lm *lm, struct device *dev,
		  nvme_lm_submit_fn submit, u32 max_xfer, u16 cntlid, u16 vid,
		  const char *model, const char *fw)
{
	lm->dev = dev;
	lm->submit = submit;
	lm->cntlid = cntlid;
	lm->max_xfer = max(round_down(max_xfer, 4), 4096U);
	mutex_init(&lm->map_lock);
	/* a destination must be the same controller model and firmware */
	put_unaligned_le16(vid, lm->compat);
	put_unaligned_le16(NVME_LM_CSVI, lm->compat + 2);
	memcpy(lm->compat + 4, model, 40);
	memcpy(lm->compat + 44, fw, 8);
	/* until nvme_lm_read_formats() lists them: none */
	lm->compat_len = NVME_LM_COMPAT_FIXED;
	lm->lm_ctrl.dev = dev;
	lm->lm_ctrl.name = "nvme";
	lm->lm_ctrl.ops = &nvme_lm_ctrl_ops;
	lm->lm_ctrl.mig_ops = &nvme_lm_ops;
}

static int nvme_lm_submit_admin(struct nvme_lm *lm, struct nvme_command *cmd,
				void *buf, u32 len, u32 *result)
{
	union nvme_result res = {};
	int ret;

	ret = __nvme_submit_sync_cmd(lm->ctrl->admin_q, cmd, &res, buf, len,
				     NVME_QID_ANY, 0);
	if (ret >= 0)
		*result = le32_to_cpu(res.u32);
	return ret;
}

/**
 * nvme_lm_register() - offer live migration of a PF's VFs
 * @ctrl: the PF's controller, live
 * @pdev: the PF
 *
 * Does nothing for a controller without Host Managed Live Migration.
 *
 * Return: the registration, to be passed to nvme_lm_unregister(), or NULL.
 */
struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl, struct pci_dev *pdev)
{
	struct nvme_lm *lm;
	int ret;

	if (!(ctrl->oacs & NVME_CTRL_OACS_HMLM) || !pdev->is_physfn)
		return NULL;
	lm = kzalloc(sizeof(*lm), GFP_KERNEL);
	if (!lm)
		return NULL;
	lm->ctrl = ctrl;
	nvme_lm_init(lm, &pdev->dev, nvme_lm_submit_admin,
		     ctrl->max_hw_sectors << SECTOR_SHIFT, ctrl->cntlid,
		     ctrl->subsys->vendor_id, ctrl->subsys->model,
		     ctrl->subsys->firmware_rev);
	ret = nvme_lm_read_formats(lm);
	if (!ret)
		ret = lm_controller_register(&lm->lm_ctrl);
	if (ret) {
		dev_warn(&pdev->dev, "live migration not offered: %d\n", ret);
		mutex_destroy(&lm->map_lock);
		kfree(lm);
		return NULL;
	}
	dev_info(&pdev->dev, "controlling live migration of its VFs\n");
	return lm;
}

/**
 * nvme_lm_unregister() - withdraw live migration, before the admin queue goes
 * @lm: from nvme_lm_register(), or NULL
 */
void nvme_lm_unregister(struct nvme_lm *lm)
{
	if (!lm)
		return;
	lm_controller_unregister(&lm->lm_ctrl);
	mutex_destroy(&lm->map_lock);
	kfree(lm);
}

#if IS_ENABLED(CONFIG_NVME_LIVE_MIGRATION_KUNIT_TEST)
#include "lm_test.c"
#endif
