# Attack probe: terminal input injection. Runs `jailx run` on a pseudo-terminal (the jail's
# stdio and controlling terminal); inside, python3 tries TIOCSTI (also with high bits set in the
# request, CVE-2019-10063) and TIOCLINUX on stdin and on /dev/tty, and writes to /dev/tty.
# Prints the inner results (ending with "stdin-got=MARK" when the injected marker could be read
# back as terminal input, else "stdin-got=nothing") and "exit=<status>". Usage: tty-inject.py JAILX [jailx run flags...]
import os, pty, select, sys, time

INNER = r'''
import fcntl, os
MARK = b"INJ" + b"ECTED"
def attempt(name, fd, req, arg):
    try:
        fcntl.ioctl(fd, req, arg)
        print(name + "=OK", flush=True)
    except OSError as e:
        print(name + "=errno:%d" % e.errno, flush=True)
tty = os.open("/dev/tty", os.O_RDWR)
for fd, where in ((0, "stdin"), (tty, "devtty")):
    for ch in MARK + b"\n":
        attempt("TIOCSTI-" + where, fd, 0x5412, bytes([ch]))
    attempt("TIOCSTI-high-" + where, fd, 0xdead00005412 & 0xffffffffffffffff, b"X")
    attempt("TIOCLINUX-" + where, fd, 0x541C, b"\x02")
os.write(tty, b"tty-write-ok\n")
# TIOCSTI is synchronous: injected bytes already wait in the terminal's input queue.
os.set_blocking(0, False)
try:
    got = os.read(0, 4096)
except BlockingIOError:
    got = b""
print("stdin-got=" + ("MARK" if MARK in got else "nothing"), flush=True)
print("done", flush=True)
'''

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["jailx", "run", *sys.argv[2:], "--", "/usr/bin/python3", "-c", INNER])

buf = b""
end = time.time() + 30
while b"done" not in buf and time.time() < end:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if ready:
        try:
            buf += os.read(fd, 4096)
        except OSError:
            break
_, status = os.waitpid(pid, 0)
try:
    while True:
        more = os.read(fd, 4096)
        if not more:
            break
        buf += more
except OSError:
    pass
text = buf.decode(errors="replace").replace("\r", "")
for line in text.split("\n"):
    # The terminal echoes injected bytes in between; keep only the result part of a line.
    for key in ("TIOCSTI", "TIOCLINUX", "stdin-got=", "tty-write-ok", "done"):
        if key in line:
            print(line[line.index(key):])
            break
print("exit=%d" % os.waitstatus_to_exitcode(status))
