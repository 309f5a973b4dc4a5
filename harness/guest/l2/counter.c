// SPDX-License-Identifier: GPL-2.0
/*
 * The L2 guest of the VMM tests: a multiboot kernel that counts on its
 * serial port, so the destination shows it went on where the source
 * stopped.  It boots in no time under TCG inside TCG, which a Linux L2
 * does not.
 */

#define COM1		0x3f8
#define MB_MAGIC	0x1badb002

__attribute__((section(".multiboot"), used, aligned(4)))
static const unsigned int multiboot[3] = { MB_MAGIC, 0, -MB_MAGIC };

static unsigned char stack[4096] __attribute__((used, aligned(16)));

/* the state that migrates: a counter in RAM */
static volatile unsigned int ticks;

static void outb(unsigned short port, unsigned char v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static unsigned char inb(unsigned short port)
{
	unsigned char v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

static void print_tick(unsigned int n)
{
	char buf[16];
	int i = 0;

	do {
		buf[i++] = '0' + n % 10;
		n /= 10;
	} while (n);
	putc_serial('t');
	putc_serial('i');
	putc_serial('c');
	putc_serial('k');
	putc_serial(' ');
	while (i)
		putc_serial(buf[--i]);
	putc_serial('\n');
}

void l2_main(void)
{
	volatile unsigned int spin;

	for (;;) {
		print_tick(++ticks);
		for (spin = 0; spin < 2000000; spin++)
			;
	}
}

asm(".globl _start\n"
    "_start:\n"
    "	mov $stack + 4096, %esp\n"
    "	call l2_main\n"
    "1:	hlt\n"
    "	jmp 1b\n");
