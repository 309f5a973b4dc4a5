// SPDX-License-Identifier: GPL-2.0
/*
 * The L2 guest of the VMM tests: a multiboot kernel that counts on its
 * serial port, so the destination shows it went on where the source
 * stopped.  It boots in no time under TCG inside TCG, which a Linux L2
 * does not.
 */

#define COM1		0x3f8

/* the state that migrates: a counter in RAM */
static unsigned int ticks;

static void port_write(unsigned short port, unsigned char v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static unsigned char port_read(unsigned short port)
{
	unsigned char v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void serial_putc(char c)
{
	while (!(port_read(COM1 + 5) & 0x20))
		;
	port_write(COM1, c);
}

static void print_tick(unsigned int n)
{
	const char *prefix = "tick ";
	char buf[16];
	int i = 0;

	do {
		buf[i++] = '0' + n % 10;
		n /= 10;
	} while (n);
	while (*prefix)
		serial_putc(*prefix++);
	while (i)
		serial_putc(buf[--i]);
	serial_putc('\n');
}

void l2_main(void)
{
	unsigned int spin;

	for (;;) {
		print_tick(++ticks);
		/* a delay the compiler keeps: the asm may touch memory */
		for (spin = 0; spin < 2000000; spin++)
			asm volatile("" : : : "memory");
	}
}

/* the multiboot header (magic, flags 0, checksum), a stack, the entry */
asm(".section .multiboot, \"a\"\n"
	"	.balign 4\n"
	"	.long 0x1badb002, 0, -0x1badb002\n"
	".bss\n"
	"	.balign 16\n"
	"l2_stack:\n"
	"	.skip 4096\n"
	".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov $l2_stack + 4096, %esp\n"
	"	call l2_main\n"
	"1:	hlt\n"
	"	jmp 1b\n");
