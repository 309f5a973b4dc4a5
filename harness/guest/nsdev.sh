# Sourced by the guests (L1 and the L2) that name an NVMe namespace.
# ns_dev CTRL NSID: the block device of controller CTRL's namespace NSID.
# The N of CTRLnN is the subsystem's namespace instance, given in the order
# the driver's parallel scan of a controller (the PF's, for shared
# namespaces) finds them, not the NSID.
ns_dev() {
	local d
	for d in /sys/block/$1n*; do
		[ "$(cat $d/nsid 2>/dev/null)" = "$2" ] &&
			[ -b /dev/${d##*/} ] && echo /dev/${d##*/} && return 0
	done
	return 1
}
