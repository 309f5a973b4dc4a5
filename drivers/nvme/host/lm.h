/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nvme-pci as a live migration controlling function (TP4159).
 */
#ifndef _NVME_LM_H
#define _NVME_LM_H

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/live_migration.h>
#include <linux/mutex.h>
#include <linux/nvme.h>
#include <linux/unaligned.h>
#include <linux/uuid.h>

#define NVME_LM_MAX_VFS		256
/* the largest piece of state one command moves, whatever MDTS allows */
#define NVME_LM_XFER_MAX	(256U << 10)

struct nvme_ctrl;
struct nvme_lm;
struct pci_dev;

/*
 * Sends one admin command to the PF; returns an NVMe status or -errno.
 * With a @timeout (jiffies; 0: the admin queue's), a command without data
 * that is not answered in time is aborted with an Abort command, never by
 * resetting the PF: it fails with Command Abort Requested, or, when the
 * Abort is not honoured either, with -ETIMEDOUT while it stays
 * outstanding on the controller.  The caller raised nvme_lm.suspends for
 * it, which is lowered once it completes or is not sent.
 */
typedef int (*nvme_lm_submit_fn)(struct nvme_lm *lm, struct nvme_command *cmd,
				 void *buf, u32 len, u32 *result,
				 unsigned long timeout);

/**
 * struct nvme_lm_fmt - a controller state format, as one controller lists it
 * @csvi: 1-based index of the NVMe-defined format's version in the
 *	controller's Supported Controller State Formats (Identify CNS 20h),
 *	0 for a state without the NVMe-defined part
 * @csuuidi: 1-based index of the vendor specific format's UUID in that
 *	list, 0 for none
 * @uuid: that UUID, zero for none
 *
 * The indexes are the controller's own: a destination finds the same
 * version and UUID in its own list.
 */
struct nvme_lm_fmt {
	u8 csvi;
	u8 csuuidi;
	u8 uuid[16];
};

/**
 * struct nvme_lm_compat - the compatibility descriptor of a VF's state
 * @layout: %NVME_LM_COMPAT_LAYOUT
 * @mdts: the controller's MDTS, from Identify Controller
 * @vid: PCI vendor ID, from Identify Controller
 * @nvme_ver: version value of the NVMe-defined controller state format,
 *	0xffff for a state without that part
 * @nvq: queue resources of the VF (Secondary Controller List NVQ)
 * @nvi: interrupt resources of the VF (NVI)
 * @nns: how many namespaces are attached to the VF
 * @ns_crc: crc32c of their NSIDs, sizes, LBA formats and protection
 *	settings (DPS), in NSID order
 * @uuid: vendor specific controller state format, zero for none
 * @mn: model number, from Identify Controller
 * @fr: firmware revision, from Identify Controller when it was last read
 *
 * A destination takes a state only if all of it matches its own VF.
 */
struct nvme_lm_compat {
	u8 layout;
	u8 mdts;
	__le16 vid;
	__le16 nvme_ver;
	__le16 nvq;
	__le16 nvi;
	__le16 nns;
	__le32 ns_crc;
	u8 uuid[16];
	char mn[40];
	char fr[8];
};

#define NVME_LM_COMPAT_LAYOUT	5
/* nns of a controller that does not say which namespaces a VF has */
#define NVME_LM_NS_UNKNOWN	0xffff
/* NSIDs in a page of the allocated NSID list, and the pages read */
#define NVME_LM_NS_PER_PAGE	(NVME_IDENTIFY_DATA_SIZE / 4U)
#define NVME_LM_NS_PAGES	16

/**
 * struct nvme_lm - a primary controller acting as controlling function
 * @lm_ctrl: its registration with the live migration core
 * @dev: the PF's device
 * @ctrl: the PF's NVMe controller, for @submit
 * @submit: admin command submission (a fake one in KUnit)
 * @max_xfer: bytes one command moves here: at most MDTS, what the admin
 *	queue maps in one request, and %NVME_LM_XFER_MAX
 * @cntlid: the primary controller's own CNTLID
 * @mqes: the primary's CAP.MQES (0's based), which bounds the queue sizes
 *	a state may set on a VF
 * @resets: the PF driver's count of PF resets, each of which ends every
 *	VF's suspension; it outlives this structure
 * @changes: the controller's count of what may change its configuration
 *	(nvme_ctrl.config_changes): a VF's descriptor is read again after one
 * @suspends: the PF driver's count of bounded Migration Send commands
 *	(Suspend, Resume) not completed, each holding an admin tag; it
 *	outlives this structure
 * @map_lock: protects @map_valid, @vf_known and @vf_entry
 * @map_valid: the map reflects the current VFs
 * @vf_known: VFs the Secondary Controller List names
 * @vf_entry: each VF's entry in it (index: VF id)
 */
struct nvme_lm {
	struct lm_controller lm_ctrl;
	struct device *dev;
	struct nvme_ctrl *ctrl;
	nvme_lm_submit_fn submit;
	u32 max_xfer;
	u16 cntlid;
	u16 mqes;
	atomic_t *resets;
	atomic_t *changes;
	atomic_t *suspends;
	struct mutex map_lock;		/* see above */
	bool map_valid;
	DECLARE_BITMAP(vf_known, NVME_LM_MAX_VFS);
	struct nvme_sec_ctrl_entry vf_entry[NVME_LM_MAX_VFS];
};

#if IS_ENABLED(CONFIG_NVME_LIVE_MIGRATION)
struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl, struct pci_dev *pdev,
				 atomic_t *pf_resets, atomic_t *suspends);
void nvme_lm_unregister(struct nvme_lm *lm);
void nvme_lm_vfs_changed(struct nvme_lm *lm);
#else
static inline struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl,
					       struct pci_dev *pdev,
					       atomic_t *pf_resets,
					       atomic_t *suspends)
{
	return NULL;
}

static inline void nvme_lm_unregister(struct nvme_lm *lm)
{
}

static inline void nvme_lm_vfs_changed(struct nvme_lm *lm)
{
}
#endif

/* lm.c internals, visible to its KUnit test */
void nvme_lm_init(struct nvme_lm *lm, struct device *dev,
		  nvme_lm_submit_fn submit, u32 max_xfer, u32 map_limit,
		  u16 cntlid, atomic_t *pf_resets, atomic_t *changes,
		  atomic_t *suspends);
int nvme_lm_status_to_errno(int status);
const char *nvme_lm_opcode_name(u8 opcode);
int nvme_lm_vf(struct nvme_lm *lm, int vf, bool fresh,
	       struct nvme_sec_ctrl_entry *entry);
int nvme_lm_set_formats(const uuid_t *list, unsigned int n);
int nvme_lm_read_formats(struct nvme_lm *lm, const u8 *want_uuid,
			 struct nvme_lm_fmt *fmt);
int nvme_lm_describe_vf(struct nvme_lm *lm, int vf, const u8 *want_uuid,
			struct nvme_lm_compat *desc, struct nvme_lm_fmt *fmt,
			u16 *cntlid);
int nvme_lm_check_queues(struct nvme_lm *lm, const u8 *state, u32 len,
			 u16 nvq, u16 nvi);
int nvme_lm_check_state(struct nvme_lm *lm, const struct nvme_lm_fmt *fmt,
			const u8 *state, u32 len, u64 total);
void nvme_lm_cmd_suspend(struct nvme_command *c, u16 cntlid);
void nvme_lm_cmd_resume(struct nvme_command *c, u16 cntlid);
void nvme_lm_cmd_get_state(struct nvme_command *c, u16 cntlid,
			   const struct nvme_lm_fmt *fmt, u64 offset, u32 len);
void nvme_lm_cmd_set_state(struct nvme_command *c, u16 cntlid,
			   const struct nvme_lm_fmt *fmt, u64 offset, u32 len,
			   u8 seqind);
void nvme_lm_cmd_sec_list(struct nvme_command *c, u16 first_cntlid);
void nvme_lm_cmd_state_formats(struct nvme_command *c);
void nvme_lm_cmd_identify_ctrl(struct nvme_command *c);
void nvme_lm_cmd_identify_ns(struct nvme_command *c, u8 cns, u32 nsid,
			     u16 cntid);

#endif /* _NVME_LM_H */
