// SPDX-License-Identifier: GPL-2.0
/*
 * A benchmark of the live migration registry, for lm_bench: write N to
 * debugfs lm_registry_bench/functions to register N functions of a
 * controller of its own, measure the slab memory each one takes and the
 * time of a lookup (lm_function_get() and put) over 64 of them and over
 * all N, and remove them; read the figures back from the same file.
 * Nothing here touches a device.
 */

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/live_migration.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/vmstat.h>

/* one run at a time, and its result */
static DEFINE_MUTEX(lmrb_lock);
static char lmrb_result[160];

static int lmrb_stop(struct lm_function *fn)
{
	return 0;
}

static int lmrb_save_begin(struct lm_function *fn,
			   enum lm_save_phase phase, struct lm_segment *seg)
{
	return 0;
}

static int lmrb_save_read(struct lm_function *fn, void *buf,
			  size_t len, u64 offset)
{
	return -EIO;
}

static int lmrb_load(struct lm_function *fn, const void *buf,
		     size_t len, u64 offset, u64 total)
{
	return 0;
}

static int lmrb_size(struct lm_function *fn, u64 *len)
{
	*len = 0;
	return 0;
}

static const struct lm_migration_ops lmrb_ops = {
	.stop = lmrb_stop,
	.restart = lmrb_stop,
	.save_begin = lmrb_save_begin,
	.save_read = lmrb_save_read,
	.load = lmrb_load,
	.state_size = lmrb_size,
};

static void lmrb_dev_release(struct device *dev)
{
	kfree(dev);
}

static u64 lmrb_slab_bytes(void)
{
	return (global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B) +
		global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B)) *
		PAGE_SIZE;
}

#define LMRB_LOOKUPS	200000
#define LMRB_MIN_MEM	64	/* functions needed to see memory */

static int lmrb_run(u64 n)
{
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 4096 };
	struct lm_controller ctrl = { .mig_ops = &lmrb_ops,
				      .name = "bench" };
	u64 before = 0, after = 0, i, t0, t1, t2;
	struct device **devs;
	char mem[24];
	int ret = 0;

	devs = kvcalloc(n, sizeof(*devs), GFP_KERNEL);
	if (!devs)
		return -ENOMEM;
	ctrl.dev = root_device_register("lm-registry-bench");
	if (IS_ERR(ctrl.dev)) {
		ret = PTR_ERR(ctrl.dev);
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		devs[i] = kzalloc(sizeof(*devs[i]), GFP_KERNEL);
		if (!devs[i]) {
			ret = -ENOMEM;
			goto out;
		}
		device_initialize(devs[i]);
		devs[i]->parent = ctrl.dev;
		devs[i]->release = lmrb_dev_release;
		ret = dev_set_name(devs[i], "lm-registry-bench-%llu", i);
		if (!ret)
			ret = device_add(devs[i]);
		if (ret) {
			put_device(devs[i]);
			devs[i] = NULL;
			goto out;
		}
	}
	ret = lm_controller_register(&ctrl);
	if (ret)
		goto out;
	before = lmrb_slab_bytes();
	for (i = 0; i < n && !ret; i++)
		ret = PTR_ERR_OR_ZERO(lm_function_add(&ctrl, devs[i], &info));
	after = lmrb_slab_bytes();
	/* the same 64 functions whatever N: the structure's cost */
	t0 = ktime_get_ns();
	for (i = 0; i < LMRB_LOOKUPS && !ret; i++) {
		struct lm_function *fn = lm_function_get(devs[(i * 7919) %
							 min(n, 64ULL)]);

		ret = PTR_ERR_OR_ZERO(fn);
		lm_function_put(fn);
	}
	t1 = ktime_get_ns();
	/* every function in turn: adds the cache (and TLB) misses */
	for (i = 0; i < LMRB_LOOKUPS && !ret; i++) {
		struct lm_function *fn = lm_function_get(devs[(i * 7919) % n]);

		ret = PTR_ERR_OR_ZERO(fn);
		lm_function_put(fn);
	}
	t2 = ktime_get_ns();
	lm_controller_unregister(&ctrl);
	/* slab counters move by whole pages: a few functions do not show */
	if (n < LMRB_MIN_MEM)
		strscpy(mem, "-", sizeof(mem));
	else
		snprintf(mem, sizeof(mem), "%llu",
			 after > before ? (after - before) / n : 0);
	if (!ret)
		snprintf(lmrb_result, sizeof(lmrb_result),
			 "functions %llu slab_bytes_per_function %s lookup_ns_hot64 %llu lookup_ns_all %llu\n",
			 n, mem, (t1 - t0) / LMRB_LOOKUPS,
			 (t2 - t1) / LMRB_LOOKUPS);
out:
	for (i = 0; i < n; i++)
		if (devs[i])
			device_unregister(devs[i]);
	root_device_unregister(ctrl.dev);
out_free:
	kvfree(devs);
	return ret;
}

static int lmrb_set(void *data, u64 val)
{
	int ret;

	if (!val || val > 65536)
		return -EINVAL;
	mutex_lock(&lmrb_lock);
	ret = lmrb_run(val);
	mutex_unlock(&lmrb_lock);
	return ret;
}

static ssize_t lmrb_read(struct file *file, char __user *buf, size_t len,
			 loff_t *ppos)
{
	char result[sizeof(lmrb_result)];

	/* no user copy under the lock */
	mutex_lock(&lmrb_lock);
	strscpy(result, lmrb_result, sizeof(result));
	mutex_unlock(&lmrb_lock);
	return simple_read_from_buffer(buf, len, ppos, result, strlen(result));
}

static ssize_t lmrb_write(struct file *file, const char __user *buf,
			  size_t len, loff_t *ppos)
{
	u64 val;
	int ret;

	ret = kstrtou64_from_user(buf, len, 0, &val);
	if (!ret)
		ret = lmrb_set(NULL, val);
	return ret ? ret : len;
}

static const struct file_operations lmrb_fops = {
	.owner = THIS_MODULE,
	.read = lmrb_read,
	.write = lmrb_write,
};

static struct dentry *lmrb_root;

static int __init lmrb_init(void)
{
	lmrb_root = debugfs_create_dir("lm_registry_bench", NULL);
	debugfs_create_file("functions", 0600, lmrb_root, NULL,
			    &lmrb_fops);
	return 0;
}

static void __exit lmrb_exit(void)
{
	debugfs_remove_recursive(lmrb_root);
}

module_init(lmrb_init);
module_exit(lmrb_exit);
MODULE_DESCRIPTION("Live migration registry benchmark");
MODULE_LICENSE("GPL");
