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
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/vmstat.h>

static char lmrb_bench_result[160];

static int lmrb_bench_stop(struct lm_function *fn)
{
	return 0;
}

static int lmrb_bench_save_begin(struct lm_function *fn,
				 enum lm_save_phase phase, struct lm_segment *seg)
{
	return 0;
}

static int lmrb_bench_save_read(struct lm_function *fn, void *buf,
				size_t len, u64 offset)
{
	return -EIO;
}

static int lmrb_bench_load(struct lm_function *fn, const void *buf,
			   size_t len, u64 offset, u64 total)
{
	return 0;
}

static int lmrb_bench_size(struct lm_function *fn, u64 *len)
{
	*len = 0;
	return 0;
}

static const struct lm_migration_ops lmrb_bench_ops = {
	.stop = lmrb_bench_stop,
	.restart = lmrb_bench_stop,
	.save_begin = lmrb_bench_save_begin,
	.save_read = lmrb_bench_save_read,
	.load = lmrb_bench_load,
	.state_size = lmrb_bench_size,
};

static void lmrb_bench_dev_release(struct device *dev)
{
	kfree(dev);
}

static u64 lmrb_slab_bytes(void)
{
	return (global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B) +
		global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B)) *
		PAGE_SIZE;
}

#define LMRB_BENCH_LOOKUPS	200000
#define LMRB_BENCH_MIN_MEM	64	/* functions needed to see memory */

static int lmrb_bench_run(u64 n)
{
	struct lm_function_info info = { .caps = LM_CAP_STOP_COPY,
					 .max_state_size = 4096 };
	struct lm_controller ctrl = { .mig_ops = &lmrb_bench_ops,
				      .name = "bench" };
	u64 before = 0, after = 0, i, t0, t1, t2;
	struct device **devs;
	char mem[24];
	int ret = 0;

	devs = kvcalloc(n, sizeof(*devs), GFP_KERNEL);
	ctrl.dev = root_device_register("lmt-bench");
	if (!devs || IS_ERR(ctrl.dev)) {
		ret = -ENOMEM;
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
		devs[i]->release = lmrb_bench_dev_release;
		ret = dev_set_name(devs[i], "lmt-bench-%llu", i);
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
	for (i = 0; i < LMRB_BENCH_LOOKUPS && !ret; i++) {
		struct lm_function *fn = lm_function_get(devs[(i * 7919) %
							 min(n, 64ULL)]);

		ret = PTR_ERR_OR_ZERO(fn);
		lm_function_put(fn);
	}
	t1 = ktime_get_ns();
	/* every function in turn: adds the cache (and TLB) misses */
	for (i = 0; i < LMRB_BENCH_LOOKUPS && !ret; i++) {
		struct lm_function *fn = lm_function_get(devs[(i * 7919) % n]);

		ret = PTR_ERR_OR_ZERO(fn);
		lm_function_put(fn);
	}
	t2 = ktime_get_ns();
	lm_controller_unregister(&ctrl);
	/* slab counters move by whole pages: a few functions do not show */
	if (n < LMRB_BENCH_MIN_MEM)
		strscpy(mem, "-", sizeof(mem));
	else
		snprintf(mem, sizeof(mem), "%llu",
			 after > before ? (after - before) / n : 0);
	if (!ret)
		snprintf(lmrb_bench_result, sizeof(lmrb_bench_result),
			 "functions %llu slab_bytes_per_function %s lookup_ns_hot64 %llu lookup_ns_all %llu\n",
			 n, mem, (t1 - t0) / LMRB_BENCH_LOOKUPS,
			 (t2 - t1) / LMRB_BENCH_LOOKUPS);
out:
	for (i = 0; i < n; i++)
		if (devs[i])
			device_unregister(devs[i]);
	root_device_unregister(ctrl.dev);
out_free:
	kvfree(devs);
	return ret;
}

static int lmrb_bench_set(void *data, u64 val)
{
	if (!val || val > 65536)
		return -EINVAL;
	return lmrb_bench_run(val);
}

static ssize_t lmrb_bench_read(struct file *file, char __user *buf,
			       size_t len, loff_t *ppos)
{
	return simple_read_from_buffer(buf, len, ppos, lmrb_bench_result,
				       strlen(lmrb_bench_result));
}

static ssize_t lmrb_bench_write(struct file *file, const char __user *buf,
				size_t len, loff_t *ppos)
{
	u64 val;
	int ret;

	ret = kstrtou64_from_user(buf, len, 0, &val);
	if (!ret)
		ret = lmrb_bench_set(NULL, val);
	return ret ? ret : len;
}

static const struct file_operations lmrb_bench_fops = {
	.owner = THIS_MODULE,
	.read = lmrb_bench_read,
	.write = lmrb_bench_write,
};

static struct dentry *lmrb_root;

static int __init lmrb_init(void)
{
	lmrb_root = debugfs_create_dir("lm_registry_bench", NULL);
	debugfs_create_file("functions", 0600, lmrb_root, NULL,
			    &lmrb_bench_fops);
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
