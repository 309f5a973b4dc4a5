/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain vfio-pci as a consumer of drivers/live_migration: a function whose
 * controlling driver registered it is migratable without a variant driver.
 */
#ifndef VFIO_PCI_LM_H
#define VFIO_PCI_LM_H

#include <linux/mutex.h>
#include <linux/vfio_pci_core.h>

struct lm_function;

/**
 * struct vfio_pci_lm_device - a vfio-pci device and its migration function
 * @core: the vfio-pci core device; must stay first
 * @lm_lock: protects @lm; held across each call into the core, so a
 *	function is never replaced under a call, except dirty reports, which
 *	hold a reference instead (they fault on user memory).  It nests
 *	inside vdev->memory_lock (reset_done) and outside the core's locks.
 * @lm: the function found at probe, NULL if the device is not migratable;
 *	a reference held until the vfio_device is released.  If its
 *	controller went away and a new one took the device with the same
 *	capabilities, the new function replaces it.
 * @caps: LM_CAP_* fixed at probe: VFIO's migration flags cannot change
 */
struct vfio_pci_lm_device {
	struct vfio_pci_core_device core;
	struct mutex lm_lock;		/* see above */
	struct lm_function *lm;
	u32 caps;
};

#if IS_ENABLED(CONFIG_VFIO_PCI_LIVE_MIGRATION)
void vfio_pci_lm_probe(struct vfio_pci_lm_device *lmdev);
void vfio_pci_lm_attach(struct vfio_pci_lm_device *lmdev,
			struct lm_function *lm);
void vfio_pci_lm_release_dev(struct vfio_device *core_vdev);
void vfio_pci_lm_close_device(struct vfio_device *core_vdev);
u32 vfio_pci_lm_migration_flags(u32 caps);
extern const struct pci_error_handlers vfio_pci_lm_err_handlers;
#else
static inline void vfio_pci_lm_probe(struct vfio_pci_lm_device *lmdev)
{
}

#define vfio_pci_lm_release_dev		vfio_pci_core_release_dev
#define vfio_pci_lm_close_device	vfio_pci_core_close_device
#define vfio_pci_lm_err_handlers	vfio_pci_core_err_handlers
#endif

#endif /* VFIO_PCI_LM_H */
