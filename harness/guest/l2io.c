// SPDX-License-Identifier: GPL-2.0
/*
 * l2io - the L2 guest's workload: writes a known pattern to an NVMe
 * namespace through the Linux nvme driver, without pause, reading each
 * block back as soon as it is written, and reading the whole round again
 * at its end.  One line per round on the console; any mismatch, short
 * transfer or error is printed and stops the writing.
 *
 *   l2io DEV BLOCKS
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK	4096

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
	printf("l2io: FAILED: %s of block %u: %s\n", write_it ? "write" : "read",
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
	printf("l2io: FAILED: MISMATCH in block %u of round %u: %#llx\n", block,
	       round, (unsigned long long)got[0]);
	return -1;
}

int main(int argc, char **argv)
{
	unsigned int blocks, round, b;
	unsigned long long *want, *got;
	int fd;

	if (argc != 3)
		return 1;
	blocks = strtoul(argv[2], NULL, 0);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&want, BLOCK, BLOCK) ||
	    posix_memalign((void **)&got, BLOCK, BLOCK)) {
		printf("l2io: FAILED: cannot open %s: %s\n", argv[1],
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
		printf("l2io: round %u verified (%u blocks)\n", round, blocks);
	}
}
