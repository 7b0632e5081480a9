#!/usr/bin/env python3
# Puts a jailx supervisor's death at a chosen point of the jail's set-up, in an order that no
# scheduler can change: the jail's init runs its first op only once the supervisor is dead.
#
# The command runs under ptrace (PTRACE_TRACEME; every child and thread traced). The first
# process the supervisor starts in a new pid namespace is the jail's init: it is held in its
# first stop, and so is every process the supervisor starts after it (on cgroup v1 the placer,
# which holds a copy of the supervisor's end of their socket and of the cleanup guard's pipe).
# From then on the supervisor's main thread stops at each syscall and is SIGKILLed as it writes
# STEP to fd 2 (a verbose step line). Once its threads are gone the init is let go, alone, and
# the script reads where it waits. Then the placer is let go up to its first openat (it has
# closed its copies: the guard acts), and ORDER decides the rest:
#   guard-first   the guard kills and removes the (empty) cgroup and ends; then the placer goes
#                 on (its write finds no cgroup)
#   placer-first  the guard is held at its rmdir (it has killed: nobody was there); the placer
#                 moves the init into the cgroup and ends; then the guard's rmdir (EBUSY while
#                 the init lives: it retries for ~5 s)
# In both the init must end by itself, and the guard with the cgroup removed.
#
# Usage: hold-init.py STEP ORDER NRS -- COMMAND...
#   NRS: this machine's syscall numbers as JSON {"write", "futex", "openat", "unlinkat"}
# Prints one JSON object: {"supervisor", "init", "held", "initState", "initEnded", "guardEnded"}
# or {"error"}.
import ctypes, json, os, select, signal, sys

STEP, ORDER, NR = sys.argv[1].encode(), sys.argv[2], json.loads(sys.argv[3])
CMD = sys.argv[sys.argv.index("--") + 1:]
BOUND = 20.0  # seconds any one wait may last before the run is given up (a bound, not a timing)
AT_REMOVEDIR = 0x200

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long
TRACEME, CONT, DETACH, SYSCALL, SETOPTIONS, GETEVENTMSG = 0, 7, 17, 24, 0x4200, 0x4201
O_SYSGOOD, O_FORK, O_VFORK, O_CLONE, O_EXEC = 1, 2, 4, 8, 0x10
EV_FORK, EV_VFORK, EV_CLONE = 1, 2, 3
WALL = 0x40000000
DEBUG = os.environ.get("HOLD_INIT_DEBUG")


def debug(*a):
    if DEBUG:
        print(*a, file=sys.stderr, flush=True)


def fail(msg):
    print(json.dumps({"error": msg}), flush=True)
    os._exit(1)


def ptrace(req, pid, data=0):
    if libc.ptrace(req, pid, 0, data) == -1:
        raise OSError(ctypes.get_errno(), f"ptrace({req}, {pid}, sig {data})")


def proc_read(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def status_field(pid, name):
    for line in proc_read(pid, "status").decode().splitlines():
        if line.startswith(name + ":"):
            return line.split()[1:]
    return []


def pidfd_of(pid):
    """A pidfd of pid, or None when it has ended and been reaped already."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def pidfd_wait(pidfd, seconds):
    """Whether the process has ended within `seconds` (None: it had already)."""
    return pidfd is None or bool(select.select([pidfd], [], [], seconds)[0])


signal.signal(signal.SIGALRM, lambda *_: fail("gave up: the run did not reach its end in time"))
signal.alarm(int(BOUND * 4))

sup = os.fork()
if sup == 0:
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    libc.ptrace(TRACEME, 0, None, None)
    os.execv(CMD[0], CMD)
os.waitpid(sup, WALL)  # stopped at its execve
# No PTRACE_O_EXITKILL: were this script to die, what it traces goes on untraced (the cleanup
# guard must not die with it).
ptrace(SETOPTIONS, sup, O_SYSGOOD | O_FORK | O_VFORK | O_CLONE | O_EXEC)
ptrace(CONT, sup)

init = None
guard = None
held = []            # stopped in their first stop: the init, then what the supervisor started after it
threads = {sup}      # the supervisor's threads not yet reported gone
started = set()      # tasks past their first stop
traced = set()       # tasks resumed with PTRACE_SYSCALL (they stop at every syscall)
parked = {}          # task -> the syscall it is held at (entry)
fate = {}            # new task -> whether it is held, decided at its creator's event
first_stops = set()  # new tasks in their first stop, waiting for their creator's event
gone = set()
killed = False


def at_syscall(pid):
    """A syscall stop: True when the task is to stay stopped there."""
    global killed
    fields = proc_read(pid, "syscall").decode().split()
    debug("syscall", pid, fields[:4])
    if len(fields) < 4:
        return False
    nr, a0, a1, a2 = int(fields[0]), int(fields[1], 16), int(fields[2], 16), int(fields[3], 16)
    if pid == sup and not killed and nr == NR["write"] and a0 == 2:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        try:
            data = os.pread(fd, a2, a1)
        finally:
            os.close(fd)
        if STEP in data:
            os.kill(sup, signal.SIGKILL)
            killed = True
            return True
    if pid in [p for p in held if p != init] and nr == NR["openat"]:
        parked[pid] = "openat"
        return True
    if pid == guard and ORDER == "placer-first" and nr == NR["unlinkat"] and a2 & AT_REMOVEDIR:
        parked[pid] = "rmdir"
        return True
    return False


def decide(child):
    """At the supervisor's fork event: whether the new process is held (the init, or later)."""
    global init
    if killed or (init is None and len(status_field(child, "NSpid")) < 2):
        return False
    init = init or child
    return True


def service(block=True):
    """Handle one stop or exit of a traced task; False when there was none."""
    global guard
    try:
        pid, st = os.waitpid(-1, WALL | (0 if block else os.WNOHANG))
    except ChildProcessError:
        return False
    if pid == 0:
        return False
    if os.WIFEXITED(st) or os.WIFSIGNALED(st):
        threads.discard(pid)
        gone.add(pid)
        return True
    sig, event = os.WSTOPSIG(st), st >> 16
    debug("stop", pid, sig, event)
    resume = SYSCALL if pid in traced else CONT
    if event in (EV_FORK, EV_VFORK, EV_CLONE):
        # The new task's first stop may come before or after this: whichever comes second acts.
        msg = ctypes.c_ulong()
        ptrace(GETEVENTMSG, pid, ctypes.addressof(msg))
        child = msg.value
        if event == EV_CLONE and status_field(child, "Tgid")[:1] == [str(sup)]:
            threads.add(child)
        hold = pid == sup and event != EV_CLONE and decide(child)
        if hold and init == child:
            traced.add(sup)  # from here the supervisor stops at each syscall
            resume = SYSCALL
        fate[child] = hold
        debug("event", event, "of", pid, "child", child, "held" if hold else "released", "first stop seen" if child in first_stops else "")
        if child in first_stops:
            first_stops.discard(child)
            held.append(child) if hold else ptrace(CONT, child)
        ptrace(resume, pid)
    elif event:  # exec
        if proc_read(pid, "cmdline").startswith(b"jailx-guard\0"):
            guard = pid
            traced.add(pid)
            resume = SYSCALL
        ptrace(resume, pid)
    elif sig == (signal.SIGTRAP | 0x80):
        if not at_syscall(pid):
            ptrace(SYSCALL, pid)
    elif sig == signal.SIGSTOP and pid not in started:
        started.add(pid)
        if pid not in fate:
            first_stops.add(pid)  # its creator's event decides
        elif fate[pid]:
            held.append(pid)  # not resumed: it stays in this stop
        else:
            ptrace(CONT, pid)
    else:  # a signal on its way: delivered as it would be untraced
        ptrace(resume, pid, sig)
    return True


def until(done):
    while not done():
        if not service():
            fail("no traced task left to wait for")


until(lambda: killed and not threads)
until(lambda: all(p in held for p, hold in fate.items() if hold))  # each in its first stop
debug("supervisor gone; held", held, "fate", fate)
if init is None:
    fail("the supervisor started no process in a new pid namespace")

# Only now does the init run its first op; the others stay held.
ptrace(DETACH, init)
state = None
while state is None:
    service(block=False)
    fields = proc_read(init, "syscall").split()
    if fields and fields[0] == str(NR["futex"]).encode():
        state = "futex"
    elif (status_field(init, "State") or ["X"])[0] in ("Z", "X"):
        state = "ended"
    else:
        os.sched_yield()
init_fd = pidfd_of(init)

guard_fd = pidfd_of(guard) if guard else None
for other in [p for p in held if p != init]:
    traced.add(other)
    ptrace(SYSCALL, other)
    until(lambda: other in parked or other in gone)
    if ORDER == "guard-first" and guard:
        until(lambda: guard in gone)
    if ORDER == "placer-first" and guard:
        until(lambda: guard in parked or guard in gone)
    if other not in gone:
        other_fd = pidfd_of(other)
        ptrace(DETACH, other)
        if not pidfd_wait(other_fd, BOUND):
            fail(f"the held process {other} did not end")
if guard in parked:
    ptrace(DETACH, guard)

debug("the init, before the wait for its end:", status_field(init, "State"), proc_read(init, "syscall")[:60])
ended = pidfd_wait(init_fd, BOUND)
if not ended:
    signal.pidfd_send_signal(init_fd, signal.SIGKILL)
guard_ended = guard in gone or pidfd_wait(guard_fd, BOUND)
while service(block=False):
    pass
print(json.dumps({"supervisor": sup, "init": init, "held": held, "initState": state, "initEnded": ended, "guardEnded": guard_ended}), flush=True)
