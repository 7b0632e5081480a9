#!/usr/bin/env python3
# Process harness for tests/run/helper.test.ts: builds the process tree the stage builds for
# jail/stage/helper.c, then runs the helper in it. Bun can't fork or hand arbitrary fds to a
# child, so this does it. Usage: stage-helper-harness.py MODE HELPER CONFIG_JSON
#
#   init:  this process plays the supervisor. It forks C, which forks the program G and execs
#          `helper init sock= release= pid=G`; it relays G's events, init's record and init's
#          exit as JSON lines; "close" on stdin closes the supervisor's end of the socket. With
#          "tty", init leads a session on a pty and "winch" resizes it (a kernel SIGWINCH).
#   wait:  like init (or, with "init": false, G is forked directly: as-pid-1), then this process
#          execs `helper wait pid= sock= ...` itself once G is ready.
#   guard: forks a victim V (pidfd) and C = `helper guard pipe= pidfd= ...`; "close" on stdin
#          closes the pipe's write end; reports the guard's and the victim's end.
#
# Events are JSON lines on stdout. G prints its own events (it shares stdout), so they arrive
# even after this process became the waiter. Signals are blocked here first, as the supervisor
# does, and stay blocked in every child: G reads them with sigwaitinfo, the helper with signalfd.
import ctypes, fcntl, json, os, select, signal, socket, struct, sys, termios

mode, helper, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ALL = set(signal.Signals) - {signal.SIGKILL, signal.SIGSTOP}
FWD = {signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH}


PREFIX = os.environ.get("HELPER_PREFIX", "").split()  # e.g. qemu-aarch64 for the arm64 helper


def execute(args):
    os.execv((PREFIX + args)[0], PREFIX + args)


def emit(**ev):
    os.write(1, (json.dumps(ev) + "\n").encode())


def unshare_pid():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x20000000) != 0:  # CLONE_NEWPID: our next child is PID 1 of a new namespace
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID)")


def join_cgroup(procs):
    with open(procs, "w") as f:
        f.write("0")  # "0" = the writer itself, whatever pid namespace it is in


def program(release_r, ready_w):
    """G: the jailed program. Never returns."""
    try:
        if cfg.get("cgroup"):
            join_cgroup(cfg["cgroup"])
        if cfg.get("own_pgrp"):
            os.setpgid(0, 0)  # out of the terminal's foreground group
        outer = int(os.readlink("/proc/self"))  # the host's procfs: our pid as the test sees it
        emit(ev="ready", pid=outer)
        os.write(ready_w, b"r")
        os.close(ready_w)
        if release_r is not None:
            while os.read(release_r, 1):
                pass
            emit(ev="released")
        what = cfg.get("program", "exit")
        if what == "exit":
            os._exit(cfg.get("code", 0))
        if what == "kill-self":
            sig = cfg["signal"]
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
            if sig != signal.SIGKILL:
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        if what == "oom":
            hog = []
            while True:
                hog.append(b"x" * (1 << 20))  # touched pages: charged to the memory cgroup
        # "signals": report each forwarded signal with who sent it; exit on cfg["exit_on"].
        while True:
            si = signal.sigwaitinfo(FWD)
            pending = sorted(int(s) for s in signal.sigpending())
            emit(ev="got", sig=si.si_signo, code=si.si_code, pid=si.si_pid, pending=pending)
            if si.si_signo == cfg.get("exit_on"):
                os._exit(cfg.get("code", 0))
    except BaseException as e:
        emit(ev="program-error", error=repr(e))
        os._exit(99)


def start_init(with_init):
    """Fork C (the helper's init, with G as its child) or G alone. Returns (C or G, sup sock)."""
    sup = ini = None
    if with_init:
        sup, ini = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ready_r, ready_w = os.pipe()
    tty = os.openpty() if cfg.get("tty") else None
    if cfg.get("pidns"):
        unshare_pid()
    c = os.fork()
    if c == 0:
        os.close(ready_r)
        if not with_init:
            program(None, ready_w)
        sup.close()
        if tty:  # init leads a session whose terminal is the pty; G is in its process group
            os.setsid()
            fcntl.ioctl(tty[1], termios.TIOCSCTTY, 0)
            os.close(tty[0])
        release_r, release_w = os.pipe()
        g = os.fork()
        if g == 0:
            ini.close()
            os.close(release_w)
            program(release_r, ready_w)
        os.close(release_r)
        os.close(ready_w)
        if cfg.get("uid") is not None:
            os.setgroups([])
            os.setresgid(cfg["uid"], cfg["uid"], cfg["uid"])
            os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        args = [helper, "init", f"sock={ini.fileno()}", f"release={release_w}", f"pid={g}"] + cfg.get("init_args", [])
        os.set_inheritable(ini.fileno(), True)
        os.set_inheritable(release_w, True)
        execute(args)
    os.close(ready_w)
    if ini:
        ini.close()
    os.read(ready_r, 1)  # G is in place (joined its cgroup, has its pid)
    os.close(ready_r)
    global master
    if tty:
        os.close(tty[1])
        master = tty[0]
    return c, sup


master = None


def status(st):
    return {"code": os.waitstatus_to_exitcode(st)} if os.WIFEXITED(st) else {"signal": os.WTERMSIG(st)}


def run_init():
    c, sup = start_init(True)
    if cfg.get("hold_sock"):  # another process keeps the supervisor's end open: no hang-up
        h = os.fork()
        if h == 0:
            emit(ev="holder", pid=os.getpid())
            os.close(1)
            os.close(2)
            signal.sigwaitinfo({signal.SIGUSR1})
            os._exit(0)
    emit(ev="started", init=c)
    cfd = os.pidfd_open(c)
    watch = [sup, cfd, 0]
    while True:
        r, _, _ = select.select(watch, [], [])
        if sup in r:
            data = sup.recv(64)
            if data:
                emit(ev="record", kind=int.from_bytes(data[0:4], "little", signed=True), value=int.from_bytes(data[4:8], "little", signed=True), size=len(data))
            else:
                watch.remove(sup)
        if 0 in r:
            line = os.read(0, 64)
            if line.startswith(b"winch"):  # the kernel sends SIGWINCH to the terminal's foreground group
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
                emit(ev="resized")
            if line.startswith(b"close"):
                sup.close()
                watch.remove(sup)
            if not line:
                watch.remove(0)
        if cfd in r:
            _, st = os.waitpid(c, 0)
            emit(ev="init-exit", **status(st))
            return


def run_wait():
    with_init = cfg.get("init", True)
    if cfg.get("waiter_tty"):  # the waiter leads a session on a pty (kept open through the exec)
        m, sl = os.openpty()
        os.setsid()
        fcntl.ioctl(sl, termios.TIOCSCTTY, 0)
        emit(ev="tty", path=os.ttyname(sl))
        os.close(sl)
        os.set_inheritable(m, True)
    c, sup = start_init(with_init)
    args = [helper, "wait", f"pid={c}"] + ([f"sock={sup.fileno()}"] if sup else []) + cfg.get("args", [])
    if cfg.get("guard_watch") is not None:
        # guard=FD: a pipe's write end the waiter closes last. A watcher holds the read end and,
        # at EOF, reports which of the given paths still exist: the cleanup must be done by then.
        gr, gw = os.pipe()
        if cfg.get("guard_hold"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        watcher = os.fork()
        if watcher == 0:
            os.close(gw)
            while os.read(gr, 64):
                pass
            emit(ev="guard-eof", exists=[os.path.exists(p) for p in cfg["guard_watch"]])
            if cfg.get("guard_hold"):  # ends only at the test's SIGUSR1 (not tied to the waiter's stdin)
                signal.sigwait({signal.SIGUSR1})
            os._exit(0)
        if cfg.get("guard_hold"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        os.close(gr)
        os.set_inheritable(gw, True)
        args.append(f"guard={gw}")
        if cfg.get("guard_reap"):
            args.append(f"reap={watcher}")
        emit(ev="watcher", pid=watcher)
    if sup:
        os.set_inheritable(sup.fileno(), True)
    emit(ev="exec", waiter=os.getpid(), child=c)
    execute(args)


def run_guard():
    pipe_r, pipe_w = os.pipe()
    v = os.fork()
    if v == 0:
        os.close(pipe_r)
        os.close(pipe_w)  # only the harness may hold the write end
        while True:
            signal.sigwaitinfo({signal.SIGUSR1})
    victim = os.pidfd_open(v)
    g = os.fork()
    if g == 0:
        os.close(pipe_w)
        os.set_inheritable(pipe_r, True)
        os.set_inheritable(victim, True)
        execute([helper, "guard", f"pipe={pipe_r}", f"pidfd={victim}"] + cfg.get("args", []))
    os.close(pipe_r)
    emit(ev="started", guard=g, victim=v, pipe=pipe_r, pidfd=victim)
    if os.read(0, 64).startswith(b"close"):
        os.close(pipe_w)
    _, st = os.waitpid(g, 0)
    emit(ev="guard-exit", **status(st))
    _, st = os.waitpid(v, 0)
    emit(ev="victim-exit", **status(st))


def run_victims():
    """Processes parked in cgroups (double fork: orphans, as a jail's processes are to the waiter)."""
    for procs in cfg["cgroups"]:
        p = os.fork()
        if p == 0:
            if os.fork() == 0:
                join_cgroup(procs)
                emit(ev="victim", pid=int(os.readlink("/proc/self")), cgroup=procs)
                os.close(1)
                os.close(2)
                while True:
                    signal.sigwaitinfo({signal.SIGUSR1})
            os._exit(0)
        os.waitpid(p, 0)


signal.pthread_sigmask(signal.SIG_BLOCK, ALL)
{"init": run_init, "wait": run_wait, "guard": run_guard, "victims": run_victims}[mode]()
