// The embedded stage (jail/stage/stage.c through sys/stage.ts) running real op programs on the
// real kernel, from this multi-threaded `bun test` process: that is the point of the stage — a
// clone child that runs only the stage's C code, never JavaScript. Children always end with
// exit_group; the parent waits for them with waitpid (sys/proc.ts).
//
// A clone program here gets the child's pid with CLONE_PARENT_SETTID into register 0 and gives
// the clone op no `dst`: the registers are MAP_SHARED, and a `dst` would be written by both
// processes (the pid, and 0), racing (see stageRegisters).
import { beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readSync, readlinkSync, rmSync, rmdirSync, writeFileSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { c, ptr } from "../../sys/ffi.ts";
import { ALL_SEALS, sealedMemfd } from "../../sys/memfd.ts";
import { closeFd, exitNow, getpid, pipe, sharedMemory, threadCount, waitPid } from "../../sys/proc.ts";
import { REPORT_MAGIC, helperAvailable, stageAvailable, helperMemfd, publishOps, readReport, runStage, stackTop, stageEntry, stageRegisters, stageReport } from "../../sys/stage.ts";
import { BLOBS } from "../../jail/stage/blobs.gen.ts";
import { ANY_ERRNO, COND, KIND, OP_SIZE, WATCH_REGISTER, encodeOps, rawOp, type OpInit } from "../../jail/stage/ops.ts";
import { TABLES, currentMachine } from "../../sys/seccomp/tables.ts";
import { BUN, JAILX, ROOT } from "../helpers/build.ts";
import { SELFTEST_NAME, expectSelftest } from "../helpers/stage.ts";
import { describeIf, feature, program, testIf, type Feature } from "../helpers/kernel.ts";
import { installRootless, runAsUser } from "../helpers/user.ts";

const TABLE = TABLES[currentMachine()];
function nr(name: string): number {
  const n = TABLE.get(name);
  if (n === undefined) throw new Error(`no syscall ${name} on ${currentMachine()}`);
  return n;
}
const SIGCHLD = 17, CLONE_NEWNS = 0x20000, CLONE_NEWUTS = 0x04000000, CLONE_NEWUSER = 0x10000000, CLONE_PARENT_SETTID = 0x00100000;
const EBADF = 9, EPERM = 1, ENOENT = 2, EINVAL = 22, AT_FDCWD = -100;
const PARENT = getpid();
const has = feature;
const stage: Feature = { ok: stageAvailable(), why: `this build has no ${process.arch} stage (gcc was missing when jail/stage/blobs.gen.ts was made: scripts/install-deps.sh, then bun scripts/build-stage.ts)` };

const CLONE_VM = 0x100;
let regs: BigInt64Array, report: Int32Array;
beforeEach(() => {
  regs = stageRegisters();
  report = stageReport();
});

function run(ops: OpInit[]): number {
  const r = runStage(encodeOps(ops.map(rawOp)), ops.length, regs, report);
  // A child that came back here must not run the test suite: die at once.
  if (getpid() !== PARENT) exitNow(99);
  return r;
}

const sys = (name: string, a: (number | bigint)[] = [], more: Partial<OpInit> = {}): OpInit => ({ kind: KIND.SYSCALL, nr: nr(name), a, ...more });
const exit = (code: number) => sys("exit_group", [code]);

/** clone(flags), the child runs `child` (which must end in exit_group); returns the child's pid. */
function cloneRun(flags: number, child: OpInit[]): number {
  const k = child.length;
  const pid = run([
    // Failure: errno in r1, skip to RETURN r0 (= 0). Parent: r != 0 → RETURN r0 (the pid the
    // kernel stored there). Child: r == 0, falls through into its ops.
    sys("clone", [flags | SIGCHLD | CLONE_PARENT_SETTID, 0, ptr(regs), 0, 0], { ok: [ANY_ERRNO], errdst: 1, skip: k, cond: COND.NE, cmp: 0, jump: k }),
    ...child,
    { kind: KIND.RETURN, a: [0] },
  ]);
  if (pid <= 0) throw new Error(`clone failed: errno ${regs[1]}`);
  return pid;
}

function readAll(fd: number): string {
  const b = Buffer.alloc(4096), out: Buffer[] = [];
  for (let n; (n = readSync(fd, b)) > 0; ) out.push(Buffer.from(b.subarray(0, n)));
  return Buffer.concat(out).toString();
}

/** Run `child` in a clone, with a pipe whose write end is `w`; returns what it wrote and its exit. */
function withPipe(flags: number, child: (w: number) => OpInit[]): { pid: number; out: string; code?: number; signal?: number } {
  const [r, w] = pipe();
  try {
    const pid = cloneRun(flags, child(w));
    closeFd(w);
    const out = readAll(r);
    return { ...waitPid(pid)!, pid, out };
  } finally {
    closeFd(r);
    closeFd(w);
  }
}

describeIf(stage, "clone: the child runs only the stage", () => {
  test("new UTS and mount namespaces: sethostname, namespace links and the name written to a pipe, exit 42", () => {
    const name = Buffer.from(`stage-${process.pid}`);
    const link = Buffer.alloc(64), uts = Buffer.alloc(390), nl = Buffer.from("\n");
    // (named: a buffer only ptr() saw could be collected before the clone reads it)
    const utsPath = Buffer.from("/proc/self/ns/uts\0"), mntPath = Buffer.from("/proc/self/ns/mnt\0");
    const res = withPipe(CLONE_NEWUTS | CLONE_NEWNS, (w) => [
      sys("sethostname", [ptr(name), name.length]),
      sys("readlinkat", [AT_FDCWD, ptr(utsPath), ptr(link), 64], { dst: 2 }),
      sys("write", [w, ptr(link), 2], { regmask: 1 << 2 }),
      sys("write", [w, ptr(nl), 1]),
      sys("readlinkat", [AT_FDCWD, ptr(mntPath), ptr(link), 64], { dst: 2 }),
      sys("write", [w, ptr(link), 2], { regmask: 1 << 2 }),
      sys("write", [w, ptr(nl), 1]),
      sys("uname", [ptr(uts)]),
      sys("write", [w, ptr(uts) + 65, name.length]), // utsname.nodename
      exit(42),
    ]);
    void [utsPath, mntPath, name];
    expect(res.code).toBe(42);
    expect(res.pid).not.toBe(PARENT);
    const [utsNs, mntNs, seen] = res.out.split("\n");
    expect(seen).toBe(name.toString());
    expect(utsNs).toMatch(/^uts:\[\d+\]$/);
    expect(utsNs).not.toBe(readlinkSync("/proc/self/ns/uts"));
    expect(mntNs).toMatch(/^mnt:\[\d+\]$/);
    expect(mntNs).not.toBe(readlinkSync("/proc/self/ns/mnt"));
    expect(hostname()).not.toBe(name.toString());
    expect(readReport(report)).toBeNull();
  });

  test("CLONE_NEWUSER from this multi-threaded process: uid 65534 (unmapped) and CAP_SYS_ADMIN over its own UTS namespace", () => {
    expect(threadCount()).toBeGreaterThan(1);
    const buf = Buffer.alloc(24), name = Buffer.from("stage-userns");
    const child = (w: number): OpInit[] => [
      sys("getuid", [], { dst: 2 }),
      { kind: KIND.ITOA, a: [ptr(buf), 2] },
      sys("write", [w, ptr(buf), 24]),
      sys("sethostname", [ptr(name), name.length], { failexit: 3 }),
      exit(0),
    ];
    const userns = withPipe(CLONE_NEWUSER | CLONE_NEWUTS, child);
    expect(userns.code).toBe(0);
    expect(userns.out.split("\0")[0]).toBe("65534");
    // Control: the same child without the namespaces is root, here.
    const plain = withPipe(CLONE_NEWUTS, (w) => child(w));
    expect(plain.code).toBe(0);
    expect(plain.out.split("\0")[0]).toBe("0");
  });

  test("the child's registers reach the parent (MAP_SHARED): errdst and dst stores", () => {
    regs[5] = 0n;
    regs[6] = 0n;
    const res = withPipe(0, () => [
      sys("close", [-1], { ok: [ANY_ERRNO], errdst: 5 }),
      sys("getpid", [], { dst: 6 }),
      exit(0),
    ]);
    expect(res.code).toBe(0);
    expect(regs[5]).toBe(BigInt(EBADF));
    expect(regs[6]).toBe(BigInt(res.pid));
  });
});

describeIf(stage, "failures", () => {
  test("an untolerated errno fills the report (op index, errno) and exits with failexit", () => {
    const res = withPipe(0, () => [
      { kind: KIND.SET, dst: 7, a: [1] },
      sys("close", [-1], { ok: [EPERM, ENOENT], failexit: 77 }),
      exit(0),
    ]);
    expect(res.code).toBe(77);
    expect(report[0]).toBe(REPORT_MAGIC);
    expect(readReport(report)).toEqual({ index: 2, errno: EBADF }); // op 0 is the clone
    // Control: with EBADF tolerated the same child goes on to exit 0 and reports nothing.
    const ok = stageReport();
    report = ok;
    expect(withPipe(0, () => [sys("close", [-1], { ok: [EPERM, EBADF], failexit: 77 }), exit(0)]).code).toBe(0);
    expect(readReport(ok)).toBeNull();
  });

  test("failexit 0 means 125; the first report wins", () => {
    expect(withPipe(0, () => [sys("close", [-1]), exit(0)]).code).toBe(125);
    expect(readReport(report)).toEqual({ index: 1, errno: EBADF });
    report[1] = 99;
    expect(withPipe(0, () => [sys("close", [-2], { failexit: 9 }), exit(0)]).code).toBe(9);
    expect(readReport(report)).toEqual({ index: 99, errno: EBADF });
  });

  test("bounds: a register index, a jump or a kind outside the program → EINVAL, exit 125", () => {
    const cases: [string, OpInit, boolean][] = [
      ["register 255 (control)", sys("getpid", [255], { regmask: 1, failexit: 7 }), true],
      ["register 256", sys("getpid", [256], { regmask: 1, failexit: 7 }), false],
      ["register -1", sys("getpid", [-1], { regmask: 1 }), false],
      ["dst 256", sys("getpid", [], { dst: 256 }), false],
      ["errdst 300", sys("close", [-1], { ok: [ANY_ERRNO], errdst: 300 }), false],
      ["RETURN r256", { kind: KIND.RETURN, a: [256] }, false],
      ["ITOA from r999", { kind: KIND.ITOA, a: [ptr(Buffer.alloc(24)), 999] }, false],
      ["jump before the start", { kind: KIND.JUMP, jump: -3 }, false],
      ["jump past the end", { kind: KIND.JUMP, jump: 10 }, false],
      ["kind 9", { kind: 9 as never }, false],
      ["cond 5", sys("getpid", [], { cond: 5 }), false],
    ];
    for (const [what, op, fine] of cases) {
      report = stageReport();
      const res = withPipe(0, () => [op, exit(0)]);
      expect({ what, code: res.code, report: readReport(report) }).toEqual(
        fine ? { what, code: 0, report: null } : { what, code: 125, report: { index: 1, errno: EINVAL } },
      );
    }
  });
});

describeIf(stage, "control flow and stores, in this process", () => {
  test("a tolerated errno skips ops and stores errno; a success does not skip", () => {
    const prog = (fd: number): OpInit[] => [
      sys("close", [fd], { ok: [EBADF], errdst: 5, skip: 1 }),
      { kind: KIND.SET, dst: 1, a: [111] },
      { kind: KIND.SET, dst: 2, a: [222] },
      { kind: KIND.RETURN, a: [1] },
    ];
    expect(run(prog(-1))).toBe(0);
    expect(regs[5]).toBe(BigInt(EBADF));
    expect(regs[2]).toBe(222n);
    regs[5] = 0n;
    const [r, w] = pipe();
    closeFd(r);
    expect(run(prog(w))).toBe(111);
    expect(regs[5]).toBe(0n);
  });

  test("cond/jump loop: read until EOF, copying each chunk to another pipe", () => {
    const text = Array.from({ length: 40 }, (_, i) => `line ${i}\n`).join("");
    const [ir, iw] = pipe(), [or, ow] = pipe();
    try {
      writeSync(iw, text);
      closeFd(iw);
      const buf = Buffer.alloc(7);
      const got = run([
        sys("read", [ir, ptr(buf), buf.length], { dst: 1, ok: [ANY_ERRNO], errdst: 3, skip: 2, cond: COND.EQ, cmp: 0, jump: 2 }),
        sys("write", [ow, ptr(buf), 1], { regmask: 1 << 2, ok: [ANY_ERRNO], errdst: 3, skip: 1 }),
        { kind: KIND.JUMP, jump: -3 },
        { kind: KIND.SET, dst: 4, a: [1] },
        { kind: KIND.RETURN, a: [1] },
      ]);
      expect(regs[3]).toBe(0n);
      expect(got).toBe(0);
      expect(regs[4]).toBe(1n);
      closeFd(ow);
      expect(readAll(or)).toBe(text); // more than one chunk: the loop went round
    } finally {
      for (const fd of [ir, or, ow]) closeFd(fd);
    }
  });

  test("conditions ==, !=, >, < on a syscall's result", () => {
    const pid = PARENT;
    const jumped = (cond: number, cmp: number) => {
      regs[1] = 0n;
      return run([sys("getpid", [], { cond, cmp, jump: 1 }), { kind: KIND.SET, dst: 1, a: [1] }, { kind: KIND.RETURN, a: [1] }]) === 0;
    };
    expect([jumped(COND.EQ, pid), jumped(COND.EQ, pid + 1)]).toEqual([true, false]);
    expect([jumped(COND.NE, pid + 1), jumped(COND.NE, pid)]).toEqual([true, false]);
    expect([jumped(COND.GT, pid - 1), jumped(COND.GT, pid)]).toEqual([true, false]);
    expect([jumped(COND.LT, pid + 1), jumped(COND.LT, pid)]).toEqual([true, false]);
    expect(jumped(COND.NONE, pid)).toBe(false);
  });

  test("JUMP over a SET; SET with regmask copies a register; off the end returns -1", () => {
    expect(run([
      { kind: KIND.SET, dst: 1, a: [1] },
      { kind: KIND.JUMP, jump: 1 },
      { kind: KIND.SET, dst: 1, a: [2] },
      { kind: KIND.SET, dst: 2, a: [1], regmask: 1 },
      { kind: KIND.RETURN, a: [2] },
    ])).toBe(1);
    expect(run([{ kind: KIND.SET, dst: 3, a: [5] }])).toBe(-1);
    expect(regs[3]).toBe(5n);
    expect(run([])).toBe(-1);
  });

  test("ITOA, STORE32 and STORE64 into buffers; the ITOA'd pid written to a pipe", () => {
    const texts = [Buffer.alloc(24, 0xff), Buffer.alloc(24, 0xff), Buffer.alloc(24, 0xff)];
    const i32 = new Int32Array(2), i64 = new BigInt64Array(1);
    const holder = new BigInt64Array(1);
    const [r, w] = pipe();
    try {
      run([
        { kind: KIND.SET, dst: 1, a: [-(1n << 63n)] },
        { kind: KIND.SET, dst: 2, a: [0] },
        sys("getpid", [], { dst: 3 }),
        { kind: KIND.SET, dst: 4, a: [0x1_0000_0005n] },
        { kind: KIND.SET, dst: 5, a: [ptr(texts[2]!)] },
        { kind: KIND.ITOA, a: [ptr(texts[0]!), 1] },
        { kind: KIND.ITOA, a: [ptr(texts[1]!), 2] },
        { kind: KIND.ITOA, a: [5, 3], regmask: 1 }, // the address from a register
        { kind: KIND.STORE32, a: [ptr(i32), 4] },
        { kind: KIND.STORE64, a: [ptr(i64), 1] },
        { kind: KIND.STORE64, a: [ptr(holder), 3] },
        sys("write", [w, ptr(texts[2]!), 24], { ok: [ANY_ERRNO], errdst: 6 }),
      ]);
      closeFd(w);
      const cstrOf = (b: Buffer) => b.subarray(0, b.indexOf(0)).toString();
      expect(cstrOf(texts[0]!)).toBe("-9223372036854775808");
      expect(cstrOf(texts[1]!)).toBe("0");
      expect(regs[6]).toBe(0n);
      expect(readAll(r).split("\0")[0]).toBe(String(PARENT));
      expect([...i32]).toEqual([5, 0]); // truncated to 32 bits; the next int untouched
      expect(i64[0]).toBe(-(1n << 63n));
      expect(holder[0]).toBe(BigInt(PARENT));
    } finally {
      closeFd(r);
      closeFd(w);
    }
  });
});

describeIf(stage, "SPAWN: a child on a stack of its own, in this address space (CLONE_VM|CLONE_VFORK)", () => {
  const CLONE_VFORK = 0x4000;
  const vforkStack = new Uint8Array(64 * 1024);
  function spawnRun(child: OpInit[]): { pid: number; childRegs: BigInt64Array } {
    const code = encodeOps(child.map(rawOp));
    const childRegs = stageRegisters();
    // CLONE_VFORK: this thread sleeps until the child has executed or exited, so one stack serves every spawn
    const pid = run([
      { kind: KIND.SPAWN, a: [CLONE_VM | CLONE_VFORK | SIGCHLD, stackTop(vforkStack), ptr(code), child.length, ptr(childRegs), stageEntry()], dst: 0, ok: [ANY_ERRNO], errdst: 1, skip: 0 },
      { kind: KIND.RETURN, a: [0] },
    ]);
    if (pid <= 0) throw new Error(`spawn failed: errno ${regs[1]}`);
    code.length; // alive until here
    return { pid, childRegs };
  }

  test("the child runs its own list, writes into this process's memory (shared), and this thread resumes only after it ended", () => {
    const [r, w] = pipe();
    const mine = new BigInt64Array(1); // plain memory of this process: a forked child could not write it
    regs[1] = 7n;
    const { pid, childRegs } = spawnRun([
      { kind: KIND.SET, dst: 1, a: [42] },
      { kind: KIND.STORE64, a: [ptr(mine), 1] },
      sys("write", [w, ptr(Buffer.from("spawned")), 7]),
      exit(5),
    ]);
    // CLONE_VFORK: this thread went on only once the child was done with this address space
    // (here: exiting), so its store is visible before anything waits for it
    expect(mine[0]).toBe(42n);
    closeFd(w);
    expect(waitPid(pid)).toMatchObject({ code: 5 });
    expect(childRegs[1]).toBe(42n);
    expect(regs[1]).toBe(7n); // the child's registers are its own
    expect(readAll(r)).toBe("spawned");
    closeFd(r);
  });

  test("a failure in the child's list reports the child's op index and errno; the child exits with failexit", () => {
    const { pid } = spawnRun([sys("getpid"), sys("close", [-1], { failexit: 9 })]);
    expect(waitPid(pid)).toMatchObject({ code: 9 });
    expect(readReport(report)).toEqual({ index: 1, errno: EBADF });
  });
});

describeIf(stage, "SPAWN into this very list: a fork's view without a copy of the memory (CLONE_VM, no CLONE_VFORK)", () => {
  test("the child goes on at the jump target with a copy of the registers, in this address space; the parent at the next op", () => {
    const [r, w] = pipe();
    const mine = new BigInt64Array(1); // plain memory of this process: a forked child could not write it
    const stack = new Uint8Array(16 * 1024);
    const copy = stageRegisters();
    const entry = stageEntry();
    const pid = run([
      { kind: KIND.SET, dst: 5, a: [11] },
      { kind: KIND.SPAWN, a: [CLONE_VM | SIGCHLD, stackTop(stack), 0, 0, ptr(copy), entry], dst: 0, ok: [ANY_ERRNO], errdst: 1, skip: 0, jump: 1 },
      { kind: KIND.RETURN, a: [0] },
      // the child, from here: r5 as it was at the spawn
      { kind: KIND.STORE64, a: [ptr(mine), 5] },
      { kind: KIND.SET, dst: 5, a: [99] },
      sys("write", [w, ptr(Buffer.from("child")), 5]),
      exit(6),
    ]);
    expect(pid).toBeGreaterThan(0);
    closeFd(w);
    expect(readAll(r)).toBe("child"); // EOF: the child has exited (its copy of the descriptor closed)
    expect(waitPid(pid)).toMatchObject({ code: 6 });
    expect(mine[0]).toBe(11n); // its store landed in this process's memory
    expect(regs[5]).toBe(11n); // its SET went to its own copy
    expect(copy[5]).toBe(99n);
    closeFd(r);
    stack.length; // alive until the child is gone
  });
});

/** A cgroup v1 pids hierarchy's mount point and our cgroup in it (the warming child is for v1). */
function pidsV1(): string | null {
  const line = readFileSync("/proc/self/cgroup", "utf8").split("\n").find((l) => /^\d+:([^:]*,)?pids(,[^:]*)?:/.test(l));
  const mount = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")).find((f) => f[f.indexOf("-") + 1] === "cgroup" && /(^|,)pids(,|$)/.test(f.at(-1) ?? ""));
  return line && mount ? mount[4]! + (line.split(":")[2] === "/" ? "" : line.split(":")[2]) : null;
}
const v1pids: Feature = { ok: stageAvailable() && process.getuid!() === 0 && pidsV1() !== null, why: "needs root, this build's stage and a cgroup v1 pids hierarchy (the warming child is for cgroup v1)" };

describeIf(v1pids, "the warming child (CLONE_VM, no CLONE_VFORK): moves itself into a cgroup v1 and exits", () => {
  test("it was in the cgroup (its pids.peak), exits 0, and leaves this process's descriptors alone", async () => {
    const { warmMigration } = await import("../../jail/stage/parent-kernel.ts");
    const dir = `${pidsV1()}/jailx-test-warm-${PARENT}`;
    mkdirSync(dir);
    const [r, w] = pipe();
    try {
      // pids.peak (Linux 6.12+): the most processes the cgroup ever held; the only trace a
      // process that moved in and exited leaves (an exited one's /proc/PID/cgroup shows "/")
      const peak = existsSync(`${dir}/pids.peak`) ? () => readFileSync(`${dir}/pids.peak`, "utf8").trim() : null;
      expect(peak?.() ?? "0").toBe("0");
      const pid = warmMigration(`${dir}/cgroup.procs`);
      expect(pid).toBeGreaterThan(0);
      expect(waitPid(pid)).toMatchObject({ code: 0 });
      expect(peak?.() ?? "1").toBe("1");
      // its close_range closed its own copy of the descriptor table, not ours
      expect(writeSync(w, "still open")).toBe(10);
      closeFd(w);
      expect(readAll(r)).toBe("still open");
    } finally {
      closeFd(r);
      rmdirSync(dir); // empty again: the child has left it
    }
  });

  test("a procs file it cannot open: it still exits 0 (it only warms a lock)", async () => {
    const { warmMigration } = await import("../../jail/stage/parent-kernel.ts");
    const pid = warmMigration("/nonexistent/cgroup.procs");
    expect(waitPid(pid)).toMatchObject({ code: 0 });
  });
});

describeIf(stage, "streamed ops (report[3]: how many are written)", () => {
  const kept: unknown[] = []; // what the children's ops point at, alive until the file ends
  /**
   * A CLONE_VM child (as the jail's init is) that goes on at op 2 of this list, in which only the
   * first `published` ops are written so far: the parent returns its pid at op 1.
   */
  function spawnStreamed(child: OpInit[], published: number): number {
    const stack = new Uint8Array(16 * 1024);
    const copy = stageRegisters();
    const ops: OpInit[] = [
      { kind: KIND.SPAWN, a: [CLONE_VM | SIGCHLD, stackTop(stack), 0, 0, ptr(copy), stageEntry()], dst: 0, jump: 1 },
      { kind: KIND.RETURN, a: [0] },
      ...child,
    ];
    const code = Buffer.from(sharedMemory(ops.length * OP_SIZE));
    encodeOps(ops.map(rawOp)).copy(code);
    report[3] = published;
    const pid = runStage(code, ops.length, regs, report);
    if (getpid() !== PARENT) exitNow(99);
    kept.push(stack, copy, code);
    return pid;
  }
  /** The child's voluntary context switches: each futex wait that ends is one. */
  const switches = (pid: number) => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

  test("the child waits in futex at the first op not yet published, and runs on once it is", () => {
    // op 0 spawn (CLONE_VM, as the jail's init is): the parent goes on at op 1 (RETURN), the
    //      child at op 2, in this list and with this report
    // op 2 write "a"   | published at first (3 ops)
    // op 3 write "b"   | written but not published: the child must wait before it
    // op 4 exit_group(7)
    const [r, w] = pipe();
    const a = Buffer.from("ab");
    kept.push(a);
    const pid = spawnStreamed([sys("write", [w, ptr(a), 1]), sys("write", [w, ptr(a) + 1, 1]), exit(7)], 3);
    closeFd(w);
    expect(pid).toBeGreaterThan(0);
    const one = Buffer.alloc(1);
    expect(readSync(r, one)).toBe(1);
    expect(one.toString()).toBe("a");
    // Until the child sits in futex (it must: op 3 is not published) or has ended (it must not).
    let state: string;
    for (;;) {
      if (waitPid(pid, true)) {
        state = "ended";
        break;
      }
      const nr0 = readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0];
      if (nr0 === String(nr("futex"))) {
        state = "waiting in futex";
        break;
      }
    }
    expect(state).toBe("waiting in futex");
    publishOps(report, 5);
    expect(readAll(r)).toBe("b");
    closeFd(r);
    expect(waitPid(pid)).toMatchObject({ code: 7 });
  });

  test("a waiting child polls the watched descriptor (register WATCH) each 50 ms: it waits on while nothing happens there, and ends with EPIPE (125) at the op it waits for once something does", () => {
    // op 0 spawn (CLONE_VM), the parent returns at op 1, the child goes on at op 2
    // op 2 close(w): the child's copy of the pipe's write end (the parent holds the other)
    // op 3 SET WATCH = &{r, POLLIN}
    // op 4 write "a", op 5 close(outW)   | published at first (6 ops)
    // op 6 exit_group(7), never published
    const [r, w] = pipe();
    const [outR, outW] = pipe();
    const pollfd = new Int32Array([r, 1 /* POLLIN */]);
    const a = Buffer.from("a");
    kept.push(pollfd, a);
    const pid = spawnStreamed([sys("close", [w]), { kind: KIND.SET, dst: WATCH_REGISTER, a: [ptr(pollfd)] }, sys("write", [outW, ptr(a), 1]), sys("close", [outW]), exit(7)], 6);
    closeFd(outW);
    try {
      expect(readAll(outR)).toBe("a"); // and EOF: the child closed its copy, and waits at op 6
    } catch (e) {
      closeFd(w);
      throw e;
    }
    // It wakes at each bound, polls, finds nothing and waits again: its voluntary switches grow
    // while it stays at op 6 in futex (read from /proc, no sleep).
    const first = switches(pid);
    let seen = first;
    while (seen < first + 3 && !waitPid(pid, true)) seen = switches(pid);
    expect(seen).toBeGreaterThanOrEqual(first + 3);
    expect(readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ")[0]).toBe(String(nr("futex")));
    expect(report[0]).toBe(0);
    closeFd(w); // the last writer: POLLHUP on r
    expect(waitPid(pid)).toMatchObject({ code: 125 });
    expect([report[0], report[1], report[2]]).toEqual([REPORT_MAGIC, 6, 32]); // op 6, EPIPE
    closeFd(r);
    closeFd(outR);
  });

  test("without a watch (register WATCH 0) a waiting child wakes at each bound and waits on, and runs on once its op is published", () => {
    const pid = spawnStreamed([sys("getpid"), exit(7)], 3);
    const first = switches(pid);
    let seen = first;
    while (seen < first + 3 && !waitPid(pid, true)) seen = switches(pid);
    expect(seen).toBeGreaterThanOrEqual(first + 3); // it wakes at each bound, and waits on
    expect(report[0]).toBe(0);
    publishOps(report, 4);
    expect(waitPid(pid)).toMatchObject({ code: 7 });
  });

  test("the caller's own list never waits, though its report counts fewer ops: only the children it spawns do", () => {
    // The supervisor's spawner shares the jail's report (the init's ops are streamed into it):
    // a list longer than report[3] ran into a futex wait that nobody would end (seen on a pure
    // cgroup v2 host, where the spawner has more ops than a short prologue).
    // In a process of its own: that wait would block this one for good (bounded here).
    const script = `
      import { runStage, stageRegisters, stageReport } from "${import.meta.dir}/../../sys/stage.ts";
      import { KIND, encodeOps, rawOp } from "${import.meta.dir}/../../jail/stage/ops.ts";
      const report = stageReport();
      report[3] = 1;
      const ops = [...Array(6)].map((_, i) => rawOp({ kind: KIND.SET, dst: i, a: [i + 40] })).concat(rawOp({ kind: KIND.RETURN, a: [5] }));
      console.log(runStage(encodeOps(ops), 7, stageRegisters(), report));`;
    const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", timeout: 20_000 });
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe("45\n");
  });

  test("a child with a list of its own reports where the spawn says (cmp), not into the caller's report", () => {
    const own = new Int32Array(4);
    const stack = new Uint8Array(16 * 1024);
    const child = encodeOps([sys("close", [987654]), exit(0)].map(rawOp)); // EBADF: not tolerated
    const childRegs = stageRegisters();
    const pid = run([
      { kind: KIND.SPAWN, a: [CLONE_VM | SIGCHLD, stackTop(stack), ptr(child), 2, ptr(childRegs), stageEntry()], dst: 0, cmp: ptr(own) },
      { kind: KIND.RETURN, a: [0] },
    ]);
    expect(pid).toBeGreaterThan(0);
    expect(waitPid(pid)).toMatchObject({ code: 125 });
    expect([own[0], own[1], own[2]]).toEqual([REPORT_MAGIC, 0, 9]); // op 0 of its list, EBADF
    expect(report[0]).toBe(0); // the caller's report: untouched
    stack.length + child.length;
  });

  test("without report[3] (0) nothing waits: the whole program runs", () => {
    const r = withPipe(0, (w) => [sys("write", [w, ptr(Buffer.from("xy")), 2]), exit(3)]);
    expect([r.out, r.code]).toEqual(["xy", 3]);
  });
});

describeIf(stage, "the compiled binary's embedded stage", () => {
  test(SELFTEST_NAME, () => {
    const r = Bun.spawnSync([JAILX, "__stage-selftest"], { stdout: "pipe", stderr: "pipe" });
    expectSelftest({ code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() }, currentMachine());
  });

  testIf(program("setpriv"))("rootless: an unprivileged user's (multi-threaded) jailx clones into new user and UTS namespaces and sets the hostname", () => {
    const rl = installRootless();
    try {
      // Control: the user really is unprivileged (a UTS namespace alone is refused).
      expect(runAsUser(rl, ["unshare", "--uts", "true"]).code).not.toBe(0);
      expect(runAsUser(rl, ["id", "-u"]).stdout.trim()).toBe(String(rl.user.uid));
      expectSelftest(runAsUser(rl, [rl.binary, "__stage-selftest", "--userns"]), currentMachine(), true);
    } finally {
      rl.cleanup();
    }
  });
});

describe("sealed executable memfds", () => {
  const F_GETFD = 1, F_GET_SEALS = 1034;
  /** What every sealed memfd must satisfy: all four seals, close-on-exec, unwritable. */
  function expectSealed(fd: number, name: string, content: Buffer): void {
    expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(`/memfd:${name} (deleted)`);
    expect(c.fcntl(fd, F_GET_SEALS, 0) & ALL_SEALS).toBe(ALL_SEALS);
    expect(c.fcntl(fd, F_GETFD, 0) & 1).toBe(1);
    expect(readFileSync(`/proc/self/fd/${fd}`).equals(content)).toBe(true);
    expect(() => writeSync(fd, "x", 0)).toThrow(/EPERM/);
  }

  testIf(program("gcc"))("a static program in a sealed memfd (MFD_EXEC) runs from /proc/PID/fd/N and cannot be changed", () => {
    const dir = mkdtempSync("/tmp/jx-memfd-");
    try {
      writeFileSync(`${dir}/p.c`, '#include <stdio.h>\nint main(void) { puts("from the memfd"); return 3; }\n');
      const cc = Bun.spawnSync(["gcc", "-static", "-Os", "-o", `${dir}/p`, `${dir}/p.c`], { stderr: "pipe" });
      expect(cc.exitCode, cc.stderr.toString()).toBe(0);
      const bytes = readFileSync(`${dir}/p`);
      const fd = sealedMemfd("jailx-test-exec", bytes, true);
      try {
        expectSealed(fd, "jailx-test-exec", bytes);
        const r = Bun.spawnSync([`/proc/${process.pid}/fd/${fd}`], { stdout: "pipe" });
        expect([r.exitCode, r.stdout.toString()]).toEqual([3, "from the memfd\n"]);
      } finally {
        closeFd(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // vm.memfd_noexec is per pid namespace (Linux ≥ 6.3): set in a new one, it cannot leak. 1 makes
  // memfds created without MFD_EXEC unexecutable (hence sealedMemfd's exec flag); 2 refuses
  // MFD_EXEC, and sealedMemfd falls back to a memfd whose execution fails with EACCES.
  const noexecHost = existsSync("/proc/sys/vm/memfd_noexec") ? readFileSync("/proc/sys/vm/memfd_noexec", "utf8").trim() : "";
  // A namespace can raise the level, not lower it: the three levels need 0 here.
  testIf(has(program("gcc").ok && noexecHost === "0", `no gcc, or vm.memfd_noexec is ${noexecHost || "absent"} here (0 needed)`))(
    "vm.memfd_noexec (in a new pid namespace): 0 and 1 run the exec memfd, 1 refuses a plain one, 2 refuses both",
    () => {
      const dir = mkdtempSync("/tmp/jx-noexec-");
      try {
        writeFileSync(`${dir}/p.c`, "int main(void) { return 3; }\n");
        const cc = Bun.spawnSync(["gcc", "-static", "-Os", "-o", `${dir}/p`, `${dir}/p.c`], { stderr: "pipe" });
        expect(cc.exitCode, cc.stderr.toString()).toBe(0);
        writeFileSync(`${dir}/x.ts`, [
          `import { readFileSync } from "node:fs";`,
          `import { sealedMemfd } from ${JSON.stringify(`${ROOT}/sys/memfd.ts`)};`,
          `const fd = sealedMemfd("jx-exec", readFileSync(process.argv[2]!), process.argv[3] === "exec");`,
          "try { console.log(`ran ${Bun.spawnSync([`/proc/${process.pid}/fd/${fd}`]).exitCode}`); }",
          "catch (e) { console.log((e as NodeJS.ErrnoException).code); }",
        ].join("\n"));
        const outcome = (level: number, mode: string) => {
          // `[ $$ = 1 ]`: write the sysctl only from the new namespace's pid 1, never the host's.
          const r = Bun.spawnSync(["unshare", "-p", "-f", "--mount-proc", "sh", "-c",
            '[ $$ = 1 ] && echo "$0" > /proc/sys/vm/memfd_noexec && exec "$1" "$2" "$3" "$4"', String(level), BUN, `${dir}/x.ts`, `${dir}/p`, mode],
          { stdout: "pipe", stderr: "pipe" });
          return r.stdout.toString().trim() || `failed: ${r.stderr.toString()}`;
        };
        expect([0, 1, 2].flatMap((l) => ["exec", "plain"].map((m) => `${l} ${m}: ${outcome(l, m)}`))).toEqual([
          "0 exec: ran 3", "0 plain: ran 3", "1 exec: ran 3", "1 plain: EACCES", "2 exec: EACCES", "2 plain: EACCES",
        ]);
        expect(readFileSync("/proc/sys/vm/memfd_noexec", "utf8").trim()).toBe(noexecHost); // the host's is untouched
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  testIf({ ok: helperAvailable(), why: "this build has no helper (no jail/stage/helper.c, or no gcc when jail/stage/blobs.gen.ts was made)" })(
    "helperMemfd: the helper ELF, sealed, close-on-exec, one per process",
    () => {
      const fd = helperMemfd();
      expect(helperMemfd()).toBe(fd);
      const blob = Buffer.from((BLOBS as Record<string, { helper?: string }>)[process.arch]!.helper!, "base64");
      expect(blob.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
      expectSealed(fd, "jailx-helper", blob);
    },
  );
});
