/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nvme-pci as a live migration controlling function (TP4159).
 */
#ifndef _NVME_LM_H
#define _NVME_LM_H

#include <linux/live_migration.h>
#include <linux/mutex.h>
#include <linux/nvme.h>
#include <linux/unaligned.h>

#define NVME_LM_MAX_VFS		256
/* controller state versions the compatibility descriptor lists at most */
#define NVME_LM_MAX_FMTS	16
/* vendor, state version used, model, firmware, number of versions */
#define NVME_LM_COMPAT_FIXED	53
#define NVME_LM_COMPAT_LEN	(NVME_LM_COMPAT_FIXED + 2 * NVME_LM_MAX_FMTS)

struct nvme_ctrl;
struct nvme_lm;
struct pci_dev;

/* Sends one admin command to the PF; returns an NVMe status or -errno. */
typedef int (*nvme_lm_submit_fn)(struct nvme_lm *lm, struct nvme_command *cmd,
				 void *buf, u32 len, u32 *result);

/**
 * struct nvme_lm - a primary controller acting as controlling function
 * @lm_ctrl: its registration with the live migration core
 * @dev: the PF's device
 * @ctrl: the PF's NVMe controller, for @submit
 * @submit: admin command submission (a fake one in KUnit)
 * @max_xfer: bytes one command may move (MDTS)
 * @cntlid: the primary controller's own CNTLID
 * @map_lock: protects @map_valid and @vf_cntlid
 * @map_valid: @vf_cntlid reflects the current VFs
 * @vf_cntlid: CNTLID of each VF (index: VF id), 0 if unknown
 * @compat: compatibility descriptor: PCI vendor ID (le16), the controller
 *	state version this driver saves (le16), model number (40 bytes),
 *	firmware revision (8 bytes), then the number of controller state
 *	versions the controller supports (u8) and those versions (le16 each),
 *	from Identify CNS 20h
 * @compat_len: bytes of @compat in use
 */
struct nvme_lm {
	struct lm_controller lm_ctrl;
	struct device *dev;
	struct nvme_ctrl *ctrl;
	nvme_lm_submit_fn submit;
	u32 max_xfer;
	u16 cntlid;
	struct mutex map_lock;		/* see above */
	bool map_valid;
	u16 vf_cntlid[NVME_LM_MAX_VFS];
	u8 compat[NVME_LM_COMPAT_LEN];
	u16 compat_len;
};

#if IS_ENABLED(CONFIG_NVME_LIVE_MIGRATION)
struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl, struct pci_dev *pdev);
void nvme_lm_unregister(struct nvme_lm *lm);
void nvme_lm_vfs_changed(struct nvme_lm *lm);
#else
static inline struct nvme_lm *nvme_lm_register(struct nvme_ctrl *ctrl,
					       struct pci_dev *pdev)
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
		  nvme_lm_submit_fn submit, u32 max_xfer, u16 cntlid, u16 vid,
		  const char *model, const char *fw);
int nvme_lm_status_to_errno(int status);
const char *nvme_lm_opcode_name(u8 opcode);
int nvme_lm_cntlid(struct nvme_lm *lm, int vf, u16 *cntlid);
int nvme_lm_check_state(struct nvme_lm *lm, const u8 *state, u32 len,
			u64 total);
int nvme_lm_read_formats(struct nvme_lm *lm);
int nvme_lm_compatible(struct nvme_lm *lm, const u8 *remote, size_t len);
void nvme_lm_cmd_suspend(struct nvme_command *c, u16 cntlid);
void nvme_lm_cmd_resume(struct nvme_command *c, u16 cntlid);
void nvme_lm_cmd_get_state(struct nvme_command *c, u16 cntlid, u64 offset,
			   u32 len);
void nvme_lm_cmd_set_state(struct nvme_command *c, u16 cntlid, u64 offset,
			   u32 len, u8 seqind);
void nvme_lm_cmd_sec_list(struct nvme_command *c, u16 first_cntlid);
void nvme_lm_cmd_state_formats(struct nvme_command *c);

#endif /* _NVME_LM_H */
