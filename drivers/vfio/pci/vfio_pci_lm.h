/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain vfio-pci as a consumer of drivers/live_migration: a function whose
 * controlling driver registered it is migratable without a variant driver.
 */
#ifndef VFIO_PCI_LM_H
#define VFIO_PCI_LM_H

#include <linux/vfio_pci_core.h>

struct lm_function;

/**
 * struct vfio_pci_lm_device - a vfio-pci device and its migration function
 * @core: the vfio-pci core device; must stay first
 * @lm: the function found at probe, NULL if the device is not migratable;
 *	a reference held until the vfio_device is released
 */
struct vfio_pci_lm_device {
	struct vfio_pci_core_device core;
	struct lm_function *lm;
};

#if IS_ENABLED(CONFIG_VFIO_PCI_LIVE_MIGRATION)
void vfio_pci_lm_probe(struct vfio_pci_lm_device *lmdev);
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
