// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: a data file, its lifetime and its file operations.
 * save.c makes the saving stream, resume.c parses the resuming one.
 *
 * Locking: each file has io_lock, which serialises read, write and ioctl on
 * it and may be held across copies to and from user space.  The function's
 * state lock (fn->lock) nests inside io_lock and is taken only around driver
 * calls and to publish progress; the state machine never waits for io_lock
 * (it only tries it), so a transition, reset or unregister never waits for
 * a user copy.
 *
 * Buffers (the bounce buffer, segment buffers, received chunks) are freed
 * when the session ends, not when user space closes the file: the state
 * machine frees them if no read or write is under way (it only tries
 * io_lock), else that read or write does as it returns.
 */

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "file.h"

static const struct file_operations lm_file_fops;

atomic_t lm_live_files = ATOMIC_INIT(0);
atomic_long_t lm_file_mem = ATOMIC_LONG_INIT(0);

/* fn->lock held.  Why this file cannot be used any more, or 0. */
int lm_file_usable(struct lm_file *migf)
{
	lockdep_assert_held(&migf->fn->lock);
	/* a driver's error says more than the session's end it caused */
	if (migf->err)
		return migf->err;
	if (migf->fn->dead || migf->disabled)
		return -ENODEV;
	return 0;
}

/*
 * io_lock held, or the file unpublished.  Let go of every buffer: the
 * session ended, so no byte of it is read or written again.
 */
static void lm_file_trim(struct lm_file *migf)
{
	if (migf->saving)
		lm_save_trim(migf);
	else
		lm_resume_trim(migf);
	if (migf->held) {
		migf->held = false;
		atomic_dec(&migf->fn->held_sessions);
	}
}

void lm_file_disable(struct lm_function *fn)
{
	struct lm_file *migf = fn->file;

	lockdep_assert_held(&fn->lock);
	if (!migf)
		return;
	migf->disabled = true;
	fn->file = NULL;
	if (migf->saving)
		lm_op_save_end(fn);
	/* a trylock adds no lock order: io_lock nests outside fn->lock */
	if (mutex_trylock(&migf->io_lock)) {
		lm_file_trim(migf);
		mutex_unlock(&migf->io_lock);
	}
}

/*
 * Ends a read, write or ioctl: drops io_lock and, if the session ended
 * while it was held, frees what lm_file_disable() could not.
 */
void lm_file_io_end(struct lm_file *migf)
{
	bool disabled;

	mutex_unlock(&migf->io_lock);
	mutex_lock(&migf->fn->lock);
	disabled = migf->disabled;
	mutex_unlock(&migf->fn->lock);
	/*
	 * Whoever holds io_lock now frees them as it returns, and a file
	 * never comes back from disabled: no need to wait for it.
	 */
	if (disabled && mutex_trylock(&migf->io_lock)) {
		lm_file_trim(migf);
		mutex_unlock(&migf->io_lock);
	}
}

bool lm_file_is_lm(struct file *file)
{
	return file->f_op == &lm_file_fops;
}

void lm_file_free(struct lm_file *migf)
{
	lm_file_trim(migf);
	mutex_destroy(&migf->io_lock);
	kfree(migf);
	atomic_dec(&lm_live_files);
}

/*
 * A session's buffers (a driver's saved state, up to max_state_size) are
 * freed when it ends, unless a read or write is still copying: user space
 * that stalls one (a buffer behind userfaultfd) keeps them.  Past this
 * many such sessions a function opens no new one.
 */
#define LM_MAX_HELD_SESSIONS	2

struct lm_file *lm_file_alloc(struct lm_function *fn, bool saving)
{
	struct lm_file *migf;
	int ret;

	if (atomic_inc_return(&fn->held_sessions) > LM_MAX_HELD_SESSIONS) {
		atomic_dec(&fn->held_sessions);
		dev_warn_ratelimited(&fn->dev,
				     "%d sessions still copying: no new one until they return\n",
				     LM_MAX_HELD_SESSIONS);
		return ERR_PTR(-EBUSY);
	}
	migf = lm_should_fail() ? NULL :
	       kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf) {
		atomic_dec(&fn->held_sessions);
		return ERR_PTR(-ENOMEM);
	}
	atomic_inc(&lm_live_files);
	mutex_init(&migf->io_lock);
	migf->fn = fn;
	migf->saving = saving;
	migf->held = true;
	ret = saving ? lm_save_init(migf) : lm_resume_init(migf);
	if (ret) {
		lm_file_free(migf);
		return ERR_PTR(-ENOMEM);
	}
	return migf;
}

struct file *lm_file_publish(struct lm_file *migf,
			     const struct lm_file_ops *fops)
{
	struct lm_function *fn = migf->fn;
	struct file *file;

	/* the file may outlive the consumer's device: pin its ioctl code */
	if (fops && !try_module_get(fops->owner))
		return ERR_PTR(-ENODEV);
	file = lm_should_fail() ? ERR_PTR(-ENOMEM) :
	       anon_inode_getfile("[live_migration]", &lm_file_fops, migf,
				  migf->saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(file)) {
		if (fops)
			module_put(fops->owner);
		return file;
	}
	migf->fops = fops;
	stream_open(file->f_inode, file);
	get_device(&fn->dev);
	fn->file = migf;
	return file;
}

static ssize_t lm_file_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct lm_file *migf = iocb->ki_filp->private_data;

	if (!migf->saving)
		return -EINVAL;
	return lm_save_read(migf, to);
}

static ssize_t lm_file_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct lm_file *migf = iocb->ki_filp->private_data;

	if (migf->saving)
		return -EINVAL;
	return lm_resume_write(migf, from);
}

static long lm_file_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct lm_file *migf = file->private_data;

	if (!migf->fops || !migf->fops->ioctl)
		return -ENOTTY;
	return migf->fops->ioctl(file, cmd, arg);
}

static int lm_file_release(struct inode *inode, struct file *file)
{
	struct lm_file *migf = file->private_data;
	struct lm_function *fn = migf->fn;

	mutex_lock(&fn->lock);
	if (fn->file == migf)
		lm_file_disable(fn);
	mutex_unlock(&fn->lock);
	if (migf->fops)
		module_put(migf->fops->owner);
	lm_file_free(migf);
	put_device(&fn->dev);
	return 0;
}

static const struct file_operations lm_file_fops = {
	.owner = THIS_MODULE,
	.read_iter = lm_file_read_iter,
	.write_iter = lm_file_write_iter,
	.unlocked_ioctl = lm_file_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = lm_file_release,
};
