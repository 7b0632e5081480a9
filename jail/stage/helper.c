// The helper ELF: the jail's init, the supervisor's waiter and the cleanup guard, so that no Bun
// process exists while a jail runs (contract: /work/brief/STAGE.md, "Helper ELF").
//   helper init  sock=FD [release=FD] pid=N [session=0|1]
//   helper wait  pid=N [sock=FD] [timeout=MS] [grace=MS] [timeoutmsg=TEXT] [oomfile=PATH oomkey=WORD]
//                [oommsg=TEXT] [kill=PATH]... [rmdir=PATH]... [unlink=PATH]... [guard=FD]
//   helper guard pipe=FD [pidfd=FD] [kill=PATH]... [rmdir=PATH]...
// It holds no policy: TypeScript decides every fd, path, time and message. Static, freestanding,
// no libc, no allocation, no writable data: everything lives on the stack or in argv.
// Messages go to fd 2 as one write: "jailx: TEXT\n". A bad argument exits 125.
#include "syscalls.h"

enum {
	SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGUSR1 = 10, SIGUSR2 = 12, SIGPIPE = 13,
	SIGTERM = 15, SIGCHLD = 17, SIGWINCH = 28,
	SI_KERNEL = 0x80,
	EINTR = 4, EBUSY = 16, ENOSYS = 38,
	WNOHANG = 1, WALL = 0x40000000, // __WALL: also a child cloned with another exit signal
	POLLIN = 1, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20,
	AT_FDCWD = -100, AT_REMOVEDIR = 0x200,
	O_RDONLY = 0, O_WRONLY = 1, O_CLOEXEC = 0x80000, O_PATH = 0x200000, // same on both arches
	SIG_BLOCK = 0, PR_SET_PDEATHSIG = 1, PR_SET_DUMPABLE = 4, CLOCK_MONOTONIC = 1,
	EXIT_BAD = 125,
};

struct pollfd { int fd; short events, revents; };
struct timespec { long sec, nsec; };
struct iovec { const void *base; unsigned long len; };
struct ksigaction { unsigned long handler, flags, restorer, mask; }; // x86_64 and arm64 layout
struct siginfo_fd { unsigned signo; int err, code; unsigned char rest[116]; }; // signalfd_siginfo
_Static_assert(sizeof(struct siginfo_fd) == 128, "signalfd_siginfo is 128 bytes");

#define NORET static __attribute__((noreturn))

NORET void die(int status)
{
	for (;;)
		SYS1(exit_group, status);
}

static unsigned long len(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

// "jailx: " a b "\n" in one writev, so lines from several processes never interleave.
static void say(const char *a, const char *b)
{
	struct iovec v[4] = { { "jailx: ", 7 }, { a, len(a) }, { b, len(b) }, { "\n", 1 } };
	SYS3(writev, 2, v, 4);
}

NORET void bad(const char *what, const char *arg)
{
	say(what, arg);
	die(EXIT_BAD);
}

// The value of "key=value" when arg has that key, else 0.
static const char *value(const char *arg, const char *key)
{
	while (*key)
		if (*arg++ != *key++)
			return 0;
	return *arg == '=' ? arg + 1 : 0;
}

// Strict decimal in [min, max]; anything else is a bad argument.
static long number(const char *arg, const char *s, long min, long max)
{
	int neg = *s == '-';
	long n = 0;
	s += neg;
	if (!*s)
		bad("helper: bad argument ", arg);
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 100000000000L)
			bad("helper: bad argument ", arg);
		n = n * 10 + (*s - '0');
	}
	n = neg ? -n : n;
	if (n < min || n > max)
		bad("helper: bad argument ", arg);
	return n;
}

enum { INT_MAX = 0x7fffffff };
#define FD(arg, v) ((int)number(arg, v, 0, INT_MAX))
#define PID(arg, v) ((int)number(arg, v, 1, INT_MAX))

static char *itoa(char *end, long n) // writes backwards from end (NUL-terminated), returns start
{
	*--end = 0;
	do
		*--end = (char)('0' + n % 10);
	while ((n /= 10));
	return end;
}

static long now_ms(void)
{
	struct timespec t;
	SYS2(clock_gettime, CLOCK_MONOTONIC, &t);
	return t.sec * 1000 + t.nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000 };
	SYS5(ppoll, 0, 0, &t, 0, 8);
}

static void set_action(int sig, unsigned long handler) // SIG_DFL 0, SIG_IGN 1
{
	struct ksigaction a = { handler, 0, 0, 0 };
	SYS4(rt_sigaction, sig, &a, 0, 8);
}

// The signals the helper forwards, plus SIGCHLD. They are blocked on entry (inherited); block
// them again so a caller that forgot cannot kill us by default action, then read them from a
// signalfd. SIGCHLD must not be SIG_IGN (that would auto-reap and lose the exit status) and
// SIGPIPE must not kill us while we write to fd 2 or the socket.
static unsigned long block_signals(void)
{
	unsigned long m = 1UL << (SIGHUP - 1) | 1UL << (SIGINT - 1) | 1UL << (SIGQUIT - 1) |
			  1UL << (SIGTERM - 1) | 1UL << (SIGUSR1 - 1) | 1UL << (SIGUSR2 - 1) |
			  1UL << (SIGWINCH - 1) | 1UL << (SIGCHLD - 1);
	set_action(SIGCHLD, 0);
	set_action(SIGPIPE, 1);
	SYS4(rt_sigprocmask, SIG_BLOCK, &m, 0, 8);
	return m;
}

static int signal_fd(void)
{
	unsigned long m = block_signals();
	return (int)SYS4(signalfd4, -1, &m, 8, O_CLOEXEC);
}

// ---- cgroup cleanup (wait and guard) ----

// kill(SIGKILL) every pid listed in an open cgroup.procs; returns how many were listed.
static int kill_listed(int fd)
{
	char buf[512];
	long r, pid = 0, count = 0;
	int digits = 0;
	while ((r = SYS3(read, fd, buf, sizeof buf)) > 0 || r == -EINTR)
		for (long i = 0; i < r; i++)
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
				digits = 1;
			} else {
				if (digits && pid > 0) {
					SYS2(kill, pid, SIGKILL);
					count++;
				}
				pid = 0;
				digits = 0;
			}
	return (int)count;
}

// Kill every process of a cgroup: cgroup.kill where the kernel has it (v2, 5.14+), else read
// cgroup.procs and kill each pid, again until the list is empty (a forking process may add
// more), bounded. Missing directories are fine: cleanup also runs on paths already removed.
static void cgroup_kill(const char *path)
{
	long dir = SYS4(openat, AT_FDCWD, path, O_PATH | O_CLOEXEC, 0);
	if (dir < 0)
		return;
	long fd = SYS4(openat, dir, "cgroup.kill", O_WRONLY | O_CLOEXEC, 0);
	long done = fd >= 0 && SYS3(write, fd, "1", 1) == 1;
	if (fd >= 0)
		SYS1(close, fd);
	for (int round = 0; !done && round < 200; round++) {
		fd = SYS4(openat, dir, "cgroup.procs", O_RDONLY | O_CLOEXEC, 0);
		if (fd < 0)
			break;
		done = kill_listed((int)fd) == 0;
		SYS1(close, fd);
		if (!done)
			pause_ms(1);
	}
	SYS1(close, dir);
}

// rmdir, retried while EBUSY (killed processes take a moment to leave), bounded at ~5 s.
static void cgroup_rmdir(const char *path)
{
	for (int i = 0; i < 600; i++) {
		if (SYS3(unlinkat, AT_FDCWD, path, AT_REMOVEDIR) != -EBUSY)
			return;
		pause_ms(i < 100 ? 1 : 10);
	}
}

// The repeatable cleanup arguments, in the order given: all kills, then rmdirs, then unlinks.
static void cleanup(char **args)
{
	const char *v;
	for (char **a = args; *a; a++)
		if ((v = value(*a, "kill")))
			cgroup_kill(v);
	for (char **a = args; *a; a++)
		if ((v = value(*a, "rmdir")))
			cgroup_rmdir(v);
	for (char **a = args; *a; a++)
		if ((v = value(*a, "unlink")))
			SYS3(unlinkat, AT_FDCWD, v, 0);
}

// ---- init: the jail's PID 1 ----

NORET void init(char **args)
{
	int sock = -1, release = -1, pid = 0, session = 0;
	const char *v;
	// The supervisor's death also shows as a hang-up on sock (below), which covers the race of a
	// parent that died before this prctl (getppid() is 0 for a PID 1, so it cannot be re-checked).
	SYS2(prctl, PR_SET_PDEATHSIG, SIGKILL);
	for (char **a = args; *a; a++) {
		if ((v = value(*a, "sock")))
			sock = FD(*a, v);
		else if ((v = value(*a, "release")))
			release = FD(*a, v);
		else if ((v = value(*a, "pid")))
			pid = PID(*a, v);
		else if ((v = value(*a, "session")))
			session = (int)number(*a, v, 0, 1);
		else
			bad("helper: bad argument ", *a);
	}
	if (sock < 0 || !pid)
		bad("helper: missing argument ", sock < 0 ? "sock=FD" : "pid=N");
	int sfd = signal_fd(); // before release: a signal sent once the program runs is queued for us
	if (release >= 0)
		SYS1(close, release);
	struct pollfd p[2] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 } };
	struct siginfo_fd si[8];
	int reap = 1; // the program may have ended before the signalfd existed
	for (;;) {
		while (reap) {
			int st = 0;
			long r = SYS4(wait4, -1, &st, WNOHANG | WALL, 0);
			if (r == pid) {
				int rec[2] = { (st & 0x7f) ? 2 : 1, (st & 0x7f) ? (st & 0x7f) : (st >> 8) & 0xff };
				SYS3(write, sock, rec, 8);
				die(0);
			}
			reap = r > 0;
		}
		if (SYS5(ppoll, p, 2, 0, 0, 8) < 0)
			continue;
		if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
			die(1); // the supervisor is gone; PID 1 exiting takes the namespace with it
		if (p[1].revents & POLLIN) {
			char b[16];
			if (SYS3(read, sock, b, sizeof b) == 0)
				die(1);
		}
		if (!(p[0].revents & POLLIN))
			continue;
		long n = SYS3(read, sfd, si, sizeof si);
		for (long i = 0; i < n / (long)sizeof si[0]; i++)
			if (si[i].signo == SIGCHLD)
				reap = 1;
			// A terminal's signal (SI_KERNEL) already reached the program's process group,
			// unless the program runs in its own session.
			else if (si[i].code != SI_KERNEL || session)
				SYS2(kill, pid, si[i].signo);
	}
}

// ---- wait: the supervisor after execve ----

// The count after `key` on its line of `file` (memory.events "oom_kill N", or v1
// memory.oom_control); 0 when absent or unreadable.
static long oom_count(const char *file, const char *key)
{
	char buf[4096];
	long fd, n = 0, r;
	if (!file || !key || (fd = SYS4(openat, AT_FDCWD, file, O_RDONLY | O_CLOEXEC, 0)) < 0)
		return 0;
	while (n < (long)sizeof buf - 1 && ((r = SYS3(read, fd, buf + n, sizeof buf - 1 - n)) > 0 || r == -EINTR))
		n += r > 0 ? r : 0;
	SYS1(close, fd);
	buf[n] = 0;
	for (char *line = buf; *line;) {
		const char *k = key;
		char *c = line;
		while (*k && *c == *k)
			c++, k++;
		if (!*k && *c == ' ') {
			long count = 0;
			while (*++c >= '0' && *c <= '9')
				count = count * 10 + (*c - '0');
			return count;
		}
		while (*line && *line++ != '\n')
			;
	}
	return 0;
}

NORET void wait(char **args)
{
	int pid = 0, sock = -1, guard = -1;
	long timeout = -1, grace = 0;
	const char *v, *timeoutmsg = "the program timed out", *oomfile = 0, *oomkey = 0;
	const char *oommsg = "the program was killed by the OOM killer";
	for (char **a = args; *a; a++) {
		if ((v = value(*a, "pid")))
			pid = PID(*a, v);
		else if ((v = value(*a, "sock")))
			sock = FD(*a, v);
		else if ((v = value(*a, "timeout")))
			timeout = number(*a, v, -1, 1L << 40);
		else if ((v = value(*a, "grace")))
			grace = number(*a, v, 0, 1L << 40);
		else if ((v = value(*a, "timeoutmsg")))
			timeoutmsg = v;
		else if ((v = value(*a, "oomfile")))
			oomfile = v;
		else if ((v = value(*a, "oomkey")))
			oomkey = v;
		else if ((v = value(*a, "oommsg")))
			oommsg = v;
		else if ((v = value(*a, "guard")))
			guard = FD(*a, v);
		else if (!value(*a, "kill") && !value(*a, "rmdir") && !value(*a, "unlink"))
			bad("helper: bad argument ", *a);
	}
	if (!pid)
		bad("helper: missing argument ", "pid=N");
	int sfd = signal_fd();
	struct pollfd p[2] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 } };
	struct siginfo_fd si[8];
	long deadline = timeout >= 0 ? now_ms() + timeout : -1;
	int phase = 0; // 1: TERM sent, grace running; 2: KILL sent
	int rec[2] = { 0, 0 }, st = 0;
	long r = SYS4(wait4, pid, &st, WNOHANG | WALL, 0); // it may be gone already
	while (r == 0) {
		long left = deadline < 0 ? 0 : deadline - now_ms();
		left = left < 0 ? 0 : left;
		struct timespec t = { left / 1000, left % 1000 * 1000000 };
		long n = SYS5(ppoll, p, 2, deadline < 0 ? 0 : &t, 0, 8);
		if (n == 0 || (deadline >= 0 && now_ms() >= deadline)) {
			SYS2(kill, pid, phase ? SIGKILL : SIGTERM);
			deadline = phase ? -1 : now_ms() + grace;
			phase++;
		}
		if (n <= 0)
			continue;
		if (p[1].revents & POLLIN) { // init's record: keep it; read again only if it was not one
			if (SYS3(read, sock, rec, 8) != 8)
				rec[0] = 0;
			if (rec[0])
				p[1].fd = -1;
		}
		if (p[1].revents & (POLLHUP | POLLERR | POLLNVAL))
			p[1].fd = -1; // init is gone or going; its exit status tells the rest
		if (p[0].revents & POLLIN) {
			long got = SYS3(read, sfd, si, sizeof si);
			for (long i = 0; i < got / (long)sizeof si[0]; i++)
				if (si[i].signo == SIGCHLD)
					r = SYS4(wait4, pid, &st, WNOHANG | WALL, 0);
				else if (si[i].code != SI_KERNEL)
					SYS2(kill, pid, si[i].signo);
		}
	}
	if (r < 0) { // not our child (ECHILD): nothing to wait for, but still clean up
		char num[24];
		say("helper: not a child of the waiter: pid=", itoa(num + sizeof num, pid));
		st = EXIT_BAD << 8;
	}
	// The record may still be queued behind init's exit; the socket never blocks us here.
	if (sock >= 0 && !rec[0]) {
		struct pollfd q = { sock, POLLIN, 0 };
		struct timespec zero = { 0, 0 };
		if (SYS5(ppoll, &q, 1, &zero, 0, 8) == 1 && (q.revents & POLLIN) && SYS3(read, sock, rec, 8) != 8)
			rec[0] = 0;
	}
	int sig = st & 0x7f, code = (st >> 8) & 0xff, status;
	char num[24];
	// Who died by which signal: the program per its record, else init (or, with as-pid-1, the
	// program itself). A SIGKILL with an OOM kill counted in the jail's cgroup is the OOM killer.
	int killed = rec[0] == 2 ? rec[1] : rec[0] == 1 ? 0 : sig;
	if (phase) {
		say(timeoutmsg, "");
		status = 124;
	} else if (killed == SIGKILL && oom_count(oomfile, oomkey) > 0) {
		say(oommsg, "");
		status = 137;
	} else if (rec[0] == 1 || rec[0] == 2) {
		status = rec[0] == 1 ? rec[1] : 128 + rec[1];
	} else if (sig) {
		if (sock >= 0)
			say("the jail's init was killed by signal ", itoa(num + sizeof num, sig));
		status = 128 + sig;
	} else {
		status = code;
	}
	cleanup(args);
	if (guard >= 0)
		SYS1(close, guard);
	die(status);
}

// ---- guard: cleanup after the supervisor, even if it is SIGKILLed ----

static void close_gap(unsigned lo, unsigned hi)
{
	if (lo <= hi && SYS3(close_range, lo, hi, 0) == -ENOSYS)
		for (unsigned fd = lo; fd <= hi && fd < 1024; fd++)
			SYS1(close, fd); // kernels before 5.9
}

// Close every fd but a and b (a < b; a may be -1 for none).
static void close_except(int a, int b)
{
	if (a > 0)
		close_gap(0, (unsigned)a - 1);
	if (b > a + 1)
		close_gap((unsigned)a + 1, (unsigned)b - 1);
	close_gap((unsigned)b + 1, ~0U);
}

NORET void guard(char **args)
{
	int pipe = -1, pidfd = -1;
	const char *v;
	for (char **a = args; *a; a++) {
		if ((v = value(*a, "pipe")))
			pipe = FD(*a, v);
		else if ((v = value(*a, "pidfd")))
			pidfd = FD(*a, v);
		else if (!value(*a, "kill") && !value(*a, "rmdir"))
			bad("helper: bad argument ", *a);
	}
	if (pipe < 0)
		bad("helper: missing argument ", "pipe=FD");
	SYS0(setsid); // out of the caller's session: a terminal hang-up must not kill the guard
	block_signals();
	close_except(pidfd < pipe ? pidfd : pipe, pidfd < pipe ? pipe : pidfd);
	char b[64];
	long r;
	while ((r = SYS3(read, pipe, b, sizeof b)) > 0 || r == -EINTR)
		;
	if (pidfd >= 0)
		SYS4(pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	cleanup(args);
	die(0);
}

static int is(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

__attribute__((used, noreturn)) void start(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	// Not dumpable, before anything else, in every mode: nobody without CAP_SYS_PTRACE may
	// ptrace us or open /proc/PID/mem, fd, environ or exe (for init: the jail's /proc/1/...).
	SYS2(prctl, PR_SET_DUMPABLE, 0);
	if (argc < 2)
		bad("helper: missing argument ", "mode");
	if (is(argv[1], "init"))
		init(argv + 2);
	if (is(argv[1], "wait"))
		wait(argv + 2);
	if (is(argv[1], "guard"))
		guard(argv + 2);
	bad("helper: bad argument ", argv[1]);
}

// The kernel enters with the stack pointer at argc, argv[], NULL, envp[]. Clear the frame
// pointer, hand the stack pointer to start() and keep the ABI's 16-byte alignment.
#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start\n\thlt\n");
#else
__asm__(".text\n.global _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tmov x0, sp\n\tbl start\n\tbrk #0\n");
#endif
