// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests of the vfio-pci live migration adapter, included by
 * vfio_pci_lm.c so they reach its static ops.  They check the core's state
 * machine against VFIO's own vfio_mig_get_next_state() for every
 * combination, and the adapter's mapping of capabilities and errors.
 */

#include <kunit/device.h>
#include <kunit/test.h>
#include <kunit/visibility.h>
#include <linux/file.h>

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

static const u32 vfio_pci_lm_test_caps[] = {
	LM_CAP_STOP_COPY,
	LM_CAP_STOP_COPY | LM_CAP_P2P,
	LM_CAP_STOP_COPY | LM_CAP_PRE_COPY,
	LM_CAP_STOP_COPY | LM_CAP_P2P | LM_CAP_PRE_COPY,
	LM_CAP_ALL,
};

static bool vfio_pci_lm_test_state_ok(u64 flags, u32 state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return flags & VFIO_MIGRATION_P2P;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return flags & VFIO_MIGRATION_PRE_COPY;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return (flags & VFIO_MIGRATION_P2P) &&
		       (flags & VFIO_MIGRATION_PRE_COPY);
	case VFIO_DEVICE_STATE_ERROR:
		return false;
	}
	return state < LM_STATE_NR;
}

static void vfio_pci_lm_test_next_state(struct kunit *test)
{
	struct vfio_device *vdev;
	unsigned int i, cur, new;
	int checked = 0;

	vdev = kunit_kzalloc(test, sizeof(*vdev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, vdev);
	for (i = 0; i < ARRAY_SIZE(vfio_pci_lm_test_caps); i++) {
		u32 caps = vfio_pci_lm_test_caps[i];

		vdev->migration_flags = vfio_pci_lm_migration_flags(caps);
		for (cur = 0; cur < LM_STATE_NR; cur++) {
			for (new = 0; new < LM_STATE_NR + 2; new++) {
				enum vfio_device_mig_state vnext = 0;
				enum lm_state lnext = 0;
				int vret, lret;

				lret = lm_next_state(caps, cur, new, &lnext);
				/* VFIO WARNs on a current state it lacks */
				if (!vfio_pci_lm_test_state_ok(vdev->migration_flags,
							       cur)) {
					KUNIT_EXPECT_EQ(test, lret, -EINVAL);
					continue;
				}
				vret = vfio_mig_get_next_state(vdev, cur, new,
							       &vnext);
				KUNIT_EXPECT_EQ_MSG(test, lret, vret,
						    "caps %#x %u -> %u", caps,
						    cur, new);
				if (!vret && !lret)
					KUNIT_EXPECT_EQ_MSG(test, (int)lnext,
							    (int)vnext,
							    "caps %#x %u -> %u",
							    caps, cur, new);
				checked++;
			}
		}
	}
	/* every current state each capability set has, against 10 targets */
	KUNIT_EXPECT_EQ(test, checked, (4 + 5 + 5 + 7 + 7) * 10);
}

static void vfio_pci_lm_test_flags(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_migration_flags(LM_CAP_STOP_COPY),
			(u32)VFIO_MIGRATION_STOP_COPY);
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_migration_flags(LM_CAP_STOP_COPY |
							  LM_CAP_DIRTY_LOG),
			(u32)VFIO_MIGRATION_STOP_COPY);
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_migration_flags(LM_CAP_ALL),
			(u32)(VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			      VFIO_MIGRATION_PRE_COPY));
}

static int vfio_pci_lm_test_fail;

static int vfio_pci_lm_test_op(struct lm_function *fn)
{
	return vfio_pci_lm_test_fail;
}

static int vfio_pci_lm_test_save_begin(struct lm_function *fn,
				       enum lm_save_phase phase,
				       struct lm_segment *seg)
{
	seg->len = 100;
	return 0;
}

static int vfio_pci_lm_test_save_read(struct lm_function *fn, void *buf,
				      size_t len, u64 offset)
{
	memset(buf, 0x5a, len);
	return 0;
}

static int vfio_pci_lm_test_load(struct lm_function *fn, const void *buf,
				 size_t len, u64 offset, u64 total)
{
	return 0;
}

static int vfio_pci_lm_test_size(struct lm_function *fn, u64 *len)
{
	*len = 100;
	return 0;
}

static const struct lm_migration_ops vfio_pci_lm_test_ops = {
	.stop = vfio_pci_lm_test_op,
	.restart = vfio_pci_lm_test_op,
	.save_begin = vfio_pci_lm_test_save_begin,
	.save_read = vfio_pci_lm_test_save_read,
	.load = vfio_pci_lm_test_load,
	.state_size = vfio_pci_lm_test_size,
};

static const struct lm_p2p_ops vfio_pci_lm_test_p2p_ops = {
	.quiesce = vfio_pci_lm_test_op,
	.resume = vfio_pci_lm_test_op,
};

static void vfio_pci_lm_test_errors(struct kunit *test)
{
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 4096 };
	struct lm_controller ctrl = { .mig_ops = &vfio_pci_lm_test_ops };
	struct vfio_pci_lm_device *lmdev;
	struct vfio_device *vdev;
	enum vfio_device_mig_state state;
	unsigned long size;
	struct lm_function *lm;
	struct file *file;
	struct device *dev;

	ctrl.dev = kunit_device_register(test, "vfio-lm-ctrl");
	dev = kunit_device_register(test, "vfio-lm-vf");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ctrl.dev);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev);
	lmdev = kunit_kzalloc(test, sizeof(*lmdev), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, lmdev);
	vdev = &lmdev->core.vdev;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(lm_function_add(&ctrl, dev, &info)));
	lm = lm_function_get(dev);
	KUNIT_ASSERT_FALSE(test, IS_ERR(lm));
	vfio_pci_lm_attach(lmdev, lm);

	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_data_size(vdev, &size), 0);
	KUNIT_EXPECT_GT(test, size, 100UL);
	file = vfio_pci_lm_set_state(vdev, VFIO_DEVICE_STATE_STOP_COPY);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(file));
	if (!IS_ERR_OR_NULL(file))
		fput(file);
	KUNIT_EXPECT_NULL(test, vfio_pci_lm_set_state(vdev,
						      VFIO_DEVICE_STATE_STOP));
	KUNIT_EXPECT_EQ(test, PTR_ERR(vfio_pci_lm_set_state(vdev, 9)),
			-EINVAL);
	vfio_pci_lm_test_fail = -EIO;
	KUNIT_EXPECT_EQ(test,
			PTR_ERR(vfio_pci_lm_set_state(vdev,
						      VFIO_DEVICE_STATE_RUNNING)),
			-EIO);
	vfio_pci_lm_test_fail = 0;
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_state(vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, VFIO_DEVICE_STATE_ERROR);

	lm_controller_unregister(&ctrl);
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_state(vdev, &state), -ENODEV);
	file = vfio_pci_lm_set_state(vdev, VFIO_DEVICE_STATE_RUNNING);
	KUNIT_EXPECT_EQ(test, PTR_ERR(file), -ENODEV);
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_data_size(vdev, &size), -ENODEV);

	/* the controller comes back with the same capabilities: go on */
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(lm_function_add(&ctrl, dev, &info)));
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_state(vdev, &state), 0);
	KUNIT_EXPECT_EQ(test, state, VFIO_DEVICE_STATE_RUNNING);
	KUNIT_EXPECT_PTR_NE(test, lmdev->lm, lm);
	file = vfio_pci_lm_set_state(vdev, VFIO_DEVICE_STATE_STOP_COPY);
	KUNIT_EXPECT_FALSE(test, IS_ERR_OR_NULL(file));
	if (!IS_ERR_OR_NULL(file))
		fput(file);
	lm_controller_unregister(&ctrl);

	/* ... with others: VFIO's migration flags cannot change, so no */
	info.caps = LM_CAP_STOP_COPY | LM_CAP_P2P;
	ctrl.p2p_ops = &vfio_pci_lm_test_p2p_ops;
	KUNIT_ASSERT_EQ(test, lm_controller_register(&ctrl), 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(lm_function_add(&ctrl, dev, &info)));
	KUNIT_EXPECT_EQ(test, vfio_pci_lm_get_state(vdev, &state), -ENODEV);
	lm_controller_unregister(&ctrl);
	lm_function_put(lmdev->lm);
	mutex_destroy(&lmdev->lm_lock);
}

static struct kunit_case vfio_pci_lm_cases[] = {
	KUNIT_CASE(vfio_pci_lm_test_next_state),
	KUNIT_CASE(vfio_pci_lm_test_flags),
	KUNIT_CASE(vfio_pci_lm_test_errors),
	{}
};

static struct kunit_suite vfio_pci_lm_suite = {
	.name = "vfio_pci_live_migration",
	.test_cases = vfio_pci_lm_cases,
};

kunit_test_suite(vfio_pci_lm_suite);
