// SPDX-License-Identifier: GPL-2.0-only
/*
 * VFIO migration v2 for plain vfio-pci, served by drivers/live_migration.
 *
 * At probe vfio-pci asks the live migration core whether the device is a
 * function some controlling driver migrates.  If so, the vfio_device gets
 * migration (and, with dirty tracking, logging) ops before it registers,
 * as VFIO requires.  Everything else, the state machine, the data files,
 * validation, reset and lifetimes, is the core's: this file only translates.
 */

#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/live_migration.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "vfio_pci_lm.h"

static struct vfio_pci_lm_device *to_lmdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct vfio_pci_lm_device, core.vdev);
}

/*
 * lm_lock held.  The controller of lmdev->lm went away: if a controller took
 * the device again with the same capabilities (a PF driver reloaded, say),
 * use its function from now on, so the VMM need not unbind the device.
 */
static void vfio_pci_lm_revive(struct vfio_pci_lm_device *lmdev)
{
	struct lm_function *old = lmdev->lm, *fresh;

	lockdep_assert_held(&lmdev->lm_lock);
	fresh = lm_function_get(lm_function_device(old));
	if (IS_ERR(fresh))
		return;
	if (fresh == old || lm_function_caps(fresh) != lmdev->caps) {
		lm_function_put(fresh);
		return;
	}
	lmdev->lm = fresh;
	lm_function_put(old);
	dev_info(lm_function_device(fresh),
		 "live migration goes on with the device's new controller\n");
}

/**
 * vfio_pci_lm_migration_flags() - VFIO_MIGRATION_* for a function's caps
 * @caps: LM_CAP_* of the function
 *
 * Return: the flags VFIO_DEVICE_FEATURE_MIGRATION reports.
 */
u32 vfio_pci_lm_migration_flags(u32 caps)
{
	u32 flags = VFIO_MIGRATION_STOP_COPY;

	if (caps & LM_CAP_P2P)
		flags |= VFIO_MIGRATION_P2P;
	if (caps & LM_CAP_PRE_COPY)
		flags |= VFIO_MIGRATION_PRE_COPY;
	return flags;
}

static long vfio_pci_lm_file_ioctl(struct file *file, unsigned int cmd,
				   unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info,
					  dirty_bytes);
	struct vfio_precopy_info info;
	u64 initial, dirty;
	int ret;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	ret = lm_file_precopy_info(file, &initial, &dirty);
	if (ret)
		return ret;
	info.flags = 0;
	info.initial_bytes = initial;
	info.dirty_bytes = dirty;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static const struct lm_file_ops vfio_pci_lm_file_ops = {
	.owner = THIS_MODULE,
	.ioctl = vfio_pci_lm_file_ioctl,
};

/*
 * Takes lm_lock, held across the caller's call into the core, and returns
 * the function to call: a revived one if the old one's controller went.
 */
static struct lm_function *vfio_pci_lm_lock(struct vfio_pci_lm_device *lmdev)
{
	mutex_lock(&lmdev->lm_lock);
	if (lm_function_removed(lmdev->lm))
		vfio_pci_lm_revive(lmdev);
	return lmdev->lm;
}

static void vfio_pci_lm_unlock(struct vfio_pci_lm_device *lmdev)
{
	mutex_unlock(&lmdev->lm_lock);
}

static struct file *
vfio_pci_lm_set_state(struct vfio_device *vdev,
		      enum vfio_device_mig_state new_state)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(vdev);
	struct file *file;
	int ret;

	ret = lm_set_state(vfio_pci_lm_lock(lmdev), (enum lm_state)new_state,
			   &vfio_pci_lm_file_ops, &file);
	vfio_pci_lm_unlock(lmdev);
	return ret ? ERR_PTR(ret) : file;
}

static int vfio_pci_lm_get_state(struct vfio_device *vdev,
				 enum vfio_device_mig_state *state)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(vdev);
	enum lm_state cur;
	int ret;

	ret = lm_get_state(vfio_pci_lm_lock(lmdev), &cur);
	vfio_pci_lm_unlock(lmdev);
	if (!ret)
		*state = (enum vfio_device_mig_state)cur;
	return ret;
}

static int vfio_pci_lm_get_data_size(struct vfio_device *vdev,
				     unsigned long *stop_copy_length)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(vdev);
	u64 size;
	int ret;

	ret = lm_get_data_size(vfio_pci_lm_lock(lmdev), &size);
	vfio_pci_lm_unlock(lmdev);
	if (!ret)
		*stop_copy_length = size;
	return ret;
}

static const struct vfio_migration_ops vfio_pci_lm_mig_ops = {
	.migration_set_state = vfio_pci_lm_set_state,
	.migration_get_state = vfio_pci_lm_get_state,
	.migration_get_data_size = vfio_pci_lm_get_data_size,
};

static int vfio_pci_lm_log_start(struct vfio_device *vdev,
				 struct rb_root_cached *ranges, u32 nnodes,
				 u64 *page_size)
{
	struct interval_tree_node *node;
	struct lm_log_range *r;
	unsigned int i = 0;
	int ret;

	r = kcalloc(nnodes, sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX);
	     node && i < nnodes; node = interval_tree_iter_next(node, 0,
								ULONG_MAX)) {
		r[i].iova = node->start;
		r[i].length = node->last - node->start + 1;
		i++;
	}
	/* VFIO's page_size is in/out: the device may track coarser */
	ret = lm_log_start(vfio_pci_lm_lock(to_lmdev(vdev)), r, i, page_size);
	vfio_pci_lm_unlock(to_lmdev(vdev));
	kfree(r);
	return ret;
}

static int vfio_pci_lm_log_stop(struct vfio_device *vdev)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(vdev);
	int ret;

	ret = lm_log_stop(vfio_pci_lm_lock(lmdev));
	vfio_pci_lm_unlock(lmdev);
	return ret;
}

static void vfio_pci_lm_set_dirty(void *opaque, unsigned long iova,
				  unsigned long length)
{
	iova_bitmap_set(opaque, iova, length);
}

static int vfio_pci_lm_log_read_and_clear(struct vfio_device *vdev,
					  unsigned long iova,
					  unsigned long length,
					  struct iova_bitmap *dirty)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(vdev);
	struct lm_function *fn;
	int ret;

	/*
	 * iova_bitmap_set() pins the user's bitmap (mmap_lock, and a fault
	 * may take memory_lock), while reset_done takes lm_lock under
	 * memory_lock: so no lock of ours is held across the report.
	 */
	fn = lm_function_hold(vfio_pci_lm_lock(lmdev));
	vfio_pci_lm_unlock(lmdev);
	ret = lm_log_report(fn, iova, length, vfio_pci_lm_set_dirty, dirty);
	lm_function_put(fn);
	return ret;
}

static const struct vfio_log_ops vfio_pci_lm_log_ops = {
	.log_start = vfio_pci_lm_log_start,
	.log_stop = vfio_pci_lm_log_stop,
	.log_read_and_clear = vfio_pci_lm_log_read_and_clear,
};

/**
 * vfio_pci_lm_attach() - tie a function to a vfio-pci device
 * @lmdev: the device, before it registers
 * @lm: a reference from lm_function_get(), owned by @lmdev from now on
 */
void vfio_pci_lm_attach(struct vfio_pci_lm_device *lmdev,
			struct lm_function *lm)
{
	mutex_init(&lmdev->lm_lock);
	lmdev->lm = lm;
	lmdev->caps = lm_function_caps(lm);
}

/**
 * vfio_pci_lm_probe() - give a vfio-pci device migration if it has any
 * @lmdev: the device being probed, before vfio_pci_core_register_device()
 */
void vfio_pci_lm_probe(struct vfio_pci_lm_device *lmdev)
{
	struct vfio_device *vdev = &lmdev->core.vdev;
	struct pci_dev *pdev = lmdev->core.pdev;
	struct lm_function *lm;
	u32 caps;

	BUILD_BUG_ON(VFIO_DEVICE_STATE_ERROR != (int)LM_STATE_ERROR ||
		     VFIO_DEVICE_STATE_STOP != (int)LM_STATE_STOP ||
		     VFIO_DEVICE_STATE_RUNNING != (int)LM_STATE_RUNNING ||
		     VFIO_DEVICE_STATE_STOP_COPY != (int)LM_STATE_STOP_COPY ||
		     VFIO_DEVICE_STATE_RESUMING != (int)LM_STATE_RESUMING ||
		     VFIO_DEVICE_STATE_RUNNING_P2P !=
		     (int)LM_STATE_RUNNING_P2P ||
		     VFIO_DEVICE_STATE_PRE_COPY != (int)LM_STATE_PRE_COPY ||
		     VFIO_DEVICE_STATE_PRE_COPY_P2P !=
		     (int)LM_STATE_PRE_COPY_P2P);

	lm = lm_function_get(&pdev->dev);
	if (IS_ERR(lm)) {
		if (PTR_ERR(lm) != -ENODEV)
			pci_warn(pdev, "live migration unavailable: %pe\n", lm);
		return;
	}
	vfio_pci_lm_attach(lmdev, lm);
	caps = lmdev->caps;
	vdev->migration_flags = vfio_pci_lm_migration_flags(caps);
	vdev->mig_ops = &vfio_pci_lm_mig_ops;
	if (caps & LM_CAP_DIRTY_LOG)
		vdev->log_ops = &vfio_pci_lm_log_ops;
	pci_info(pdev, "migratable through live_migration (flags %#x)\n",
		 vdev->migration_flags);
}

/**
 * vfio_pci_lm_release_dev() - &vfio_device_ops.release of vfio-pci
 * @core_vdev: the vfio device whose last reference went
 */
void vfio_pci_lm_release_dev(struct vfio_device *core_vdev)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(core_vdev);

	if (lmdev->lm) {
		lm_function_put(lmdev->lm);
		mutex_destroy(&lmdev->lm_lock);
	}
	vfio_pci_core_release_dev(core_vdev);
}

/**
 * vfio_pci_lm_close_device() - &vfio_device_ops.close_device of vfio-pci
 * @core_vdev: the vfio device being closed
 *
 * The next user finds the function running, with no data file open.
 */
void vfio_pci_lm_close_device(struct vfio_device *core_vdev)
{
	struct vfio_pci_lm_device *lmdev = to_lmdev(core_vdev);

	vfio_pci_core_close_device(core_vdev);
	if (lmdev->lm) {
		lm_function_reset(vfio_pci_lm_lock(lmdev));
		vfio_pci_lm_unlock(lmdev);
	}
}

static void vfio_pci_lm_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);
	struct vfio_pci_lm_device *lmdev;

	if (!core)
		return;
	lmdev = container_of(core, struct vfio_pci_lm_device, core);
	if (lmdev->lm) {
		lm_function_reset(vfio_pci_lm_lock(lmdev));
		vfio_pci_lm_unlock(lmdev);
	}
}

const struct pci_error_handlers vfio_pci_lm_err_handlers = {
	.error_detected = vfio_pci_core_aer_err_detected,
	.reset_done = vfio_pci_lm_reset_done,
};

MODULE_IMPORT_NS(IOMMUFD);

#if IS_ENABLED(CONFIG_VFIO_PCI_LIVE_MIGRATION_KUNIT_TEST)
#include "vfio_pci_lm_test.c"
#endif
