// The helper ELF (jail/stage/helper.c) on its own, in the process trees the stage builds for it
// (tests/helpers/stage-helper-harness.py): init as the jail's PID 1, wait as the supervisor after
// execve, guard as the cleanup that outlives a SIGKILLed supervisor. Real processes, pid
// namespaces and cgroups; scratch cgroups are created beneath our own and removed.
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status, waitUntil } from "../helpers/jail.ts";
import { describeIf, testIf } from "../helpers/kernel.ts";
import { Harness, NATIVE, helperPath, helperUnavailable, removeHelpers } from "../helpers/stage-helper.ts";
import { c } from "../../sys/ffi.ts";

setDefaultTimeout(60_000);
const SIGUSR1 = 10, SIGUSR2 = 12, SIGTERM = 15, SIGKILL = 9, SIGWINCH = 28, SI_USER = 0;
let helper = "";
beforeAll(async () => {
  helper = await helperPath();
});

/** Until `pid` sits in syscall `nr` (x86_64 numbers) on fd `fd`: it reached its waiting point. */
async function blockedIn(pid: number, nr: number, fd?: number): Promise<void> {
  await waitUntil(() => {
    const f = readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ");
    return Number(f[0]) === nr && (fd === undefined || Number(f[1]) === fd);
  }, 20_000, `pid ${pid} blocked in syscall ${nr}`);
}
const [READ, PPOLL, WAIT4, TGKILL] = NATIVE === "x64" ? [0, 271, 61, 234] : [63, 73, 260, 131];
/** The state letter of /proc/PID/stat (R, S, T, Z…). */
const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0];

const AS_NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];
/** Owners of /proc/PID/{fd,mem,environ}: root's when the process is not dumpable. */
function procOwners(pid: number): number[] {
  return ["fd", "mem", "environ"].map((f) => statSync(`/proc/${pid}/${f}`).uid);
}

/** Whether `sig` is pending for `pid` (process-wide or for its thread). */
function pendingIn(pid: number, sig: number): boolean {
  const bit = 1n << BigInt(sig - 1);
  return (BigInt(`0x${status(pid, "ShdPnd")}`) & bit) !== 0n || (BigInt(`0x${status(pid, "SigPnd")}`) & bit) !== 0n;
}

function gone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

// ---- scratch cgroups beneath our own, only ever holding processes the tests start ----
const scratch: string[] = [];
function ownCgroup(controller: string): string | undefined {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").trim().split("\n")) {
    const [, ctrls, path] = line.split(":") as [string, string, string];
    const rel = path === "/" ? "" : path;
    if (controller === "" && ctrls === "") {
      const mount = existsSync("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
      if (existsSync(`${mount}/cgroup.procs`)) return `${mount}${rel}`;
    }
    if (controller && ctrls.split(",").includes(controller) && existsSync(`/sys/fs/cgroup/${controller}`)) return `/sys/fs/cgroup/${controller}${rel}`;
  }
  return undefined;
}
function makeScratch(parent: string, what: string): string {
  const dir = join(parent, `helpertest-${process.pid}-${what}-${scratch.length}`);
  mkdirSync(dir);
  scratch.push(dir);
  return dir;
}
afterAll(async () => {
  removeHelpers();
  for (const dir of scratch.reverse()) {
    if (!existsSync(dir)) continue;
    for (const pid of readFileSync(`${dir}/cgroup.procs`, "utf8").trim().split("\n").filter(Boolean)) process.kill(Number(pid), "SIGKILL");
    await waitUntil(() => {
      try {
        rmdirSync(dir);
        return true;
      } catch {
        return false;
      }
    }, 10_000, `removing ${dir}`);
  }
});

const V2 = ownCgroup("");
const v2Kill = { ok: !!V2 && (V2 === "/sys/fs/cgroup/unified" || V2 === "/sys/fs/cgroup" || existsSync(`${V2}/cgroup.kill`)), why: "no cgroup2 hierarchy with cgroup.kill here" };
const PIDS_V1 = existsSync("/sys/fs/cgroup/pids/cgroup.procs") && !existsSync("/sys/fs/cgroup/pids/cgroup.kill") ? ownCgroup("pids") : undefined;
const v1Procs = { ok: !!PIDS_V1, why: "no cgroup v1 pids hierarchy (the cgroup.procs fallback of the kill is tested there)" };
/** A memory cgroup we may create beneath ours: v1 memory, or v2 with memory delegated to children. */
function memoryParent(): { dir?: string; v1: boolean; why: string } {
  const v1 = ownCgroup("memory");
  if (v1) return { dir: v1, v1: true, why: "" };
  if (V2 && readFileSync(`${V2}/cgroup.subtree_control`, "utf8").includes("memory")) return { dir: V2, v1: false, why: "" };
  return { v1: false, why: "no memory controller we may use beneath our own cgroup (v1 memory, or memory in our v2 subtree_control)" };
}
const MEM = memoryParent();

// Whatever a failed test leaves running: every pid the harness reported, if it still runs the
// helper or the harness (a pid namespace's init takes its namespace with it).
afterEach(() => {
  for (const h of Harness.all.splice(0)) {
    h.proc.kill("SIGKILL");
    for (const e of h.events)
      for (const k of ["init", "child", "guard", "victim", "waiter", "pid"]) {
        const pid = e[k];
        if (typeof pid !== "number" || gone(pid)) continue;
        let cmd = "";
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {}
        if (cmd.includes(helper) || cmd.includes("stage-helper-harness")) process.kill(pid, "SIGKILL");
      }
  }
});

/** The helper run with `args` and nothing else: status and stderr. */
function run(args: string[]): { code: number; stderr: string } {
  const r = Bun.spawnSync([helper, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stderr: r.stderr.toString() };
}

describeIf({ ok: !helperUnavailable(), why: helperUnavailable() }, "helper ELF", () => {
  describe("arguments", () => {
    const cases: [string[], string][] = [
      [[], "jailx: helper: missing argument mode"],
      [["nope"], "jailx: helper: bad argument nope"],
      [["init", "sock=3"], "jailx: helper: missing argument pid=N"],
      [["init", "pid=5"], "jailx: helper: missing argument sock=FD"],
      [["init", "sock=3", "pid=1", "bogus=1"], "jailx: helper: bad argument bogus=1"],
      [["init", "sock=3", "pid=1", "session=2"], "jailx: helper: bad argument session=2"],
      [["wait", "pid=x"], "jailx: helper: bad argument pid=x"],
      [["wait", "pid=0"], "jailx: helper: bad argument pid=0"],
      [["wait", "pid=12", "timeout=-2"], "jailx: helper: bad argument timeout=-2"],
      [["wait", "pid=12", "grace=99999999999999999999"], "jailx: helper: bad argument grace=99999999999999999999"],
      [["wait", "pid=12", "sock"], "jailx: helper: bad argument sock"],
      [["guard", "kill=/x"], "jailx: helper: missing argument pipe=FD"],
      [["guard", "pipe=3", "timeout=5"], "jailx: helper: bad argument timeout=5"],
    ];
    for (const [args, line] of cases)
      test(`helper ${args.join(" ") || "(nothing)"} → 125, one line`, () => {
        const r = run(args);
        expect(r.stderr).toBe(line + "\n");
        expect(r.code).toBe(125);
      });
  });

  describe("init", () => {
    test("sends one 8-byte record {1, code} when the program exits, then exits 0", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "exit", code: 7 });
      expect(await h.next("record")).toMatchObject({ kind: 1, value: 7, size: 8 });
      expect(await h.next("init-exit")).toMatchObject({ code: 0 });
      expect((await h.finish()).stderr).toBe("");
      expect(h.events.filter((e) => e.ev === "record")).toHaveLength(1);
    });

    test("sends {2, signal} when the program is killed by a signal", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "kill-self", signal: SIGUSR2 });
      expect(await h.next("record")).toMatchObject({ kind: 2, value: SIGUSR2, size: 8 });
      expect(await h.next("init-exit")).toMatchObject({ code: 0 });
      await h.finish();
    });

    test("forwards SIGUSR1 and SIGTERM sent to it to the program (the sender the program sees is init)", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "signals", exit_on: SIGTERM, code: 3 });
      const init = (await h.next("started")).init as number;
      await h.next("released");
      process.kill(init, "SIGUSR1");
      expect(await h.next("got", (e) => e.sig === SIGUSR1)).toMatchObject({ code: SI_USER, pid: 1 });
      process.kill(init, "SIGTERM");
      expect(await h.next("got", (e) => e.sig === SIGTERM)).toMatchObject({ code: SI_USER, pid: 1 });
      expect(await h.next("record")).toMatchObject({ kind: 1, value: 3 });
      expect(await h.next("init-exit")).toMatchObject({ code: 0 });
      await h.finish();
    });

    // The terminal (a pty whose session init leads) sends SIGWINCH itself: si_code SI_KERNEL. The
    // program sits in another process group here, so whatever WINCH it sees came from init.
    for (const session of [0, 1])
      test(`a terminal's signal (SI_KERNEL) is ${session ? "forwarded with session=1" : "not forwarded with session=0 (the terminal signals the program's group itself)"}`, async () => {
        const h = new Harness("init", helper, { pidns: true, tty: true, own_pgrp: true, program: "signals", init_args: [`session=${session}`] });
        const init = (await h.next("started")).init as number;
        await h.next("released");
        h.send("winch");
        await h.next("resized");
        // init has read the WINCH from its signalfd (and so dealt with it before anything sent later)
        await waitUntil(() => !pendingIn(init, SIGWINCH), 20_000, "init to take the SIGWINCH");
        process.kill(init, "SIGUSR1");
        const usr1 = await h.next("got", (e) => e.sig === SIGUSR1);
        const winch = h.events.filter((e) => e.ev === "got" && e.sig === SIGWINCH);
        if (session) {
          // Forwarded before the USR1: already seen, or pending behind it (lower numbers first).
          expect(winch.length === 1 || (usr1.pending as number[]).includes(SIGWINCH)).toBe(true);
          expect(await h.next("got", (e) => e.sig === SIGWINCH)).toMatchObject({ code: SI_USER, pid: 1 });
        } else {
          expect(winch).toEqual([]);
          expect(usr1.pending).not.toContain(SIGWINCH);
        }
        h.send("close");
        expect(await h.next("init-exit")).toMatchObject({ code: 1 });
        await h.finish();
      });

    test("exits 1 when the supervisor's end of the socket closes (and, as PID 1, takes the program with it)", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "signals" });
      const program = (await h.next("ready")).pid as number;
      await h.next("released");
      expect(gone(program)).toBe(false); // control: alive while the supervisor is there
      h.send("close");
      expect(await h.next("init-exit")).toMatchObject({ code: 1 });
      expect(h.events.some((e) => e.ev === "record")).toBe(false);
      expect(gone(program)).toBe(true);
      await h.finish();
    });

    test("guard is not dumpable either; wait is, like the supervisor it stands in for (run as uid 65534)", async () => {
      const guard = Bun.spawn(["setpriv", ...AS_NOBODY, helper, "guard", "pipe=0"], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
      await blockedIn(guard.pid, READ, 0);
      expect(procOwners(guard.pid)).toEqual([0, 0, 0]);
      guard.stdin.end();
      expect(await guard.exited).toBe(0);
      // The waiter's child: a sleep the shell started before becoming the waiter.
      const wait = Bun.spawn(["setpriv", ...AS_NOBODY, "sh", "-c", `sleep 1000 & exec ${helper} wait pid=$!`], { stdout: "ignore", stderr: "pipe" });
      await blockedIn(wait.pid, PPOLL);
      // Its user's other jailx reads a named jail's sealed record through /proc/PID/fd (rootless
      // ps and exec): the entries are its own user's, not root's.
      expect(procOwners(wait.pid)).toEqual([65534, 65534, 65534]);
      expect(status(wait.pid, "Uid").split(/\s+/)[0]).toBe("65534");
      const child = Number(readFileSync(`/proc/${wait.pid}/task/${wait.pid}/children`, "utf8").trim());
      process.kill(child, "SIGTERM");
      expect(await wait.exited).toBe(128 + SIGTERM);
    });

    test("dies with its parent (PR_SET_PDEATHSIG) even while the socket stays open elsewhere", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "signals", hold_sock: true });
      const init = (await h.next("started")).init as number;
      const program = (await h.next("ready")).pid as number;
      await h.next("holder");
      await h.next("released");
      await blockedIn(init, PPOLL);
      h.proc.kill("SIGKILL"); // the supervisor
      await waitUntil(() => gone(init) && gone(program), 20_000, "init and the program to die with the supervisor");
    });

    test("makes itself non-dumpable first: its /proc entries belong to root although it runs as uid 65534", async () => {
      const h = new Harness("init", helper, { pidns: true, program: "signals", exit_on: SIGTERM, uid: 65534 });
      const init = (await h.next("started")).init as number;
      await h.next("released"); // release is closed after the prctl
      await blockedIn(init, PPOLL);
      // /proc/PID itself always shows the euid; the entries beneath it show root when not dumpable.
      expect(status(init, "Uid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(statSync(`/proc/${init}`).uid).toBe(65534);
      expect(procOwners(init)).toEqual([0, 0, 0]);
      // Control: another program exec'd the same way (cat, waiting on its stdin) is owned by
      // 65534, so the ownership above is the prctl's doing.
      const ctl = Bun.spawn(["setpriv", ...AS_NOBODY, "cat"], { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
      await blockedIn(ctl.pid, READ, 0);
      expect(procOwners(ctl.pid)).toEqual([65534, 65534, 65534]);
      ctl.stdin.end();
      expect(await ctl.exited).toBe(0);
      // (init as 65534 may not signal the root-owned program: end it through the socket.)
      h.send("close");
      expect(await h.next("init-exit")).toMatchObject({ code: 1 });
      await h.finish();
    });
  });

  describe("wait", () => {
    for (const init of [true, false]) {
      // As-pid-1 runs without a pid namespace here: a PID 1 without handlers can't die of the
      // signals these tests use (the kernel drops them), which is jailx's concern, not the helper's.
      const how = init ? "with init in a pid namespace" : "as-pid-1 (the program is its child)";
      test(`passes the program's exit code through (${how})`, async () => {
        const h = new Harness("wait", helper, { pidns: init, init, program: "exit", code: 7 });
        expect(await h.finish()).toEqual({ code: 7, stderr: "" });
      });

      test(`a program killed by a signal gives 128 + signal, no message (${how})`, async () => {
        const h = new Harness("wait", helper, { pidns: init, init, program: "kill-self", signal: SIGUSR2 });
        expect(await h.finish()).toEqual({ code: 128 + SIGUSR2, stderr: "" });
      });

      test(`timeout: TERM, then KILL after the grace for a program that ignores TERM; 124 and the message (${how})`, async () => {
        const msg = "the program ran longer than --timeout 0.2s";
        const h = new Harness("wait", helper, { pidns: init, init, program: "signals", args: ["timeout=200", "grace=1000", `timeoutmsg=${msg}`] });
        const program = (await h.next("ready")).pid as number;
        const waiter = (await h.next("exec")).waiter as number;
        expect(await h.finish()).toEqual({ code: 124, stderr: `jailx: ${msg}\n` });
        // It saw TERM (from init, PID 1 in its namespace, or directly from the waiter), survived
        // it, and is gone now: that was the KILL.
        const term = h.events.filter((e) => e.ev === "got" && e.sig === SIGTERM);
        expect(term).toHaveLength(1);
        expect(term[0]!.pid).toBe(init ? 1 : waiter);
        expect(gone(program)).toBe(true);
      });

      test(`forwards signals sent to it (${how})`, async () => {
        const h = new Harness("wait", helper, { pidns: init, init, program: "signals", exit_on: SIGUSR2, code: 5 });
        const waiter = (await h.next("exec")).waiter as number;
        process.kill(waiter, "SIGUSR1");
        expect(await h.next("got", (e) => e.sig === SIGUSR1)).toMatchObject({ code: SI_USER, pid: init ? 1 : waiter });
        process.kill(waiter, "SIGHUP");
        expect(await h.next("got", (e) => e.sig === 1)).toMatchObject({ code: SI_USER });
        process.kill(waiter, "SIGUSR2");
        expect(await h.finish()).toEqual({ code: 5, stderr: "" });
      });
    }

    test("two SIGCHLDs in one read (one sent to its thread, one for init's end): init is reaped once, its status kept, no message", async () => {
      const h = new Harness("wait", helper, { pidns: true, program: "signals", exit_on: SIGUSR2, code: 5 });
      const g = (await h.next("ready")).pid as number;
      const exec = await h.next("exec");
      const [waiter, init] = [exec.waiter as number, exec.child as number];
      await blockedIn(waiter, PPOLL);
      // Stopped, it reads nothing: both SIGCHLDs are pending (blocked, for its signalfd) when it
      // goes on — the thread's own queue and the process's are two entries of one read.
      process.kill(waiter, "SIGSTOP");
      await waitUntil(() => procState(waiter) === "T", 20_000, "the waiter to stop");
      expect(Number(c.syscall(BigInt(TGKILL), BigInt(waiter), BigInt(waiter), 17n, 0n, 0n, 0n))).toBe(0); // SIGCHLD to its thread
      process.kill(g, "SIGUSR2"); // the program ends (5); init sends its record and ends
      await waitUntil(() => procState(init) === "Z", 20_000, "init to end");
      process.kill(waiter, "SIGCONT");
      expect(await h.finish()).toEqual({ code: 5, stderr: "" });
    });

    test("a terminal's signal (SI_KERNEL) to the waiter is not forwarded; the same signal from kill(2) is", async () => {
      const h = new Harness("wait", helper, { init: false, waiter_tty: true, own_pgrp: true, program: "signals", exit_on: SIGUSR1, code: 4 });
      const tty = (await h.next("tty")).path as string;
      const waiter = (await h.next("exec")).waiter as number;
      process.kill(waiter, "SIGWINCH");
      expect(await h.next("got", (e) => e.sig === SIGWINCH)).toMatchObject({ code: SI_USER, pid: waiter });
      const resize = Bun.spawnSync(["python3", "-c", "import fcntl,os,struct,sys,termios; fcntl.ioctl(os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY), termios.TIOCSWINSZ, struct.pack('HHHH', 30, 100, 0, 0))", tty]);
      expect(resize.exitCode).toBe(0);
      await waitUntil(() => !pendingIn(waiter, SIGWINCH), 20_000, "the waiter to take the SIGWINCH");
      process.kill(waiter, "SIGUSR1");
      const usr1 = await h.next("got", (e) => e.sig === SIGUSR1);
      expect(h.events.filter((e) => e.ev === "got" && e.sig === SIGWINCH)).toHaveLength(1);
      expect(usr1.pending).not.toContain(SIGWINCH);
      expect(await h.finish()).toEqual({ code: 4, stderr: "" });
    });

    test("init killed by a signal without a record: the message names the signal, status 128 + signal", async () => {
      const h = new Harness("wait", helper, { pidns: true, program: "signals" });
      const init = (await h.next("exec")).child as number;
      await h.next("released");
      process.kill(init, "SIGKILL");
      expect(await h.finish()).toEqual({ code: 128 + SIGKILL, stderr: "jailx: the jail's init was killed by signal 9\n" });
    });

    const memTest = testIf({ ok: !!MEM.dir, why: MEM.why });
    const oomArgs = (dir: string) => MEM.v1
      ? [`oomfile=${dir}/memory.oom_control`, "oomkey=oom_kill"]
      : [`oomfile=${dir}/memory.events`, "oomkey=oom_kill"];
    const limit = (dir: string) => writeFileSync(MEM.v1 ? `${dir}/memory.limit_in_bytes` : `${dir}/memory.max`, String(48 << 20));

    memTest("the OOM killer: 137 and the OOM message (a real memory cgroup holding only the program)", async () => {
      const dir = makeScratch(MEM.dir!, "oom");
      limit(dir);
      const msg = "the program was killed: out of memory (--memory 48M)";
      const h = new Harness("wait", helper, { pidns: true, program: "oom", cgroup: `${dir}/cgroup.procs`, args: [...oomArgs(dir), `oommsg=${msg}`, `kill=${dir}`, `rmdir=${dir}`] });
      expect(await h.finish()).toEqual({ code: 137, stderr: `jailx: ${msg}\n` });
      expect(existsSync(dir)).toBe(false);
    });

    memTest("control: a SIGKILL with no OOM kill counted is 137 without the OOM message", async () => {
      const dir = makeScratch(MEM.dir!, "nooom");
      limit(dir);
      const h = new Harness("wait", helper, { pidns: true, program: "kill-self", signal: SIGKILL, cgroup: `${dir}/cgroup.procs`, args: [...oomArgs(dir), "oommsg=out of memory", `kill=${dir}`, `rmdir=${dir}`] });
      expect(await h.finish()).toEqual({ code: 137, stderr: "" });
      expect(existsSync(dir)).toBe(false);
    });

    testIf({ ok: v2Kill.ok && v1Procs.ok, why: v2Kill.ok ? v1Procs.why : v2Kill.why })(
      "cleanup: kills the processes of each kill= cgroup (cgroup.kill on v2, cgroup.procs on v1), removes each rmdir= and unlink= path", async () => {
        const a = makeScratch(V2!, "v2"), b = makeScratch(PIDS_V1!, "v1");
        const v = new Harness("victims", helper, { cgroups: [`${a}/cgroup.procs`, `${b}/cgroup.procs`] });
        await v.finish();
        const victims = v.events.filter((e) => e.ev === "victim").map((e) => e.pid as number);
        expect(victims).toHaveLength(2);
        expect(victims.some(gone)).toBe(false); // control: they live before the waiter runs
        const file = join(a, "..", `helpertest-${process.pid}-file`);
        const tmp = `/tmp/helpertest-${process.pid}-unlink`;
        writeFileSync(tmp, "x");
        const h = new Harness("wait", helper, { init: false, program: "exit", code: 0, args: [`kill=${a}`, `kill=${b}`, `rmdir=${a}`, `rmdir=${b}`, `unlink=${tmp}`, `rmdir=${file}`] });
        expect(await h.finish()).toEqual({ code: 0, stderr: "" });
        expect([existsSync(a), existsSync(b), existsSync(tmp)]).toEqual([false, false, false]);
        await waitUntil(() => victims.every(gone), 10_000, "the victims to be reaped");
      });
  });

  testIf(v2Kill)("wait: closes guard= last, after the cleanup, so a guard never races it", async () => {
    const dir = makeScratch(V2!, "guardfd");
    const file = `/tmp/helpertest-${process.pid}-guardfd`;
    writeFileSync(file, "x");
    try {
      const h = new Harness("wait", helper, { init: false, program: "exit", code: 0, guard_watch: [dir, file], args: [`rmdir=${dir}`, `unlink=${file}`] });
      expect(await h.next("guard-eof")).toMatchObject({ exists: [false, false] });
      expect(await h.finish()).toEqual({ code: 0, stderr: "" });
    } finally {
      rmSync(file, { force: true });
    }
  });

  for (const reap of [true, false])
    test(`wait: ${reap ? "reaps each reap= guard once it has closed its pipe: none outlives it" : "control: without reap= it does not wait for the guard"}`, async () => {
      const h = new Harness("wait", helper, { init: false, program: "exit", code: 0, guard_watch: [], guard_hold: true, guard_reap: reap });
      const watcher = (await h.next("watcher")).pid as number;
      const waiter = (await h.next("exec")).waiter as number;
      await h.next("guard-eof");
      if (reap) {
        // the guard holds on: the waiter waits for it, and ends only after it
        await blockedIn(waiter, WAIT4, watcher);
        expect(gone(waiter)).toBe(false);
        process.kill(watcher, "SIGUSR1"); // the guard may end now
        expect(await h.finish()).toEqual({ code: 0, stderr: "" });
        expect(existsSync(`/proc/${watcher}`)).toBe(false); // reaped, not a zombie
      } else {
        await waitUntil(() => gone(waiter), 20_000, "the waiter to end");
        expect(gone(watcher)).toBe(false); // still there after the waiter ended
        process.kill(watcher, "SIGUSR1"); // the guard may end now
        expect(await h.finish()).toEqual({ code: 0, stderr: "" });
      }
    });

  describeIf({ ok: v2Kill.ok, why: v2Kill.why }, "guard", () => {
    test("does nothing while the pipe is open; at EOF kills through the pidfd and the cgroup and removes the cgroup", async () => {
      const dir = makeScratch(V2!, "guard");
      const v = new Harness("victims", helper, { cgroups: [`${dir}/cgroup.procs`] });
      await v.finish();
      const inCgroup = (await v.next("victim")).pid as number;
      const h = new Harness("guard", helper, { args: [`kill=${dir}`, `rmdir=${dir}`] });
      const s = await h.next("started");
      const guard = s.guard as number;
      await blockedIn(guard, READ, s.pipe as number);
      // Control, while it waits: nothing happened; it kept only its two fds; it leads its session.
      expect([gone(s.victim as number), gone(inCgroup), existsSync(dir)]).toEqual([false, false, true]);
      expect(readdirSync(`/proc/${guard}/fd`).map(Number).sort((x, y) => x - y)).toEqual([s.pipe as number, s.pidfd as number].sort((x, y) => x - y));
      expect(readFileSync(`/proc/${guard}/stat`, "utf8").split(") ")[1]!.split(" ")[3]).toBe(String(guard));
      expect(readlinkSync(`/proc/${guard}/fd/${s.pidfd}`)).toBe("anon_inode:[pidfd]");
      h.send("close");
      expect(await h.next("guard-exit")).toMatchObject({ code: 0 });
      expect(await h.next("victim-exit")).toMatchObject({ signal: SIGKILL });
      expect(existsSync(dir)).toBe(false);
      await waitUntil(() => gone(inCgroup), 10_000, "the cgroup's process to be reaped");
      await h.finish();
    });
  });
});

// ---- walk: a tree's entries and modes (the /etc walk of a root jail, jail/stage/walk.ts) ----

/** A scratch tree with every kind of entry the walk must tell apart. */
function walkTree(): string {
  const root = mkdtempSync(join(tmpdir(), "jailx-walk-"));
  const at = (p: string) => join(root, p);
  mkdirSync(at("open/deeper"), { recursive: true });
  mkdirSync(at("closed"), { mode: 0o700 });
  chmodSync(at("closed"), 0o700);
  writeFileSync(at("readable"), "x");
  chmodSync(at("readable"), 0o644);
  writeFileSync(at("secret"), "x");
  chmodSync(at("secret"), 0o600);
  writeFileSync(at("closed/inside"), "x");
  chmodSync(at("closed/inside"), 0o644);
  writeFileSync(at("open/deeper/key"), "x");
  chmodSync(at("open/deeper/key"), 0o640);
  symlinkSync("/etc/shadow", at("link"));
  symlinkSync("/", at("open/loop"));
  return root;
}

/** The same listing by lstat: "mode rel" lines, sorted; `omit` as the helper's. */
function lstatListing(root: string, omit = 0): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const name of readdirSync(rel ? join(root, rel) : root)) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, p));
      if (st.isDirectory() || !omit || (st.mode & omit) !== omit) out.push(`${st.mode.toString(8).padStart(6, "0")} ${p}`);
      if (st.isDirectory()) visit(p);
    }
  };
  visit("");
  return out.sort();
}

function helperListing(cmd: string[]): { code: number | null; records: string[]; end: boolean } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  const recs = r.stdout.toString().split("\0");
  const end = recs.at(-2) === "end" && recs.at(-1) === "";
  return { code: r.exitCode, records: recs.slice(0, end ? -2 : -1).sort(), end };
}

describeIf({ ok: !helperUnavailable(), why: helperUnavailable() }, "helper walk", () => {
  test("lists every entry with its lstat mode, symlinks not followed, then the end mark", () => {
    const root = walkTree();
    try {
      const all = helperListing([helper, "walk", `dir=${root}`, "out=1"]);
      expect([all.code, all.end]).toEqual([0, true]);
      expect(all.records).toEqual(lstatListing(root));
      expect(all.records.some((r) => r.endsWith(" link") && r.startsWith("120"))).toBe(true); // control: the symlink itself
      // omit=4: non-directories others can read are left out; directories and the rest stay
      const some = helperListing([helper, "walk", `dir=${root}`, "out=1", "omit=4"]);
      expect(some.records).toEqual(lstatListing(root, 4));
      expect(some.records.map((r) => r.slice(7)).sort()).toEqual(["closed", "open", "open/deeper", "open/deeper/key", "secret"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("a tree deeper than it walks, or a missing directory: exit 1 without the end mark", () => {
    const root = mkdtempSync(join(tmpdir(), "jailx-walk-"));
    try {
      mkdirSync(join(root, ...Array.from({ length: 40 }, () => "d")), { recursive: true });
      const deep = helperListing([helper, "walk", `dir=${root}`, "out=1"]);
      expect([deep.code, deep.end]).toEqual([1, false]);
      const shallow = helperListing([helper, "walk", `dir=${join(root, ...Array.from({ length: 10 }, () => "d"))}`, "out=1"]);
      expect([shallow.code, shallow.end]).toEqual([0, true]); // control
      const missing = helperListing([helper, "walk", `dir=${root}/nothing`, "out=1"]);
      expect([missing.code, missing.end, missing.records]).toEqual([1, false, []]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("the real /etc through jail/stage/walk.ts hides exactly what the lstat walk hides", async () => {
    const { walkInHelper } = await import("../../jail/stage/walk.ts");
    const { etcHidden } = await import("../../jail/etc-view.ts");
    const { realHost } = await import("../../jail/host.ts");
    const host = realHost();
    const walked = walkInHelper("/etc");
    expect(walked).not.toBeNull();
    const asked: string[] = [];
    const list = (d: string) => {
      asked.push(d);
      const got = walked!(d);
      if (got === undefined) throw new Error(`the walk did not answer for ${d}`);
      return got;
    };
    const names = ["shadow", "gshadow", "sudoers"].filter((n) => existsSync(`/etc/${n}`));
    const viaHelper = etcHidden({ root: "/etc", names, keep: [], byMode: true, list });
    const viaLstat = etcHidden({ root: "/etc", names, keep: [], byMode: true, list: host.listModes });
    expect(viaHelper).toEqual(viaLstat);
    expect(asked.length).toBeGreaterThan(1); // it did go below /etc
  });
});

// The other architecture's build of the same source, run by qemu-user: argument parsing, the raw
// syscall entry and the per-arch numbers of every mode.
const QEMU = Bun.which("qemu-aarch64") ?? Bun.which("qemu-aarch64-static");
const arm64: { ok: boolean; why: string } = NATIVE === "arm64"
  ? { ok: false, why: "this machine is arm64: the tests above run the arm64 helper natively" }
  : !QEMU ? { ok: false, why: "no qemu-aarch64 (Debian package qemu-user) to run the arm64 helper" }
  : { ok: !helperUnavailable("arm64"), why: helperUnavailable("arm64") };
describeIf(arm64, "arm64 helper under qemu-user", () => {
  let arm = "";
  beforeAll(async () => {
    arm = await helperPath("arm64");
  });

  test("a bad argument: 125 and one line", () => {
    const r = Bun.spawnSync([QEMU!, arm, "wait", "pid=1", "timeout=x"], { stdout: "pipe", stderr: "pipe" });
    expect([r.exitCode, r.stderr.toString()]).toEqual([125, "jailx: helper: bad argument timeout=x\n"]);
  });

  test("init: forwards a signal, sends the record, exits 0", async () => {
    const h = new Harness("init", arm, { pidns: true, program: "signals", exit_on: SIGUSR1, code: 6 }, [QEMU!]);
    const init = (await h.next("started")).init as number;
    await h.next("released");
    process.kill(init, "SIGUSR1");
    expect(await h.next("got", (e) => e.sig === SIGUSR1)).toMatchObject({ code: SI_USER, pid: 1 });
    expect(await h.next("record")).toMatchObject({ kind: 1, value: 6, size: 8 });
    expect(await h.next("init-exit")).toMatchObject({ code: 0 });
    await h.finish();
  });

  // No pid namespace for the waiter here: qemu starts threads, and a process that unshared
  // CLONE_NEWPID can't (EINVAL) -- the harness unshares in the waiter-to-be, the stage won't.
  test("wait: the exit code through init, 128 + signal as-pid-1, and the timeout", async () => {
    expect(await new Harness("wait", arm, { program: "exit", code: 7 }, [QEMU!]).finish()).toEqual({ code: 7, stderr: "" });
    expect(await new Harness("wait", arm, { init: false, program: "kill-self", signal: SIGUSR2 }, [QEMU!]).finish()).toEqual({ code: 128 + SIGUSR2, stderr: "" });
    const h = new Harness("wait", arm, { init: false, program: "signals", args: ["timeout=100", "grace=1000", "timeoutmsg=late"] }, [QEMU!]);
    expect(await h.finish()).toEqual({ code: 124, stderr: "jailx: late\n" });
    expect(h.events.filter((e) => e.ev === "got" && e.sig === SIGTERM)).toHaveLength(1);
  });

  test("walk: the same listing as lstat's", () => {
    const root = walkTree();
    try {
      const all = helperListing([QEMU!, arm, "walk", `dir=${root}`, "out=1", "omit=4"]);
      expect([all.code, all.end]).toEqual([0, true]);
      expect(all.records).toEqual(lstatListing(root, 4));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("guard: at EOF kills through the pidfd", async () => {
    const h = new Harness("guard", arm, {}, [QEMU!]);
    await h.next("started");
    h.send("close");
    expect(await h.next("guard-exit")).toMatchObject({ code: 0 });
    expect(await h.next("victim-exit")).toMatchObject({ signal: SIGKILL });
    await h.finish();
  });
});
