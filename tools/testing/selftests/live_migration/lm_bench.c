// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks of the live migration data path through plain vfio-pci, with
 * lm_test_ctrl controlling LM_SRC and LM_DST.  Prints figures; asserts
 * nothing about speed.
 *
 * (a) saving-fd read throughput for several state sizes, as a ratio to
 *     reading as much from a memfd (the copy limit), with lm_test_ctrl
 *     handing its state over in a buffer (lm_segment.buf) and copying it
 *     out in save_read; resuming-fd write throughput likewise
 * (b) RUNNING -> STOP -> RUNNING through the ioctl, as a ratio to a trivial
 *     VFIO ioctl
 * (c) memory per function and lookup time with 1, 256 and 4096 functions,
 *     from the lm_registry_bench module
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <time.h>

#include "vfio_lm_util.h"

#define DBG "/sys/kernel/debug/lm_test_ctrl"
#define REGISTRY_BENCH "/sys/kernel/debug/lm_registry_bench/functions"
#define BUF (1024 * 1024)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "lm_bench: %s: %s\n", what, strerror(err));
	exit(1);
}

static void set_knob(const char *bdf, const char *knob,
		     unsigned long long v)
{
	char path[256], val[32];

	snprintf(path, sizeof(path), DBG "/%s/%s", bdf, knob);
	snprintf(val, sizeof(val), "%llu", v);
	if (write_file(path, val))
		die(knob, errno);
}

/* One STOP_COPY save, read to its end; returns bytes, adds the seconds. */
static long long save_once(int dev, char *buf, double *secs, char *keep,
			   size_t keep_cap)
{
	long long total = 0;
	double t0;
	int fd, ret;

	ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		die("STOP_COPY", -ret);
	t0 = now();
	for (;;) {
		/* keep the stream by reading into it: no extra copy timed */
		char *dst = keep && total + BUF <= (long long)keep_cap ?
			    keep + total : buf;
		ssize_t n = read(fd, dst, BUF);

		if (n < 0)
			die("read", errno);
		if (!n)
			break;
		if (keep && dst == buf)
			die("stream larger than expected", EFBIG);
		total += n;
	}
	*secs += now() - t0;
	close(fd);
	ret = vfio_mig_set(dev, VFIO_DEVICE_STATE_RUNNING, NULL);
	if (ret)
		die("RUNNING", -ret);
	return total;
}

static double memfd_read(size_t size, char *buf, int iters)
{
	int fd = memfd_create("lm_bench", 0);
	double t0, secs;
	size_t off;
	int i;

	if (fd < 0 || ftruncate(fd, size))
		die("memfd", errno);
	for (off = 0; off < size; off += BUF) {
		size_t n = size - off < BUF ? size - off : BUF;

		memset(buf, 0x5a, n);
		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			die("memfd write", errno);
	}
	t0 = now();
	for (i = 0; i < iters; i++)
		for (off = 0; off < size; off += BUF)
			if (pread(fd, buf, BUF, off) < 0)
				die("memfd read", errno);
	secs = now() - t0;
	close(fd);
	return (double)size * iters / secs;
}

/* Writes into a new memfd each time, as a resume fills new chunks. */
static double memfd_write(size_t size, const char *src, int iters)
{
	double secs = 0, t0;
	size_t off;
	int i, fd;

	for (i = 0; i < iters; i++) {
		fd = memfd_create("lm_bench", 0);
		if (fd < 0)
			die("memfd", errno);
		t0 = now();
		for (off = 0; off < size; off += BUF) {
			size_t n = size - off < BUF ? size - off : BUF;

			if (pwrite(fd, src + off, n, off) != (ssize_t)n)
				die("memfd write", errno);
		}
		secs += now() - t0;
		close(fd);
	}
	return (double)size * iters / secs;
}

/* Bytes per second of @iters STOP_COPY saves; the first one kept in @keep. */
static double save_rate(struct vfio_fn *src, char *buf, int iters,
			char *keep, size_t keep_cap, long long *stream)
{
	double secs = 0;
	int i;

	for (i = 0; i < iters; i++)
		*stream = save_once(src->device, buf, &secs,
				    i ? NULL : keep, keep_cap);
	return (double)*stream * iters / secs;
}

/* Bytes per second of @iters resumes of @stream: its writes, not the load. */
static double resume_rate(struct vfio_fn *dst, const char *stream,
			  long long len, int iters)
{
	double secs = 0, t0;
	int i, fd, ret;

	for (i = 0; i < iters; i++) {
		ret = vfio_mig_set(dst->device, VFIO_DEVICE_STATE_RESUMING,
				   &fd);
		if (ret)
			die("RESUMING", -ret);
		t0 = now();
		for (long long off = 0; off < len; off += BUF) {
			size_t n = len - off < BUF ? len - off : BUF;

			if (write(fd, stream + off, n) != (ssize_t)n)
				die("write", errno);
		}
		secs += now() - t0;
		ret = vfio_mig_set(dst->device, VFIO_DEVICE_STATE_RUNNING, NULL);
		if (ret)
			die("resume commit", -ret);
		close(fd);
	}
	return (double)len * iters / secs;
}

static double max_d(double a, double b)
{
	return a > b ? a : b;
}

static void bench_throughput(struct vfio_fn *src, struct vfio_fn *dst)
{
	static const unsigned long long sizes[] = {
		4096, 1 << 20, 64 << 20, 1ULL << 30,
	};
	char *buf = malloc(BUF);
	unsigned int s;

	printf("(a) data fd throughput in MB/s, best of 5 rounds (3 at 1 GiB);\n"
	       "    ratios to a memfd read (the copy limit); save: state in a buffer,\n"
	       "    copied: copied out by save_read; resume also against writing\n"
	       "    a new memfd (w)\n");
	printf("    %-10s %7s %7s %5s %7s %5s %7s %5s %7s %5s\n", "state",
	       "memfd", "save", "ratio", "copied", "ratio", "resume", "ratio",
	       "memfd-w", "ratio");
	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		unsigned long long size = sizes[s];
		int iters = size <= 4096 ? 2000 : size <= (1 << 20) ? 200 :
			    size <= (64 << 20) ? 4 : 1;
		int rounds = size < (1ULL << 30) ? 5 : 3;
		/* the stream: payload, framing, and room for a last read */
		size_t keep_cap = size + 4096 + BUF;
		char *keep = malloc(keep_cap);
		double lim = 0, lim_w = 0, save = 0, copied = 0, res = 0;
		long long stream = 0;
		int r;

		if (!keep)
			die("stream buffer", ENOMEM);
		memset(keep, 0, keep_cap);	/* no page faults timed */
		set_knob(src->bdf, "size", size);
		/* rounds interleave, so a slow spell of the host hits all */
		for (r = 0; r < rounds; r++) {
			save = max_d(save, save_rate(src, buf, iters, keep,
						     keep_cap, &stream));
			set_knob(src->bdf, "copy_out", 1);
			copied = max_d(copied, save_rate(src, buf, iters, NULL,
							 0, &stream));
			set_knob(src->bdf, "copy_out", 0);
			lim = max_d(lim, memfd_read(size, buf, iters));
			lim_w = max_d(lim_w, memfd_write(size, keep, iters));
			res = max_d(res, resume_rate(dst, keep, stream, iters));
		}
		printf("    %-10llu %7.0f %7.0f %5.2f %7.0f %5.2f %7.0f %5.2f %7.0f %5.2f\n",
		       size, lim / 1e6, save / 1e6, save / lim, copied / 1e6,
		       copied / lim, res / 1e6, res / lim, lim_w / 1e6,
		       res / lim_w);
		fflush(stdout);
		free(keep);
	}
	free(buf);
}

static void bench_round_trip(struct vfio_fn *src)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	const int n = 2000;
	double t0, rt, triv;
	int i;

	set_knob(src->bdf, "size", 4096);
	t0 = now();
	for (i = 0; i < n; i++)
		if (vfio_mig_set(src->device, VFIO_DEVICE_STATE_STOP, NULL) ||
		    vfio_mig_set(src->device, VFIO_DEVICE_STATE_RUNNING, NULL))
			die("round trip", errno);
	rt = (now() - t0) / n;
	t0 = now();
	for (i = 0; i < n; i++)
		if (ioctl(src->device, VFIO_DEVICE_GET_INFO, &info))
			die("GET_INFO", errno);
	triv = (now() - t0) / n;
	printf("(b) RUNNING->STOP->RUNNING %.2f us; VFIO_DEVICE_GET_INFO %.2f us; ratio %.1f\n",
	       rt * 1e6, triv * 1e6, rt / triv);
}

static void bench_registry(void)
{
	static const int counts[] = { 1, 256, 4096 };
	char val[32], out[200];
	unsigned int i;

	printf("(c) registry with N functions registered (memory: slab growth / N,\n"
	       "    '-' below 64 functions; lookup: lm_function_get + put, over\n"
	       "    the same 64 functions, then over all N)\n");
	for (i = 0; i < ARRAY_SIZE(counts); i++) {
		snprintf(val, sizeof(val), "%d", counts[i]);
		if (write_file(REGISTRY_BENCH, val) ||
		    read_file(REGISTRY_BENCH, out, sizeof(out)))
			die(REGISTRY_BENCH, errno);
		printf("    %s\n", out);
		fflush(stdout);
	}
}

int main(void)
{
	const char *s = getenv("LM_SRC"), *d = getenv("LM_DST");
	struct vfio_fn src, dst;
	int ret;

	if (!s || !d) {
		fprintf(stderr, "lm_bench: set LM_SRC and LM_DST\n");
		return 1;
	}
	ret = vfio_fn_open(&src, s);
	if (!ret)
		ret = vfio_fn_open(&dst, d);
	if (ret)
		die("open", -ret);
	bench_throughput(&src, &dst);
	bench_round_trip(&src);
	vfio_fn_close(&src);
	vfio_fn_close(&dst);
	bench_registry();
	return 0;
}
