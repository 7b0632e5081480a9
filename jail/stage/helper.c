// The helper ELF: the jail's init, the supervisor's waiter and the cleanup guard, so that no Bun
// process exists while a jail runs (contract: /work/brief/STAGE.md, "Helper ELF").
//   helper init  sock=FD [release=FD] pid=N [session=0|1]
//   helper wait  pid=N [sock=FD] [timeout=MS] [grace=MS] [timeoutmsg=TEXT] [oomfile=PATH oomkey=WORD]
//                [oommsg=TEXT] [kill=PATH]... [rmdir=PATH]... [unlink=PATH]... [guard=FD]... (≤ 4)
//                [gate=FD] [results=FD [execmsg=I:ERRNO:STATUS:TEXT]... [opmsg=I:ERRNO:TEXT]...] [session=0|1]
//                [holder=N] [reap=N]... (≤ 4)
//   helper guard pipe=FD [pidfd=FD] [kill=PATH]... [rmdir=PATH]...
//   helper walk  dir=DIR out=FD [omit=BITS]
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
	SIG_SETMASK = 2, PR_SET_PDEATHSIG = 1, PR_SET_DUMPABLE = 4, PR_SET_NAME = 15, CLOCK_MONOTONIC = 1,
	ENOENT = 2, ENOTDIR = 20, STAGE_FAILED = 0x73746167,
	O_CREAT = 0x40, O_TRUNC = 0x200, O_APPEND = 0x400, SEEK_END = 2, CLOCK_REALTIME = 0,
	EXIT_BAD = 125,
};

struct pollfd { int fd; short events, revents; };
struct timespec { long sec, nsec; };
struct iovec { const void *base; unsigned long len; };
struct ksigaction { unsigned long handler, flags, restorer, mask; }; // x86_64 and arm64 layout
struct siginfo_fd { unsigned signo; int err, code; unsigned char rest[116]; }; // signalfd_siginfo
_Static_assert(sizeof(struct siginfo_fd) == 128, "signalfd_siginfo is 128 bytes");

#define NORET static __attribute__((noreturn))

// gcc may emit calls to these for array initialisers, even freestanding (-fno-builtin).
void *memset(void *d, int c, unsigned long n);
// (not recognised as a memset loop and turned into a call to itself)
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void *memset(void *d, int c, unsigned long n)
{
	for (unsigned char *p = d; n--;)
		*p++ = (unsigned char)c;
	return d;
}

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
	// Exactly these: the supervisor blocked every signal before it executed us (nothing may be
	// lost in the hand-over), and the others keep their meaning here — a terminal's Ctrl-Z
	// (SIGTSTP) must stop the waiter with the program, as it stopped the Bun supervisor.
	SYS4(rt_sigprocmask, SIG_SETMASK, &m, 0, 8);
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

// ---- a named jail's records (jail/state.ts), written atomically ----

static char *put(char *d, char *end, const char *s)
{
	while (*s && d < end)
		*d++ = *s++;
	return d;
}

// s as a JSON string (quotes, backslashes and control characters escaped)
static char *put_json(char *d, char *end, const char *s)
{
	const char *hex = "0123456789abcdef";
	if (d < end)
		*d++ = '"';
	for (; *s && d < end - 8; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			*d++ = '\\', *d++ = (char)ch;
		else if (ch < 0x20)
			*d++ = '\\', *d++ = 'u', *d++ = '0', *d++ = '0', *d++ = hex[ch >> 4], *d++ = hex[ch & 15];
		else
			*d++ = (char)ch;
	}
	if (d < end)
		*d++ = '"';
	return d;
}

// PATH.tmp, then renamed over PATH (mode 0600): readers see the old file or the new one.
static void write_atomic(const char *path, const char *buf, long n)
{
	char tmp[4096];
	char *t = put(tmp, tmp + sizeof tmp - 5, path);
	t = put(t, tmp + sizeof tmp - 1, ".tmp");
	*t = 0;
	long fd = SYS4(openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	long ok = SYS3(write, fd, buf, n) == n;
	SYS1(close, fd);
	if (!ok || SYS5(renameat2, AT_FDCWD, tmp, AT_FDCWD, path, 0) < 0)
		SYS3(unlinkat, AT_FDCWD, tmp, 0);
}

// exited=PATH exitedhead=JSON: the record of a detached jail that ended, for `jailx ps -a`:
// JSON (an object missing its end) + ,"endedAt":MS,"status":N[,"message":TEXT]} into PATH.tmp,
// then renamed over PATH.
static void write_exited(char **args, int status, const char *message)
{
	const char *path = 0, *head = 0, *v;
	for (char **a = args; *a; a++)
		if ((v = value(*a, "exited")))
			path = v;
		else if ((v = value(*a, "exitedhead")))
			head = v;
	if (!path || !head)
		return;
	char buf[16384], num[24];
	struct timespec now;
	SYS2(clock_gettime, CLOCK_REALTIME, &now);
	char *end = buf + sizeof buf - 2, *d = put(buf, end, head);
	d = put(d, end, ",\"endedAt\":");
	d = put(d, end, itoa(num + sizeof num, now.sec * 1000 + now.nsec / 1000000));
	d = put(d, end, ",\"status\":");
	d = put(d, end, itoa(num + sizeof num, status));
	if (message && *message) {
		d = put(d, end, ",\"message\":");
		d = put_json(d, end, message);
	}
	*d++ = '}';
	write_atomic(path, buf, d - buf);
}

// ---- log: a detached jail's output into a size-bounded file ----

static void close_except(int a, int b);

// helper log pipe=FD path=PATH [max=BYTES]: copy the pipe into PATH until every writer is gone,
// rotating to PATH.1 (one kept) when PATH reaches max (jail/detach.ts LOG_MAX_BYTES).
NORET void logger(char **args)
{
	int pipe = -1;
	long max = 1L << 20;
	const char *path = 0, *v;
	for (char **a = args; *a; a++) {
		if ((v = value(*a, "pipe")))
			pipe = FD(*a, v);
		else if ((v = value(*a, "path")))
			path = v;
		else if ((v = value(*a, "max")))
			max = number(*a, v, 1, 1L << 40);
		else
			bad("helper: bad argument ", *a);
	}
	if (pipe < 0 || !path)
		bad("helper: missing argument ", pipe < 0 ? "pipe=FD" : "path=PATH");
	// Nothing but the pipe: holding a write end of it ourselves (fds 0-2 are often it), we would
	// never see the EOF that ends us.
	close_except(-1, pipe);
	char rotated[4096];
	char *r = put(rotated, rotated + sizeof rotated - 3, path);
	*r++ = '.', *r++ = '1', *r = 0;
	long fd = SYS4(openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	long size = fd >= 0 ? SYS3(lseek, fd, 0, SEEK_END) : 0;
	char buf[65536];
	for (;;) {
		long n = SYS3(read, pipe, buf, sizeof buf);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *c = buf; n > 0;) {
			if (size >= max) {
				SYS1(close, fd);
				SYS5(renameat2, AT_FDCWD, path, AT_FDCWD, rotated, 0);
				fd = SYS4(openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
				size = 0;
			}
			long take = n < max - size ? n : max - size;
			if (fd >= 0)
				SYS3(write, fd, c, take);
			size += take, c += take, n -= take;
		}
	}
	die(0);
}

// ---- a daemonizing program (--forking, --pid-file; jail/daemon.ts has the same rules) ----

enum { MAXKIDS = 256 };

// init's children, from /proc/self/task/PID/children (init has one thread)
static int children(int self, int *kids)
{
	char path[64], buf[4096], num[24];
	char *d = put(path, path + 40, "/proc/self/task/");
	d = put(d, path + 60, itoa(num + sizeof num, self));
	d = put(d, path + 63, "/children");
	*d = 0;
	long fd = SYS4(openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0), n = 0, r;
	if (fd < 0)
		return 0;
	while (n < (long)sizeof buf - 1 && ((r = SYS3(read, fd, buf + n, sizeof buf - 1 - n)) > 0 || r == -EINTR))
		n += r > 0 ? r : 0;
	SYS1(close, fd);
	int count = 0;
	long v = -1;
	for (long i = 0; i <= n; i++) {
		char ch = i < n ? buf[i] : ' ';
		if (ch >= '0' && ch <= '9')
			v = (v < 0 ? 0 : v * 10) + (ch - '0');
		else if (v >= 0) {
			if (count < MAXKIDS)
				kids[count++] = (int)v;
			v = -1;
		}
	}
	return count;
}

struct daemon {
	int self, main, sure;
	const char *pidfile;
};

// The daemon's main process: the pid file's pid when it is one of init's children (the jailed
// side writes the file), else init's only child (a guess); 0 while unknown.
static int main_pid(struct daemon *dm)
{
	if (dm->sure)
		return dm->main;
	int kids[MAXKIDS], k = children(dm->self, kids);
	if (dm->pidfile) {
		char buf[64];
		long fd = SYS4(openat, AT_FDCWD, dm->pidfile, O_RDONLY | O_CLOEXEC, 0), n = 0, v = -1;
		if (fd >= 0) {
			n = SYS3(read, fd, buf, sizeof buf - 1);
			SYS1(close, fd);
		}
		for (long i = 0; i < n; i++)
			if (buf[i] >= '0' && buf[i] <= '9')
				v = (v < 0 ? 0 : v * 10) + (buf[i] - '0');
			else if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\t')
				v = -2, i = n; // not a number
		for (int i = 0; v > 0 && i < k; i++)
			if (kids[i] == v)
				return dm->sure = 1, dm->main = (int)v;
	}
	if (!dm->main && k == 1)
		dm->main = kids[0];
	return dm->main;
}

static int no_children(struct daemon *dm)
{
	int kids[MAXKIDS];
	return children(dm->self, kids) == 0;
}

// A child was reaped: has the daemon ended? When it was the main process, unless that was a guess
// that exited 0 leaving others (the middle of a double fork): then the guess starts over.
static int daemon_ended(struct daemon *dm, int child, int clean)
{
	if (dm->main != child)
		return 0;
	dm->main = 0;
	return dm->sure || !clean || no_children(dm);
}

// ---- init: the jail's PID 1 ----

NORET void report_exit(int sock, int st)
{
	int rec[2] = { (st & 0x7f) ? 2 : 1, (st & 0x7f) ? (st & 0x7f) : (st >> 8) & 0xff };
	SYS3(write, sock, rec, 8);
	die(0);
}

// The program (not its daemon) ended with wait status `st`: a daemonizing one that succeeded and
// left processes behind hands over to its daemon (returns 1); anything else ends the jail now.
static int program_ended(int forking, int st, struct daemon *dm, int sock)
{
	int clean = !(st & 0x7f) && !((st >> 8) & 0xff);
	if (forking && clean && !no_children(dm))
		return 1;
	report_exit(sock, st);
}

NORET void init(char **args)
{
	int sock = -1, release = -1, pid = 0, session = 0, forking = 0, daemon = 0;
	struct daemon dm = { 0, 0, 0, 0 };
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
		else if ((v = value(*a, "forking")))
			forking = (int)number(*a, v, 0, 1);
		else if ((v = value(*a, "pidfile")))
			dm.pidfile = v;
		else
			bad("helper: bad argument ", *a);
	}
	if (sock < 0 || !pid)
		bad("helper: missing argument ", sock < 0 ? "sock=FD" : "pid=N");
	dm.self = (int)SYS0(getpid);
	int sfd = signal_fd(); // before release: a signal sent once the program runs is queued for us
	if (release >= 0)
		SYS1(close, release);
	struct pollfd p[2] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 } };
	struct siginfo_fd si[8];
	int reap = 1; // the program may have ended before the signalfd existed
	for (;;) {
		while (reap) {
			// Learn the main process while it is still a child (a zombie counts): once reaped
			// it could no longer be recognised.
			if (daemon)
				main_pid(&dm);
			int st = 0;
			long r = SYS4(wait4, -1, &st, WNOHANG | WALL, 0);
			reap = r > 0;
			if (r <= 0)
				break;
			int clean = !(st & 0x7f) && !((st >> 8) & 0xff);
			if (daemon && daemon_ended(&dm, (int)r, clean))
				report_exit(sock, st);
			if (!daemon && r == pid)
				daemon = program_ended(forking, st, &dm, sock);
		}
		// Every process of the daemon is gone without the main one known: a clean end.
		if (daemon && no_children(&dm))
			report_exit(sock, 0);
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
		for (long i = 0; i < n / (long)sizeof si[0]; i++) {
			if (si[i].signo == SIGCHLD) {
				reap = 1;
				continue;
			}
			// A terminal's signal (SI_KERNEL) already reached the program's process group,
			// unless the program runs in its own session.
			if (si[i].code == SI_KERNEL && !session)
				continue;
			if (!daemon) {
				// A daemonizing program may have exited with its SIGCHLD queued behind this
				// signal: sent to its zombie, the signal would be lost. Reap it first.
				int st = 0;
				if (forking && SYS4(wait4, pid, &st, WNOHANG | WALL, 0) == pid)
					daemon = program_ended(forking, st, &dm, sock);
				if (!daemon) {
					SYS2(kill, pid, si[i].signo);
					continue;
				}
			}
			int m = main_pid(&dm);
			if (m) {
				SYS2(kill, m, si[i].signo);
			} else {
				int kids[MAXKIDS], k = children(dm.self, kids);
				for (int j = 0; j < k; j++)
					SYS2(kill, kids[j], si[i].signo);
			}
		}
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

// "I:ERRNO:" prefix of an execmsg/opmsg value; returns the rest (or 0 when it does not match).
static const char *keyed(const char *v, long i, long e)
{
	for (long want = i, part = 0; part < 2; part++, want = e) {
		long n = 0;
		if (*v < '0' || *v > '9')
			return 0;
		while (*v >= '0' && *v <= '9')
			n = n * 10 + (*v++ - '0');
		if (n != want || *v++ != ':')
			return 0;
	}
	return v;
}

// The message the supervisor prepared for `key` = I:ERRNO (exact errno, else 0 = any).
static const char *prepared(char **args, const char *key, long i, long e)
{
	const char *v, *rest;
	for (int pass = 0; pass < 2; pass++)
		for (char **a = args; *a; a++)
			if ((v = value(*a, key)) && (rest = keyed(v, i, pass ? 0 : e)))
				return rest;
	return 0;
}

// After the gate the program's process can still fail: at its filter (the stage's report at
// byte 0 of `results`) or at every execve (results from byte 16: [0] all failed, then per PATH
// candidate i its stat errno at [1 + 2i] and execve errno at [2 + 2i]). The supervisor said
// what each failure means (execmsg, opmsg); say it and return the status, or -1.
// say(a, b), and keep "ab" in `said` (≥ 512 bytes) for the jail's exited record
static void tell(char *said, const char *a, const char *b)
{
	say(a, b);
	char *d = put(said, said + 510, a);
	d = put(d, said + 510, b);
	*d = 0;
}

static int program_failure(char **args, int results, char *said)
{
	int report[4];
	long r[1 + 2 * 32];
	char num[24];
	const char *m;
	if (results < 0)
		return -1;
	if (SYS4(pread64, results, report, sizeof report, 0) == sizeof report && report[0] == STAGE_FAILED) {
		if ((m = prepared(args, "opmsg", report[1], report[2]))) {
			tell(said, m, "");
		} else {
			tell(said, "the program's setup failed with errno ", itoa(num + sizeof num, report[2]));
		}
		return EXIT_BAD;
	}
	if (SYS4(pread64, results, r, sizeof r, 16) != sizeof r || r[0] != 1)
		return -1;
	// execvp's choice: among the candidates that exist (the ones with messages), the first
	// whose execve failed otherwise than with ENOENT/ENOTDIR; else the first, as ENOENT.
	long pick = -1, first = -1, e = ENOENT;
	for (long i = 0; i < 32 && pick < 0; i++) {
		if (!prepared(args, "execmsg", i, 0))
			continue;
		if (first < 0)
			first = i;
		long x = r[2 + 2 * i];
		if (x > 0 && x != ENOENT && x != ENOTDIR)
			pick = i, e = x;
	}
	if (pick < 0)
		pick = first;
	if (pick < 0 || !(m = prepared(args, "execmsg", pick, e)))
		return -1;
	int exact = m != prepared(args, "execmsg", pick, 0) || e == 0;
	long status = 0; // STATUS:TEXT
	while (*m >= '0' && *m <= '9')
		status = status * 10 + (*m++ - '0');
	if (*m == ':')
		m++;
	char tail[40] = " (errno ";
	char *d = itoa(num + sizeof num, e), *t = tail + 8;
	while (*d)
		*t++ = *d++;
	*t++ = ')';
	*t = 0;
	tell(said, m, exact ? "" : tail);
	return (int)status;
}

// Whether the program's process failed after the gate (its filter, or every execve): then it
// exited instead of executing, and the results say so.
static int program_failed(int results)
{
	int report[4];
	long failed = 0;
	if (results < 0)
		return 0;
	if (SYS4(pread64, results, report, sizeof report, 0) == sizeof report && report[0] == STAGE_FAILED)
		return 1;
	return SYS4(pread64, results, &failed, sizeof failed, 16) == sizeof failed && failed == 1;
}

// The program runs: a named jail's entry becomes visible (entry=PATH entryjson=TEXT, prepared by
// jail/register.ts), and the caller of `run -d` hears that it started (report=FD).
static void published(const char *entry, const char *json, int *report)
{
	if (entry && json)
		write_atomic(entry, json, (long)len(json));
	if (*report >= 0) {
		SYS3(write, *report, "{\"status\":0}", 12);
		SYS1(close, *report);
		*report = -1;
	}
}

NORET void wait(char **args)
{
	int pid = 0, sock = -1, gate = -1, results = -1, guards[4], nguards = 0, session = 0, log = 0, ran = -1, report = -1;
	int reap[4], nreap = 0; // the guards' pids: reaped once told we are done
	int holder = 0; // the child holding the supervisor's old memory until the program executed
	const char *entry = 0, *entryjson = 0;
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
		else if ((v = value(*a, "guard")) && nguards < 4)
			guards[nguards++] = FD(*a, v);
		else if ((v = value(*a, "reap")) && nreap < 4)
			reap[nreap++] = PID(*a, v);
		else if ((v = value(*a, "gate")))
			gate = FD(*a, v);
		else if ((v = value(*a, "results")))
			results = FD(*a, v);
		else if ((v = value(*a, "session")))
			session = (int)number(*a, v, 0, 1);
		else if ((v = value(*a, "logger")))
			log = PID(*a, v);
		else if ((v = value(*a, "ran")))
			ran = FD(*a, v);
		else if ((v = value(*a, "holder")))
			holder = PID(*a, v);
		else if ((v = value(*a, "report")))
			report = FD(*a, v);
		else if ((v = value(*a, "entry")))
			entry = v;
		else if ((v = value(*a, "entryjson")))
			entryjson = v;
		else if (!value(*a, "kill") && !value(*a, "rmdir") && !value(*a, "unlink") && !value(*a, "execmsg") &&
			 !value(*a, "opmsg") && !value(*a, "exited") && !value(*a, "exitedhead"))
			bad("helper: bad argument ", *a);
	}
	if (!pid)
		bad("helper: missing argument ", "pid=N");
	int sfd = signal_fd();
	// Waiting now: the program's process may go on to its filter and execve.
	if (gate >= 0)
		SYS1(close, gate);
	struct pollfd p[3] = { { sfd, POLLIN, 0 }, { sock, POLLIN, 0 }, { ran, POLLIN, 0 } };
	struct siginfo_fd si[8];
	long deadline = timeout >= 0 ? now_ms() + timeout : -1;
	int phase = 0; // 1: TERM sent, grace running; 2: KILL sent
	int rec[2] = { 0, 0 }, st = 0;
	long r = SYS4(wait4, pid, &st, WNOHANG | WALL, 0); // it may be gone already
	while (r == 0) {
		long left = deadline < 0 ? 0 : deadline - now_ms();
		left = left < 0 ? 0 : left;
		struct timespec t = { left / 1000, left % 1000 * 1000000 };
		long n = SYS5(ppoll, p, 3, deadline < 0 ? 0 : &t, 0, 8);
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
		if (p[2].revents) { // the program executed (or its process ended)
			char b[8];
			if (SYS3(read, ran, b, sizeof b) <= 0) {
				p[2].fd = -1;
				if (!program_failed(results))
					published(entry, entryjson, &report);
			}
		}
		if (p[0].revents & POLLIN) {
			long got = SYS3(read, sfd, si, sizeof si);
			for (long i = 0; i < got / (long)sizeof si[0]; i++)
				if (si[i].signo == SIGCHLD) {
					// One read may hold two SIGCHLDs (one pending for this thread since
					// before the execve, one for the process): init is reaped at most once.
					if (r == 0)
						r = SYS4(wait4, pid, &st, WNOHANG | WALL, 0);
					if (holder && SYS4(wait4, holder, 0, WNOHANG | WALL, 0) != 0)
						holder = 0;
				}
				// A terminal's signal reached the process group already, unless the program
				// runs in a session of its own (session=1).
				else if (si[i].code != SI_KERNEL || session)
					SYS2(kill, pid, si[i].signo);
		}
	}
	// The holder ends once the program's process has executed or ended, which it has now (init's
	// end took the jail's other processes with it): reaped before anything says the jail ended,
	// so no process of the run outlives that, nor is a zombie left to whoever reaps our orphans.
	if (holder)
		SYS4(wait4, holder, 0, WALL, 0);
	// Ended before we saw the program's execve happen: it did if it did not fail.
	if (p[2].fd >= 0 && !program_failed(results))
		published(entry, entryjson, &report);
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
	char said[512];
	said[0] = 0;
	int failed = (!sig && (rec[0] == 1 || sock < 0)) ? program_failure(args, results, said) : -1;
	if (failed >= 0) {
		status = failed;
	} else if (phase) {
		tell(said, timeoutmsg, "");
		status = 124;
	} else if (killed == SIGKILL && oom_count(oomfile, oomkey) > 0) {
		tell(said, oommsg, "");
		status = 137;
	} else if (rec[0] == 1 || rec[0] == 2) {
		status = rec[0] == 1 ? rec[1] : 128 + rec[1];
	} else if (sig) {
		if (sock >= 0)
			tell(said, "the jail's init was killed by signal ", itoa(num + sizeof num, sig));
		status = 128 + sig;
	} else {
		status = code;
	}
	cleanup(args);
	write_exited(args, status, said);
	if (report >= 0) { // it never ran: the caller of `run -d` learns why
		char buf[1024], num2[24];
		char *end = buf + sizeof buf - 2, *d = put(buf, end, "{\"status\":");
		d = put(d, end, itoa(num2 + sizeof num2, status));
		if (*said) {
			d = put(d, end, ",\"message\":");
			d = put_json(d, end, said);
		}
		*d++ = '}';
		SYS3(write, report, buf, d - buf);
		SYS1(close, report);
	}
	// A guard (and a systemd scope's holder, which keeps the scope and its OOM counter around
	// until the counter was read above) learns that we are done: one byte, then EOF.
	for (int i = 0; i < nguards; i++)
		SYS3(write, guards[i], "d", 1), SYS1(close, guards[i]);
	// They end at that byte: reaped, like the holder, so that none outlives us (nor is left a
	// zombie to whoever reaps our orphans). Only these pids: a process that executed jailx may
	// have had children of its own.
	for (int i = 0; i < nreap; i++)
		while (SYS4(wait4, reap[i], 0, WALL, 0) == -EINTR)
			;
	// A detached jail's log writer ends once every writer of its pipe is gone, we last.
	if (log) {
		SYS1(close, 1);
		SYS1(close, 2);
		SYS4(wait4, log, 0, WALL, 0);
	}
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
		else if (!value(*a, "kill") && !value(*a, "rmdir") && !value(*a, "unlink") && !value(*a, "exited") &&
			 !value(*a, "exitedhead"))
			bad("helper: bad argument ", *a);
	}
	if (pipe < 0)
		bad("helper: missing argument ", "pipe=FD");
	SYS0(setsid); // out of the caller's session: a terminal hang-up must not kill the guard
	block_signals();
	close_except(pidfd < pipe ? pidfd : pipe, pidfd < pipe ? pipe : pidfd);
	char b[64];
	long r;
	int done = 0; // the supervisor wrote before it closed: it ended normally, and cleaned up
	while ((r = SYS3(read, pipe, b, sizeof b)) > 0 || r == -EINTR)
		done |= r > 0;
	if (done)
		die(0);
	if (pidfd >= 0)
		SYS4(pidfd_send_signal, pidfd, SIGKILL, 0, 0);
	cleanup(args);
	write_exited(args, 137, "the jail's supervisor was killed");
	die(0);
}

// ---- walk: a directory tree's entries and modes, listed while the supervisor plans ----

#if defined(__x86_64__)
enum { O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000 };
#else
enum { O_DIRECTORY = 0x4000, O_NOFOLLOW = 0x8000 };
#endif
enum { AT_SYMLINK_NOFOLLOW = 0x100, STATX_TYPE_MODE = 0x3, S_IFMT = 0170000, S_IFDIR = 0040000, S_IFLNK = 0120000, DT_LNK = 10, WALK_DEPTH = 32 };
struct dirent64 { unsigned long ino; long off; unsigned short reclen; unsigned char type; char name[]; };
struct out { int fd, failed; unsigned long n; char buf[65536]; };

static void out_flush(struct out *o)
{
	for (unsigned long at = 0; at < o->n && !o->failed;) {
		long w = SYS3(write, o->fd, o->buf + at, o->n - at);
		if (w == -EINTR)
			continue;
		if (w <= 0)
			o->failed = 1;
		else
			at += (unsigned long)w;
	}
	o->n = 0;
}

// One record: six octal digits of st_mode, a space, the path below the walk's root, a NUL.
static void out_entry(struct out *o, unsigned mode, const char *rel, unsigned long rlen)
{
	if (o->n + rlen + 8 > sizeof o->buf)
		out_flush(o);
	char *d = o->buf + o->n;
	for (int i = 5; i >= 0; i--, mode >>= 3)
		d[i] = (char)('0' + (mode & 7));
	d[6] = ' ';
	for (unsigned long i = 0; i < rlen; i++)
		d[7 + i] = rel[i];
	d[7 + rlen] = 0;
	o->n += rlen + 8;
}

// Every entry beneath the open directory `dir`, whose path below the root is rel[0..rlen) (in a
// 4096-byte buffer), not following symlinks; a non-directory whose mode has all of `omit` is
// left out. A directory that cannot be opened lists nothing; a tree deeper than WALK_DEPTH or a
// read error fails the whole walk (the caller then walks itself).
static void walk_dir(struct out *o, int dir, char *rel, unsigned long rlen, unsigned omit, int depth)
{
	char d[8192];
	long n;
	if (depth > WALK_DEPTH) {
		o->failed = 1;
		return;
	}
	while (!o->failed && (n = SYS3(getdents64, dir, d, sizeof d)) != 0) {
		if (n < 0) {
			o->failed = n != -EINTR;
			continue;
		}
		for (long at = 0; at < n && !o->failed;) {
			struct dirent64 *e = (struct dirent64 *)(d + at);
			at += e->reclen;
			const char *nm = e->name;
			if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
				continue;
			unsigned long nl = len(nm), l = rlen ? rlen + 1 + nl : nl;
			if (l >= 4000) {
				o->failed = 1;
				break;
			}
			if (rlen)
				rel[rlen] = '/';
			for (unsigned long i = 0; i < nl; i++)
				rel[l - nl + i] = nm[i];
			rel[l] = 0;
			// A symlink's mode is S_IFLNK|0777 on Linux, and only its type matters (jail/etc-view.ts
			// judges a symlink by its target's entry): no statx for it. In /etc most entries are
			// symlinks (771 of 1,280 here: /etc/alternatives, /etc/ssl/certs).
			if (e->type == DT_LNK) {
				if (!omit || (0777 & omit) != omit)
					out_entry(o, S_IFLNK | 0777, rel, l);
				rel[rlen] = 0;
				continue;
			}
			unsigned char sx[256]; // struct statx: stx_mode is the u16 at byte 28
			if (SYS5(statx, dir, nm, AT_SYMLINK_NOFOLLOW, STATX_TYPE_MODE, sx) == 0) {
				unsigned mode = (unsigned)(sx[28] | sx[29] << 8);
				int isdir = (mode & S_IFMT) == S_IFDIR;
				if (isdir || !omit || (mode & omit) != omit)
					out_entry(o, mode, rel, l);
				long sub = isdir ? SYS4(openat, dir, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0) : -1;
				if (sub >= 0) {
					walk_dir(o, (int)sub, rel, l, omit, depth + 1);
					SYS1(close, sub);
				}
			} // else: removed meanwhile
			rel[rlen] = 0;
		}
	}
}

NORET void walk(char **args)
{
	const char *dir = 0, *v;
	int out = -1;
	unsigned omit = 0;
	for (char **a = args; *a; a++) {
		if ((v = value(*a, "dir")))
			dir = v;
		else if ((v = value(*a, "out")))
			out = FD(*a, v);
		else if ((v = value(*a, "omit")))
			omit = (unsigned)number(*a, v, 0, 07777);
		else
			bad("helper: bad argument ", *a);
	}
	if (!dir || out < 0)
		bad("helper: missing argument ", dir ? "out=FD" : "dir=DIR");
	block_signals();
	close_except(-1, out);
	struct out o = { out, 0, 0, { 0 } };
	char rel[4096];
	rel[0] = 0;
	long fd = SYS4(openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		die(1);
	walk_dir(&o, (int)fd, rel, 0, omit, 0);
	out_flush(&o);
	// The end mark, so that a walk cut short is never taken for a whole one.
	if (o.failed || SYS3(write, out, "end", 4) != 4)
		die(1);
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
	// Not dumpable, before anything else: nobody without CAP_SYS_PTRACE may ptrace us or open
	// /proc/PID/mem, fd, environ or exe (for init: the jail's /proc/1/...). Except the waiter:
	// it stands in the supervisor's place outside the jail's pid namespace, and another jailx
	// of the same user (rootless) reads a named jail's sealed record through its
	// /proc/PID/fd (jail/state.ts), as it did the Bun supervisor's.
	if (argc < 2 || !is(argv[1], "wait"))
		SYS2(prctl, PR_SET_DUMPABLE, 0);
	if (argc < 2)
		bad("helper: missing argument ", "mode");
	// The name ps and /proc/PID/comm show (else "memfd:jailx-hel", after the memfd).
	if (is(argv[1], "init"))
		SYS2(prctl, PR_SET_NAME, "jailx-init"), init(argv + 2);
	if (is(argv[1], "wait"))
		SYS2(prctl, PR_SET_NAME, "jailx"), wait(argv + 2);
	if (is(argv[1], "guard"))
		SYS2(prctl, PR_SET_NAME, "jailx-guard"), guard(argv + 2);
	if (is(argv[1], "log"))
		SYS2(prctl, PR_SET_NAME, "jailx-log"), logger(argv + 2);
	if (is(argv[1], "walk"))
		SYS2(prctl, PR_SET_NAME, "jailx-walk"), walk(argv + 2);
	bad("helper: bad argument ", argv[1]);
}

// The kernel enters with the stack pointer at argc, argv[], NULL, envp[]. Clear the frame
// pointer, hand the stack pointer to start() and keep the ABI's 16-byte alignment.
#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start\n\thlt\n");
#else
__asm__(".text\n.global _start\n_start:\n\tmov x29, #0\n\tmov x30, #0\n\tmov x0, sp\n\tbl start\n\tbrk #0\n");
#endif
