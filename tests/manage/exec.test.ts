// `jailx exec`: the new process is checked from the host against the jail's own program —
// namespaces, root, credentials, capability sets, NoNewPrivs, seccomp filter count, cgroup —
// as root and rootless; and a jailed program that rewrites its own state entry cannot make a
// later exec/stop act on a host process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { JAILX, jailx, lines, marker, processesWith, waitUntil, type RunOpts, ROOT } from "../helpers/jail.ts";
import { asUser, installRootless, type Rootless } from "../helpers/user.ts";

const root = mkdtempSync("/tmp/jx-exec-");
let n = 0;
function stateDir(): string {
  const d = `${root}/s${n++}`;
  mkdirSync(d, { mode: 0o700 });
  return d;
}
const WAIT = "echo ready; while :; do sleep 1; done";
const NS = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"];
const FIELDS = ["Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"];

/** What the host sees of a process: the facts exec must reproduce. */
function facts(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const ns of NS) out[`ns:${ns}`] = readlinkSync(`/proc/${pid}/ns/${ns}`);
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  for (const f of FIELDS) out[f] = new RegExp(`^${f}:[ \\t]*(.*)$`, "m").exec(st)?.[1]?.trim() ?? "?";
  const r = statSync(`/proc/${pid}/root`);
  out.root = `${r.dev}:${r.ino}`;
  out.cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
  return out;
}

function programOf(dir: string, name: string, o: RunOpts = {}): number {
  const r = jailx(["ps", "--json"], { ...o, env: { ...o.env, JAILX_STATE_DIR: dir } });
  const row = (JSON.parse(r.stdout) as Array<{ name: string; pid: number }>).find((x) => x.name === name);
  if (!row) throw new Error(`${name} not in ps: ${r.stdout} ${r.stderr}`);
  return row.pid;
}

/** Start `exec NAME -- sh -c 'echo MARK; sleep'` in the background; return its host pid. */
async function execInBackground(dir: string, name: string, o: RunOpts = {}, extra: string[] = []) {
  const m = marker("ex");
  const p = Bun.spawn([...(o.wrap ?? []), o.binary ?? JAILX, "exec", name, ...extra, "--", "/bin/sh", "-c", `echo ${m}; while :; do sleep 1; done`], {
    env: { ...(o.inheritEnv === false ? {} : process.env), ...o.env, JAILX_STATE_DIR: dir }, stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: "/",
  });
  // the sh itself (argv[0] /bin/sh), not the jailx exec process that also carries the marker
  let pid = 0;
  await waitUntil(() => {
    pid = processesWith(m).find((q) => readFileSync(`/proc/${q}/cmdline`, "utf8").startsWith("/bin/sh\0")) ?? 0;
    return pid !== 0;
  }, 20_000, "exec'd process");
  return { p, pid };
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("exec as root", () => {
  test("the new process has exactly the jail program's namespaces, root, credentials, capabilities, NoNewPrivs, seccomp filters and cgroup", async () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    expect(jailx(["run", "-d", "--name", "j", "--memory", "64m", "--net", "none", "--", "/bin/sh", "-c", WAIT], { env }).code).toBe(0);
    try {
      const prog = programOf(dir, "j");
      const { p, pid } = await execInBackground(dir, "j");
      try {
        const want = facts(prog);
        const got = facts(pid);
        expect(got).toEqual(want);
        // control: the host differs in every namespace but the user namespace (root, no --userns)
        const host = facts(process.pid);
        for (const ns of ["mnt", "pid", "uts", "ipc", "net", "cgroup"]) expect(host[`ns:${ns}`]).not.toBe(want[`ns:${ns}`]);
        expect(host.root).not.toBe(want.root);
      } finally {
        p.kill("SIGKILL");
        await p.exited;
      }
    } finally {
      expect(jailx(["stop", "j", "--time", "0"], { env }).code).toBe(0);
    }
  }, 60_000);

  test("exit codes and signals as run; 127 for a missing command; --user drops to a user without capabilities", () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    expect(jailx(["run", "-d", "--name", "j", "--", "/bin/sh", "-c", WAIT], { env }).code).toBe(0);
    try {
      expect(jailx(["exec", "j", "--", "/bin/sh", "-c", "exit 5"], { env }).code).toBe(5);
      expect(jailx(["exec", "j", "--", "/bin/sh", "-c", "kill -TERM $$"], { env }).code).toBe(143);
      const nf = jailx(["exec", "j", "--", "no-such-cmd"], { env });
      expect(nf.code).toBe(127);
      expect(lines(nf.stderr)).toHaveLength(1);
      const u = jailx(["exec", "j", "--user", "65534", "--", "/bin/sh", "-c", "id -u; grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status"], { env });
      expect(u.code).toBe(0);
      const l = lines(u.stdout);
      expect(l[0]).toBe("65534");
      expect(l[1]).toBe("CapPrm:\t0000000000000000");
      expect(l[2]).toBe("CapEff:\t0000000000000000");
      // the bounding set is the jail's, never the host's full set
      expect(l[3]).not.toBe("CapBnd:\t000001ffffffffff");
      // stdin/stdout are the caller's
      const io = Bun.spawnSync([JAILX, "exec", "j", "--", "/bin/cat"], { env: { ...process.env, ...env }, stdin: Buffer.from("piped\n"), cwd: "/" });
      expect(io.stdout.toString()).toBe("piped\n");
    } finally {
      expect(jailx(["stop", "j", "--time", "0"], { env }).code).toBe(0);
    }
  }, 60_000);

  test("a jail with --cap-drop ALL and a custom seccomp policy: exec gets the same (no more)", async () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    expect(jailx(["run", "-d", "--name", "j", "--cap-drop", "ALL", "--seccomp-deny", "mkdir", "--", "/bin/sh", "-c", WAIT], { env }).code).toBe(0);
    try {
      const prog = programOf(dir, "j");
      const { p, pid } = await execInBackground(dir, "j");
      try {
        expect(facts(pid)).toEqual(facts(prog));
        expect(facts(pid).CapBnd).toBe("0000000000000000");
      } finally {
        p.kill("SIGKILL");
        await p.exited;
      }
      const mk = jailx(["exec", "j", "--", "/bin/mkdir", "/tmp/x"], { env });
      expect(mk.code).not.toBe(0);
      expect(jailx(["exec", "j", "--", "/bin/touch", "/tmp/x"], { env }).code).toBe(0); // control
    } finally {
      expect(jailx(["stop", "j", "--time", "0"], { env }).code).toBe(0);
    }
  }, 60_000);

  test("a jail under a built-in profile (chosen by the program's name): exec gets its allow-list filter", () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    const server = ["python3", "-m", "http.server", "-b", "127.0.0.1", "8000"];
    // connect() to a closed loopback port: refused (ECONNREFUSED) by the kernel, or refused by seccomp (EPERM)
    const probe = ["python3", "-c", "import socket\ntry:\n  socket.create_connection(('127.0.0.1', 1))\nexcept OSError as e:\n  print(e.errno)"];
    const prof = jailx(["run", "-d", "--name", "p", "--net", "none", "--", ...server], { env });
    expect(prof.code).toBe(0);
    expect(prof.stderr).toContain("using the built-in profile 'python3-http.server'");
    expect(jailx(["run", "-d", "--name", "q", "--no-profile", "--net", "none", "--", ...server], { env }).code).toBe(0);
    try {
      const inProfile = jailx(["exec", "p", "--", ...probe], { env });
      expect(inProfile.stdout).toBe("1\n"); // EPERM: the profile's allow-list has no connect
      const control = jailx(["exec", "q", "--", ...probe], { env });
      expect(control.stdout).toBe("111\n"); // ECONNREFUSED: the default filter allows connect
    } finally {
      expect(jailx(["stop", "p", "--time", "0"], { env }).code).toBe(0);
      expect(jailx(["stop", "q", "--time", "0"], { env }).code).toBe(0);
    }
  }, 60_000);

  test("-t: the command gets the caller's terminal: Ctrl-C reaches it; resize and Ctrl-Z/fg work", () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    expect(jailx(["run", "-d", "--name", "j", "--", "/bin/sh", "-c", WAIT], { env }).code).toBe(0);
    try {
      const driver = `${root}/drive.py`;
      writeFileSync(driver, [
        "import os, pty, select, sys, time",
        "pid, fd = pty.fork()",
        "if pid == 0:",
        "    os.execv(sys.argv[1], ['jailx', 'exec', '-t', 'j', '--', '/bin/sh', '-c', \"test -t 0 && echo isatty; trap 'echo got-INT; exit 9' INT; echo ready; while :; do sleep 0.1; done\"])",
        "buf = b''",
        "def until(tok):",
        "    global buf",
        "    end = time.time() + 30",
        "    while tok not in buf and time.time() < end:",
        "        r, _, _ = select.select([fd], [], [], 0.2)",
        "        if r:",
        "            try: buf += os.read(fd, 1024)",
        "            except OSError: return",
        "until(b'ready')",
        "os.write(fd, b'\\x03')",
        "until(b'got-INT')",
        "_, st = os.waitpid(pid, 0)",
        "print(buf.decode(errors='replace').replace('\\r', ''))",
        "print('exit=%d' % os.waitstatus_to_exitcode(st))",
      ].join("\n"));
      const r = Bun.spawnSync(["python3", driver, JAILX], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
      const out = r.stdout.toString();
      expect(out).toContain("isatty");
      expect(out).toContain("got-INT");
      expect(out).toContain("exit=9");
      // job control as in a shell: a resize reaches the command, Ctrl-Z stops exec with it, fg
      // goes on (tests/run/tty-job.py)
      const job = Bun.spawnSync(["python3", `${ROOT}/tests/run/tty-job.py`, JAILX, "exec", "-t", "j", "--"], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
      expect(job.stderr.toString()).toBe("");
      expect(job.stdout.toString()).toBe("ready\nresized\nstopped\nstopped-not-ended\ncontinued\nexit=5\n");
      // without a terminal, -t is refused with one line
      const no = jailx(["exec", "-t", "j", "--", "/bin/true"], { env });
      expect(no.code).toBe(125);
      expect(lines(no.stderr)).toHaveLength(1);
    } finally {
      expect(jailx(["stop", "j", "--time", "0"], { env }).code).toBe(0);
    }
  }, 60_000);
});

describe("a jailed program cannot forge its own state entry", () => {
  test("rewriting the entry to name a host process: exec and stop refuse (125), the host process lives", async () => {
    const dir = stateDir();
    const env = { JAILX_STATE_DIR: dir };
    const victim = Bun.spawn(["sleep", "1000"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      const stat = readFileSync(`/proc/${victim.pid}/stat`, "utf8");
      const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
      // The program can write the state directory (bound read-write) and is told the victim's
      // pid and start time: the strongest forger. It rewrites its entry, then says so.
      const forge = `f=${dir}/j.json; sed -e 's/"supervisor":{"pid":[0-9]*,"start":"[0-9]*"}/"supervisor":{"pid":${victim.pid},"start":"${start}"}/' "$f" > ${dir}/.x && mv ${dir}/.x "$f" && echo forged; ${WAIT}`;
      expect(jailx(["run", "-d", "--name", "j", "--bind", dir, "--", "/bin/sh", "-c", forge], { env }).code).toBe(0);
      await waitUntil(() => readFileSync(`${dir}/j.log`, "utf8").includes("forged"), 20_000, "forged");
      expect(JSON.parse(readFileSync(`${dir}/j.json`, "utf8")).supervisor.pid).toBe(victim.pid);
      for (const args of [["exec", "j", "--", "/bin/true"], ["stop", "j", "--time", "0"], ["kill", "j", "KILL"]]) {
        const r = jailx(args, { env });
        expect(r.code).toBe(125);
        expect(lines(r.stderr)).toHaveLength(1);
      }
      expect(victim.exitCode).toBeNull();
      expect(victim.signalCode).toBeNull();
    } finally {
      victim.kill("SIGKILL");
      // the jail itself still runs (its entry is gone): SIGKILL its supervisor (Bun's, or the
      // embedded waiter in its place), which ends it
      for (const pid of processesWith(dir)) {
        try {
          if (["run", "wait"].includes(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[1]!)) process.kill(pid, "SIGKILL");
        } catch {}
      }
      await waitUntil(() => processesWith(dir).length === 0, 20_000, "forging jail gone");
    }
  }, 60_000);
});

describe("exec rootless", () => {
  let rl: Rootless;
  let run: string;
  beforeAll(() => {
    rl = installRootless();
    run = mkdtempSync("/tmp/jx-xdg-");
    chownSync(run, rl.user.uid, rl.user.gid);
  });
  afterAll(() => {
    rl?.cleanup();
    rmSync(run, { recursive: true, force: true });
  });

  test("namespaces, root, credentials, capabilities and filters equal the jail program's", async () => {
    const as = asUser(rl);
    const o = { ...as, env: { ...as.env, XDG_RUNTIME_DIR: run } };
    const r = jailx(["run", "-d", "--name", "r", "--", "/bin/sh", "-c", WAIT], o);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(statSync(`${run}/jailx`).uid).toBe(rl.user.uid);
    const dir = `${run}/jailx`;
    try {
      const prog = programOf(dir, "r", o);
      const { p, pid } = await execInBackground(dir, "r", o);
      try {
        expect(facts(pid)).toEqual(facts(prog));
        expect(facts(pid).Uid!.split(/\s+/)[0]).toBe(String(rl.user.uid));
        expect(facts(pid)["ns:user"]).not.toBe(facts(process.pid)["ns:user"]);
      } finally {
        p.kill("SIGKILL");
        await p.exited;
      }
      expect(jailx(["exec", "r", "--", "/bin/sh", "-c", "exit 4"], o).code).toBe(4);
    } finally {
      expect(jailx(["stop", "r", "--time", "0"], o).code).toBe(0);
    }
  }, 90_000);
});
