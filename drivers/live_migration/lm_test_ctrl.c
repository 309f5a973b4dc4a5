// SPDX-License-Identifier: GPL-2.0
/*
 * A test controlling driver: migrates a synthetic state for the VFs of one
 * PCI function named at load time, so the whole VFIO path can be exercised
 * (and measured) on any SR-IOV device, before a real device implements
 * migration.  Not for production: it touches none of the device's state.
 *
 * The state of a function is a pattern derived from a 64-bit seed: word 0
 * holds the seed, word 1 the size, and every 4 KiB page repeats a template
 * made from the seed, its first word replaced by a marker unique to the
 * page.  Loading verifies every byte and then adopts the seed, so a
 * destination proves it received its source's state exactly (a changed
 * byte breaks the template, a moved page its marker); debugfs shows seed
 * and size.  Like a device's memory, a buffer holds the state, rebuilt only
 * when seed or size changed, and each saved segment is handed to the core
 * from it (lm_segment.buf), so benchmarks measure the core; with
 * "copy_out" set, save_read copies segments out of it instead.
 *
 *   lm_test_ctrl.pf=0000:00:04.0	controlling PCI function
 *   lm_test_ctrl.caps=0xf		LM_CAP_* offered (STOP_COPY always)
 *   lm_test_ctrl.state_size=N	initial state size of each function
 *
 * debugfs lm_test_ctrl/: "registered" (write 0/1 to unregister/register the
 * controller), "caps" (what the next registration offers), and one
 * directory per claimed function with "seed", "size",
 * "fail_nth" and "fail_errno" (fail the N-th primitive from now), "calls"
 * (primitives called), "loaded" (bytes verified by the last load),
 * "dirty_iova" and "dirty_len" (the next dirty report gives the range
 * from dirty_iova, dirty_len bytes or else one logging page, as it is,
 * even where it lies outside what was asked), "log_page_min" (the finest
 * logging granularity it tracks: a finer one asked is raised to it),
 * "log_reports" (dirty reports asked for),
 * "refuse_streams" (the function refuses every incoming stream as
 * incompatible) and "copy_out" (see above).
 */

#include <linux/debugfs.h>
#include <linux/live_migration.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/unaligned.h>

#define LMT_MAX_RANGES	16
#define LMT_MIN_SIZE	16

static char *pf;
module_param(pf, charp, 0444);
MODULE_PARM_DESC(pf, "PCI function whose VFs this driver migrates");

static uint caps = LM_CAP_ALL;
module_param(caps, uint, 0444);
MODULE_PARM_DESC(caps, "LM_CAP_* offered, STOP_COPY is always on");

static ulong state_size = 1 << 20;
module_param(state_size, ulong, 0444);
MODULE_PARM_DESC(state_size, "initial synthetic state size in bytes");

static ulong max_size = 2UL << 30;
module_param(max_size, ulong, 0444);
MODULE_PARM_DESC(max_size, "largest state a function accepts");

struct lmt_fn {
	struct list_head node;		/* lmt_fns, lmt_lock */
	struct device *dev;
	struct dentry *dir;
	/*
	 * Below: under the core's state lock.  debugfs writes them unlocked:
	 * set them while no migration of this function is under way.
	 */
	u64 seed;
	u64 size;
	u32 fail_nth;
	u32 fail_errno;
	u64 calls;
	u64 loaded;
	bool stopped;
	bool quiesced;
	u64 produced;			/* saving: payload handed out */
	u64 seg_start;
	u64 load_seed;			/* resuming: from words 0 and 1 */
	u64 load_size;
	bool load_bad;
	__le64 *tpl;			/* template page of tpl_seed */
	u64 tpl_seed;
	unsigned int nr_ranges;
	struct lm_log_range ranges[LMT_MAX_RANGES];
	u64 page_size;
	u64 dirty_iova;
	u64 dirty_len;
	u64 log_page_min;
	u64 log_reports;		/* log_report calls: a VMM used logging */
	bool dirty_pending;
	bool refuse_streams;		/* compat_check says -EXDEV */
	bool copy_out;			/* save_read, not lm_segment.buf */
	struct lm_buffer *mem;		/* the state of mem_seed, mem->len */
	u64 mem_seed;
};

static DEFINE_MUTEX(lmt_lock);		/* lmt_fns */
static DEFINE_MUTEX(lmt_reg_lock);	/* lmt_registered, lmt_ctrl */
static LIST_HEAD(lmt_fns);
static struct lm_controller lmt_ctrl;
static u32 lmt_ctrl_caps;		/* what the registration offered */
static struct pci_dev *lmt_pf;
static bool lmt_registered;
static struct dentry *lmt_root;

static const u8 lmt_compat[] = "lm_test_ctrl v1";

#define LMT_PAGE_WORDS	(PAGE_SIZE / 8)

static u64 lmt_word(u64 seed, u64 idx, u64 size)
{
	u64 k = idx % LMT_PAGE_WORDS;

	if (idx == 0)
		return seed;
	if (idx == 1)
		return size;
	/* word 0 of a page: its marker; others: the template */
	return seed ^ ((k ? k : idx) * 0x9e3779b97f4a7c15ULL);
}

/* The template page of @seed, with its marker word left to the caller. */
static void lmt_template(u64 seed, __le64 *tpl)
{
	unsigned int k;

	for (k = 0; k < LMT_PAGE_WORDS; k++)
		tpl[k] = cpu_to_le64(lmt_word(seed, LMT_PAGE_WORDS + k, 0));
}

static u8 lmt_byte(u64 seed, u64 off, u64 size)
{
	return lmt_word(seed, off >> 3, size) >> ((off & 7) * 8);
}

/* Counts a primitive and returns the injected failure when it is due. */
/* The injected error: an errno, whatever debugfs was given. */
static int lmt_fail_errno(struct lmt_fn *t)
{
	return t->fail_errno && t->fail_errno <= MAX_ERRNO ?
	       -(int)t->fail_errno : -EIO;
}

static int lmt_call(struct lmt_fn *t)
{
	t->calls++;
	if (t->fail_nth && !--t->fail_nth)
		return lmt_fail_errno(t);
	return 0;
}

static struct lmt_fn *lmt(struct lm_function *fn)
{
	return lm_function_drvdata(fn);
}

static int lmt_stop(struct lm_function *fn)
{
	int ret = lmt_call(lmt(fn));

	if (!ret)
		lmt(fn)->stopped = true;
	return ret;
}

static int lmt_restart(struct lm_function *fn)
{
	int ret = lmt_call(lmt(fn));

	if (!ret)
		lmt(fn)->stopped = false;
	return ret;
}

static int lmt_p2p_quiesce(struct lm_function *fn)
{
	int ret = lmt_call(lmt(fn));

	if (!ret)
		lmt(fn)->quiesced = true;
	return ret;
}

static int lmt_p2p_resume(struct lm_function *fn)
{
	int ret = lmt_call(lmt(fn));

	if (!ret)
		lmt(fn)->quiesced = false;
	return ret;
}

/* The whole state of @seed and @size, as lmt_verify() checks it. */
static void lmt_fill(u64 seed, u64 size, const __le64 *tpl, u8 *p)
{
	u64 off;

	/* the first page carries seed and size: bytewise */
	for (off = 0; off < min_t(u64, size, PAGE_SIZE); off++)
		*p++ = lmt_byte(seed, off, size);
	for (; size - off >= PAGE_SIZE; off += PAGE_SIZE, p += PAGE_SIZE) {
		memcpy(p, tpl, PAGE_SIZE);
		put_unaligned_le64(lmt_word(seed, off >> 3, size), p);
	}
	for (; off < size; off++)
		*p++ = lmt_byte(seed, off, size);
}

/* Returns the offset of the first byte that differs, or @len. */
static size_t lmt_verify(u64 seed, u64 size, const __le64 *tpl, const u8 *p,
			 u64 off, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (!((off + i) & (PAGE_SIZE - 1)) && off + i &&
		    len - i >= PAGE_SIZE) {
			if (get_unaligned_le64(p + i) !=
			    lmt_word(seed, (off + i) >> 3, size) ||
			    memcmp(p + i + 8, (const u8 *)tpl + 8,
				   PAGE_SIZE - 8))
				return i;
			i += PAGE_SIZE;
			continue;
		}
		if (p[i] != lmt_byte(seed, off + i, size))
			return i;
		i++;
	}
	return len;
}

static void lmt_use_template(struct lmt_fn *t, u64 seed)
{
	if (t->tpl_seed != seed) {
		lmt_template(seed, t->tpl);
		t->tpl_seed = seed;
	}
}

/* Rebuild the state buffer if seed or size changed since it was built. */
static int lmt_mem_update(struct lmt_fn *t)
{
	struct lm_buffer *mem = t->mem;

	if (mem && mem->len == t->size && t->mem_seed == t->seed)
		return 0;
	/* bytes the core still copies out must not change: a new buffer */
	if (!mem || mem->len != t->size || kref_read(&mem->ref) > 1) {
		mem = lm_buffer_alloc(t->size, GFP_KERNEL_ACCOUNT);
		if (!mem)
			return -ENOMEM;
		lm_buffer_put(t->mem);
		t->mem = mem;
	}
	lmt_use_template(t, t->seed);
	lmt_fill(t->seed, t->size, t->tpl, mem->data);
	t->mem_seed = t->seed;
	return 0;
}

static int lmt_save_begin(struct lm_function *fn, enum lm_save_phase phase,
			  struct lm_segment *seg)
{
	struct lmt_fn *t = lmt(fn);
	u64 quarter = max_t(u64, t->size / 4, 1), n;
	int ret = lmt_call(t);

	if (ret)
		return ret;
	if (phase == LM_SAVE_FINAL && !t->stopped)
		return -EBUSY;
	/* PRE_COPY hands out quarters while a quarter remains; FINAL the rest */
	if (phase == LM_SAVE_FINAL)
		n = t->size - t->produced;
	else if (t->size - t->produced > quarter)
		n = quarter;
	else
		n = 0;
	if (n) {
		ret = lmt_mem_update(t);
		if (ret)
			return ret;
		if (!t->copy_out) {
			lm_buffer_get(t->mem);
			seg->buf = t->mem;
			seg->offset = t->produced;
		}
	}
	t->seg_start = t->produced;
	t->produced += n;
	seg->len = n;
	seg->dirty = t->size - t->produced;
	return 0;
}

static int lmt_save_read(struct lm_function *fn, void *buf, size_t len,
			 u64 offset)
{
	struct lmt_fn *t = lmt(fn);

	if (t->fail_nth && !--t->fail_nth)
		return lmt_fail_errno(t);
	offset += t->seg_start;
	if (!t->mem || offset > t->mem->len || len > t->mem->len - offset)
		return -EINVAL;
	memcpy(buf, (u8 *)t->mem->data + offset, len);
	return 0;
}

static void lmt_save_end(struct lm_function *fn)
{
	lmt(fn)->produced = 0;
}

static int lmt_load(struct lm_function *fn, const void *buf, size_t len,
		    u64 offset, u64 total)
{
	struct lmt_fn *t = lmt(fn);
	const u8 *p = buf;
	int ret;

	if (!offset) {
		ret = lmt_call(t);
		if (ret)
			return ret;
		if (total < LMT_MIN_SIZE || len < LMT_MIN_SIZE)
			return -EINVAL;
		t->load_seed = get_unaligned_le64(p);
		t->load_size = get_unaligned_le64(p + 8);
		t->load_bad = t->load_size != total;
		t->loaded = 0;
		lmt_use_template(t, t->load_seed);
	}
	if (t->load_bad || offset != t->loaded)
		return -EINVAL;
	if (lmt_verify(t->load_seed, total, t->tpl, p, offset, len) != len)
		return -EINVAL;
	t->loaded += len;
	if (t->loaded == total) {
		t->seed = t->load_seed;
		t->size = total;
	}
	return 0;
}

static int lmt_state_size(struct lm_function *fn, u64 *len)
{
	*len = lmt(fn)->size;
	return 0;
}

static int lmt_reset(struct lm_function *fn)
{
	struct lmt_fn *t = lmt(fn);
	int ret = lmt_call(t);

	if (ret)
		return ret;
	t->stopped = false;
	t->quiesced = false;
	t->produced = 0;
	t->nr_ranges = 0;
	return 0;
}

static int lmt_log_start(struct lm_function *fn,
			 const struct lm_log_range *ranges, unsigned int nr,
			 u64 *page_size)
{
	struct lmt_fn *t = lmt(fn);
	int ret = lmt_call(t);

	if (ret)
		return ret;
	if (nr > LMT_MAX_RANGES)
		return -E2BIG;
	memcpy(t->ranges, ranges, nr * sizeof(*ranges));
	t->nr_ranges = nr;
	/* as a device that tracks no finer than log_page_min */
	if (*page_size < t->log_page_min)
		*page_size = t->log_page_min;
	t->page_size = *page_size;
	/* the first page of the first range counts as written */
	t->dirty_iova = ranges[0].iova;
	t->dirty_pending = true;
	return 0;
}

static int lmt_log_stop(struct lm_function *fn)
{
	lmt(fn)->nr_ranges = 0;
	lmt(fn)->dirty_pending = false;
	return lmt_call(lmt(fn));
}

static int lmt_log_report(struct lm_function *fn, unsigned long iova,
			  unsigned long length, lm_dirty_fn fn_dirty,
			  void *opaque)
{
	struct lmt_fn *t = lmt(fn);
	int ret = lmt_call(t);

	if (ret)
		return ret;
	t->log_reports++;
	if (t->dirty_pending && t->dirty_len) {
		/* as a device may: the core clips to the range asked */
		fn_dirty(opaque, t->dirty_iova, t->dirty_len);
		t->dirty_pending = false;
	} else if (t->dirty_pending && t->dirty_iova >= iova &&
		   t->dirty_iova - iova < length) {
		fn_dirty(opaque, t->dirty_iova & ~(t->page_size - 1),
			 t->page_size);
		t->dirty_pending = false;
	}
	return 0;
}

/* As the core's default, unless a test wants the destination to refuse. */
static int lmt_compat_check(struct lm_function *fn, const u8 *remote,
			    size_t len)
{
	if (lmt(fn)->refuse_streams || len != sizeof(lmt_compat) - 1 ||
	    memcmp(remote, lmt_compat, len))
		return -EXDEV;
	return 0;
}

static int lmt_claim(struct lm_controller *ctrl, struct device *dev,
		     struct lm_function_info *info)
{
	struct lmt_fn *t;

	/* only VFs of the PF it controls: nothing else has its state */
	if (!dev_is_pci(dev) || !to_pci_dev(dev)->is_virtfn ||
	    &pci_physfn(to_pci_dev(dev))->dev != ctrl->dev)
		return -ENODEV;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->tpl = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!t->tpl) {
		kfree(t);
		return -ENOMEM;
	}
	t->dev = dev;
	t->size = max_t(u64, state_size, LMT_MIN_SIZE);
	t->seed = get_random_u64();
	t->tpl_seed = ~t->seed;		/* not computed yet */
	info->drvdata = t;
	info->caps = lmt_ctrl_caps;
	info->max_state_size = max_size;
	info->compat = lmt_compat;
	info->compat_len = sizeof(lmt_compat) - 1;

	t->dir = debugfs_create_dir(dev_name(dev), lmt_root);
	debugfs_create_x64("seed", 0600, t->dir, &t->seed);
	debugfs_create_u64("size", 0600, t->dir, &t->size);
	debugfs_create_u32("fail_nth", 0600, t->dir, &t->fail_nth);
	debugfs_create_u32("fail_errno", 0600, t->dir, &t->fail_errno);
	debugfs_create_u64("calls", 0400, t->dir, &t->calls);
	debugfs_create_u64("loaded", 0400, t->dir, &t->loaded);
	debugfs_create_x64("dirty_iova", 0600, t->dir, &t->dirty_iova);
	debugfs_create_x64("dirty_len", 0600, t->dir, &t->dirty_len);
	debugfs_create_u64("log_page_min", 0600, t->dir, &t->log_page_min);
	debugfs_create_u64("log_reports", 0400, t->dir, &t->log_reports);
	debugfs_create_bool("dirty_pending", 0600, t->dir, &t->dirty_pending);
	debugfs_create_bool("refuse_streams", 0600, t->dir,
			    &t->refuse_streams);
	debugfs_create_bool("copy_out", 0600, t->dir, &t->copy_out);

	mutex_lock(&lmt_lock);
	list_add_tail(&t->node, &lmt_fns);
	mutex_unlock(&lmt_lock);
	return 0;
}

static void lmt_release(struct lm_controller *ctrl, struct device *dev,
			void *drvdata)
{
	struct lmt_fn *t = drvdata;

	debugfs_remove_recursive(t->dir);
	mutex_lock(&lmt_lock);
	list_del(&t->node);
	mutex_unlock(&lmt_lock);
	lm_buffer_put(t->mem);
	kfree(t->tpl);
	kfree(t);
}

static const struct lm_controller_ops lmt_ctrl_ops = {
	.claim = lmt_claim,
	.release = lmt_release,
};

static const struct lm_migration_ops lmt_mig_ops = {
	.stop = lmt_stop,
	.restart = lmt_restart,
	.save_begin = lmt_save_begin,
	.save_read = lmt_save_read,
	.save_end = lmt_save_end,
	.load = lmt_load,
	.state_size = lmt_state_size,
	.reset = lmt_reset,
	.compat_check = lmt_compat_check,
};

static const struct lm_p2p_ops lmt_p2p_ops = {
	.quiesce = lmt_p2p_quiesce,
	.resume = lmt_p2p_resume,
};

static const struct lm_log_ops lmt_log_ops = {
	.log_start = lmt_log_start,
	.log_stop = lmt_log_stop,
	.log_report = lmt_log_report,
};

/* lmt_reg_lock held */
static int lmt_set_registered(bool on)
{
	int ret = 0;

	if (on == lmt_registered)
		return 0;
	if (on) {
		lmt_ctrl.dev = &lmt_pf->dev;
		lmt_ctrl.name = KBUILD_MODNAME;
		lmt_ctrl_caps = (caps & LM_CAP_ALL) | LM_CAP_STOP_COPY;
		lmt_ctrl.ops = &lmt_ctrl_ops;
		lmt_ctrl.mig_ops = &lmt_mig_ops;
		lmt_ctrl.p2p_ops = lmt_ctrl_caps & LM_CAP_P2P ? &lmt_p2p_ops :
				   NULL;
		lmt_ctrl.log_ops = lmt_ctrl_caps & LM_CAP_DIRTY_LOG ?
				   &lmt_log_ops : NULL;
		ret = lm_controller_register(&lmt_ctrl);
	} else {
		lm_controller_unregister(&lmt_ctrl);
	}
	if (!ret)
		lmt_registered = on;
	return ret;
}

static int lmt_registered_get(void *data, u64 *val)
{
	mutex_lock(&lmt_reg_lock);
	*val = lmt_registered;
	mutex_unlock(&lmt_reg_lock);
	return 0;
}

static int lmt_registered_set(void *data, u64 val)
{
	int ret;

	mutex_lock(&lmt_reg_lock);
	ret = lmt_set_registered(!!val);
	mutex_unlock(&lmt_reg_lock);
	return ret;
}

DEFINE_DEBUGFS_ATTRIBUTE(lmt_registered_fops, lmt_registered_get,
			 lmt_registered_set, "%llu\n");

static int __init lmt_init(void)
{
	struct device *dev;
	int ret;

	if (!pf)
		return -EINVAL;
	dev = bus_find_device_by_name(&pci_bus_type, NULL, pf);
	if (!dev) {
		pr_err("lm_test_ctrl: no PCI function %s\n", pf);
		return -ENODEV;
	}
	lmt_pf = to_pci_dev(dev);
	lmt_root = debugfs_create_dir("lm_test_ctrl", NULL);
	debugfs_create_file("registered", 0600, lmt_root, NULL,
			    &lmt_registered_fops);
	/* the next registration offers these */
	debugfs_create_u32("caps", 0600, lmt_root, &caps);
	mutex_lock(&lmt_reg_lock);
	ret = lmt_set_registered(true);
	mutex_unlock(&lmt_reg_lock);
	if (ret) {
		debugfs_remove_recursive(lmt_root);
		pci_dev_put(lmt_pf);
		return ret;
	}
	pci_info(lmt_pf, "lm_test_ctrl: controlling its VFs (caps %#x)\n",
		 lmt_ctrl_caps);
	return 0;
}

static void __exit lmt_exit(void)
{
	mutex_lock(&lmt_reg_lock);
	lmt_set_registered(false);
	mutex_unlock(&lmt_reg_lock);
	debugfs_remove_recursive(lmt_root);
	pci_dev_put(lmt_pf);
}

module_init(lmt_init);
module_exit(lmt_exit);

MODULE_DESCRIPTION("Test controlling driver for the live migration core");
MODULE_LICENSE("GPL");
