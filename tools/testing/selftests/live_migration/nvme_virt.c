// SPDX-License-Identifier: GPL-2.0
/*
 * nvme_virt - the NVMe admin commands the tests need on a primary
 * controller: its OACS, its Secondary Controller List, and Virtualization
 * Management to give a secondary controller (a VF) queue and interrupt
 * resources and bring it online, as nvme-cli's virt-mgmt does, and
 * Namespace Attachment to attach a namespace to a controller or detach it.
 *
 *   nvme_virt DEV oacs
 *   nvme_virt DEV list
 *   nvme_virt DEV assign SCID NVQ NVI
 *   nvme_virt DEV online|offline SCID
 *   nvme_virt DEV attach|detach NSID CNTLID
 *
 * DEV is the primary's character device (/dev/nvme0).  Exit status 0 on
 * success, 1 on a usage error, 2 when a command fails.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/nvme_ioctl.h>

#define ADMIN_IDENTIFY		0x06
#define ADMIN_NS_ATTACH		0x15
#define ADMIN_VIRT_MGMT		0x1c
#define CNS_CTRL		0x01
#define CNS_SEC_CTRL_LIST	0x15
#define VM_ASSIGN		0x8	/* secondary flexible allocation */
#define VM_OFFLINE		0x7
#define VM_ONLINE		0x9
#define RT_VQ			0
#define RT_VI			1

static int admin_ns(int fd, uint8_t opcode, uint32_t nsid, uint32_t cdw10,
		    uint32_t cdw11, void *buf, uint32_t len)
{
	struct nvme_admin_cmd cmd = {
		.opcode = opcode,
		.nsid = nsid,
		.addr = (uintptr_t)buf,
		.data_len = len,
		.cdw10 = cdw10,
		.cdw11 = cdw11,
	};
	int ret = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);

	if (ret < 0)
		fprintf(stderr, "nvme_virt: opcode %#x: %s\n", opcode,
			strerror(errno));
	else if (ret)
		fprintf(stderr, "nvme_virt: opcode %#x: status %#x\n", opcode,
			ret);
	return ret ? 2 : 0;
}

static int admin(int fd, uint8_t opcode, uint32_t cdw10, uint32_t cdw11,
		 void *buf, uint32_t len)
{
	return admin_ns(fd, opcode, 0, cdw10, cdw11, buf, len);
}

/* Namespace Attachment: SEL 0 attaches, 1 detaches; a controller list */
static int attach(int fd, uint32_t nsid, uint16_t cntlid, int detach)
{
	uint8_t list[4096] = { 1, 0, cntlid & 0xff, cntlid >> 8 };

	return admin_ns(fd, ADMIN_NS_ATTACH, nsid, detach, 0, list,
			sizeof(list));
}

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static int list(int fd)
{
	uint8_t buf[4096];
	int i, ret;

	ret = admin(fd, ADMIN_IDENTIFY, CNS_SEC_CTRL_LIST, 0, buf, sizeof(buf));
	if (ret)
		return ret;
	for (i = 0; i < buf[0] && i < 127; i++) {
		const uint8_t *e = buf + 32 + 32 * i;

		printf("scid %u pcid %u scs %u vfn %u nvq %u nvi %u\n",
		       le16(e), le16(e + 2), e[4], le16(e + 8), le16(e + 10),
		       le16(e + 12));
	}
	return 0;
}

static int print_usage(void)
{
	fputs("usage: nvme_virt DEV oacs|list\n"
	      "       nvme_virt DEV attach|detach NSID CNTLID\n"
	      "       nvme_virt DEV assign SCID NVQ NVI\n"
	      "       nvme_virt DEV online|offline SCID\n", stderr);
	return 1;
}

int main(int argc, char **argv)
{
	uint8_t id[4096];
	unsigned long scid;
	int fd, ret;

	if (argc < 3)
		return print_usage();
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	if (!strcmp(argv[2], "oacs") && argc == 3) {
		ret = admin(fd, ADMIN_IDENTIFY, CNS_CTRL, 0, id, sizeof(id));
		if (!ret)
			printf("%#x\n", le16(id + 256));
		return ret;
	}
	if (!strcmp(argv[2], "list") && argc == 3)
		return list(fd);
	if (argc < 4)
		return print_usage();
	scid = strtoul(argv[3], NULL, 0);
	if (!strcmp(argv[2], "assign") && argc == 6) {
		ret = admin(fd, ADMIN_VIRT_MGMT, scid << 16 | RT_VQ << 8 |
			    VM_ASSIGN, strtoul(argv[4], NULL, 0), NULL, 0);
		return ret ?: admin(fd, ADMIN_VIRT_MGMT, scid << 16 |
				    RT_VI << 8 | VM_ASSIGN,
				    strtoul(argv[5], NULL, 0), NULL, 0);
	}
	if ((!strcmp(argv[2], "attach") || !strcmp(argv[2], "detach")) &&
	    argc == 5)
		return attach(fd, scid, strtoul(argv[4], NULL, 0),
			      !strcmp(argv[2], "detach"));
	if (!strcmp(argv[2], "online") && argc == 4)
		return admin(fd, ADMIN_VIRT_MGMT, scid << 16 | VM_ONLINE, 0,
			     NULL, 0);
	if (!strcmp(argv[2], "offline") && argc == 4)
		return admin(fd, ADMIN_VIRT_MGMT, scid << 16 | VM_OFFLINE, 0,
			     NULL, 0);
	return print_usage();
}
