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

struct fake_aq {
	struct nvme_lm lm;
	struct nvme_command cmds[FAKE_CMDS];
	int ncmds;
	int fail_status;		/* answer every command with this */
	bool running;			/* Get Controller State: CSUP clear */
	u8 *state;			/* what Get Controller State returns */
	u32 state_len;
	u8 *loaded;			/* what Set Controller State received */
	u32 loaded_len;
	u32 loaded_next;		/* the offset the next piece must have */
	int send_cntlid;		/* Migration Send must name it, if >= 0 */
	u16 map[4];			/* CNTLID of VF 0..3 in the list */
	u16 foreign_scid;		/* a VF 1 of another primary, if set */
	int identifies;
	u8 fmts[8];			/* CNS 20h: NV, NUUID, versions */
};

static u8 *fake_state(struct kunit *test, u16 niosq, u16 niocq, u32 vss)
{
	u32 css = sizeof(struct nvme_ctrl_state_nvme) +
		  niosq * sizeof(struct nvme_ctrl_state_sq) +
		  niocq * sizeof(struct nvme_ctrl_state_cq);
	u32 len = NVME_LM_HDR_LEN + css + vss;
	struct nvme_ctrl_state_hdr *hdr;
	struct nvme_ctrl_state_nvme *cs;
	u8 *p = kunit_kzalloc(test, len, GFP_KERNEL);
	u32 i;

	KUNIT_ASSERT_NOT_NULL(test, p);
	hdr = (void *)p;
	hdr->ver = cpu_to_le16(1);
	put_unaligned_le64(css / 4, hdr->nvmecss);
	put_unaligned_le64(vss / 4, hdr->vss);
	cs = (void *)(p + NVME_LM_HDR_LEN);
	cs->ver = cpu_to_le16(1);
	cs->niosq = cpu_to_le16(niosq);
	cs->niocq = cpu_to_le16(niocq);
	for (i = NVME_LM_HDR_LEN + sizeof(*cs); i < len; i++)
		p[i] = i * 13;
	return p;
}

static int fake_submit(struct nvme_lm *lm, struct nvme_command *cmd,
		       void *buf, u32 len, u32 *result)
{
	struct fake_aq *aq = container_of(lm, struct fake_aq, lm);
	u64 off = le32_to_cpu(cmd->common.cdw12) |
		  (u64)le32_to_cpu(cmd->common.cdw13) << 32;
	int i;

	if (aq->ncmds < FAKE_CMDS)
		aq->cmds[aq->ncmds++] = *cmd;
	if (aq->fail_status)
		return aq->fail_status;
	switch (cmd->common.opcode) {
	case nvme_admin_identify: {
		struct nvme_sec_ctrl_list *l = buf;

		if (cmd->identify.cns == NVME_ID_CNS_CTRL_STATE_FMT) {
			memset(buf, 0, len);
			memcpy(buf, aq->fmts, sizeof(aq->fmts));
			return 0;
		}
		aq->identifies++;
		memset(l, 0, len);
		for (i = 0; i < ARRAY_SIZE(aq->map); i++) {
			if (!aq->map[i])
				continue;
			l->entries[l->num].scid = cpu_to_le16(aq->map[i]);
			l->entries[l->num].pcid = cpu_to_le16(FAKE_PRIMARY);
			l->entries[l->num].vfn = cpu_to_le16(i + 1);
			l->num++;
		}
		if (aq->foreign_scid) {
			l->entries[l->num].scid = cpu_to_le16(aq->foreign_scid);
			l->entries[l->num].pcid = cpu_to_le16(FAKE_PRIMARY + 1);
			l->entries[l->num].vfn = cpu_to_le16(1);
			l->num++;
		}
		return 0;
	}
	case nvme_admin_migrate_recv:
		if (off > aq->state_len || len > aq->state_len - off)
			return NVME_SC_INVALID_FIELD;
		memcpy(buf, aq->state + off, len);
		*result = aq->running ? 0 : NVME_MIGRECV_CSUP;
		return 0;
	case nvme_admin_migrate_send: {
		u32 seq = le32_to_cpu(cmd->common.cdw10) >> 16 & 3;
		/* NUMD is not 0's based (libnvme, libvfn) */
		u64 bytes = (u64)le32_to_cpu(cmd->common.cdw15) * 4;

		if ((le32_to_cpu(cmd->common.cdw10) & 0xff) !=
		    NVME_MIGSEND_SET_STATE)
			return 0;
		/* as a device: it moves NUMD dwords, for the named CNTLID */
		if (aq->send_cntlid >= 0 &&
		    (le32_to_cpu(cmd->common.cdw11) & 0xffff) != aq->send_cntlid)
			return NVME_SC_INVALID_FIELD;
		if (bytes != len || off + bytes > aq->loaded_len)
			return NVME_SC_INVALID_FIELD;
		/* first or entire at 0, then in order without gaps */
		if ((seq == NVME_MIG_SEQ_FIRST || seq == NVME_MIG_SEQ_ENTIRE) !=
		    !off || off != aq->loaded_next)
			return NVME_SC_INVALID_FIELD;
		memcpy(aq->loaded + off, buf, bytes);
		aq->loaded_next = seq == NVME_MIG_SEQ_LAST ||
				  seq == NVME_MIG_SEQ_ENTIRE ? 0 : off + bytes;
		return 0;
	}
	}
	return NVME_SC_INVALID_OPCODE;
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

static struct fake_aq *fake_aq_new(struct kunit *test, u32 max_xfer)
{
	struct fake_aq *aq = kunit_kzalloc(test, sizeof(*aq), GFP_KERNEL);
	static const char model[40] = "fake nvme", fw[8] = "1.0";

	KUNIT_ASSERT_NOT_NULL(test, aq);
	aq->send_cntlid = -1;
	nvme_lm_init(&aq->lm, nvme_lm_test_dev(test, "pf"), fake_submit,
		     max_xfer, FAKE_PRIMARY, 0x1b36, model, fw);
	aq->map[0] = 0x21;
	aq->map[1] = 0x22;
	/* versions 1 and 2, no vendor specific formats */
	aq->fmts[0] = 2;
	aq->fmts[2] = 1;
	aq->fmts[4] = 2;
	return aq;
}

static u32 dw(const struct nvme_command *c, int n)
{
	return le32_to_cpu(((const __le32 *)c)[n]);
}

/* Every dword of every command, as ref/nvme-tp4159.md encodes them. */
static void nvme_lm_test_encoding(struct kunit *test)
{
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

	nvme_lm_cmd_get_state(&c, 0x1234, 0x100000010ULL, 4096);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x42);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x00010000U);	/* SEL 0, CSVI 1 */
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x1234U);	/* CSUUIDI 0 */
	KUNIT_EXPECT_EQ(test, dw(&c, 12), 0x10U);
	KUNIT_EXPECT_EQ(test, dw(&c, 13), 0x1U);
	KUNIT_EXPECT_EQ(test, dw(&c, 14), 0U);
	KUNIT_EXPECT_EQ(test, dw(&c, 15), 1023U);	/* NUMDL 0's based */

	nvme_lm_cmd_set_state(&c, 0x1234, 8192, 4096, NVME_MIG_SEQ_LAST);
	KUNIT_EXPECT_EQ(test, c.common.opcode, 0x41);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x00020002U);	/* SEL 2, SEQIND 2 */
	KUNIT_EXPECT_EQ(test, dw(&c, 11), 0x00011234U);	/* CSVI 1 */
	KUNIT_EXPECT_EQ(test, dw(&c, 12), 8192U);
	KUNIT_EXPECT_EQ(test, dw(&c, 13), 0U);
	KUNIT_EXPECT_EQ(test, dw(&c, 15), 1024U);	/* NUMD */

	nvme_lm_cmd_sec_list(&c, 0);
	KUNIT_EXPECT_EQ(test, c.identify.opcode, nvme_admin_identify);
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x15U);	/* CNS 15h */

	nvme_lm_cmd_state_formats(&c);
	KUNIT_EXPECT_EQ(test, c.identify.opcode, nvme_admin_identify);
	KUNIT_EXPECT_EQ(test, dw(&c, 1), 0U);		/* NSID */
	KUNIT_EXPECT_EQ(test, dw(&c, 10), 0x20U);	/* CNS 20h */
	KUNIT_EXPECT_EQ(test, dw(&c, 11) | dw(&c, 14), 0U);

	KUNIT_EXPECT_EQ(test, nvme_admin_track_send, 0x3d);
	KUNIT_EXPECT_EQ(test, nvme_admin_track_recv, 0x3e);
	KUNIT_EXPECT_EQ(test, nvme_admin_ctrl_data_queue, 0x45);
	KUNIT_EXPECT_EQ(test, NVME_CTRL_OACS_HMLM, 1 << 11);
}

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
	KUNIT_ASSERT_EQ(test, nvme_lm_cntlid(&aq->lm, vf, &f->cntlid), 0);
	info.drvdata = f;
	fn = lm_function_add(&aq->lm.lm_ctrl, nvme_lm_test_dev(test, "vf"),
			     &info);
	KUNIT_ASSERT_FALSE(test, IS_ERR(fn));
	return fn;
}

static void nvme_lm_test_unregister(void *data)
{
	lm_controller_unregister(data);
}

static struct fake_aq *fake_registered(struct kunit *test, u32 max_xfer)
{
	struct fake_aq *aq = fake_aq_new(test, max_xfer);

	KUNIT_ASSERT_EQ(test, lm_controller_register(&aq->lm.lm_ctrl), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test,
							nvme_lm_test_unregister,
							&aq->lm.lm_ctrl), 0);
	return aq;
}

/*
 * Saves through the core.  With @state, reads the stream: it must carry
 * those @len bytes, unchanged, within less than a page of framing.
 */
static int save_payload(struct kunit *test, struct lm_function *fn,
			const u8 *state, u32 len)
{
	struct nvme_lm_fn *f = nvme_lm_fn(fn);
	size_t cap = len + PAGE_SIZE, got = 0, off;
	struct file *file = NULL;
	bool found = false;
	loff_t pos = 0;
	ssize_t n;
	u8 *buf;
	int ret;

	ret = lm_set_state(fn, LM_STATE_STOP_COPY, NULL, &file);
	if (file && state) {
		buf = kunit_kmalloc(test, cap, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, buf);
		while ((n = kernel_read(file, buf + got, cap - got, &pos)) > 0)
			got += n;
		KUNIT_EXPECT_EQ(test, n, 0);
		for (off = 0; !found && off + len <= got; off++)
			found = !memcmp(buf + off, state, len);
		KUNIT_EXPECT_TRUE(test, found);
		KUNIT_EXPECT_LT(test, got, cap);
	}
	if (file)
		fput(file);
	/* the function was suspended before its state was read */
	KUNIT_EXPECT_TRUE(test, f->suspended);
	return ret;
}

static void nvme_lm_test_chunking(struct kunit *test)
{
	static const u32 vss[] = { 0, 4096 - 48 - 8 - 24, 10000 };
	const u32 max_xfer = 4096;
	int i;

	for (i = 0; i < ARRAY_SIZE(vss); i++) {
		struct fake_aq *aq = fake_registered(test, max_xfer);
		struct lm_function *fn = nvme_lm_test_fn(test, aq, 1);
		u32 expect_cmds, j, off = 0;

		aq->state = fake_state(test, 1, 0, vss[i]);
		aq->state_len = NVME_LM_HDR_LEN +
				sizeof(struct nvme_ctrl_state_nvme) +
				sizeof(struct nvme_ctrl_state_sq) + vss[i];
		aq->ncmds = 0;
		/* the core copies out what the controller wrote, as it was */
		KUNIT_ASSERT_EQ(test, save_payload(test, fn, aq->state,
						   aq->state_len), 0);
		/* suspend, header, then the state in max_xfer pieces */
		expect_cmds = 2 + DIV_ROUND_UP(aq->state_len, max_xfer);
		KUNIT_EXPECT_EQ(test, aq->ncmds, (int)expect_cmds);
		KUNIT_EXPECT_EQ(test, aq->cmds[0].common.opcode, 0x41);
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 11), 0x10022U);
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[1], 15), 48 / 4 - 1);
		for (j = 2; j < expect_cmds; j++) {
			u32 n = min(aq->state_len - off, max_xfer);

			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 11), 0x22U);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 12), off);
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 15), n / 4 - 1);
			off += n;
		}

		/* load: SEQIND first/middle/last or entire, same pieces */
		aq->loaded_len = aq->state_len;
		aq->loaded = kunit_kzalloc(test, aq->loaded_len, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
		aq->send_cntlid = nvme_lm_fn(fn)->cntlid;
		aq->ncmds = 0;
		KUNIT_ASSERT_EQ(test, nvme_lm_load(fn, aq->state,
						   aq->state_len, 0,
						   aq->state_len), 0);
		KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state,
					     aq->state_len), 0);
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
			KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 11), 0x10022U);
		}
		lm_controller_unregister(&aq->lm.lm_ctrl);
		kunit_remove_action(test, nvme_lm_test_unregister,
				    &aq->lm.lm_ctrl);
	}
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

	/* a refused suspend leaves the function in ERROR; reset recovers */
	aq->fail_status = NVME_SC_CTRL_SUSPENDED;
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			-EBUSY);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	aq->fail_status = 0;
	KUNIT_EXPECT_EQ(test, lm_function_reset(fn), 0);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_RUNNING);

	/* a timeout while saving */
	aq->state = fake_state(test, 0, 0, 0);
	aq->state_len = NVME_LM_HDR_LEN + sizeof(struct nvme_ctrl_state_nvme);
	KUNIT_EXPECT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file), 0);
	aq->fail_status = -EINTR;
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
	struct nvme_ctrl_state_hdr *hdr;
	struct nvme_ctrl_state_nvme *cs;
	enum lm_state state;
	struct file *file;

	/* a header claiming more than any state may be */
	aq->state = fake_state(test, 1, 1, 0);
	aq->state_len = NVME_LM_HDR_LEN + sizeof(*cs) + 48;
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

	/* a state from a controller that says it is not suspended */
	cs->niosq = cpu_to_le16(1);
	aq->running = true;
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), -EPROTO);
	KUNIT_EXPECT_EQ(test, lm_get_state(fn, &state), 0);
	KUNIT_EXPECT_EQ(test, state, LM_STATE_ERROR);
	KUNIT_ASSERT_EQ(test, lm_function_reset(fn), 0);
	aq->running = false;

	/* a state that is fine once more */
	KUNIT_EXPECT_EQ(test, save_payload(test, fn, NULL, 0), 0);

	/*
	 * A peer's state is checked as the device's is, from its first piece
	 * (the core loads in 1 MiB pieces), before any command is sent.
	 */
	aq->ncmds = 0;
	cs->niocq = cpu_to_le16(7);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 100,
					   0, aq->state_len), -EPROTO);
	cs->niocq = cpu_to_le16(1);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 100, 0,
					   aq->state_len + 4), -EPROTO);
	KUNIT_EXPECT_EQ(test, nvme_lm_load(fn, aq->state, 40, 0,
					   aq->state_len), -EPROTO);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 0);
	KUNIT_ASSERT_EQ(test, lm_set_state(fn, LM_STATE_STOP, NULL, &file),
			0);
}

static void nvme_lm_test_vf_map(struct kunit *test)
{
	struct fake_aq *aq = fake_aq_new(test, 4096);
	u16 cntlid;

	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x22);
	KUNIT_EXPECT_EQ(test, aq->identifies, 1);
	/* cached */
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 0, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x21);
	KUNIT_EXPECT_EQ(test, aq->identifies, 1);
	/* unknown VF: the list is read again, still unknown */
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 3, &cntlid), -ENODEV);
	KUNIT_EXPECT_EQ(test, aq->identifies, 2);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, -1, &cntlid), -ENODEV);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, NVME_LM_MAX_VFS,
					     &cntlid), -ENODEV);
	/* sriov_numvfs changed: the map is rebuilt */
	aq->map[1] = 0x42;
	nvme_lm_vfs_changed(&aq->lm);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x42);
	KUNIT_EXPECT_EQ(test, aq->identifies, 3);
	/* a VF 1 of another primary controller is not ours */
	aq->foreign_scid = 0x99;
	nvme_lm_vfs_changed(&aq->lm);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 0, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x21);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x42);
	/* lies: one controller twice, or a VF given the PF's own CNTLID */
	aq->foreign_scid = 0x42;
	nvme_lm_vfs_changed(&aq->lm);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), -EPROTO);
	aq->foreign_scid = 0;
	aq->map[1] = aq->map[0];
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), -EPROTO);
	aq->map[1] = FAKE_PRIMARY;
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), -EPROTO);
	/* and a truthful list once more */
	aq->map[1] = 0x42;
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid), 0);
	KUNIT_EXPECT_EQ(test, cntlid, 0x42);
	/* identify failing */
	aq->fail_status = NVME_SC_INVALID_FIELD;
	nvme_lm_vfs_changed(&aq->lm);
	KUNIT_EXPECT_EQ(test, nvme_lm_cntlid(&aq->lm, 1, &cntlid),
			-EOPNOTSUPP);
}

static void nvme_lm_test_formats(struct kunit *test)
{
	struct fake_aq *aq = fake_aq_new(test, 4096);
	struct fake_aq *other = fake_aq_new(test, 4096);
	u8 remote[NVME_LM_COMPAT_LEN];
	u16 len;

	/* the versions land in the descriptor after vendor, model, fw */
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&aq->lm), 0);
	KUNIT_EXPECT_EQ(test, aq->lm.compat_len, NVME_LM_COMPAT_FIXED + 4);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(aq->lm.compat), 0x1b36);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(aq->lm.compat + 2), 1);
	KUNIT_EXPECT_EQ(test, aq->lm.compat[NVME_LM_COMPAT_FIXED - 1], 2);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(aq->lm.compat + 53), 1);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(aq->lm.compat + 55), 2);
	KUNIT_EXPECT_EQ(test, aq->ncmds, 1);
	KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 10), 0x20U);

	/* a destination that lists version 1 only still takes version 1 */
	other->fmts[0] = 1;
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&other->lm), 0);
	len = aq->lm.compat_len;
	memcpy(remote, aq->lm.compat, len);
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&other->lm, remote, len), 0);
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len), 0);
	/* another firmware, vendor or state version; a short descriptor */
	remote[44] ^= 1;
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len),
			-EXDEV);
	remote[44] ^= 1;
	remote[0] ^= 1;
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len),
			-EXDEV);
	remote[0] ^= 1;
	put_unaligned_le16(3, remote + 2);
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len),
			-EXDEV);
	put_unaligned_le16(1, remote + 2);
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len - 1),
			-EXDEV);
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, 10),
			-EXDEV);
	remote[NVME_LM_COMPAT_FIXED - 1] = 200;	/* count beyond the length */
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&aq->lm, remote, len),
			-EXDEV);

	/* a long list: version 1 is kept in the descriptor whatever its place */
	memset(other->fmts, 0, sizeof(other->fmts));
	other->fmts[0] = 3;
	other->fmts[2] = 5;
	other->fmts[4] = 4;
	other->fmts[6] = 1;
	KUNIT_ASSERT_EQ(test, nvme_lm_read_formats(&other->lm), 0);
	KUNIT_EXPECT_EQ(test, other->lm.compat[NVME_LM_COMPAT_FIXED - 1], 3);
	KUNIT_EXPECT_EQ(test, get_unaligned_le16(other->lm.compat + 53), 1);
	remote[NVME_LM_COMPAT_FIXED - 1] = 2;
	KUNIT_EXPECT_EQ(test, nvme_lm_compatible(&other->lm, remote, len), 0);

	/* no version 1: not offered */
	other->fmts[0] = 1;
	other->fmts[2] = 2;
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&other->lm), -EOPNOTSUPP);
	/* counts that overflow the 4 KiB of Identify data */
	other->fmts[0] = 255;
	other->fmts[1] = 255;
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&other->lm), -EPROTO);
	/* the controller refuses CNS 20h */
	other->fail_status = NVME_SC_INVALID_FIELD;
	KUNIT_EXPECT_EQ(test, nvme_lm_read_formats(&other->lm), -EOPNOTSUPP);
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
	struct fake_aq *aq = fake_registered(test, max_xfer);
	struct lm_function *fn = nvme_lm_test_fn(test, aq, 1);
	u32 off, j, len;

	aq->state = fake_state(test, 1, 0, vss);
	aq->state_len = NVME_LM_HDR_LEN + sizeof(struct nvme_ctrl_state_nvme) +
			sizeof(struct nvme_ctrl_state_sq) + vss;
	aq->loaded_len = aq->state_len;
	aq->loaded = kunit_kzalloc(test, aq->loaded_len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, aq->loaded);
	aq->send_cntlid = nvme_lm_fn(fn)->cntlid;
	aq->ncmds = 0;
	for (off = 0; off < aq->state_len; off += len) {
		len = min(aq->state_len - off, piece);
		KUNIT_ASSERT_EQ(test, nvme_lm_load(fn, aq->state + off, len,
						   off, aq->state_len), 0);
	}
	KUNIT_EXPECT_EQ(test, memcmp(aq->loaded, aq->state, aq->state_len), 0);
	KUNIT_EXPECT_EQ(test, aq->loaded_next, 0U);
	/* the fake keeps the first FAKE_CMDS: first, then middles */
	KUNIT_EXPECT_EQ(test, dw(&aq->cmds[0], 10) >> 16, 1U);
	for (j = 1; j < min_t(int, aq->ncmds, FAKE_CMDS) - 1; j++)
		KUNIT_EXPECT_EQ(test, dw(&aq->cmds[j], 10) >> 16, 0U);
	KUNIT_EXPECT_EQ(test, aq->ncmds,
			(int)(DIV_ROUND_UP(aq->state_len - 3 * piece, max_xfer) +
			      3 * (piece / max_xfer)));

	/* a CNTLID the device does not expect: its status, not a load */
	aq->send_cntlid = nvme_lm_fn(fn)->cntlid + 1;
	KUNIT_EXPECT_NE(test, nvme_lm_load(fn, aq->state, piece, 0,
					   aq->state_len), 0);
}

static struct kunit_case nvme_lm_cases[] = {
	KUNIT_CASE(nvme_lm_test_load_pieces),
	KUNIT_CASE(nvme_lm_test_encoding),
	KUNIT_CASE(nvme_lm_test_chunking),
	KUNIT_CASE(nvme_lm_test_status),
	KUNIT_CASE(nvme_lm_test_lying_device),
	KUNIT_CASE(nvme_lm_test_vf_map),
	KUNIT_CASE(nvme_lm_test_formats),
	{}
};

static struct kunit_suite nvme_lm_suite = {
	.name = "nvme_live_migration",
	.test_cases = nvme_lm_cases,
};

kunit_test_suite(nvme_lm_suite);
