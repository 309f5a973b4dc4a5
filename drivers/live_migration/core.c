// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: registry of controllers and functions, lookup,
 * lifetime and sysfs.
 */

/**
 * DOC: overview
 *
 * A *controlling driver* (for instance an SR-IOV PF driver whose admin queue
 * can suspend a VF and fetch its state) registers a &struct lm_controller at
 * its probe, before any controlled function exists, and unregisters it at
 * remove.  Its functions come into existence either explicitly, with
 * lm_function_add(), or on demand: when a consumer asks lm_function_get()
 * about a device the core does not know, the controller of that device's
 * controlling device (the PF of a PCI VF, otherwise the parent) is asked
 * through &lm_controller_ops.claim.  So the order in which PF and VF
 * drivers bind never matters, and a consumer such as vfio-pci can ask at
 * its own probe.
 *
 * A *consumer* holds a reference to a &struct lm_function, drives the state
 * machine with lm_set_state() and moves the state through the data files the
 * core returns.  The core owns everything that is not device specific: the
 * state machine, the data files and their framing, validation of incoming
 * streams, reset, lifetimes and observability.
 *
 * When a controller unregisters, its functions are removed: open data files
 * are disabled, every later call on a handle or file fails with -ENODEV, and
 * the memory stays until the last handle and file are gone.  A function
 * never outlives its controlled device: when the device is deleted (a VF
 * destroyed by sriov_numvfs, a hot removal) its function is removed too, so
 * a device created again in its place is claimed afresh.
 */

#include <linux/err.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "lm_internal.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/*
 * lm_registry_lock protects lm_controllers, every controller's function list
 * and claims count, and lm_function_hash.  Lookups hash the device pointer
 * into 64 buckets: a short walk for the few hundred functions a host
 * has.  It is never
 * held across a driver's claim: a controller's claim_lock (outside the
 * registry lock) serialises its claims, and a claim under way keeps the
 * controller from finishing lm_controller_unregister() through ->claims.
 */
static DEFINE_MUTEX(lm_registry_lock);
static DECLARE_WAIT_QUEUE_HEAD(lm_claims_wq);
static LIST_HEAD(lm_controllers);
/* lookups come at a consumer's probe and at device deletions: no more */
static DEFINE_HASHTABLE(lm_function_hash, 6);

/*
 * Buses whose device deletions are followed, one notifier each, under
 * lm_bus_lock.  Never taken under the registry lock: the notifier chain's
 * lock is held while a notifier takes it.
 */
struct lm_bus_watch {
	struct list_head node;
	const struct bus_type *bus;
	struct notifier_block nb;
};

static DEFINE_MUTEX(lm_bus_lock);
static LIST_HEAD(lm_buses);

atomic_t lm_live_functions = ATOMIC_INIT(0);

static void lm_function_release_dev(struct device *dev)
{
	struct lm_function *fn = to_lm_function(dev);

	put_device(fn->controlled);
	kfree(fn->log_ranges);
	mutex_destroy(&fn->lock);
	kfree(fn);
	atomic_dec(&lm_live_functions);
}

static struct lm_function *lm_find_locked(struct device *dev)
{
	struct lm_function *fn;

	lockdep_assert_held(&lm_registry_lock);
	hash_for_each_possible(lm_function_hash, fn, hnode, (unsigned long)dev)
		if (fn->controlled == dev)
			return fn;
	return NULL;
}

static struct lm_controller *lm_find_controller_locked(struct device *dev)
{
	struct lm_controller *ctrl;

	lockdep_assert_held(&lm_registry_lock);
	list_for_each_entry(ctrl, &lm_controllers, node)
		if (ctrl->dev == dev)
			return ctrl;
	return NULL;
}

/* What a controller's functions may have: it follows from its tables. */
static u32 lm_controller_caps(const struct lm_controller *ctrl)
{
	return LM_CAP_STOP_COPY | LM_CAP_PRE_COPY |
	       (ctrl->p2p_ops ? LM_CAP_P2P : 0) |
	       (ctrl->log_ops ? LM_CAP_DIRTY_LOG : 0);
}

static int lm_check_info(struct lm_controller *ctrl,
			 const struct lm_function_info *info)
{
	u32 caps = info->caps;

	if (!(caps & LM_CAP_STOP_COPY) || (caps & ~lm_controller_caps(ctrl)))
		return -EINVAL;
	if (!info->max_state_size ||
	    info->max_state_size > LM_MAX_STATE_SIZE ||
	    info->compat_len > LM_COMPAT_MAX ||
	    (info->compat_len && !info->compat))
		return -EINVAL;
	return 0;
}

/* Creates, registers and publishes a function; registry lock held. */
static struct lm_function *lm_create_locked(struct lm_controller *ctrl,
					    struct device *dev,
					    const struct lm_function_info *info)
{
	struct lm_function *fn;
	int ret;

	lockdep_assert_held(&lm_registry_lock);
	ret = lm_check_info(ctrl, info);
	if (ret)
		return ERR_PTR(ret);
	if (lm_find_locked(dev))
		return ERR_PTR(-EEXIST);
	/*
	 * Callers do not race @dev's deletion: a driver probing or bound to
	 * it (vfio-pci) asks before device_del() unbinds it, and so before
	 * the bus notifier of the deletion, which then finds the function.
	 * A device already deleted is refused.
	 */
	if (!device_is_registered(dev))
		return ERR_PTR(-ENODEV);

	fn = lm_should_fail() ? NULL :
	     kzalloc(struct_size(fn, compat, info->compat_len), GFP_KERNEL);
	if (!fn)
		return ERR_PTR(-ENOMEM);
	atomic_inc(&lm_live_functions);
	mutex_init(&fn->lock);
	fn->controlled = get_device(dev);
	fn->ctrl = ctrl;
	fn->mig = ctrl->mig_ops;
	fn->p2p = info->caps & LM_CAP_P2P ? ctrl->p2p_ops : NULL;
	fn->log = info->caps & LM_CAP_DIRTY_LOG ? ctrl->log_ops : NULL;
	fn->drvdata = info->drvdata;
	fn->caps = info->caps;
	fn->max_state_size = info->max_state_size;
	fn->compat_len = info->compat_len;
	if (info->compat_len)
		memcpy(fn->compat, info->compat, info->compat_len);
	fn->state = LM_STATE_RUNNING;
	strscpy(fn->ctrl_name,
		ctrl->name ?: dev_driver_string(ctrl->dev) ?: "unknown",
		sizeof(fn->ctrl_name));

	device_initialize(&fn->dev);
	/* under the device it migrates: the driver core links "device" */
	fn->dev.parent = dev;
	/* nothing to suspend: the controlled device's driver does that */
	device_set_pm_not_required(&fn->dev);
	fn->dev.class = &lm_class;
	fn->dev.groups = lm_function_groups;
	fn->dev.release = lm_function_release_dev;
	ret = dev_set_name(&fn->dev, "%s", dev_name(dev));
	if (!ret)
		ret = device_add(&fn->dev);
	if (ret) {
		put_device(&fn->dev);
		return ERR_PTR(ret);
	}
	/* A convenience: a function works without it. */
	if (sysfs_create_link(&fn->dev.kobj, &ctrl->dev->kobj, "controller"))
		dev_warn(&fn->dev, "cannot create the controller link\n");

	hash_add(lm_function_hash, &fn->hnode, (unsigned long)dev);
	list_add_tail(&fn->ctrl_node, &ctrl->functions);
	fn->listed = true;
	return fn;
}

/*
 * Takes a function out of the registry (registry lock held); the caller
 * finishes with lm_kill() without that lock.
 */
static void lm_unpublish_locked(struct lm_function *fn)
{
	lockdep_assert_held(&lm_registry_lock);
	if (hash_hashed(&fn->hnode))
		hash_del(&fn->hnode);
	list_del_init(&fn->ctrl_node);
	fn->listed = false;
}

/*
 * Ends a function: consumers get -ENODEV from now on, and its class device
 * goes.  The driver's part ends too (its session and logging, then
 * &lm_controller_ops.release; no op runs after that) except when @gone,
 * the controlled device was deleted, and the driver added the function
 * itself: that driver still holds it and gets &lm_controller_ops.release
 * from lm_function_remove().  A stopped device the controller lets go of
 * is restarted unless @gone.
 * Called again, it does what is left; callers hold a reference.
 */
static void lm_kill(struct lm_function *fn, bool gone)
{
	bool first;

	mutex_lock(&fn->lock);
	first = !fn->dead;
	if (gone && !fn->claimed) {
		/* no driver call from device_del(): dead, nothing else */
		WRITE_ONCE(fn->dead, true);
		lm_file_disable(fn);
		lm_log_forget(fn);
	} else if (!fn->released) {
		if (!fn->dead) {
			lm_file_disable(fn);
			lm_log_off(fn);
			if (!gone)
				lm_fsm_restore_running(fn);
		}
		lm_op_release(fn);
		fn->released = true;
		/* lm_function_removed() reads it without the lock */
		WRITE_ONCE(fn->dead, true);
		fn->ctrl = NULL;
	}
	mutex_unlock(&fn->lock);
	if (!first)
		return;
	sysfs_remove_link(&fn->dev.kobj, "controller");
	device_del(&fn->dev);
}

static int lm_bus_notify(struct notifier_block *nb, unsigned long action,
			 void *data)
{
	struct device *dev = data;
	struct lm_function *fn;
	bool drop = false;

	if (action != BUS_NOTIFY_REMOVED_DEVICE)
		return NOTIFY_DONE;
	mutex_lock(&lm_registry_lock);
	fn = lm_find_locked(dev);
	if (fn) {
		get_device(&fn->dev);
		hash_del(&fn->hnode);
	}
	mutex_unlock(&lm_registry_lock);
	if (!fn)
		return NOTIFY_DONE;
	/*
	 * Listed, the function is still its controller's, so an unregister
	 * meanwhile kills it too, waiting for this kill under fn->lock: no op
	 * runs after lm_controller_unregister() returns.
	 */
	lm_kill(fn, true);
	/*
	 * A claimed function is the core's: it goes now.  One added explicitly
	 * stays listed until its driver removes it, so the driver's pointer
	 * stays valid.
	 */
	mutex_lock(&lm_registry_lock);
	if (fn->claimed && fn->listed) {
		list_del_init(&fn->ctrl_node);
		fn->listed = false;
		drop = true;
	}
	mutex_unlock(&lm_registry_lock);
	if (drop)
		put_device(&fn->dev);	/* the registry's reference */
	put_device(&fn->dev);
	return NOTIFY_OK;
}

/* Follow the deletions of @bus's devices from now on. */
static int lm_watch_bus(const struct bus_type *bus)
{
	struct lm_bus_watch *w;
	int ret = 0;

	if (!bus)
		return 0;
	mutex_lock(&lm_bus_lock);
	list_for_each_entry(w, &lm_buses, node)
		if (w->bus == bus)
			goto out;
	w = lm_should_fail() ? NULL : kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	w->bus = bus;
	w->nb.notifier_call = lm_bus_notify;
	ret = bus_register_notifier(bus, &w->nb);
	if (ret)
		kfree(w);
	else
		list_add_tail(&w->node, &lm_buses);
out:
	mutex_unlock(&lm_bus_lock);
	return ret;
}

static void lm_unwatch_buses(void)
{
	struct lm_bus_watch *w, *tmp;

	list_for_each_entry_safe(w, tmp, &lm_buses, node) {
		/* a bus unregistered meanwhile is not found: -EINVAL */
		bus_unregister_notifier(w->bus, &w->nb);
		list_del(&w->node);
		kfree(w);
	}
}

/**
 * lm_controller_register() - register a controlling function
 * @ctrl: the controller, with @dev and its tables filled in
 *
 * Called from the controlling driver's probe.  Functions can be added or
 * claimed from the moment this returns.  Every table given must be
 * complete, but for the members said to be optional.
 *
 * Return: 0, -EINVAL for an incomplete @ctrl, -EEXIST if @ctrl->dev already
 * has a controller.
 */
int lm_controller_register(struct lm_controller *ctrl)
{
	const struct lm_migration_ops *mig = ctrl->mig_ops;
	const struct lm_p2p_ops *p2p = ctrl->p2p_ops;
	const struct lm_log_ops *log = ctrl->log_ops;
	int ret = 0;

	if (!ctrl->dev || !mig || !mig->stop || !mig->restart ||
	    !mig->save_begin || !mig->load || !mig->state_size)
		return -EINVAL;
	if (p2p && (!p2p->quiesce || !p2p->resume))
		return -EINVAL;
	if (log && (!log->log_start || !log->log_stop || !log->log_report))
		return -EINVAL;

	mutex_lock(&lm_registry_lock);
	if (lm_find_controller_locked(ctrl->dev)) {
		ret = -EEXIST;
	} else {
		INIT_LIST_HEAD(&ctrl->functions);
		mutex_init(&ctrl->claim_lock);
		ctrl->claims = 0;
		list_add_tail(&ctrl->node, &lm_controllers);
	}
	mutex_unlock(&lm_registry_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(lm_controller_register);

/**
 * lm_controller_unregister() - remove a controller and all its functions
 * @ctrl: a registered controller
 *
 * Called from the controlling driver's remove, while its primitives still
 * work.  Open data files are disabled, a function that is not running is
 * brought back to running (&lm_migration_ops.reset, or
 * &lm_migration_ops.restart and &lm_p2p_ops.resume) and
 * &lm_controller_ops.release is called for each function;
 * when this returns no op of @ctrl runs or will run.  Consumers' handles
 * and files stay valid objects, failing every call with -ENODEV.
 */
void lm_controller_unregister(struct lm_controller *ctrl)
{
	struct lm_function *fn, *tmp;
	LIST_HEAD(doomed);

	mutex_lock(&lm_registry_lock);
	list_del(&ctrl->node);		/* no claim starts from now on */
	while (ctrl->claims) {
		mutex_unlock(&lm_registry_lock);
		wait_event(lm_claims_wq, !READ_ONCE(ctrl->claims));
		mutex_lock(&lm_registry_lock);
	}
	list_for_each_entry_safe(fn, tmp, &ctrl->functions, ctrl_node) {
		if (hash_hashed(&fn->hnode))
			hash_del(&fn->hnode);
		list_move_tail(&fn->ctrl_node, &doomed);
		fn->listed = false;	/* doomed is ours alone */
	}
	mutex_unlock(&lm_registry_lock);

	list_for_each_entry_safe(fn, tmp, &doomed, ctrl_node) {
		list_del_init(&fn->ctrl_node);
		lm_kill(fn, false);
		put_device(&fn->dev);	/* the registry's reference */
	}
	mutex_destroy(&ctrl->claim_lock);
}
EXPORT_SYMBOL_GPL(lm_controller_unregister);

/**
 * lm_function_add() - declare a controlled function explicitly
 * @ctrl: its registered controller
 * @dev: the controlled device; a reference is held while the function lives
 * @info: capabilities, size bound, compatibility descriptor, driver data
 *
 * For functions that &lm_controller_ops.claim cannot find on demand
 * (non-PCI devices, or drivers that prefer to create functions eagerly).  If
 * @dev is deleted first, the function stops working then (consumers see
 * -ENODEV and @dev's name can be added again) without any call to the driver,
 * and stays valid, with its drvdata, until lm_function_remove(), which the
 * driver still calls.  A device on no bus is not followed: remove its
 * function before deleting it.  Not from a notifier of @dev's bus: the first
 * function on a bus registers the core's notifier there.
 *
 * Return: the function, owned by the registry (no reference is returned),
 * or an ERR_PTR: -EINVAL for bad @info, -EEXIST if @dev is known already,
 * -ENODEV if @dev is not registered, -ENOMEM.
 */
struct lm_function *lm_function_add(struct lm_controller *ctrl,
				    struct device *dev,
				    const struct lm_function_info *info)
{
	struct lm_function *fn;
	int ret;

	ret = lm_watch_bus(dev->bus);
	if (ret)
		return ERR_PTR(ret);
	mutex_lock(&lm_registry_lock);
	fn = lm_create_locked(ctrl, dev, info);
	mutex_unlock(&lm_registry_lock);
	return fn;
}
EXPORT_SYMBOL_GPL(lm_function_add);

/**
 * lm_function_remove() - remove a function added with lm_function_add()
 * @fn: the function, of a registered controller
 *
 * As lm_controller_unregister() does for all of them, and also needed
 * after @fn's device was deleted.  Call it at most once per function, only
 * for functions from lm_function_add() (a claimed one may be gone once its
 * device is), and not after the controller was unregistered: @fn may be
 * gone by then.
 */
void lm_function_remove(struct lm_function *fn)
{
	bool listed;

	mutex_lock(&lm_registry_lock);
	listed = fn->listed;
	if (listed) {
		get_device(&fn->dev);
		lm_unpublish_locked(fn);
	}
	mutex_unlock(&lm_registry_lock);
	if (listed) {
		lm_kill(fn, false);
		put_device(&fn->dev);	/* the registry's reference */
		put_device(&fn->dev);
	}
}
EXPORT_SYMBOL_GPL(lm_function_remove);

/**
 * lm_function_drvdata() - the controlling driver's data for a function
 * @fn: the function
 *
 * Return: &lm_function_info.drvdata as declared.
 */
void *lm_function_drvdata(struct lm_function *fn)
{
	return fn->drvdata;
}
EXPORT_SYMBOL_GPL(lm_function_drvdata);

/**
 * lm_function_device() - the controlled device of a function
 * @fn: the function
 *
 * Return: the device; valid while a reference to @fn is held.
 */
struct device *lm_function_device(struct lm_function *fn)
{
	return fn->controlled;
}
EXPORT_SYMBOL_GPL(lm_function_device);

/*
 * Whose claim may be asked about @dev: a PCI device is a function only as
 * the VF of its PF; other children of a PCI device (its class devices, an
 * nvme controller's, say) are nobody's.  Other devices belong to their
 * parent.
 */
static struct device *lm_controlling_device(struct device *dev)
{
	if (dev_is_pci(dev)) {
#ifdef CONFIG_PCI_IOV
		if (to_pci_dev(dev)->is_virtfn)
			return &pci_physfn(to_pci_dev(dev))->dev;
#endif
		return NULL;
	}
	if (dev->parent && dev_is_pci(dev->parent))
		return NULL;
	return dev->parent;
}

/**
 * lm_function_get() - look up the migration function of a device
 * @dev: a device, for instance a VF that vfio-pci is probing
 *
 * Finds a function added or claimed before, or asks the controller of
 * @dev's controlling device to claim it now.
 *
 * Return: a reference, to be dropped with lm_function_put(), or an ERR_PTR:
 * -ENODEV if @dev is not migratable, or the error of creating it.
 */
struct lm_function *lm_function_get(struct device *dev)
{
	struct lm_function_info info = {};
	struct lm_function *fn, *made = NULL;
	struct lm_controller *ctrl;
	struct device *parent;
	int ret = 0;

	mutex_lock(&lm_registry_lock);
	fn = lm_find_locked(dev);
	if (fn) {
		get_device(&fn->dev);
		mutex_unlock(&lm_registry_lock);
		return fn;
	}
	parent = lm_controlling_device(dev);
	ctrl = parent ? lm_find_controller_locked(parent) : NULL;
	if (!ctrl || !ctrl->ops || !ctrl->ops->claim) {
		mutex_unlock(&lm_registry_lock);
		return ERR_PTR(-ENODEV);
	}
	ctrl->claims++;			/* keeps ctrl registered */
	mutex_unlock(&lm_registry_lock);

	ret = lm_watch_bus(dev->bus);
	if (ret)
		goto unclaim;

	mutex_lock(&ctrl->claim_lock);
	mutex_lock(&lm_registry_lock);
	fn = lm_find_locked(dev);	/* claimed while we waited */
	mutex_unlock(&lm_registry_lock);
	if (!fn)
		ret = lm_op_claim(ctrl, dev, &info);

	mutex_lock(&lm_registry_lock);
	if (!fn && !ret) {
		made = lm_create_locked(ctrl, dev, &info);
		if (!IS_ERR(made))
			made->claimed = true;
		/* lm_function_add() may have come first */
		fn = PTR_ERR(made) == -EEXIST ? lm_find_locked(dev) : made;
	}
	if (!fn)
		fn = ERR_PTR(ret ?: -EEXIST);
	else if (!IS_ERR(fn))
		get_device(&fn->dev);
	mutex_unlock(&lm_registry_lock);
	mutex_unlock(&ctrl->claim_lock);

	/* a claim that created nothing: the driver frees its data */
	if (IS_ERR(made))
		lm_op_release_unmade(ctrl, dev, info.drvdata);

unclaim:
	if (ret)
		fn = ERR_PTR(ret);
	/* the last touch of ctrl: unregister may go on and free it */
	mutex_lock(&lm_registry_lock);
	if (!--ctrl->claims)
		wake_up_all(&lm_claims_wq);
	mutex_unlock(&lm_registry_lock);
	return fn;
}
EXPORT_SYMBOL_GPL(lm_function_get);

/**
 * lm_function_hold() - take another reference on a function
 * @fn: a function the caller holds a reference on
 *
 * For a consumer that calls into the core without its own lock held, while
 * another thread may replace its handle.
 *
 * Return: @fn, to be dropped with lm_function_put().
 */
struct lm_function *lm_function_hold(struct lm_function *fn)
{
	get_device(&fn->dev);
	return fn;
}
EXPORT_SYMBOL_GPL(lm_function_hold);

/**
 * lm_function_put() - drop a reference from lm_function_get() or _hold()
 * @fn: the function; NULL and ERR_PTR values are ignored
 */
void lm_function_put(struct lm_function *fn)
{
	if (!IS_ERR_OR_NULL(fn))
		put_device(&fn->dev);
}
EXPORT_SYMBOL_GPL(lm_function_put);

/**
 * lm_function_caps() - capabilities of a function
 * @fn: the function
 *
 * Return: LM_CAP_* as declared; constant for the function's lifetime.
 */
u32 lm_function_caps(struct lm_function *fn)
{
	return fn->caps;
}
EXPORT_SYMBOL_GPL(lm_function_caps);

static int __init lm_init(void)
{
	int ret = class_register(&lm_class);

	if (ret)
		return ret;
	lm_debugfs_init();
#ifdef CONFIG_PCI
	/*
	 * VFs are what claims find: follow their bus from the start, so no
	 * claim registers a notifier (with the chain's lock taken for
	 * writing) under a consumer's locks.
	 */
	ret = lm_watch_bus(&pci_bus_type);
	if (ret) {
		lm_debugfs_exit();
		class_unregister(&lm_class);
	}
#endif
	return ret;
}

static void __exit lm_exit(void)
{
	lm_debugfs_exit();
	lm_unwatch_buses();
	class_unregister(&lm_class);
}

module_init(lm_init);
module_exit(lm_exit);

MODULE_DESCRIPTION("Live migration of controlled functions");
MODULE_LICENSE("GPL");
