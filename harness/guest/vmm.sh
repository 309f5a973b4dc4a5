# Sourced after common.sh by the guests that run QEMU 10 with an L2 (a
# counter on its serial line): start, drive and watch those QEMUs.
export LD_LIBRARY_PATH=/qemu-lib
DBG=/sys/kernel/debug/lm_test_ctrl
VFIO_OPTS=

# the last whole tick line: the L2 writes a byte at a time, so the file
# may end in part of one; one snapshot, or the end moves between looks
ticks() {
	local p
	cat "$1" > /tmp/ticks.snap 2>/dev/null
	p=
	[ -n "$(tail -c 1 /tmp/ticks.snap)" ] && p='$!'
	sed -n "${p}s/^tick \([0-9]*\)\$/\1/p" /tmp/ticks.snap | tail -n 1
}
# ticks_reach FILE N SECONDS: the L2 has printed tick N or a later one
ticks_reach() {
	local i=0 t
	while [ $i -lt "$3" ]; do
		t=$(ticks "$1")
		[ -n "$t" ] && [ "$t" -ge "$2" ] && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}
# mig_start SRC DST [URI]: SRC migrates into DST's pipe (or to URI);
# mig_wait reads only what SRC says from here on (an earlier migration
# also had a status)
mig_start() {
	off=$(wc -c < /tmp/vm$1.mon)
	mon $1 "migrate -d \"${3:-exec:cat > /tmp/mig$2}\""
}
# mig_wait SRC STATUS SECONDS: SRC's latest migration status is STATUS
mig_wait() {
	local i=0
	while :; do
		mig_said $1 | grep -qi "status:[[:space:]]*\($2\)\b" && return 0
		[ $i -ge "$3" ] && return 1
		mon $1 "info migrate"
		sleep 1
		i=$((i + 1))
	done
}
# mig_said SRC: the last migration status SRC gave, with its reason
mig_said() {
	tail -c +$((off + 1)) /tmp/vm$1.mon | tr -d '\r' |
		grep -i "status:" | grep -vi "vm status" | tail -n 1 |
		tr -s '\t' ' '
}
# mig_times SRC: "TOTAL_MS DOWNTIME_MS" of SRC's last migration, as QEMU
# 10.0 ("total time: N ms", "downtime: N ms") or 10.1 and later
# ("Time (ms): total=N, down=N") print them
mig_times() {
	tr -d '\r' < /tmp/vm$1.mon | awk '
		/^total time:/ { t = $3 }
		/^downtime:/ { d = $2 }
		/Time \(ms\):/ {
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^total=/)
					t = substr($i, 7)
				if ($i ~ /^down=/)
					d = substr($i, 6)
			}
		}
		END { printf "%d %d\n", t, d }'
}
# l2_say ID LINE: a line to the L2's console (L2_CONSOLE_IN)
l2_say() { echo "$2" 1<> /tmp/vm$1.con.in; }
# read-write: never blocks, even once that QEMU has gone.  A FIFO drops
# what is written while nobody reads it: see mon_ready.
mon() { echo "$2" 1<> /tmp/vm$1.in; }
# mon_ready ID: QEMU ID reads its monitor (it has printed the prompt)
mon_ready() {
	local i=0

	while [ $i -lt 60 ]; do
		grep -q "(qemu)" /tmp/vm$1.mon 2>/dev/null && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}
monv() { tr -d '\r' < /tmp/vm$1.mon | grep "^$2" | tail -n 1; }
# running STATE VF SECONDS: wait until VF's function is in STATE
state_is() {
	local i=0
	while [ $i -lt "$3" ]; do
		[ "$(cat /sys/class/live_migration/$2/state)" = "$1" ] && return 0
		sleep 1
		i=$((i + 1))
	done
	return 1
}
# gone ID: that QEMU has exited (and released its VF), within 60 s
gone() {
	local pid j=0

	pid=$(cat /tmp/vm$1.pid)
	while [ $j -lt 60 ] && [ -d /proc/$pid ] &&
	      ! grep -q '^State:.*Z' /proc/$pid/status 2>/dev/null; do
		sleep 1
		j=$((j + 1))
	done
	wait $pid 2>/dev/null
	[ ! -d /proc/$pid ]
}

# start_vm ID [VF] [incoming|defer]: QEMU 10 with the L2 and VF assigned,
# HMP on a pipe; VFIO_OPTS adds to the vfio-pci device's options.  defer:
# the incoming side waits for migrate_incoming.
start_vm() {
	local id=$1 vf=$2 incoming=$3
	mkfifo /tmp/vm$id.in /tmp/vm$id.out
	set --
	[ -n "$vf" ] &&
		set -- -device "vfio-pci,host=$vf,enable-migration=on$VFIO_OPTS"
	if [ "$incoming" = defer ]; then
		set -- "$@" -incoming defer
	elif [ -n "$incoming" ]; then
		mkfifo /tmp/mig$id
		set -- "$@" -incoming "exec:cat /tmp/mig$id"
	fi
	# L2_ARGS, L2_APPEND: another L2 than the counter
	[ -n "$L2_APPEND" ] && set -- "$@" -append "$L2_APPEND"
	# L2_CONSOLE_IN: the L2's console also reads (l2_say)
	if [ -n "$L2_CONSOLE_IN" ]; then
		rm -f /tmp/vm$id.con.in /tmp/vm$id.con.out
		mkfifo /tmp/vm$id.con.in /tmp/vm$id.con.out
		cat /tmp/vm$id.con.out > /tmp/vm$id.serial &
		set -- "$@" -chardev pipe,id=con,path=/tmp/vm$id.con \
			-serial chardev:con
	else
		set -- "$@" -serial file:/tmp/vm$id.serial
	fi
	/bin/qemu-system-x86_64 -L /qemu-fw -machine q35 -accel tcg \
		-nodefaults -display none ${L2_ARGS:--m 32 -kernel /l2.elf} \
		-chardev pipe,id=mon,path=/tmp/vm$id \
		-mon chardev=mon,mode=readline "$@" > /tmp/vm$id.log 2>&1 &
	echo $! > /tmp/vm$id.pid
	cat /tmp/vm$id.out > /tmp/vm$id.mon &
}
