// SPDX-License-Identifier: GPL-2.0
/*
 * lm_sample: how a controlling driver offers live migration of the
 * functions it controls, and how an in-kernel user migrates one.
 *
 * A software "PF" (the platform device lm-sample, bound to this driver)
 * controls two software functions, its children lm-sample-fn.0 and
 * lm-sample-fn.1.  Each is a
 * tiny device: while it runs, a work item ticks a counter every 10 ms
 * (what DMA or an engine would change behind the driver's back), and it
 * has 16 registers that debugfs sets.  Its state is the two together.
 *
 * Read it in this order:
 * 1. lms_probe(): the controller and its tables, lm_controller_register();
 *    lms_remove(): lm_controller_unregister().
 * 2. lms_claim(): the core asks for a function the first time a user looks
 *    it up; the driver says what the function can do.
 * 3. The migration primitives: stop and restart, save_begin handing the
 *    core a snapshot in a buffer, load taking a state in pieces, reset.
 * 4. lms_migrate(): a user of the in-kernel API (as vfio-pci is one) moves
 *    a function's state to the other one with lm_set_state() and the data
 *    files.
 *
 * debugfs lm_sample/: fn0/ and fn1/ with "regs" (read the 16 registers;
 * write "INDEX VALUE" to set one) and "ticks", and "migrate" (write
 * "SRC DST", e.g. "0 1").
 */

#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/live_migration.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#define LMS_FNS		2
#define LMS_REGS	16
#define LMS_MAGIC	0x534d4c00	/* "\0LMS" */
#define LMS_VERSION	1

/*
 * The state as it travels.  The core never looks inside: it is the
 * driver's own format, so it carries a version, and it is little endian
 * because the destination may not be the same machine.
 */
struct lms_state {
	__le32 magic;
	__le32 version;
	__le64 ticks;
	__le32 regs[LMS_REGS];
};

struct lms_fn {
	struct platform_device *pdev;
	struct delayed_work tick;
	spinlock_t lock;		/* ticks and regs */
	u64 ticks;
	u32 regs[LMS_REGS];
	bool running;			/* under the core's state lock */
	struct lms_state staged;	/* a state being loaded */
};

static struct lms_fn lms_fns[LMS_FNS];
static DEFINE_MUTEX(lms_migrate_lock);	/* one migration at a time */
static struct lm_controller lms_ctrl;
static struct dentry *lms_root;

/* Same model, same format: what a destination must be to take a state. */
static const u8 lms_compat[] = "lm-sample v1";

static void lms_tick(struct work_struct *work)
{
	struct lms_fn *f = container_of(work, struct lms_fn, tick.work);

	spin_lock(&f->lock);
	f->ticks++;
	spin_unlock(&f->lock);
	schedule_delayed_work(&f->tick, msecs_to_jiffies(10));
}

static void lms_run(struct lms_fn *f)
{
	f->running = true;
	schedule_delayed_work(&f->tick, msecs_to_jiffies(10));
}

/* ---- 3. the migration primitives ---- */

/*
 * Every primitive is called with the core's state lock for this function
 * held, one at a time, and may sleep.  The driver never sees migration
 * states: "stop" is all it needs to know.
 */
static int lms_stop(struct lm_function *fn)
{
	struct lms_fn *f = lm_function_drvdata(fn);

	/* stopped means nothing changes any more: wait for the work */
	cancel_delayed_work_sync(&f->tick);
	f->running = false;
	return 0;
}

static int lms_restart(struct lm_function *fn)
{
	lms_run(lm_function_drvdata(fn));
	return 0;
}

/*
 * The function is stopped (LM_SAVE_FINAL; without LM_CAP_PRE_COPY there is
 * no other phase).  The state is small and sits in memory, so it goes to
 * the core as a buffer: the core copies it out to the reader and drops the
 * reference it was given when the session ends.  A driver whose state
 * must be read piece by piece from a device leaves seg->buf NULL and
 * implements save_read instead.
 */
static int lms_save_begin(struct lm_function *fn, enum lm_save_phase phase,
			  struct lm_segment *seg)
{
	struct lms_fn *f = lm_function_drvdata(fn);
	struct lms_state *st;
	struct lm_buffer *buf;
	int i;

	buf = lm_buffer_alloc(sizeof(*st), GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	st = buf->data;
	st->magic = cpu_to_le32(LMS_MAGIC);
	st->version = cpu_to_le32(LMS_VERSION);
	spin_lock(&f->lock);
	st->ticks = cpu_to_le64(f->ticks);
	for (i = 0; i < LMS_REGS; i++)
		st->regs[i] = cpu_to_le32(f->regs[i]);
	spin_unlock(&f->lock);
	seg->buf = buf;		/* the core's reference now */
	seg->len = sizeof(*st);
	return 0;
}

/*
 * The core received the whole stream and checked it before the first call;
 * it calls in offset order.  The driver still checks its own format: the
 * bytes came from another machine.
 */
static int lms_load(struct lm_function *fn, const void *buf, size_t len,
		    u64 offset, u64 total)
{
	struct lms_fn *f = lm_function_drvdata(fn);
	const struct lms_state *st = &f->staged;
	int i;

	if (total != sizeof(f->staged) || offset + len > total)
		return -EINVAL;
	memcpy((u8 *)&f->staged + offset, buf, len);
	if (offset + len < total)
		return 0;
	if (le32_to_cpu(st->magic) != LMS_MAGIC ||
	    le32_to_cpu(st->version) != LMS_VERSION)
		return -EPROTO;
	spin_lock(&f->lock);
	f->ticks = le64_to_cpu(st->ticks);
	for (i = 0; i < LMS_REGS; i++)
		f->regs[i] = le32_to_cpu(st->regs[i]);
	spin_unlock(&f->lock);
	return 0;
}

static int lms_state_size(struct lm_function *fn, u64 *len)
{
	*len = sizeof(struct lms_state);
	return 0;
}

/*
 * The function was reset, or the controller lets go of it: drop what a
 * migration left (here, a half-loaded state) and be running on return.
 */
static int lms_reset(struct lm_function *fn)
{
	struct lms_fn *f = lm_function_drvdata(fn);

	memset(&f->staged, 0, sizeof(f->staged));
	if (!f->running)
		lms_run(f);
	return 0;
}

/* ---- 2. making functions on demand ---- */

static int lms_claim(struct lm_controller *ctrl, struct device *dev,
		     struct lm_function_info *info)
{
	int i;

	/* the core asks only for our children: find which one */
	for (i = 0; i < LMS_FNS; i++)
		if (&lms_fns[i].pdev->dev == dev)
			break;
	if (i == LMS_FNS)
		return -ENODEV;
	info->drvdata = &lms_fns[i];
	info->caps = LM_CAP_STOP_COPY;
	/* a resuming file holds at most this much: the real size, no more */
	info->max_state_size = sizeof(struct lms_state);
	info->compat = lms_compat;
	info->compat_len = sizeof(lms_compat) - 1;
	return 0;
}

/*
 * No release op: drvdata is the module's own, nothing to free when a
 * function goes.  A driver that allocates in claim frees in release.
 */
static const struct lm_controller_ops lms_ctrl_ops = {
	.claim = lms_claim,
};

static const struct lm_migration_ops lms_mig_ops = {
	.stop = lms_stop,
	.restart = lms_restart,
	.save_begin = lms_save_begin,
	.load = lms_load,
	.state_size = lms_state_size,
	.reset = lms_reset,
};

/* ---- 4. a user of the in-kernel API ---- */

/* Reads a saving file to its end (read() returns 0) into a new buffer. */
static ssize_t lms_read_stream(struct lm_function *fn, struct file *file,
			       u8 **out)
{
	size_t len = 0, cap;
	u8 *buf = NULL, *more;
	ssize_t n;
	u64 size;
	int ret;

	/* an estimate, framing included: the stream may still differ */
	ret = lm_get_data_size(fn, &size);
	if (ret)
		return ret;
	cap = size;
	do {
		if (len == cap) {
			cap = cap * 2 + 64;
			more = krealloc(buf, cap, GFP_KERNEL);
			if (!more) {
				kfree(buf);
				return -ENOMEM;
			}
			buf = more;
		}
		if (!buf) {
			buf = kmalloc(cap, GFP_KERNEL);
			if (!buf)
				return -ENOMEM;
		}
		n = kernel_read(file, buf + len, cap - len, &file->f_pos);
		if (n > 0)
			len += n;
	} while (n > 0);
	if (n < 0) {
		kfree(buf);
		return n;
	}
	*out = buf;
	return len;
}

/*
 * What a VMM does through VFIO, in the kernel: stop the source and read
 * its state, write it into the destination, start the destination.  The
 * source stays stopped, as a migrated guest's source does; if anything
 * fails, both run again, as a VMM would resume its guest on the source.
 */
static int lms_migrate(struct device *src_dev, struct device *dst_dev)
{
	struct file *sfile = NULL, *dfile = NULL, *none;
	bool src_moved = false, dst_moved = false;
	struct lm_function *src, *dst;
	enum lm_state sst, dst_st;
	u8 *stream = NULL;
	ssize_t len;
	int ret;

	/* the first lookup of a device makes its function (lms_claim) */
	src = lm_function_get(src_dev);
	if (IS_ERR(src))
		return PTR_ERR(src);
	dst = lm_function_get(dst_dev);
	if (IS_ERR(dst)) {
		lm_function_put(src);
		return PTR_ERR(dst);
	}
	/*
	 * Another user may hold either function in a session of its own (the
	 * lock below serialises only this file's users): touch only a
	 * running source and a destination that runs or is stopped.
	 */
	ret = lm_get_state(src, &sst);
	if (!ret)
		ret = lm_get_state(dst, &dst_st);
	if (!ret && (sst != LM_STATE_RUNNING ||
		     (dst_st != LM_STATE_RUNNING && dst_st != LM_STATE_STOP)))
		ret = -EBUSY;
	if (ret)
		goto out;

	/* RUNNING -> STOP -> STOP_COPY: the core walks the arcs */
	src_moved = true;
	ret = lm_set_state(src, LM_STATE_STOP_COPY, NULL, &sfile);
	if (ret)
		goto out;
	len = lms_read_stream(src, sfile, &stream);
	if (len < 0) {
		ret = len;
		goto out;
	}
	ret = lm_set_state(src, LM_STATE_STOP, NULL, &none);
	if (ret)
		goto out;
	dst_moved = true;
	ret = lm_set_state(dst, LM_STATE_RESUMING, NULL, &dfile);
	if (ret)
		goto out;
	if (kernel_write(dfile, stream, len, &dfile->f_pos) != len) {
		ret = -EIO;
		goto out;
	}
	/* RESUMING -> STOP loads the state (lms_load), then -> RUNNING */
	ret = lm_set_state(dst, LM_STATE_RUNNING, NULL, &none);
out:
	/*
	 * What this call moved and left half way (or in ERROR) comes back
	 * with a reset: both run again, as a VMM resumes its guest on the
	 * source when a migration fails.
	 */
	if (ret && dst_moved)
		lm_function_reset(dst);
	if (ret && src_moved)
		lm_function_reset(src);
	if (dfile)
		fput(dfile);
	if (sfile)
		fput(sfile);
	kfree(stream);
	lm_function_put(dst);
	lm_function_put(src);
	return ret;
}

/* ---- debugfs ---- */

static int lms_regs_show(struct seq_file *m, void *unused)
{
	struct lms_fn *f = m->private;
	int i;

	spin_lock(&f->lock);
	for (i = 0; i < LMS_REGS; i++)
		seq_printf(m, "%08x%c", f->regs[i],
			   i == LMS_REGS - 1 ? '\n' : ' ');
	spin_unlock(&f->lock);
	return 0;
}

static int lms_regs_open(struct inode *inode, struct file *file)
{
	return single_open(file, lms_regs_show, inode->i_private);
}

static ssize_t lms_regs_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	struct lms_fn *f = ((struct seq_file *)file->private_data)->private;
	unsigned int idx;
	char buf[32];
	u32 val;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%u %x", &idx, &val) != 2 || idx >= LMS_REGS)
		return -EINVAL;
	spin_lock(&f->lock);
	f->regs[idx] = val;
	spin_unlock(&f->lock);
	return len;
}

static const struct file_operations lms_regs_fops = {
	.owner = THIS_MODULE,
	.open = lms_regs_open,
	.read = seq_read,
	.write = lms_regs_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static int lms_ticks_get(void *data, u64 *val)
{
	struct lms_fn *f = data;

	spin_lock(&f->lock);
	*val = f->ticks;
	spin_unlock(&f->lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(lms_ticks_fops, lms_ticks_get, NULL, "%llu\n");

static ssize_t lms_migrate_write(struct file *file, const char __user *ubuf,
				 size_t len, loff_t *ppos)
{
	unsigned int s, d;
	char buf[16];
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	if (sscanf(buf, "%u %u", &s, &d) != 2 || s >= LMS_FNS ||
	    d >= LMS_FNS || s == d)
		return -EINVAL;
	mutex_lock(&lms_migrate_lock);
	ret = lms_migrate(&lms_fns[s].pdev->dev, &lms_fns[d].pdev->dev);
	mutex_unlock(&lms_migrate_lock);
	return ret ? ret : len;
}

static const struct file_operations lms_migrate_fops = {
	.owner = THIS_MODULE,
	.write = lms_migrate_write,
};

/* ---- 1. the controller ---- */

static void lms_remove_fns(void)
{
	int i;

	for (i = 0; i < LMS_FNS; i++) {
		if (!IS_ERR_OR_NULL(lms_fns[i].pdev))
			platform_device_unregister(lms_fns[i].pdev);
		lms_fns[i].pdev = NULL;
		cancel_delayed_work_sync(&lms_fns[i].tick);
	}
}

/*
 * The PF's probe: its functions exist (for SR-IOV, sriov_numvfs makes
 * them; here, platform devices), then the controller registers, as the
 * last thing probe does.  From here on the core may call the tables.
 */
static int lms_probe(struct platform_device *pf)
{
	char name[8];
	int i, ret;

	for (i = 0; i < LMS_FNS; i++) {
		struct platform_device_info pi = {
			.parent = &pf->dev,
			.name = "lm-sample-fn",
			.id = i,
		};
		struct lms_fn *f = &lms_fns[i];

		f->pdev = platform_device_register_full(&pi);
		if (IS_ERR(f->pdev)) {
			ret = PTR_ERR(f->pdev);
			goto fail;
		}
		lms_run(f);
	}

	/* no P2P table and no logging table: its functions offer neither */
	lms_ctrl.dev = &pf->dev;
	lms_ctrl.name = "lm_sample";
	lms_ctrl.ops = &lms_ctrl_ops;
	lms_ctrl.mig_ops = &lms_mig_ops;
	ret = lm_controller_register(&lms_ctrl);
	if (ret)
		goto fail;

	lms_root = debugfs_create_dir("lm_sample", NULL);
	for (i = 0; i < LMS_FNS; i++) {
		struct dentry *dir;

		snprintf(name, sizeof(name), "fn%d", i);
		dir = debugfs_create_dir(name, lms_root);
		debugfs_create_file("regs", 0600, dir, &lms_fns[i],
				    &lms_regs_fops);
		debugfs_create_file("ticks", 0400, dir, &lms_fns[i],
				    &lms_ticks_fops);
	}
	debugfs_create_file("migrate", 0200, lms_root, NULL,
			    &lms_migrate_fops);
	return 0;
fail:
	lms_remove_fns();
	return ret;
}

/*
 * The PF's remove, first thing, while the device still works: every
 * function is released and left running, and no primitive runs after
 * lm_controller_unregister() returns.  Users' handles and data files stay
 * valid and fail with -ENODEV.
 */
static void lms_remove(struct platform_device *pf)
{
	debugfs_remove_recursive(lms_root);
	lm_controller_unregister(&lms_ctrl);
	lms_remove_fns();
}

static struct platform_driver lms_driver = {
	.driver.name = "lm-sample",
	.probe = lms_probe,
	.remove = lms_remove,
};

static struct platform_device *lms_pf;

static int __init lms_init(void)
{
	int i, ret;

	for (i = 0; i < LMS_FNS; i++) {
		spin_lock_init(&lms_fns[i].lock);
		INIT_DELAYED_WORK(&lms_fns[i].tick, lms_tick);
	}
	ret = platform_driver_register(&lms_driver);
	if (ret)
		return ret;
	/* the "PF" itself: on real hardware, the bus finds it */
	lms_pf = platform_device_register_simple("lm-sample", -1, NULL, 0);
	if (IS_ERR(lms_pf)) {
		platform_driver_unregister(&lms_driver);
		return PTR_ERR(lms_pf);
	}
	return 0;
}

static void __exit lms_exit(void)
{
	platform_device_unregister(lms_pf);
	platform_driver_unregister(&lms_driver);
}

module_init(lms_init);
module_exit(lms_exit);
MODULE_DESCRIPTION("Live migration: a sample controlling driver");
MODULE_LICENSE("GPL");
