// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: debugfs live_migration/, for tests: counters of
 * live objects, so they can prove that nothing leaked, and fault injection
 * at the core's own allocations.
 */

#include <linux/debugfs.h>
#include <linux/fault-inject.h>

#include "lm_internal.h"

#ifdef CONFIG_LIVE_MIGRATION_FAULT_INJECTION
static DECLARE_FAULT_ATTR(lm_fail_attr);

/* At every allocation and file creation of the core's own. */
bool lm_should_fail(void)
{
	return should_fail(&lm_fail_attr, 1);
}
#endif

static struct dentry *lm_debugfs;

static int lm_live_functions_get(void *data, u64 *val)
{
	*val = atomic_read(&lm_live_functions);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(lm_live_functions_fops, lm_live_functions_get, NULL,
			 "%llu\n");

static int lm_live_files_get(void *data, u64 *val)
{
	*val = atomic_read(&lm_live_files);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(lm_live_files_fops, lm_live_files_get, NULL,
			 "%llu\n");

static int lm_file_mem_get(void *data, u64 *val)
{
	*val = atomic_long_read(&lm_file_mem);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(lm_file_mem_fops, lm_file_mem_get, NULL, "%llu\n");

/* What tests need to prove that nothing leaked. */
void lm_debugfs_init(void)
{
	lm_debugfs = debugfs_create_dir("live_migration", NULL);
	debugfs_create_file_unsafe("live_functions", 0400, lm_debugfs, NULL,
				   &lm_live_functions_fops);
	debugfs_create_file_unsafe("live_files", 0400, lm_debugfs, NULL,
				   &lm_live_files_fops);
	debugfs_create_file_unsafe("file_mem", 0400, lm_debugfs, NULL,
				   &lm_file_mem_fops);
#ifdef CONFIG_LIVE_MIGRATION_FAULT_INJECTION
	lm_fail_attr.verbose = 0;	/* tests fail thousands of times */
	fault_create_debugfs_attr("fail_live_migration", lm_debugfs,
				  &lm_fail_attr);
#endif
}

void lm_debugfs_exit(void)
{
	debugfs_remove_recursive(lm_debugfs);
}
