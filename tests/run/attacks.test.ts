// Attacks from inside a default jail (root in the host user namespace), each asserting the
// boundary holds: checked inside and, where it can be seen, from the host. Process-lifecycle
// attacks are in attacks-lifecycle.test.ts, the rootless variants in attacks-rootless.test.ts;
// C probes in tests/run/attack-probes/ (compiled by tests/helpers/attack.ts).
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { i386Entry, landlockScope, legacyTiocsti, testIf } from "../helpers/kernel.ts";
import { PROBES, expectSyscallsRefused, syscallsProbeArgs, probe, results, running, useProbes } from "../helpers/attack.ts";
import { ROOT, hostMounts, jailx, lines, sh } from "../helpers/jail.ts";

const probes = useProbes();

describe("syscalls that reach past the jail", () => {
  testIf(i386Entry())("the probe's i386 entry works on this machine (so ENOSYS inside is the filter's doing)", () => {
    const r = Bun.spawnSync([`${probes.dir}/syscalls`, "abi"], { stdout: "pipe" });
    expect(r.stdout.toString()).toBe("i386 getpid=OK\n");
  });

  test("namespaces, mounts, keys, ptrace, io_uring, bpf, handles, TIOCSTI: all refused, in every ABI", () => {
    expectSyscallsRefused(probe(probes.dir, "syscalls", syscallsProbeArgs()));
  });
});

describe("the host's files", () => {
  test("the host's device nodes bound into /dev cannot be chmod/chown/touched (read-only binds); the devices still work", () => {
    const before = ["/dev/null", "/dev/zero", "/dev/tty"].map((p) => statSync(p));
    const r = sh("for f in /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; do chmod 0600 $f; chown 1234 $f; touch -c -d 2001-01-01 $f; done 2>&1; echo x > /dev/null && head -c 2 /dev/zero | od -An -tx1");
    expect(r.stdout).toMatch(/^ 00 00$/m);
    expect(r.stdout).not.toMatch(/Operation not permitted|Permission denied/);
    expect(lines(r.stdout).filter((l) => /Read-only file system/.test(l)).length).toBe(18);
    ["/dev/null", "/dev/zero", "/dev/tty"].forEach((p, i) => {
      const now = statSync(p);
      expect([p, now.mode, now.uid, now.mtimeMs]).toEqual([p, before[i]!.mode, before[i]!.uid, before[i]!.mtimeMs]);
    });
  });
});

describe("the terminal", () => {
  // Driven on a pseudo-terminal by attack-probes/tty-inject.py; without the filter the same
  // probe injects (kernel with legacy TIOCSTI), which shows it can see an injection.
  const drive = (flags: string[]) => {
    const r = Bun.spawnSync(["python3", `${PROBES}/tty-inject.py`, join(ROOT, "dist/jailx"), ...flags], { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    return lines(r.stdout.toString());
  };

  test("TIOCSTI (also with high request bits) and TIOCLINUX on stdin and /dev/tty are refused; nothing reaches the terminal's input", () => {
    const out = drive([]);
    expect(out).toContain("stdin-got=nothing");
    expect(out).toContain("tty-write-ok");
    expect(out).toContain("exit=0");
    const tries = out.filter((l) => /^TIOC/.test(l));
    expect(tries.length).toBe(22);
    expect(tries.filter((l) => !l.endsWith("=errno:1"))).toEqual([]);
  });

  testIf(legacyTiocsti())("control: with --seccomp none the probe does inject", () => {
    expect(drive(["--seccomp", "none"])).toContain("stdin-got=MARK");
  });
});

describe("host state from /proc and /sys", () => {
  test("/proc/sys is read-only: core_pattern, hostname, ip_forward (host network) stay as they are", () => {
    const paths = ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/domainname"];
    const before = paths.map((p) => readFileSync(p, "utf8"));
    const r = sh(`for f in ${paths.join(" ")}; do echo 3 > $f && echo WROTE:$f; done 2>&1`);
    expect(r.stdout).not.toContain("WROTE");
    expect(lines(r.stdout).filter((l) => l.includes("Read-only file system")).length).toBe(paths.length);
    expect(paths.map((p) => readFileSync(p, "utf8"))).toEqual(before);
  });

  test("the host's physical page tables (/proc/kpageflags, kpagecount, kpagecgroup) read nothing", () => {
    // Root on the host reads them (mode 0400, no capability check): the control for the jail.
    const host = Bun.spawnSync(["dd", "if=/proc/kpagecount", "bs=8", "count=4"], { stdout: "pipe", stderr: "ignore" });
    expect(host.stdout.length).toBe(32);
    const r = sh("for f in kpageflags kpagecount kpagecgroup; do [ -e /proc/$f ] && dd if=/proc/$f bs=8 count=4 2>/dev/null | wc -c; done");
    expect(lines(r.stdout).length).toBeGreaterThanOrEqual(2);
    expect(lines(r.stdout).filter((l) => l.trim() !== "0")).toEqual([]);
  });

  test("no /sys at all: no cgroup files (release_agent, cgroup.procs) to reach; every hierarchy's path is /", () => {
    const r = sh("ls /sys /sys/fs/cgroup 2>&1; cat /proc/self/cgroup");
    expect(lines(r.stdout).filter((l) => l.startsWith("ls:")).length).toBe(2);
    const cg = lines(r.stdout).filter((l) => /^\d+:/.test(l));
    expect(cg.length).toBeGreaterThan(0);
    expect(cg.filter((l) => !l.endsWith(":/"))).toEqual([]);
  });
});

describe("escapes through the filesystem", () => {
  test("a double chroot (CAP_SYS_CHROOT is kept) ends at the jail's root, not the host's", () => {
    const r = jailx(["run", "--", "/usr/bin/python3", "-c", [
      "import os", "os.mkdir('/tmp/c')", "fd = os.open('/', os.O_RDONLY)", "os.chroot('/tmp/c')", "os.fchdir(fd)",
      "for _ in range(30): os.chdir('..')", "os.chroot('.')", "print(' '.join(sorted(os.listdir('/'))))",
    ].join("\n")]);
    expect(r.code).toBe(0);
    const seen = r.stdout.trim().split(" ");
    expect(seen).toContain("proc");
    for (const hostOnly of ["root", "home", "var", "work", "boot"]) expect(seen).not.toContain(hostOnly);
  });

  test("a block device for the host's disk made with mknod (--cap-add MKNOD) cannot be opened anywhere writable (nodev)", () => {
    const disk = statSync("/").dev;
    const [maj, min] = [Number((BigInt(disk) >> 8n) & 0xfffn), Number((BigInt(disk) & 0xffn) | ((BigInt(disk) >> 12n) & 0xfff00n))];
    const scratch = mkdtempSync("/tmp/jx-attack-bind-");
    try {
      const places = ["/tmp", "/dev", "/dev/shm", "/run", "/scratch", "/bound"];
      const r = sh(places.map((d) => `mknod ${d}/disk b ${maj} ${min} && { head -c 1 ${d}/disk >/dev/null 2>&1 && echo READ:${d} || echo refused:${d}; }`).join("; "), ["--cap-add", "MKNOD", "--tmpfs", "/scratch", "--bind", `${scratch}:/bound`]);
      expect(lines(r.stdout).sort()).toEqual(places.map((d) => `refused:${d}`).sort());
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("no syscall path puts a setuid/setgid bit on a file in a --bind directory (high mode bits, fchmodat2, mknod S_IFREG, openat2)", () => {
    const scratch = mkdtempSync("/tmp/jx-attack-suid-");
    const modes = () => readdirSync(scratch).map((n) => statSync(`${scratch}/${n}`).mode & 0o7777);
    try {
      const r = probe(probes.dir, "setuid-bits", [], ["--bind", `${scratch}:/x`]);
      const got = results(r.stdout);
      expect(got.size).toBe(15);
      expect([...got].filter(([k, v]) => k !== "mode" && v === "OK").map(([k]) => k)).toEqual([]);
      expect(got.get("mode")).toBe("755");
      expect(modes().filter((m) => m & 0o6000)).toEqual([]);
      // Control: without the filter the same probe does set the bit (root owns the file).
      rmSync(scratch, { recursive: true, force: true });
      mkdirSync(scratch);
      const open = probe(probes.dir, "setuid-bits", [], ["--seccomp", "none", "--bind", `${scratch}:/x`]);
      expect(results(open.stdout).get("chmod")).toBe("OK");
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("host files cannot be hard-linked or moved into a --bind directory (a later host user would get them)", () => {
    const shared = mkdtempSync("/tmp/jx-attack-link-");
    try {
      const r = sh("ln /usr/bin/id /x/id; ln /etc/passwd /x/passwd; ln /dev/null /x/null; mv /etc/hostname /x/hostname 2>/dev/null; ls -A /x | grep -v '^hostname$'; echo end", ["--bind", `${shared}:/x`]);
      expect(r.stdout).toBe("end\n");
      expect(lines(r.stderr).filter((l) => l.includes("Invalid cross-device link")).length).toBe(3);
      expect(readFileSync("/etc/hostname", "utf8").length).toBeGreaterThan(0);
      // mv falls back to copy + unlink: the copy is only readable data, the host's file stays.
      expect(readdirSync(shared).filter((n) => n !== "hostname")).toEqual([]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  test("symlinks planted in a --bind directory do not lead a later run's mount targets out of the new root", () => {
    const shared = mkdtempSync("/tmp/jx-attack-plant-");
    const hostDir = mkdtempSync("/tmp/jx-attack-victim-");
    try {
      const mounts = hostMounts();
      const plant = sh(`ln -s ${hostDir} /x/abs && ln -s ../../../../../../../..${hostDir} /x/rel && ln -s /proc/self/root${hostDir} /x/magic && ln -s / /x/root`, ["--bind", `${shared}:/x`]);
      expect(plant.code).toBe(0);
      // Each second run may fail (the target resolves to a path inside the jail's read-only
      // root); what matters is that nothing lands in the host directory.
      for (const t of ["/x/abs/made", "/x/rel/made", "/x/magic/made", `/x/root${hostDir}/made`])
        sh("true", ["--bind", `${shared}:/x`, "--tmpfs", t]);
      expect(readdirSync(hostDir)).toEqual([]);
      expect(hostMounts()).toEqual(mounts);
    } finally {
      rmSync(shared, { recursive: true, force: true });
      rmSync(hostDir, { recursive: true, force: true });
    }
  });
});

describe("host services on abstract unix sockets", () => {
  // Abstract unix sockets belong to the network namespace; a host service that trusts
  // SO_PEERCRED uid 0 on one would trust a root jail sharing the host network (the
  // CVE-2020-15257 class). --net none cuts them off with the namespace; with the host network
  // (the default) Landlock's scope refuses the connection (EPERM); only --no-landlock reaches it.
  const attempt = (flags: string[]) => {
    const name = `jx-attack-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const inner = `import socket\nc = socket.socket(socket.AF_UNIX)\ntry:\n    c.connect("\\0${name}"); print("connected")\nexcept OSError as e:\n    print("refused", e.errno)`;
    const host = [
      "import socket, subprocess, sys",
      "s = socket.socket(socket.AF_UNIX); s.bind('\\0' + sys.argv[1]); s.listen(4)",
      "r = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=40)",
      "sys.stdout.write(r.stdout.decode())",
    ].join("\n");
    const r = Bun.spawnSync(["python3", "-c", host, name, join(ROOT, "dist/jailx"), "run", ...flags, "--", "/usr/bin/python3", "-c", inner], { cwd: "/", stdout: "pipe", stderr: "pipe", timeout: 45_000 });
    return r.stdout.toString().trim();
  };

  test("with --net none a host listener on an abstract unix socket is unreachable", () => {
    expect(attempt(["--net", "none"])).toBe("refused 111");
  });

  testIf(landlockScope())("with the host network (the default) Landlock refuses the connection", () => {
    expect(attempt([])).toBe("refused 1");
  });

  test("control: with --no-landlock the same listener is reachable", () => {
    expect(attempt(["--no-landlock"])).toBe("connected");
  });
});

describe("host processes", () => {
  // A pid namespace does not scope process groups: a program in the caller's process group can
  // kill(0, sig) the caller's other processes. Without a terminal (scripts, pipelines) jailx
  // starts the program in a new session by default; --no-new-session (or an interactive
  // terminal, for job control) keeps the caller's group, where Landlock's signal scope is what
  // stops it. Each scenario runs under setsid(1) so a regression cannot hit the test runner's
  // own group.
  const killZero = (flags: string) => {
    const script = `sleep 60 & v=$!; ${join(ROOT, "dist/jailx")} run ${flags} -- /bin/sh -c 'kill -KILL 0'; kill -0 $v 2>/dev/null && echo victim-alive; kill $v 2>/dev/null; true`;
    const r = Bun.spawnSync(["setsid", "-w", "/bin/sh", "-c", script], { cwd: "/", stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 45_000 });
    return r.stdout.toString();
  };
  test("by default (no terminal) and with --new-session, kill(0) inside does not reach a host process in the caller's process group", () => {
    expect(killZero("")).toBe("victim-alive\n");
    expect(killZero("--new-session")).toBe("victim-alive\n");
  });
  testIf(landlockScope())("in the caller's group (--no-new-session), Landlock's signal scope still stops kill(0); without it, kill(0) reaches the caller", () => {
    expect(killZero("--no-new-session")).toBe("victim-alive\n");
    expect(killZero("--no-new-session --no-landlock")).toBe("");
  });

  test("kill -9 -1 and kill of low pids inside reach only the jail; a host process lives on", async () => {
    const victim = Bun.spawn(["sleep", "120"]);
    try {
      const r = sh(`kill -9 ${victim.pid} 2>/dev/null && echo KILLED-BY-PID; for p in $(seq 2 200); do [ $p = $$ ] || kill -9 $p 2>/dev/null; done; kill -9 -1; echo alive`);
      expect(r.stdout).toBe("alive\n");
      expect(victim.exitCode).toBeNull();
      expect(running(victim.pid)).toBe(true);
    } finally {
      victim.kill("SIGKILL");
      await victim.exited;
    }
  });
});
