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

#include <linux/blkdev.h>
#include <linux/crc32c.h>
#include <linux/live_migration.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>

#include "nvme.h"
#include "lm.h"

/* The state as it travels: a 48-byte header, then NVMe and vendor state. */
#define NVME_LM_HDR_LEN		sizeof(struct nvme_ctrl_state_hdr)
#define NVME_LM_MAX_STATE	(16U << 20)
/*
 * The only NVMe-defined controller state format version there is: NVMe
 * 2.1 says its VER "shall be cleared to 0h".  The controller lists it in
 * CNS 20h; CSVI names its position there, 0 none (no NVMe-defined part).
 */
#define NVME_LM_STATE_VER	0
/* the descriptor's nvme_ver of a state without the NVMe-defined part */
#define NVME_LM_NO_NVME_STATE	0xffff

/*
 * The NVMe-defined state holds only the I/O queues: a VF is migrated only
 * in a vendor specific format, which holds the whole controller, and only
 * in one the administrator named, by UUID, in order of preference.
 */
#define NVME_LM_MAX_FORMATS	8
static DEFINE_MUTEX(lm_formats_lock);	/* lm_formats, lm_nformats */
static uuid_t lm_formats[NVME_LM_MAX_FORMATS];
static unsigned int lm_nformats;
/* changes of the list, after which each VF's descriptor is read again */
static atomic_t lm_formats_changes;

/* Replaces the formats accepted; for the parameter and KUnit. */
int nvme_lm_set_formats(const uuid_t *list, unsigned int n)
{
	unsigned int i;

	if (n > NVME_LM_MAX_FORMATS)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (uuid_is_null(&list[i]))
			return -EINVAL;
	mutex_lock(&lm_formats_lock);
	memcpy(lm_formats, list, n * sizeof(*list));
	lm_nformats = n;
	atomic_inc(&lm_formats_changes);
	mutex_unlock(&lm_formats_lock);
	return 0;
}

/*
 * Parsed in place: with nvme built in, a value on the kernel command line
 * is set before the slab allocator is up.
 */
static int lm_formats_set(const char *val, const struct kernel_param *kp)
{
	uuid_t list[NVME_LM_MAX_FORMATS];
	const char *p = skip_spaces(val);
	unsigned int n = 0;

	while (*p) {
		if (n == NVME_LM_MAX_FORMATS ||
		    strnlen(p, UUID_STRING_LEN) < UUID_STRING_LEN ||
		    uuid_parse(p, &list[n]))
			return -EINVAL;
		n++;
		p = skip_spaces(p + UUID_STRING_LEN);
		if (*p == ',')
			p = skip_spaces(p + 1);
		else if (*p)
			return -EINVAL;
	}
	return nvme_lm_set_formats(list, n);
}

static int lm_formats_get(char *buf, const struct kernel_param *kp)
{
	unsigned int i;
	int len = 0;

	/* a parameter's buffer is a page */
	mutex_lock(&lm_formats_lock);
	for (i = 0; i < lm_nformats; i++)
		len += scnprintf(buf + len, PAGE_SIZE - len, "%s%pUb",
				 i ? "," : "", &lm_formats[i]);
	mutex_unlock(&lm_formats_lock);
	return len + scnprintf(buf + len, PAGE_SIZE - len, "\n");
}

static const struct kernel_param_ops lm_formats_ops = {
	.set = lm_formats_set,
	.get = lm_formats_get,
};
module_param_cb(lm_formats, &lm_formats_ops, NULL, 0644);
MODULE_PARM_DESC(lm_formats,
		 "vendor specific controller state formats (UUIDs, comma separated, preferred first) VFs are saved in and accepted in; empty (the default): no VF is migratable");

/* @uuid's place in the administrator's list, or -1. */
static int nvme_lm_format_rank(const u8 *uuid)
{
	int i, rank = -1;

	mutex_lock(&lm_formats_lock);
	for (i = 0; i < lm_nformats && rank < 0; i++)
		if (!memcmp(&lm_formats[i], uuid, sizeof(uuid_t)))
			rank = i;
	mutex_unlock(&lm_formats_lock);
	return rank;
}

/*
 * A Suspend completes once the VF's fetched commands have, which the guest
 * decides: it is sent as an abortable command, which never resets the PF.
 * After this long it is aborted and the migration, not the PF, fails.  The
 * block layer's timer rounds the bound up to about a second.
 */
static unsigned int lm_suspend_timeout_ms = 10000;
module_param(lm_suspend_timeout_ms, uint, 0644);
MODULE_PARM_DESC(lm_suspend_timeout_ms,
		 "ms after which a VF's Suspend is aborted and its migration fails, at most nvme_core.admin_timeout; 0: the admin timeout");

/*
 * A state is judged by its format, the VF's resources and namespaces: a
 * fleet's firmware rollout must not stop migration.  An administrator who
 * trusts only the same build says so here.
 */
static bool lm_same_firmware;
module_param(lm_same_firmware, bool, 0644);
MODULE_PARM_DESC(lm_same_firmware,
		 "a VF takes a state only from the same vendor, model and firmware revision (default: any, if the state format matches)");

/**
 * struct nvme_lm_fn - a VF this driver migrates
 * @lm: its PF
 * @dev: the VF's device
 * @vf: its VF id
 * @cntlid: its controller ID, as of the claim
 * @suspended: a Suspend succeeded and no Resume or reset followed
 * @stop_failed: a Suspend failed: the controller may be suspended anyway
 * @resets: the PF's reset count when it was suspended
 * @save_fmt: the format of the save under way, chosen by describe
 * @load_fmt: the format of the state being loaded, chosen by compat_check
 * @load_nvq: the VF's queue resources as compat_check read them
 * @load_nvi: its interrupt resources, likewise
 * @compat: the descriptor as of the claim (sysfs shows it)
 * @desc: the descriptor as last read, which describe and compat_check use
 * @desc_fmt: the format this host prefers, as read with @desc
 * @desc_valid: @desc was read and holds while the counts below hold
 * @desc_changes: the controller's configuration changes before the read
 * @desc_resets: the PF's resets, likewise
 * @desc_formats: changes of nvme.lm_formats, likewise
 * @size: the state size last answered, 0 for none
 * @size_suspended: @size was read in the current suspension
 * @size_read_at: when @size was read from a running controller (jiffies)
 *
 * Once claimed, it is used only by the ops, which the core calls one at a
 * time, under the function's state lock.
 */
struct nvme_lm_fn {
	struct nvme_lm *lm;
	struct device *dev;
	int vf;
	u16 cntlid;
	bool suspended;
	bool stop_failed;
	int resets;
	struct nvme_lm_fmt save_fmt;
	struct nvme_lm_fmt load_fmt;
	u16 load_nvq;
	u16 load_nvi;
	struct nvme_lm_compat compat;
	struct nvme_lm_compat desc;
	struct nvme_lm_fmt desc_fmt;
	bool desc_valid;
	int desc_changes;
	int desc_resets;
	int desc_formats;
	u32 size;
	bool size_suspended;
	unsigned long size_read_at;
};

int nvme_lm_status_to_errno(int status)
{
	if (status < 0)
		return status == -EINTR ? -ETIMEDOUT : status;
	switch (status & NVME_SCT_SC_MASK) {
	case NVME_SC_SUCCESS:
		return 0;
	case NVME_SC_ABORT_REQ:
		/* the Abort this host sends when a bounded command's time is up */
		return -ETIMEDOUT;
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
	case NVME_SC_INVALID_IO_CMD_SET:
		return -EOPNOTSUPP;
	case NVME_SC_INVALID_NS:
		return -ENXIO;
	case NVME_SC_CTRL_ID_INVALID:
		return -ENODEV;
	}
	return -EIO;
}

/*
 * The errno of @cmd's completion @status, logged: a command sent with a
 * @timeout that was aborted is said once as such.
 */
static int nvme_lm_cmd_errno(struct nvme_lm *lm, struct nvme_command *cmd,
			     int status, unsigned long timeout)
{
	int ret = nvme_lm_status_to_errno(status);

	if (timeout && status > 0 &&
	    (status & NVME_SCT_SC_MASK) == NVME_SC_ABORT_REQ) {
		dev_warn_ratelimited(lm->dev,
				     "%s for CNTLID %u not answered within %u ms: aborted\n",
				     nvme_lm_opcode_name(cmd->common.opcode),
				     le32_to_cpu(cmd->common.cdw11) & 0xffff,
				     jiffies_to_msecs(timeout));
		return ret;
	}

	/* a state or offset the controller refuses is bad data, not ENOTSUP */
	if (status > 0 && (status & NVME_SCT_SC_MASK) == NVME_SC_INVALID_FIELD &&
	    (cmd->common.opcode == nvme_admin_migrate_send ||
	     cmd->common.opcode == nvme_admin_migrate_recv))
		ret = -EINVAL;

	if (ret && cmd->common.opcode == nvme_admin_identify)
		dev_err_ratelimited(lm->dev, "Identify CNS %#x failed: %#x (%d)\n",
				    cmd->identify.cns, status, ret);
	else if (ret)
		dev_err_ratelimited(lm->dev, "%s for CNTLID %u failed: %#x (%d)\n",
				    nvme_lm_opcode_name(cmd->common.opcode),
				    le32_to_cpu(cmd->common.cdw11) & 0xffff,
				    status, ret);
	return ret;
}

static int nvme_lm_submit(struct nvme_lm *lm, struct nvme_command *cmd,
			  void *buf, u32 len, u32 *result)
{
	u32 res = 0;
	int ret = nvme_lm_cmd_errno(lm, cmd,
				    lm->submit(lm, cmd, buf, len, &res, 0), 0);

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

/*
 * Get Controller State: @len bytes at @offset.  CSVI is in MOS (CDW10
 * 23:16), CSUUIDI in CDW11 23:16; NUMDL is 0's based.
 */
void nvme_lm_cmd_get_state(struct nvme_command *c, u16 cntlid,
			   const struct nvme_lm_fmt *fmt, u64 offset, u32 len)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_recv;
	c->common.cdw10 = cpu_to_le32(NVME_MIGRECV_GET_STATE |
				      (u32)fmt->csvi << 16);
	c->common.cdw11 = cpu_to_le32(cntlid | (u32)fmt->csuuidi << 16);
	c->common.cdw12 = cpu_to_le32(lower_32_bits(offset));
	c->common.cdw13 = cpu_to_le32(upper_32_bits(offset));
	c->common.cdw15 = cpu_to_le32(len / 4 - 1);
}

/*
 * Set Controller State: CSVI in CDW11 23:16, CSUUIDI in 31:24; NUMD is
 * not 0's based (libnvme, libvfn).
 */
void nvme_lm_cmd_set_state(struct nvme_command *c, u16 cntlid,
			   const struct nvme_lm_fmt *fmt, u64 offset, u32 len,
			   u8 seqind)
{
	memset(c, 0, sizeof(*c));
	c->common.opcode = nvme_admin_migrate_send;
	c->common.cdw10 = cpu_to_le32(NVME_MIGSEND_SET_STATE |
				      (u32)(seqind & 3) << 16);
	c->common.cdw11 = cpu_to_le32(cntlid | (u32)fmt->csvi << 16 |
				      (u32)fmt->csuuidi << 24);
	c->common.cdw12 = cpu_to_le32(lower_32_bits(offset));
	c->common.cdw13 = cpu_to_le32(upper_32_bits(offset));
	c->common.cdw15 = cpu_to_le32(len / 4);
}

/* Secondary controllers with a SCID of @first_cntlid or more. */
void nvme_lm_cmd_sec_list(struct nvme_command *c, u16 first_cntlid)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = NVME_ID_CNS_SCNDRY_CTRL_LIST;
	c->identify.ctrlid = cpu_to_le16(first_cntlid);
}

void nvme_lm_cmd_identify_ctrl(struct nvme_command *c)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = NVME_ID_CNS_CTRL;
}

/* Identify CNS @cns for namespace @nsid, controllers from @cntid on. */
void nvme_lm_cmd_identify_ns(struct nvme_command *c, u8 cns, u32 nsid,
			     u16 cntid)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = cns;
	c->identify.nsid = cpu_to_le32(nsid);
	c->identify.ctrlid = cpu_to_le16(cntid);
}

void nvme_lm_cmd_state_formats(struct nvme_command *c)
{
	memset(c, 0, sizeof(*c));
	c->identify.opcode = nvme_admin_identify;
	c->identify.cns = NVME_ID_CNS_CTRL_STATE_FMT;
}

/* ---- formats and compatibility ---- */

/*
 * Reads the Supported Controller State Formats (CNS 20h) and finds in it
 * the NVMe-defined format this driver parses (version 0; CSVI 0, no
 * NVMe-defined part, when the controller does not list it), and, with
 * @want_uuid, that vendor specific format if the administrator accepts
 * it (-EXDEV otherwise); without, the one listed that the administrator
 * prefers, CSUUIDI 0 if none.
 */
int nvme_lm_read_formats(struct nvme_lm *lm, const u8 *want_uuid,
			 struct nvme_lm_fmt *fmt)
{
	const struct nvme_ctrl_state_fmts *fmts;
	unsigned int i, nv, nuuid;
	struct nvme_command c;
	const u8 *uuids;
	int best = -1;
	u8 *buf;
	int ret;

	memset(fmt, 0, sizeof(*fmt));
	/* a VMM's stream names the UUID: one refused costs no command */
	if (want_uuid && nvme_lm_format_rank(want_uuid) < 0) {
		dev_info_ratelimited(lm->dev,
				     "controller state format %pUb not accepted here (nvme.lm_formats)\n",
				     want_uuid);
		return -EXDEV;
	}
	buf = kzalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	nvme_lm_cmd_state_formats(&c);
	ret = nvme_lm_submit(lm, &c, buf, NVME_IDENTIFY_DATA_SIZE, NULL);
	if (ret)
		goto out;
	/* the device may write on: the counts are read once */
	fmts = (const void *)buf;
	nv = READ_ONCE(fmts->nv);
	nuuid = READ_ONCE(fmts->nuuid);
	if (sizeof(*fmts) + nv * sizeof(__le16) + nuuid * 16 >
	    NVME_IDENTIFY_DATA_SIZE) {
		dev_err_ratelimited(lm->dev,
				    "controller state formats: %u versions and %u UUIDs overflow the data\n",
				    nv, nuuid);
		ret = -EPROTO;
		goto out;
	}
	uuids = (const u8 *)&fmts->vers[nv];
	for (i = 0; i < nv && !fmt->csvi; i++)
		if (get_unaligned_le16(&fmts->vers[i]) == NVME_LM_STATE_VER)
			fmt->csvi = i + 1;
	for (i = 0; i < nuuid; i++) {
		const u8 *u = uuids + 16 * i;
		int rank = nvme_lm_format_rank(u);

		if (want_uuid ? memcmp(u, want_uuid, 16) :
				(rank < 0 || (best >= 0 && rank >= best)))
			continue;
		best = rank;
		fmt->csuuidi = i + 1;
		memcpy(fmt->uuid, u, 16);
		if (want_uuid)
			break;
	}
	if (want_uuid && !fmt->csuuidi)
		ret = -EXDEV;
out:
	kfree(buf);
	return ret;
}

/*
 * What a guest sees of a namespace: its NSID, size, LBA format and
 * protection settings; only the NSID of one whose Identify is refused.
 */
struct nvme_lm_ns_digest {
	__le64 nsze;
	__le32 nsid;
	__le16 ms;
	u8 ds;
	u8 flbas;
	u8 dps;
	u8 rsvd[7];
};

/*
 * Identify CNS @cns of namespace @nsid into a zeroed @buf.  Invalid
 * Namespace (-ENXIO: deleted since it was listed) and Invalid Field or
 * I/O Command Set (-EOPNOTSUPP) are answers here, not failures to log.
 */
static int nvme_lm_identify_ns(struct nvme_lm *lm, u8 cns, u32 nsid,
			       u16 cntid, void *buf)
{
	struct nvme_command c;
	u32 res;
	int ret;

	memset(buf, 0, NVME_IDENTIFY_DATA_SIZE);
	nvme_lm_cmd_identify_ns(&c, cns, nsid, cntid);
	ret = nvme_lm_status_to_errno(lm->submit(lm, &c, buf,
						 NVME_IDENTIFY_DATA_SIZE,
						 &res, 0));
	if (ret && ret != -ENXIO && ret != -EOPNOTSUPP)
		dev_err_ratelimited(lm->dev,
				    "Identify CNS %#x of NSID %u failed (%d)\n",
				    cns, nsid, ret);
	return ret;
}

/*
 * Is the controller @cntlid attached to namespace @nsid?  CNS 12h lists
 * the attached controllers from @cntlid on; a device that ignores the
 * start still lists @cntlid somewhere if it is attached.
 */
static int nvme_lm_ns_attached(struct nvme_lm *lm, u32 nsid, u16 cntlid,
			       __le16 *list)
{
	unsigned int i, n;
	int ret;

	ret = nvme_lm_identify_ns(lm, NVME_ID_CNS_CTRL_NS_LIST, nsid, cntlid,
				  list);
	if (ret == -ENXIO)
		return 0;
	if (ret)
		return ret;
	n = min_t(unsigned int, le16_to_cpu(READ_ONCE(list[0])),
		  NVME_IDENTIFY_DATA_SIZE / sizeof(*list) - 1);
	for (i = 1; i <= n; i++)
		if (le16_to_cpu(READ_ONCE(list[i])) == cntlid)
			return 1;
	return 0;
}

/*
 * The namespaces attached to the VF's controller, as its guest sees them:
 * their count and a crc32c of their NSIDs, sizes, LBA formats and
 * protection settings in NSID order.  The primary lists the allocated
 * namespaces (CNS 10h), and for each whether the VF is attached (CNS 12h)
 * and its data (CNS 11h): up to two commands a namespace, so the list is
 * read for at most NVME_LM_NS_PAGES pages.  Without Namespace Management
 * those are optional: NVME_LM_NS_UNKNOWN then.
 */
static int nvme_lm_read_namespaces(struct nvme_lm *lm, u16 cntlid, u16 oacs,
				   struct nvme_lm_compat *desc)
{
	struct nvme_lm_ns_digest d;
	struct nvme_id_ns *id;
	u32 crc = ~0, nsid, last = 0;
	unsigned int i, page, n = 0;
	__le32 *nsids;
	int ret;

	BUILD_BUG_ON(sizeof(*id) != NVME_IDENTIFY_DATA_SIZE);
	BUILD_BUG_ON(sizeof(d) != 24);
	if (!(oacs & NVME_CTRL_OACS_NS_MNGT_SUPP)) {
		desc->nns = cpu_to_le16(NVME_LM_NS_UNKNOWN);
		return 0;
	}
	nsids = kzalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL_ACCOUNT);
	id = kzalloc(sizeof(*id), GFP_KERNEL_ACCOUNT);
	ret = -ENOMEM;
	if (!nsids || !id)
		goto out;
	/* a page at a time, each from the last NSID seen */
	for (page = 0; page < NVME_LM_NS_PAGES; page++) {
		ret = nvme_lm_identify_ns(lm, NVME_ID_CNS_NS_PRESENT_LIST, last,
					  0, nsids);
		/* a controller that does not list them */
		if (ret == -EOPNOTSUPP && !page) {
			desc->nns = cpu_to_le16(NVME_LM_NS_UNKNOWN);
			ret = 0;
			goto out;
		}
		if (ret)
			goto out;
		for (i = 0; i < NVME_LM_NS_PER_PAGE; i++) {
			nsid = le32_to_cpu(READ_ONCE(nsids[i]));
			if (!nsid)
				goto done;
			/* increasing, or one could be counted twice */
			if (nsid <= last || nsid == NVME_NSID_ALL) {
				dev_err_ratelimited(lm->dev,
						    "allocated namespace list out of order at NSID %u\n",
						    nsid);
				ret = -EPROTO;
				goto out;
			}
			last = nsid;
			ret = nvme_lm_ns_attached(lm, nsid, cntlid,
						  (__le16 *)id);
			if (ret < 0)
				goto out;
			if (!ret)
				continue;
			memset(&d, 0, sizeof(d));
			d.nsid = cpu_to_le32(nsid);
			ret = nvme_lm_identify_ns(lm, NVME_ID_CNS_NS_PRESENT,
						  nsid, 0, id);
			if (ret < 0 && ret != -ENXIO && ret != -EOPNOTSUPP)
				goto out;
			/* deleted since, or of a command set 11h does not cover */
			if (!ret) {
				d.nsze = id->nsze;
				d.flbas = READ_ONCE(id->flbas);
				d.ms = id->lbaf[nvme_lbaf_index(d.flbas)].ms;
				d.ds = id->lbaf[nvme_lbaf_index(d.flbas)].ds;
				d.dps = id->dps;
			}
			crc = crc32c(crc, &d, sizeof(d));
			n++;
		}
		if (last >= NVME_NSID_ALL - 1)
			goto done;
	}
	dev_err_ratelimited(lm->dev, "more than %u namespaces: not described\n",
			    NVME_LM_NS_PAGES * NVME_LM_NS_PER_PAGE);
	ret = -E2BIG;
	goto out;
done:
	desc->nns = cpu_to_le16(n);
	desc->ns_crc = cpu_to_le32(crc);
	ret = 0;
out:
	kfree(id);
	kfree(nsids);
	return ret;
}

/*
 * What a destination VF must match to take @vf's state, read now from the
 * controller: its identity and running firmware (Identify Controller), the
 * formats, the VF's resources and controller ID (CNS 15h) and the
 * namespaces attached to it.
 */
int nvme_lm_describe_vf(struct nvme_lm *lm, int vf, const u8 *want_uuid,
			struct nvme_lm_compat *desc, struct nvme_lm_fmt *fmt,
			u16 *cntlid)
{
	struct nvme_sec_ctrl_entry e;
	struct nvme_id_ctrl *id;
	struct nvme_command c;
	int ret;

	ret = nvme_lm_read_formats(lm, want_uuid, fmt);
	if (!ret && !fmt->csuuidi) {
		dev_info_ratelimited(lm->dev,
				     "VF %d not migratable: no state format holding the whole controller that this host accepts (nvme.lm_formats)\n",
				     vf);
		ret = -EOPNOTSUPP;
	}
	if (!ret)
		ret = nvme_lm_vf(lm, vf, true, &e);
	if (ret)
		return ret;
	id = kzalloc(sizeof(*id), GFP_KERNEL_ACCOUNT);
	if (!id)
		return -ENOMEM;
	nvme_lm_cmd_identify_ctrl(&c);
	ret = nvme_lm_submit(lm, &c, id, sizeof(*id), NULL);
	if (!ret) {
		memset(desc, 0, sizeof(*desc));
		desc->layout = NVME_LM_COMPAT_LAYOUT;
		desc->mdts = id->mdts;
		desc->vid = id->vid;
		desc->nvme_ver = cpu_to_le16(fmt->csvi ? NVME_LM_STATE_VER :
						  NVME_LM_NO_NVME_STATE);
		desc->nvq = e.nvq;
		desc->nvi = e.nvi;
		memcpy(desc->uuid, fmt->uuid, sizeof(desc->uuid));
		memcpy(desc->mn, id->mn, sizeof(desc->mn));
		memcpy(desc->fr, id->fr, sizeof(desc->fr));
		*cntlid = le16_to_cpu(e.scid);
	}
	if (!ret)
		ret = nvme_lm_read_namespaces(lm, le16_to_cpu(e.scid),
					      le16_to_cpu(id->oacs), desc);
	kfree(id);
	return ret;
}

/* ---- the VF -> CNTLID map ---- */

/*
 * A list that names one secondary controller twice, gives two of our VFs
 * one number, or gives a VF our own number would let a command for one
 * function reach another: refuse it whole.  Entries must also start at the
 * CNTID asked, or paging would not end.
 */
static int nvme_lm_check_sec_list(struct nvme_lm *lm,
				  const struct nvme_sec_ctrl_list *list,
				  unsigned int n, u16 first)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		const struct nvme_sec_ctrl_entry *a = &list->entries[i];
		bool ours = le16_to_cpu(a->pcid) == lm->cntlid && a->vfn;

		if (le16_to_cpu(a->scid) < first ||
		    (ours && a->scid == cpu_to_le16(lm->cntlid)))
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
			    "secondary controller list names a controller or VF twice, or out of order\n");
	return -EPROTO;
}

/*
 * lm->map_lock held.  Rebuilds the map from the Secondary Controller List,
 * a page of up to 127 entries at a time: each asks for the controllers
 * after the last one seen.
 */
static int nvme_lm_refresh_map(struct nvme_lm *lm)
{
	struct nvme_sec_ctrl_list *list;
	struct nvme_command c;
	unsigned int i, n;
	u32 first = 0;
	int ret;

	list = kzalloc(sizeof(*list), GFP_KERNEL_ACCOUNT);
	if (!list)
		return -ENOMEM;
	lm->map_valid = false;
	bitmap_zero(lm->vf_known, NVME_LM_MAX_VFS);
	do {
		nvme_lm_cmd_sec_list(&c, first);
		ret = nvme_lm_submit(lm, &c, list, sizeof(*list), NULL);
		if (ret)
			goto out;
		n = min_t(unsigned int, list->num, ARRAY_SIZE(list->entries));
		ret = nvme_lm_check_sec_list(lm, list, n, first);
		if (ret)
			goto out;
		for (i = 0; i < n; i++) {
			const struct nvme_sec_ctrl_entry *e = &list->entries[i];
			u16 vfn = le16_to_cpu(e->vfn);

			first = max(first, le16_to_cpu(e->scid) + 1U);
			/* VFN is 1-based; 0 names no VF.  Others' are not ours. */
			if (!vfn || vfn > NVME_LM_MAX_VFS ||
			    le16_to_cpu(e->pcid) != lm->cntlid)
				continue;
			if (test_and_set_bit(vfn - 1, lm->vf_known)) {
				ret = -EPROTO;
				goto out;
			}
			lm->vf_entry[vfn - 1] = *e;
		}
	} while (n == ARRAY_SIZE(list->entries) && first <= U16_MAX);
	lm->map_valid = true;
out:
	if (ret)
		bitmap_zero(lm->vf_known, NVME_LM_MAX_VFS);
	kfree(list);
	return ret;
}

/*
 * The Secondary Controller List entry of VF @vf; @fresh reads the list
 * again (a VF's resources change with Virtualization Management).
 */
int nvme_lm_vf(struct nvme_lm *lm, int vf, bool fresh,
	       struct nvme_sec_ctrl_entry *entry)
{
	int ret = 0;

	if (vf < 0 || vf >= NVME_LM_MAX_VFS)
		return -ENODEV;
	mutex_lock(&lm->map_lock);
	if (fresh || !lm->map_valid || !test_bit(vf, lm->vf_known))
		ret = nvme_lm_refresh_map(lm);
	if (!ret && !test_bit(vf, lm->vf_known))
		ret = -ENODEV;
	if (!ret)
		*entry = lm->vf_entry[vf];
	mutex_unlock(&lm->map_lock);
	return ret;
}

/**
 * nvme_lm_vfs_changed() - the PF's VFs are being enabled or disabled
 * @lm: from nvme_lm_register(), or NULL
 *
 * The VF to controller ID map is read again at its next use.
 */
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

/*
 * A reset of the primary controller ends the suspension of every secondary
 * controller and drops what was loaded into them: a migration under way
 * fails at its next command instead of talking to a controller that no
 * longer holds what it expects.  Says so once.
 */
static int nvme_lm_check_resets(struct nvme_lm_fn *f)
{
	if (!f->suspended || atomic_read(f->lm->resets) == f->resets)
		return 0;
	f->suspended = false;
	dev_warn_ratelimited(f->lm->dev,
			     "CNTLID %u: the PF was reset while it was suspended\n",
			     f->cntlid);
	return -EIO;
}

static int nvme_lm_same_cntlid(struct nvme_lm_fn *f, u16 cntlid);

/*
 * The VF still has the controller ID of its claim: VFs are renumbered only
 * when they are re-created, which drops the cached map.
 */
static int nvme_lm_check_cntlid(struct nvme_lm_fn *f)
{
	struct nvme_sec_ctrl_entry e;
	int ret = nvme_lm_vf(f->lm, f->vf, false, &e);

	return ret ?: nvme_lm_same_cntlid(f, le16_to_cpu(e.scid));
}

/* In jiffies, at least 1: no longer than any admin command may take. */
static unsigned long nvme_lm_suspend_timeout(void)
{
	unsigned long admin = max(NVME_ADMIN_TIMEOUT, 1UL);
	unsigned int ms = READ_ONCE(lm_suspend_timeout_ms);

	return ms ? clamp(msecs_to_jiffies(ms), 1UL, admin) : admin;
}

/*
 * Bounded Migration Send commands (Suspend, Resume) not completed, each
 * holding an admin tag: past this many, a device that ends none of them
 * (not even at a VF's reset) gets no more, and the PF's own admin
 * commands keep tags to run with.
 */
#define NVME_LM_MAX_SUSPENDS	4

/*
 * Suspend and Resume, which the VF's guest can hold up (a Resume may wait
 * behind a Suspend still pending), are bounded and aborted, never reset
 * the PF.  Each takes a slot, which submit frees when the command
 * completes.  Returns as submit does, or -EAGAIN, with nothing sent, while
 * no slot is free.
 */
static int nvme_lm_send_bounded(struct nvme_lm_fn *f, struct nvme_command *c,
				unsigned long timeout)
{
	const char *what = (le32_to_cpu(c->common.cdw10) & 0xff) ==
			   NVME_MIGSEND_SUSPEND ? "Suspend" : "Resume";
	int ret;

	if (atomic_inc_return(f->lm->suspends) > NVME_LM_MAX_SUSPENDS) {
		atomic_dec(f->lm->suspends);
		dev_warn_ratelimited(f->lm->dev,
				     "%d Migration Send commands not completed: no %s for VF %d\n",
				     NVME_LM_MAX_SUSPENDS, what, f->vf);
		return -EAGAIN;
	}
	ret = f->lm->submit(f->lm, c, NULL, 0, &(u32){0}, timeout);
	/*
	 * Neither the command nor its Abort was answered: it stays on the
	 * PF's admin queue, holding a tag and a slot, until the controller
	 * completes it.  The function is in ERROR, which only a reset leaves
	 * (VFIO_DEVICE_RESET, through vfio-pci), and that reset is the VF's
	 * alone.
	 */
	if (ret == -ETIMEDOUT)
		dev_warn_ratelimited(f->lm->dev,
				     "Migration Send %s for CNTLID %u not answered, nor its Abort: VF %d in ERROR until it is reset\n",
				     what, f->cntlid, f->vf);
	return ret;
}

static int nvme_lm_stop(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	unsigned long timeout = nvme_lm_suspend_timeout();
	int resets = atomic_read(f->lm->resets);
	struct nvme_command c;
	int ret;

	ret = nvme_lm_check_cntlid(f);
	if (ret)
		return ret;
	nvme_lm_cmd_suspend(&c, f->cntlid);
	ret = nvme_lm_send_bounded(f, &c, timeout);
	if (ret == -EAGAIN)
		return ret;
	if (ret != -ETIMEDOUT)
		ret = nvme_lm_cmd_errno(f->lm, &c, ret, timeout);
	f->stop_failed = ret;
	if (!ret) {
		f->suspended = true;
		f->resets = resets;
		f->size = 0;
	}
	return ret;
}

static int nvme_lm_restart(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	unsigned long timeout = nvme_lm_suspend_timeout();
	struct nvme_command c;
	int ret;

	ret = nvme_lm_check_resets(f);
	if (ret)
		return ret;
	nvme_lm_cmd_resume(&c, f->cntlid);
	ret = nvme_lm_send_bounded(f, &c, timeout);
	if (ret == -EAGAIN || ret == -ETIMEDOUT)
		return ret;
	ret = nvme_lm_cmd_errno(f->lm, &c, ret, timeout);
	if (!ret) {
		f->suspended = false;
		f->size = 0;
	}
	return ret;
}

/*
 * A bounce buffer for pieces of up to @len bytes: max_xfer if memory
 * allows, smaller pieces (down to a page) if it is fragmented, since this
 * runs while the VF is suspended.
 */
static void *nvme_lm_bounce(struct nvme_lm *lm, size_t len, u32 *size)
{
	u32 n = min_t(size_t, len, lm->max_xfer);
	void *buf;

	for (;;) {
		buf = kmalloc(n, n > PAGE_SIZE ?
				 GFP_KERNEL_ACCOUNT | __GFP_NOWARN :
				 GFP_KERNEL_ACCOUNT);
		if (buf || n <= PAGE_SIZE)
			break;
		n = max_t(u32, round_down(n / 2, 4), PAGE_SIZE);
	}
	*size = n;
	return buf;
}

/*
 * Reads @len bytes of state at @offset in pieces of at most max_xfer,
 * through a kmalloc'ed bounce buffer that the admin queue maps in one
 * request, zeroed before each piece so that dwords the controller leaves
 * unwritten read as zero.  With @suspended, every piece must come from a
 * suspended controller (CSUP): a state read while it runs could be torn.
 */
static int nvme_lm_get_state(struct nvme_lm_fn *f,
			     const struct nvme_lm_fmt *fmt, void *buf,
			     u64 offset, u32 len, bool suspended)
{
	struct nvme_lm *lm = f->lm;
	u32 done = 0, result, chunk;
	struct nvme_command c;
	void *bounce;
	int ret = 0;

	bounce = nvme_lm_bounce(lm, len, &chunk);
	if (!bounce)
		return -ENOMEM;
	while (done < len) {
		u32 n = min(len - done, chunk);

		memset(bounce, 0, n);
		nvme_lm_cmd_get_state(&c, f->cntlid, fmt, offset + done, n);
		ret = nvme_lm_submit(lm, &c, bounce, n, &result);
		if (ret)
			break;
		if (suspended && !(result & NVME_MIGRECV_CSUP)) {
			dev_err_ratelimited(lm->dev,
					    "CNTLID %u: controller state read while not suspended\n",
					    f->cntlid);
			ret = -EPROTO;
			break;
		}
		memcpy(buf + done, bounce, n);
		done += n;
	}
	kfree(bounce);
	return ret;
}

/*
 * The header's sizes are 128-bit dword counts: anything above 2^32 lies.
 * Without a vendor specific format (CSUUIDI 0) there is no vendor state,
 * without the NVMe-defined one (CSVI 0) no NVMe state (NVMe 2.1, Figures
 * 345 and 346).
 */
static int nvme_lm_hdr_len(struct nvme_lm *lm, const struct nvme_lm_fmt *fmt,
			   const struct nvme_ctrl_state_hdr *hdr, u32 *total)
{
	u64 css = get_unaligned_le64(hdr->nvmecss);
	u64 vss = get_unaligned_le64(hdr->vss);

	if (get_unaligned_le64(hdr->nvmecss + 8) ||
	    get_unaligned_le64(hdr->vss + 8) || css > NVME_LM_MAX_STATE / 4 ||
	    vss > NVME_LM_MAX_STATE / 4 ||
	    NVME_LM_HDR_LEN + (css + vss) * 4 > NVME_LM_MAX_STATE ||
	    le16_to_cpu(hdr->ver) != NVME_LM_STATE_VER ||
	    (!fmt->csuuidi && vss) || (!fmt->csvi && css)) {
		dev_err_ratelimited(lm->dev,
				    "controller state header: version %u, %llu + %llu dwords: not what was asked\n",
				    le16_to_cpu(hdr->ver), css, vss);
		return -EPROTO;
	}
	*total = NVME_LM_HDR_LEN + (css + vss) * 4;
	return 0;
}

/*
 * Checks a state of @total bytes in format @fmt from its first @len: the
 * header and the NVMe state's queue counts, which lead it.  A state that
 * came from a peer is checked as one read from the device.
 */
int nvme_lm_check_state(struct nvme_lm *lm, const struct nvme_lm_fmt *fmt,
			const u8 *state, u32 len, u64 total)
{
	const struct nvme_ctrl_state_hdr *hdr = (const void *)state;
	const struct nvme_ctrl_state_nvme *cs;
	u64 css, need;
	u32 hdr_total;

	if (len < NVME_LM_HDR_LEN + (fmt->csvi ? sizeof(*cs) : 0) ||
	    nvme_lm_hdr_len(lm, fmt, hdr, &hdr_total) || hdr_total != total)
		return -EPROTO;
	if (!fmt->csvi)
		return 0;
	css = get_unaligned_le64(hdr->nvmecss) * 4;
	cs = (const void *)(state + NVME_LM_HDR_LEN);
	need = sizeof(*cs) +
	       (u64)le16_to_cpu(cs->niosq) * sizeof(struct nvme_ctrl_state_sq) +
	       (u64)le16_to_cpu(cs->niocq) * sizeof(struct nvme_ctrl_state_cq);
	if (css < sizeof(*cs) || need > css ||
	    le16_to_cpu(cs->ver) != NVME_LM_STATE_VER) {
		dev_err_ratelimited(lm->dev,
				    "controller state: version %u, %u SQs and %u CQs in %llu bytes\n",
				    le16_to_cpu(cs->ver), le16_to_cpu(cs->niosq),
				    le16_to_cpu(cs->niocq), css);
		return -EPROTO;
	}
	return 0;
}

/* Bits of an I/O queue's ATTR that NVMe 2.1 defines. */
#define NVME_LM_SQ_ATTR_KNOWN	0x7		/* PC, QPRIO */
#define NVME_LM_CQ_ATTR_KNOWN	0xffff0007	/* PC, IEN, S0PT, IV */
#define NVME_LM_CQ_ATTR_IEN	BIT(1)

static bool nvme_lm_queue_ok(const struct nvme_lm *lm, u16 qid, u16 nio,
			     u16 qsize, u16 head, u16 tail, const u8 *rsvd)
{
	return qid && qid <= nio && qsize && qsize <= lm->mqes &&
	       head <= qsize && tail <= qsize && !memchr_inv(rsvd, 0, 4);
}

/*
 * The NVMe-defined state of a stream against the VF it is about to be
 * set on, as the device describes that VF (@nvq queue and @nvi interrupt
 * resources; the primary's MQES, as a secondary's CAP cannot be read
 * through the primary): the stream is the user's, and its descriptor too.
 * Queue IDs within the VF's I/O queues, each list in ascending QID order
 * (so unique; NVMe 2.1 Figure 359), each SQ's CQ in the
 * state, sizes within MQES (0's based, not 0), head and tail within the
 * size, vectors of interrupting CQs within NVI, reserved fields zero and
 * ATTR bits known.  The NVMe-defined state must be in @len.
 */
int nvme_lm_check_queues(struct nvme_lm *lm, const u8 *state, u32 len,
			 u16 nvq, u16 nvi)
{
	const struct nvme_ctrl_state_nvme *cs =
		(const void *)(state + NVME_LM_HDR_LEN);
	const struct nvme_ctrl_state_sq *sq;
	const struct nvme_ctrl_state_cq *cq;
	unsigned long *cqs = NULL;
	u16 nio = nvq ? nvq - 1 : 0;	/* one is the admin queue */
	u16 niosq, niocq, qid, prev, i;
	const char *why;
	int ret = -EPROTO;

	if (len < NVME_LM_HDR_LEN + sizeof(*cs))
		return -EPROTO;
	niosq = le16_to_cpu(cs->niosq);
	niocq = le16_to_cpu(cs->niocq);
	why = "more I/O queues than the VF has";
	if (niosq > nio || niocq > nio)
		goto bad;
	why = "queues beyond the first piece";
	if (NVME_LM_HDR_LEN + sizeof(*cs) + (u64)niosq * sizeof(*sq) +
	    (u64)niocq * sizeof(*cq) > len)
		goto bad;
	why = "reserved field set";
	if (cs->rsvd6)
		goto bad;
	cqs = bitmap_zalloc(nio + 1, GFP_KERNEL_ACCOUNT);
	if (!cqs) {
		ret = -ENOMEM;
		goto out;
	}
	sq = (const void *)(cs + 1);
	cq = (const void *)(sq + niosq);
	for (i = 0, prev = 0; i < niocq; i++, cq++, prev = qid) {
		u32 attr = le32_to_cpu(cq->attr);

		qid = le16_to_cpu(cq->qid);
		why = "completion queue out of range";
		if (!nvme_lm_queue_ok(lm, qid, nio, le16_to_cpu(cq->qsize),
				      le16_to_cpu(cq->head),
				      le16_to_cpu(cq->tail), cq->rsvd20))
			goto bad;
		why = "completion queue attributes";
		if ((attr & ~NVME_LM_CQ_ATTR_KNOWN) ||
		    ((attr & NVME_LM_CQ_ATTR_IEN) && attr >> 16 >= nvi))
			goto bad;
		why = "completion queues not in ascending order";
		if (qid <= prev)
			goto bad;
		__set_bit(qid, cqs);
	}
	for (i = 0, prev = 0; i < niosq; i++, sq++, prev = qid) {
		u16 cqid = le16_to_cpu(sq->cqid);

		qid = le16_to_cpu(sq->qid);
		why = "submission queue out of range";
		if (!nvme_lm_queue_ok(lm, qid, nio, le16_to_cpu(sq->qsize),
				      le16_to_cpu(sq->head),
				      le16_to_cpu(sq->tail), sq->rsvd20))
			goto bad;
		why = "submission queue attributes";
		if (le16_to_cpu(sq->attr) & ~NVME_LM_SQ_ATTR_KNOWN)
			goto bad;
		why = "submission queue of no completion queue";
		if (!cqid || cqid > nio || !test_bit(cqid, cqs))
			goto bad;
		why = "submission queues not in ascending order";
		if (qid <= prev)
			goto bad;
	}
	ret = 0;
	goto out;
bad:
	dev_err_ratelimited(lm->dev,
			    "controller state refused: %s (%u SQs, %u CQs; VF: %u queues, %u vectors)\n",
			    why, niosq, niocq, nvq, nvi);
out:
	bitmap_free(cqs);
	return ret;
}

static int nvme_lm_save_begin(struct lm_function *fn,
			      enum lm_save_phase phase, struct lm_segment *seg)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_ctrl_state_hdr *hdr;
	struct lm_buffer *state;
	u32 total;
	int ret;

	if (phase != LM_SAVE_FINAL)
		return 0;
	ret = nvme_lm_check_resets(f);
	if (ret)
		return ret;
	if (!f->save_fmt.csuuidi)
		return -EPROTO;
	hdr = kmalloc(sizeof(*hdr), GFP_KERNEL_ACCOUNT);
	if (!hdr)
		return -ENOMEM;
	ret = nvme_lm_get_state(f, &f->save_fmt, hdr, 0, sizeof(*hdr), true);
	if (!ret)
		ret = nvme_lm_hdr_len(f->lm, &f->save_fmt, hdr, &total);
	kfree(hdr);
	if (ret)
		return ret;
	/* up to NVME_LM_MAX_STATE, charged to the VMM that asked for it */
	state = lm_buffer_alloc(total, GFP_KERNEL_ACCOUNT);
	if (!state)
		return -ENOMEM;
	ret = nvme_lm_get_state(f, &f->save_fmt, state->data, 0, total, true);
	if (!ret)
		ret = nvme_lm_check_state(f->lm, &f->save_fmt, state->data,
					  total, total);
	if (ret) {
		lm_buffer_put(state);
		return ret;
	}
	/* the core copies out of the buffer the controller wrote, and frees it */
	seg->buf = state;
	seg->len = total;
	return 0;
}

/*
 * Sends a state in Set Controller State commands of at most max_xfer.
 * A failed Set is not retried here: the load fails, the function goes to
 * ERROR, and a new resuming session sends the whole state again from
 * SEQIND "first", which the specification allows after a failed Set.
 */
static int nvme_lm_load(struct lm_function *fn, const void *buf, size_t len,
			u64 offset, u64 total)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_lm *lm = f->lm;
	const struct nvme_lm_fmt *fmt = &f->load_fmt;
	struct nvme_command c;
	size_t done = 0;
	void *bounce;
	u32 chunk;
	int ret;

	/* the header and NVMe state lead: check them before sending anything */
	if (!fmt->csuuidi ||
	    (!offset && (total > U32_MAX || (total & 3) ||
			 nvme_lm_check_state(lm, fmt, buf, len, total))))
		return -EPROTO;
	if (!offset && fmt->csvi) {
		ret = nvme_lm_check_queues(lm, buf, len, f->load_nvq,
					   f->load_nvi);
		if (ret)
			return ret;
	}
	ret = nvme_lm_check_resets(f);
	if (ret)
		return ret;
	bounce = nvme_lm_bounce(lm, len, &chunk);
	if (!bounce)
		return -ENOMEM;
	/* the controller's state is the one loaded now */
	f->size = 0;
	while (done < len) {
		u32 n = min_t(size_t, len - done, chunk);
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
		memcpy(bounce, buf + done, n);
		nvme_lm_cmd_set_state(&c, f->cntlid, fmt, off, n, seq);
		ret = nvme_lm_submit(lm, &c, bounce, n, NULL);
		if (ret)
			break;
		done += n;
	}
	kfree(bounce);
	return ret;
}

/*
 * The VMM asks at any rate (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE), each
 * answer a Get on the PF's admin queue: one Get a suspension, whose state
 * does not change, and at most one every NVME_LM_SIZE_INTERVAL while the
 * VF runs.  An estimate is all the uAPI promises.
 */
#define NVME_LM_SIZE_INTERVAL	HZ

static int nvme_lm_state_size(struct lm_function *fn, u64 *len)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_ctrl_state_hdr *hdr;
	u32 total = NVME_LM_MAX_STATE;

	if (f->size && f->size_suspended == f->suspended &&
	    (f->suspended ||
	     time_before(jiffies, f->size_read_at + NVME_LM_SIZE_INTERVAL))) {
		*len = f->size;
		return 0;
	}
	/* a running controller may refuse: then the bound is the estimate */
	hdr = kmalloc(sizeof(*hdr), GFP_KERNEL_ACCOUNT);
	if (hdr && f->save_fmt.csuuidi &&
	    !nvme_lm_get_state(f, &f->save_fmt, hdr, 0, sizeof(*hdr), false) &&
	    !nvme_lm_hdr_len(f->lm, &f->save_fmt, hdr, &total)) {
		/* only an answer is kept: after a failure, ask again */
		f->size = total;
		f->size_suspended = f->suspended;
		f->size_read_at = jiffies;
	} else {
		total = NVME_LM_MAX_STATE;
	}
	kfree(hdr);
	*len = total;
	return 0;
}

/*
 * Reads @f's descriptor from the controller, noting first the counts of
 * what could change it.
 */
static int nvme_lm_read_desc(struct nvme_lm_fn *f, u16 *cntlid)
{
	int ret;

	f->desc_valid = false;
	f->desc_changes = atomic_read(f->lm->changes);
	f->desc_resets = atomic_read(f->lm->resets);
	f->desc_formats = atomic_read(&lm_formats_changes);
	ret = nvme_lm_describe_vf(f->lm, f->vf, NULL, &f->desc, &f->desc_fmt,
				  cntlid);
	f->desc_valid = !ret;
	return ret;
}

/*
 * @f's descriptor, read again only when something may have changed it
 * since: a configuration change the controller's driver counted (an admin
 * command from user space, a namespace or firmware notice), a PF reset, a
 * new nvme.lm_formats.  Otherwise describe and compat_check send nothing,
 * which keeps Identify commands out of the VM's downtime.
 */
static int nvme_lm_fn_desc(struct nvme_lm_fn *f)
{
	u16 cntlid;
	int ret;

	if (f->desc_valid &&
	    f->desc_changes == atomic_read(f->lm->changes) &&
	    f->desc_resets == atomic_read(f->lm->resets) &&
	    f->desc_formats == atomic_read(&lm_formats_changes))
		return 0;
	ret = nvme_lm_read_desc(f, &cntlid);
	if (!ret)
		ret = nvme_lm_same_cntlid(f, cntlid);
	if (ret)
		f->desc_valid = false;
	return ret;
}

/*
 * The function was reset, or the core lets go of it.  A Controller Level
 * Reset (FLR) of a migratable controller removes its suspended state, so
 * the Resume sent in case it did not happen may find the controller not
 * suspended: that is the state wanted, not an error.
 */
static int nvme_lm_reset(struct lm_function *fn)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	struct nvme_command c;
	int status;

	memset(&f->load_fmt, 0, sizeof(f->load_fmt));
	f->size = 0;
	/*
	 * A reset (a VFIO open or reset, an FLR) is outside any downtime:
	 * read the descriptor again there, for what the PF is not told of
	 * (a namespace the VF's own guest formatted).  After a failure it is
	 * read when it is next needed.
	 */
	f->desc_valid = false;
	nvme_lm_fn_desc(f);
	/* a failed Suspend may have suspended it all the same */
	if (nvme_lm_check_resets(f) || (!f->suspended && !f->stop_failed))
		return 0;
	/*
	 * Only a VF that is no longer this controller has nothing of ours to
	 * resume; a failure to find out leaves the function in ERROR.
	 */
	status = nvme_lm_check_cntlid(f);
	if (status == -ENODEV)
		return 0;
	if (status)
		return status;
	nvme_lm_cmd_resume(&c, f->cntlid);
	status = nvme_lm_send_bounded(f, &c, nvme_lm_suspend_timeout());
	if (status >= 0 &&
	    (status & NVME_SCT_SC_MASK) == NVME_SC_CTRL_NOT_SUSPENDED)
		status = 0;
	if (!status) {
		f->suspended = false;
		f->stop_failed = false;
		f->size = 0;
	}
	return nvme_lm_status_to_errno(status);
}

static int nvme_lm_claim(struct lm_controller *ctrl, struct device *dev,
			 struct lm_function_info *info)
{
	struct nvme_lm *lm = container_of(ctrl, struct nvme_lm, lm_ctrl);
	struct nvme_lm_fn *f;
	int vf, ret;

	/* the core asks only about our VFs; a wrong guess must not crash */
	if (!dev_is_pci(dev) || !to_pci_dev(dev)->is_virtfn ||
	    &pci_physfn(to_pci_dev(dev))->dev != ctrl->dev)
		return -ENODEV;
	vf = pci_iov_vf_id(to_pci_dev(dev));
	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return -ENOMEM;
	f->lm = lm;
	f->dev = dev;
	f->vf = vf;
	ret = nvme_lm_read_desc(f, &f->cntlid);
	if (ret) {
		kfree(f);
		return ret == -EOPNOTSUPP ? -ENODEV : ret;
	}
	f->compat = f->desc;
	f->save_fmt = f->desc_fmt;
	info->drvdata = f;
	info->caps = LM_CAP_STOP_COPY;
	info->max_state_size = NVME_LM_MAX_STATE;
	info->compat = (const u8 *)&f->compat;
	info->compat_len = sizeof(f->compat);
	return 0;
}

/* The VF's controller is the one the function was made for. */
static int nvme_lm_same_cntlid(struct nvme_lm_fn *f, u16 cntlid)
{
	if (cntlid == f->cntlid)
		return 0;
	dev_err_ratelimited(f->lm->dev,
			    "VF %d is now CNTLID %u, was %u: not migrated\n",
			    f->vf, cntlid, f->cntlid);
	return -ENODEV;
}

/* The source's descriptor, as its save starts. */
static int nvme_lm_describe(struct lm_function *fn, u8 *buf, u16 *len)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	int ret;

	if (*len < sizeof(struct nvme_lm_compat))
		return -ENOSPC;
	ret = nvme_lm_fn_desc(f);
	if (ret)
		return ret;
	memcpy(buf, &f->desc, sizeof(f->desc));
	f->save_fmt = f->desc_fmt;
	*len = sizeof(f->desc);
	return 0;
}

/*
 * What keeps a VF described by @a from taking a state described by @b, or
 * NULL: the state format, the VF's resources and namespaces; vendor,
 * model and firmware only with lm_same_firmware.
 */
static const char *nvme_lm_compat_diff(const struct nvme_lm_compat *a,
				       const struct nvme_lm_compat *b)
{
	if (a->layout != b->layout || a->nvme_ver != b->nvme_ver ||
	    memcmp(a->uuid, b->uuid, sizeof(a->uuid)))
		return "state formats";
	if (a->nvq != b->nvq || a->nvi != b->nvi)
		return "queue or interrupt resources";
	if (a->nns != b->nns || a->ns_crc != b->ns_crc)
		return "attached namespaces";
	if (a->mdts != b->mdts)
		return "maximum transfer sizes";
	if (!READ_ONCE(lm_same_firmware))
		return NULL;
	if (a->vid != b->vid || memcmp(a->mn, b->mn, sizeof(a->mn)))
		return "vendor or model";
	if (memcmp(a->fr, b->fr, sizeof(a->fr)))
		return "firmware revisions";
	return NULL;
}

/*
 * A destination takes a state in a format it lists itself, for the same
 * VF resources and namespaces: it sends the state with its own indexes of
 * the format.  A format other than the one preferred here costs one
 * Identify.
 */
static int nvme_lm_compat_check(struct lm_function *fn, const u8 *remote,
				size_t len)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	const struct nvme_lm_compat *r = (const void *)remote;
	struct nvme_lm_compat here;
	struct nvme_lm_fmt fmt;
	const char *diff;
	int ret;

	memset(&f->load_fmt, 0, sizeof(f->load_fmt));
	if (len != sizeof(*r) || r->layout != NVME_LM_COMPAT_LAYOUT)
		return -EXDEV;
	ret = nvme_lm_fn_desc(f);
	if (ret)
		return ret == -EOPNOTSUPP ? -EXDEV : ret;
	here = f->desc;
	fmt = f->desc_fmt;
	if (memcmp(r->uuid, here.uuid, sizeof(here.uuid))) {
		ret = nvme_lm_read_formats(f->lm, r->uuid, &fmt);
		if (ret)
			return ret;
		memcpy(here.uuid, fmt.uuid, sizeof(here.uuid));
		here.nvme_ver = cpu_to_le16(fmt.csvi ? NVME_LM_STATE_VER :
						  NVME_LM_NO_NVME_STATE);
	}
	diff = nvme_lm_compat_diff(&here, r);
	if (diff) {
		dev_info_ratelimited(f->lm->dev,
				     "VF %d cannot take the state: its %s differ\n",
				     f->vf, diff);
		return -EXDEV;
	}
	f->load_fmt = fmt;
	f->load_nvq = le16_to_cpu(here.nvq);
	f->load_nvi = le16_to_cpu(here.nvi);
	return 0;
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
	.describe = nvme_lm_describe,
};

/**
 * nvme_lm_init() - set up a controlling function, without registering it
 * @lm: zeroed by the caller
 * @dev: the PF's device
 * @submit: sends an admin command to the PF's admin queue
 * @max_xfer: largest data transfer of one command, in bytes (MDTS, as the
 *	host limits it)
 * @map_limit: largest buffer the admin queue maps in one request
 * @cntlid: the primary controller's CNTLID, which its VFs' entries in the
 *	Secondary Controller List must name
 * @pf_resets: the PF driver's count of PF resets; it must outlive @lm
 * @changes: the controller's count of configuration changes
 *	(nvme_ctrl.config_changes); it must outlive @lm
 * @suspends: the PF driver's count of bounded Migration Send commands
 *	(Suspend, Resume) not completed; it must outlive @lm and the PF's
 *	admin queue
 */
void nvme_lm_init(struct nvme_lm *lm, struct device *dev,
		  nvme_lm_submit_fn submit, u32 max_xfer, u32 map_limit,
		  u16 cntlid, atomic_t *pf_resets, atomic_t *changes,
		  atomic_t *suspends)
{
	lm->dev = dev;
	lm->changes = changes;
	lm->submit = submit;
	lm->suspends = suspends;
	lm->cntlid = cntlid;
	lm->resets = pf_resets;
	lm->mqes = U16_MAX;
	lm->max_xfer = min3(max_xfer, map_limit, NVME_LM_XFER_MAX);
	lm->max_xfer = max(round_down(lm->max_xfer, 4), 4U);
	mutex_init(&lm->map_lock);
	lm->lm_ctrl.dev = dev;
	lm->lm_ctrl.name = "nvme";
	lm->lm_ctrl.ops = &nvme_lm_ctrl_ops;
	lm->lm_ctrl.mig_ops = &nvme_lm_ops;
}

static int nvme_lm_submit_admin(struct nvme_lm *lm, struct nvme_command *cmd,
				void *buf, u32 len, u32 *result,
				unsigned long timeout)
{
	union nvme_result res;
	int ret;

	/* a command that may outlive the call has no data to land late */
	if (timeout && buf) {
		atomic_dec(lm->suspends);
		return -EINVAL;
	}
	if (timeout)
		ret = nvme_submit_admin_cmd_abortable(lm->ctrl, cmd, &res,
						      timeout, lm->suspends);
	else
		ret = __nvme_submit_sync_cmd(lm->ctrl->admin_q, cmd, &res, buf,
					     len, NVME_QID_ANY, 0);
	if (ret >= 0)
		*result = le32_to_cpu(res.u32);
	return ret;
}

/**
 * nvme_lm_register() - offer live migration of a PF's VFs
 * @ctrl: the PF's controller, live
 * @pdev: the PF
 * @pf_resets: counts the PF's resets (each ends every VF's suspension),
 *	raised before and after the controller is disabled; kept by the
 *	caller, it outlives the registration
 * @suspends: counts the bounded Migration Send commands not completed on
 *	the admin queue; kept by the caller, it outlives the registration
 *	and the admin queue
 *
 * Does nothing for a controller without Host Managed Live Migration.
 *
 * Return: the registration, to be passed to nvme_lm_unregister(), or NULL.
 */
struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl, struct pci_dev *pdev,
				 atomic_t *pf_resets, atomic_t *suspends)
{
	struct request_queue *q = ctrl->admin_q;
	struct nvme_lm_fmt fmt;
	struct nvme_lm *lm;
	int ret;

	if (!(ctrl->oacs & NVME_CTRL_OACS_HMLM) || !pdev->is_physfn)
		return NULL;
	lm = kzalloc(sizeof(*lm), GFP_KERNEL);
	if (!lm)
		return NULL;
	lm->ctrl = ctrl;
	/* a kmalloc'ed piece is mapped in one request if it fits these */
	nvme_lm_init(lm, &pdev->dev, nvme_lm_submit_admin,
		     ctrl->max_hw_sectors << SECTOR_SHIFT,
		     min_t(u64, (u64)queue_max_hw_sectors(q) << SECTOR_SHIFT,
			   (u64)queue_max_segments(q) * PAGE_SIZE),
		     ctrl->cntlid, pf_resets, &ctrl->config_changes, suspends);
	lm->mqes = NVME_CAP_MQES(ctrl->cap);
	ret = nvme_lm_read_formats(lm, NULL, &fmt);
	if (!ret && !fmt.csuuidi)
		dev_info(&pdev->dev,
			 "no listed controller state format is in nvme.lm_formats: VFs are not migratable until it names one\n");
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
