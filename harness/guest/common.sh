# Sourced by the guest's /init: mounts, and VFs bound to vfio-pci.
. /nsdev.sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
PF=0000:00:04.0
PLAIN=0000:00:05.0

bind_vfio() {
	echo vfio-pci > /sys/bus/pci/devices/$1/driver_override
	[ -e /sys/bus/pci/devices/$1/driver ] &&
		echo $1 > /sys/bus/pci/devices/$1/driver/unbind
	echo $1 > /sys/bus/pci/drivers_probe
}

# vfio-pci may be a module (a data fd must outlive it)
[ -d /lib/modules ] && { modprobe vfio-pci || echo "common.sh: modprobe vfio-pci failed"; }
echo 0 > /sys/bus/pci/devices/$PF/sriov_drivers_autoprobe
echo 2 > /sys/bus/pci/devices/$PF/sriov_numvfs
VF0=$(basename "$(readlink /sys/bus/pci/devices/$PF/virtfn0)")
VF1=$(basename "$(readlink /sys/bus/pci/devices/$PF/virtfn1)")
bind_vfio "$VF0"
bind_vfio "$VF1"
[ -e /sys/bus/pci/devices/$PLAIN ] && bind_vfio $PLAIN

finish() {
	dmesg > /tmp/dmesg
	echo
	echo "==DMESG-BEGIN=="
	cat /tmp/dmesg
	echo "==DMESG-END=="
	poweroff -f
}
