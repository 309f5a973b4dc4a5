// SPDX-License-Identifier: GPL-2.0
/*
 * Live migration core: what sysfs shows of a function, under
 * /sys/class/live_migration/<function>/: its state, capabilities,
 * compatibility descriptor, controller and statistics.
 */

#include <linux/device.h>
#include <linux/sysfs.h>

#include "lm_internal.h"

static const char * const lm_state_names[LM_STATE_NR] = {
	[LM_STATE_ERROR] = "error",
	[LM_STATE_STOP] = "stop",
	[LM_STATE_RUNNING] = "running",
	[LM_STATE_STOP_COPY] = "stop_copy",
	[LM_STATE_RESUMING] = "resuming",
	[LM_STATE_RUNNING_P2P] = "running_p2p",
	[LM_STATE_PRE_COPY] = "pre_copy",
	[LM_STATE_PRE_COPY_P2P] = "pre_copy_p2p",
};

/**
 * lm_state_name() - name of a state, as sysfs and tracing show it
 * @state: a state
 *
 * Return: a constant string; "invalid" for values out of range.
 */
const char *lm_state_name(enum lm_state state)
{
	if ((unsigned int)state >= LM_STATE_NR)
		return "invalid";
	return lm_state_names[state];
}

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct lm_function *fn = to_lm_function(dev);
	const char *name;

	mutex_lock(&fn->lock);
	name = fn->dead ? "removed" : lm_state_name(fn->state);
	mutex_unlock(&fn->lock);
	return sysfs_emit(buf, "%s\n", name);
}
static DEVICE_ATTR_RO(state);

static ssize_t capabilities_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	static const char * const names[] = {
		"stop_copy", "p2p", "pre_copy", "dirty_log",
	};
	struct lm_function *fn = to_lm_function(dev);
	int len = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (fn->caps & BIT(i))
			len += sysfs_emit_at(buf, len, "%s%s", len ? " " : "",
					     names[i]);
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(capabilities);

static ssize_t compat_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct lm_function *fn = to_lm_function(dev);
	char *end;

	/* all of it (%*ph stops at 64 bytes); 2 * 128 + 1 fit a page */
	end = bin2hex(buf, fn->compat, fn->compat_len);
	*end++ = '\n';
	return end - buf;
}
static DEVICE_ATTR_RO(compat);

static ssize_t controller_name_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", to_lm_function(dev)->ctrl_name);
}
static DEVICE_ATTR_RO(controller_name);

static ssize_t max_state_size_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", to_lm_function(dev)->max_state_size);
}
static DEVICE_ATTR_RO(max_state_size);

static struct attribute *lm_function_attrs[] = {
	&dev_attr_state.attr,
	&dev_attr_capabilities.attr,
	&dev_attr_compat.attr,
	&dev_attr_max_state_size.attr,
	&dev_attr_controller_name.attr,
	NULL
};

static const struct attribute_group lm_function_group = {
	.attrs = lm_function_attrs,
};

/* The counters change under fn->lock (no torn reads on 32-bit machines). */
static struct lm_stats lm_stats_of(struct device *dev)
{
	struct lm_function *fn = to_lm_function(dev);
	struct lm_stats stats;

	mutex_lock(&fn->lock);
	stats = fn->stats;
	mutex_unlock(&fn->lock);
	return stats;
}

static ssize_t transitions_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", lm_stats_of(dev).transitions);
}
static DEVICE_ATTR_RO(transitions);

static ssize_t errors_show(struct device *dev,
			   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", lm_stats_of(dev).errors);
}
static DEVICE_ATTR_RO(errors);

static ssize_t bytes_saved_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", lm_stats_of(dev).bytes_saved);
}
static DEVICE_ATTR_RO(bytes_saved);

static ssize_t bytes_loaded_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", lm_stats_of(dev).bytes_loaded);
}
static DEVICE_ATTR_RO(bytes_loaded);

static ssize_t resets_show(struct device *dev,
			   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", lm_stats_of(dev).resets);
}
static DEVICE_ATTR_RO(resets);

static struct attribute *lm_stats_attrs[] = {
	&dev_attr_transitions.attr,
	&dev_attr_errors.attr,
	&dev_attr_bytes_saved.attr,
	&dev_attr_bytes_loaded.attr,
	&dev_attr_resets.attr,
	NULL
};

static const struct attribute_group lm_stats_group = {
	.name = "statistics",
	.attrs = lm_stats_attrs,
};

const struct attribute_group *lm_function_groups[] = {
	&lm_function_group,
	&lm_stats_group,
	NULL
};

const struct class lm_class = {
	.name = "live_migration",
};
