// SPDX-License-Identifier: GPL-2.0
/*
 * l2io - the L2 guest's workload: writes a known pattern to an NVMe
 * namespace through the Linux nvme driver, without pause, reading each
 * block back as soon as it is written, and reading the whole round again
 * at its end.  One line per round on the console; any mismatch, short
 * transfer or error is printed and stops the writing.
 *
 *   l2io DEV BLOCKS [NAME]
 *
 * NAME (default l2io) starts each line, to tell two writers apart.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK	4096

static const char *name = "l2io";

static void fill(unsigned long long *buf, unsigned int round, unsigned int block)
{
	unsigned int i;

	for (i = 0; i < BLOCK / 8; i++)
		buf[i] = 0x5eed000000000000ULL | (unsigned long long)round << 32 |
			 (unsigned long long)block << 12 | i;
}

static int io(int fd, void *buf, unsigned int block, int write_it)
{
	off_t off = (off_t)block * BLOCK;
	ssize_t n = write_it ? pwrite(fd, buf, BLOCK, off) :
			       pread(fd, buf, BLOCK, off);

	if (n == BLOCK)
		return 0;
	printf("%s: FAILED: %s of block %u: %s\n", name, write_it ? "write" : "read",
	       block, n < 0 ? strerror(errno) : "short transfer");
	return -1;
}

static int check(int fd, unsigned long long *want, unsigned long long *got, unsigned int round,
		 unsigned int block)
{
	fill(want, round, block);
	if (io(fd, got, block, 0))
		return -1;
	if (!memcmp(want, got, BLOCK))
		return 0;
	printf("%s: FAILED: MISMATCH in block %u of round %u: %#llx\n", name,
	       block, round, (unsigned long long)got[0]);
	return -1;
}

int main(int argc, char **argv)
{
	unsigned int blocks, round, b;
	unsigned long long *want, *got;
	int fd;

	if (argc != 3 && argc != 4)
		return 1;
	if (argc == 4)
		name = argv[3];
	blocks = strtoul(argv[2], NULL, 0);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&want, BLOCK, BLOCK) ||
	    posix_memalign((void **)&got, BLOCK, BLOCK)) {
		printf("%s: FAILED: cannot open %s: %s\n", name, argv[1],
		       strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (round = 1;; round++) {
		for (b = 0; b < blocks; b++) {
			fill(want, round, b);
			if (io(fd, want, b, 1) || check(fd, want, got, round, b))
				return 2;
		}
		for (b = 0; b < blocks; b++)
			if (check(fd, want, got, round, b))
				return 2;
		printf("%s: round %u verified (%u blocks)\n", name, round,
		       blocks);
	}
}
