// The op list a jail is compiled into (jail/stage/compile.ts), read back with decodeOps: the
// order of the processes' steps and what may follow the seccomp filter. Pure: nothing is run.
import { describe, expect, test } from "bun:test";
import { ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { parseRunArgs } from "../../jail/options.ts";
import { buildPlan, type Plan } from "../../jail/plan.ts";
import { compileHolder, compileJail, startJail } from "../../jail/stage/compile.ts";
import { COND, decodeOps, encodeOps, KIND, OP_SIZE, WATCH_REGISTER, type RawOp } from "../../jail/stage/ops.ts";
import { NRS } from "../../jail/stage/nr.ts";
import { Asm } from "../../jail/stage/asm.ts";
import { compileKernel } from "../../jail/stage/compile-kernel.ts";
import { whiteoutSteps } from "../../sys/mount.ts";
import { fakeHost } from "./fake-host.ts";

const FDS = { sock: 3, execW: 4, heldR: 5, heldW: 6, helper: 7, gateR: 8 };
const plan = (args: string[]): Plan => buildPlan(parseRunArgs(args), fakeHost(), seccompPlanFromOptions);

function compiled(args: string[], seccomp: Buffer | null = Buffer.alloc(8)) {
  const p = compileJail(plan([...args, "--", "/bin/prog"]), 0x20000000, FDS, seccomp, new BigInt64Array(64));
  // Through the binary format and back: the test reads what the stage would read.
  const ops = decodeOps(encodeOps(p.ops));
  const nrs = ops.map((o) => (o.kind === KIND.SYSCALL ? o.nr : -1));
  const at = (nr: number, from = 0) => nrs.indexOf(nr, from);
  return { p, ops, nrs, at };
}

const isFd = (op: RawOp, j: number, fd: number) => !(op.regmask & (1 << j)) && op.a[j] === BigInt(fd);

describe("the compiled jail", () => {
  test("the supervisor spawns the init (CLONE_VM, its own stack and registers) and returns its pid; PID 1 waits for 'go', builds the root, waits for 'placed'", () => {
    const { p, ops, at } = compiled([]);
    // the supervisor's side: every signal blocked around one SPAWN of the init's own list
    const sp = decodeOps(encodeOps(p.spawner.ops));
    const spawns = sp.filter((o) => o.kind === KIND.SPAWN);
    expect(spawns).toHaveLength(1);
    const init = spawns[0]!;
    expect(init.nr).toBe(0); // clone
    expect(Number(init.a[0]! & 0x100n)).toBe(0x100); // CLONE_VM: no copy of the supervisor
    expect(Number(init.a[0]! & 0x20000000n)).toBe(0x20000000); // the namespaces asked for
    expect(init.a[2]).toBe(BigInt(ptr(p.code))); // the init replays its own list
    expect(init.a[3]).toBe(BigInt(p.length));
    expect(init.a[1]! % 16n).toBe(0n); // an aligned stack top
    const masks = sp.flatMap((o, i) => (o.kind === KIND.SYSCALL && o.nr === NRS.rt_sigprocmask ? [i] : []));
    expect(masks).toHaveLength(2);
    expect(masks[0]!).toBeLessThan(sp.indexOf(init));
    expect(masks[1]!).toBeGreaterThan(sp.indexOf(init));
    expect(sp.at(-1)!.kind).toBe(KIND.RETURN);
    // the init's list: nothing of a clone at its start
    expect(ops[0]!.kind).toBe(KIND.SYSCALL);
    expect(ops[0]!.nr).toBe(NRS.close_range);
    const reads = ops.flatMap((o, i) => (o.kind === KIND.SYSCALL && o.nr === NRS.read && isFd(o, 0, FDS.sock) ? [i] : []));
    expect(reads).toHaveLength(2);
    expect(reads[0]!).toBeLessThan(at(NRS.mount)); // "go" before anything is mounted
    expect(at(NRS.pivot_root)).toBeLessThan(reads[1]!); // "placed" after the filesystem
    expect(reads[1]!).toBeLessThan(at(NRS.unshare)); // the cgroup namespace after "placed"
    // After PR_SET_PDEATHSIG and before "go": a supervisor already gone (its socket end closed)
    // ends the init, which would otherwise wait for streamed ops forever
    const deathsig = ops.findIndex((o) => o.kind === KIND.SYSCALL && o.nr === NRS.prctl && o.a[0] === 1n);
    const poll = at(NRS.ppoll);
    expect(deathsig).toBeGreaterThan(0);
    expect(poll).toBeGreaterThan(deathsig);
    expect(poll).toBeLessThan(reads[0]!);
    expect(ops[poll]!.cond).toBe(COND.NE);
    const exitAt = poll + 1 + ops[poll]!.jump;
    expect([ops[exitAt]!.nr, ops[exitAt]!.a[0]]).toEqual([NRS.exit_group, 125n]);
    // ... and, before "go", the same pollfd becomes the stage's watch: each wait for streamed
    // ops looks at it again (another holder of the supervisor's end may close it only later)
    const watch = ops.findIndex((o) => o.kind === KIND.SET && o.dst === WATCH_REGISTER);
    expect(watch).toBeGreaterThan(poll);
    expect(watch).toBeLessThan(reads[0]!);
    expect(ops[watch]!.a[0]).toBe(ops[poll]!.a[0]);
    const pollfd = new Int32Array(toArrayBuffer(Number(ops[poll]!.a[0]) as Pointer, 0, 8));
    expect([pollfd[0], pollfd[1]]).toEqual([FDS.sock, 0x2000]); // the init's end, POLLRDHUP
    // no other op writes the watch register, and no program's own register is it
    expect(ops.filter((o) => o.dst === WATCH_REGISTER || o.errdst === WATCH_REGISTER)).toHaveLength(1);
  });

  test("kept off the supervisor's CPU while it is built: the init pins itself before 'go' (tolerated); the init takes every CPU again after forking the program's process, before executing its helper, and the program's process after the gate, before its filter and execve", () => {
    const cpus = { away: Uint8Array.of(0b10), every: Uint8Array.of(0xff), home: Uint8Array.of(0b01) };
    const bytes = (op: RawOp) => Array.from(new Uint8Array(toArrayBuffer(Number(op.a[2]) as Pointer, 0, Number(op.a[1]))));
    for (const extra of [[], ["--as-pid-1"]]) {
      const p = startJail(plan([...extra, "--", "/bin/prog"]), 0x20000000, FDS, Buffer.alloc(8), new BigInt64Array(64), { cpus, entry: 0 }).rest();
      const ops = decodeOps(encodeOps(p.ops));
      const nrs = ops.map((o) => (o.kind === KIND.SYSCALL ? o.nr : -1));
      const aff = ops.flatMap((o, i) => (o.kind === KIND.SYSCALL && o.nr === NRS.sched_setaffinity ? [i] : []));
      const reads = ops.flatMap((o, i) => (o.kind === KIND.SYSCALL && o.nr === NRS.read && isFd(o, 0, FDS.sock) ? [i] : []));
      const pin = ops[aff[0]!]!;
      expect([pin.a[0], bytes(pin), pin.ok[0]]).toEqual([0n, [0b10], -1]); // itself; off the CPU; a refusal is no failure
      expect(aff[0]!).toBeLessThan(reads[0]!); // before "go": before the first streamed op
      for (const i of aff.slice(1)) {
        expect([ops[i]!.a[0], bytes(ops[i]!), ops[i]!.ok[0]]).toEqual([0n, [0xff], 0]); // every CPU again; a failure fails the jail
        expect(i).toBeGreaterThan(reads[1]!); // after "placed" (a cpuset's move is done)
      }
      // the program's process: after the gate (it runs off the supervisor's CPU up to there),
      // before its filter and its execve, whose mask the program keeps
      const gate = ops.findIndex((o, i) => i >= p.programStart && o.kind === KIND.SYSCALL && o.nr === NRS.read && isFd(o, 0, FDS.gateR));
      const own = aff.at(-1)!;
      expect(gate).toBeGreaterThan(0);
      expect(own).toBeGreaterThan(gate);
      expect(own).toBeLessThan(nrs.indexOf(NRS.seccomp, p.programStart));
      expect(own).toBeLessThan(nrs.indexOf(NRS.execve, p.programStart));
      const spawn = ops.findIndex((o) => o.kind === KIND.SPAWN);
      if (extra.length === 0) {
        // the init: after the program's process is spawned (which keeps the pin until its gate),
        // before jailx's init is executed (it inherits the mask)
        expect(aff).toHaveLength(3);
        expect(aff[1]!).toBeGreaterThan(spawn);
        expect(aff[1]!).toBeLessThan(nrs.indexOf(NRS.execveat, spawn));
        expect(nrs.indexOf(NRS.execveat, spawn)).toBeLessThan(p.programStart);
      } else {
        expect(spawn).toBe(-1);
        expect(aff).toHaveLength(2);
      }
    }
    // without masks (one CPU, or a caller held to some): nothing is set
    const { nrs } = compiled([]);
    expect(nrs).not.toContain(NRS.sched_setaffinity);
  });

  test("the memory holder: kept on the supervisor's CPU when given it (tolerated), before it waits for the exec pipe's EOF", () => {
    const child = (home?: Uint8Array) => {
      const p = compileHolder(9, home);
      const spawn = decodeOps(p.code.subarray(0, p.length * OP_SIZE)).find((o) => o.kind === KIND.SPAWN)!;
      return decodeOps(new Uint8Array(toArrayBuffer(Number(spawn.a[2]) as Pointer, 0, Number(spawn.a[3]) * OP_SIZE)));
    };
    const ops = child(Uint8Array.of(0b01));
    const nrs = ops.map((o) => (o.kind === KIND.SYSCALL ? o.nr : -1));
    const pin = ops[nrs.indexOf(NRS.sched_setaffinity)]!;
    expect(pin.a[0]).toBe(0n);
    expect(Array.from(new Uint8Array(toArrayBuffer(Number(pin.a[2]) as Pointer, 0, Number(pin.a[1]))))).toEqual([0b01]);
    expect(pin.ok[0]).toBe(-1);
    expect(nrs.indexOf(NRS.sched_setaffinity)).toBeLessThan(nrs.indexOf(NRS.read));
    expect(child().map((o) => o.nr)).not.toContain(NRS.sched_setaffinity);
  });

  test("init: the program is forked, then init drops privileges and executes the sealed helper with its fds", () => {
    const { p, ops, at, nrs } = compiled([]);
    // the program's process: spawned (CLONE_VM) into this very list at the program's start,
    // with a copy of the init's registers in an array of its own
    const fork = ops.findIndex((o) => o.kind === KIND.SPAWN);
    expect(fork).toBeGreaterThan(at(NRS.unshare));
    expect(ops.filter((o) => o.kind === KIND.SPAWN || (o.kind === KIND.SYSCALL && o.nr === NRS.clone))).toHaveLength(1);
    const spawn = ops[fork]!;
    expect(spawn.a[0]).toBe(0x100n | 17n); // CLONE_VM | SIGCHLD
    expect(spawn.a[2]).toBe(0n); // no list of its own: this one
    expect(spawn.cond).toBe(COND.NONE);
    expect(fork + 1 + spawn.jump).toBe(p.programStart);
    expect(spawn.a[4]).not.toBe(0n);
    const exec = at(NRS.execveat);
    expect(exec).toBeGreaterThan(fork);
    expect(exec).toBeLessThan(p.programStart);
    expect(isFd(ops[exec]!, 0, FDS.helper)).toBe(true);
    // between fork and execveat: capsets and id changes, then non-dumpable again
    const capset = nrs.indexOf(NRS.capset, fork);
    expect(capset).toBeGreaterThan(fork);
    expect(capset).toBeLessThan(exec);
  });

  test("the program's process: the gate comes after every setup step and before the filter; after the filter only execve, stores and exit_group", () => {
    const { p, ops, nrs } = compiled([]);
    const start = p.programStart;
    const gate = nrs.findIndex((nr, i) => i >= start && nr === NRS.read && isFd(ops[i]!, 0, FDS.gateR));
    const filter = nrs.indexOf(NRS.seccomp, start);
    expect(gate).toBeGreaterThan(nrs.lastIndexOf(NRS.capset));
    expect(gate).toBeGreaterThan(nrs.lastIndexOf(NRS.rt_sigaction));
    expect(filter).toBeGreaterThan(gate);
    const after = ops.slice(filter + 1).filter((o, i) => filter + 1 + i < ops.length - 2);
    const kinds = new Set(after.map((o) => (o.kind === KIND.SYSCALL ? `nr${o.nr}` : `k${o.kind}`)));
    for (const k of kinds) expect([`nr${NRS.execve}`, `nr${NRS.exit_group}`, `k${KIND.STORE64}`, `k${KIND.SET}`]).toContain(k);
  });

  test("with a cgroup v2 directory: clone3 into it first (CLONE_VM, the stack in its args), the plain clone as the fallback", () => {
    const p = compileJail(plan(["--", "/bin/prog"]), 0x20000000, { ...FDS, cgroupFd: 9 }, null, new BigInt64Array(64));
    const ops = decodeOps(encodeOps(p.spawner.ops));
    const c3 = ops.findIndex((o) => o.kind === KIND.SPAWN && o.nr === NRS.clone3);
    const c = ops.findIndex((o) => o.kind === KIND.SPAWN && o.nr === 0);
    expect(c3).toBeGreaterThan(0);
    expect(c).toBeGreaterThan(c3);
    // a refused clone3 goes on to the plain clone
    expect(c3 + 1 + ops[c3]!.skip).toBeLessThanOrEqual(c);
    expect(ops[c3]!.ok[0]).toBe(-1);
    expect(ops[c3]!.a[1]).toBe(88n);
    // struct clone_args: CLONE_VM|CLONE_INTO_CGROUP, SIGCHLD, the stack and its size, the cgroup
    const args = new BigUint64Array(toArrayBuffer(Number(ops[c3]!.a[0]) as Pointer, 0, 88).slice(0));
    expect(args[0]! & (0x100n | 0x200000000n)).toBe(0x100n | 0x200000000n);
    expect(args[4]).toBe(17n);
    expect(args[5]).not.toBe(0n);
    expect((args[5]! + args[6]!) % 16n).toBe(0n);
    expect(args[10]).toBe(9n);
    // both run the same list
    expect(ops[c3]!.a[2]).toBe(ops[c]!.a[2]);
  });

  test("streamed: the init's list starts with its wait for 'go'; a root jail's placer is spawned (CLONE_VM) after it, from a list of its own, writes the init's pid and exits; the rest follows the prologue unchanged", () => {
    const arena = Buffer.alloc(2 << 20);
    const results = new BigInt64Array(64); // shared memory of its own in a real run (a memfd)
    const jc = startJail(plan(["--", "/bin/prog"]), 0x20000000, FDS, null, results, { sharedArena: arena, placer: ["/cg/jailx-1-a/cgroup.procs"] });
    const pro = jc.prologue;
    const go = pro.findIndex((o) => o.kind === KIND.SYSCALL && o.nr === NRS.read && isFd(o, 0, FDS.sock));
    expect(go).toBeGreaterThan(0);
    // the jail's init goes from its start to "go" without writing anything
    expect(pro.slice(0, go).some((o) => o.kind === KIND.SYSCALL && o.nr === NRS.write)).toBe(false);
    const code = Buffer.alloc(8192 * 112);
    const sp = jc.spawner(code, 8192).ops;
    const spawns = sp.flatMap((o, i) => (o.kind === KIND.SPAWN ? [i] : []));
    expect(spawns).toHaveLength(2);
    const [init, placer] = spawns as [number, number];
    expect(sp[init]!.a[2]).toBe(BigInt(ptr(code)));
    expect(sp[init]!.a[3]).toBe(8192n);
    // a refused clone skips the placer
    expect(init + 1 + sp[init]!.skip).toBeGreaterThan(placer);
    // the placer gets the digits of the init's pid, written just before it is spawned
    const itoa = sp.findIndex((o) => o.kind === KIND.ITOA);
    expect(itoa).toBeGreaterThan(init);
    expect(itoa).toBeLessThan(placer);
    expect(sp[placer]!.a[0]).toBe(0x100n | 17n);
    const pl = jc.placer!;
    expect(sp[placer]!.a[2]).toBe(BigInt(ptr(pl.program.code)));
    const place = pl.program.ops.findIndex((o) => o.kind === KIND.SYSCALL && o.nr === NRS.write);
    expect(pl.program.ops[place]!.a[1]).toBe(sp[itoa]!.a[0]);
    expect(pl.program.notes[place]?.path).toBe("/cg/jailx-1-a/cgroup.procs");
    expect(pl.program.ops.at(-1)!.nr).toBe(NRS.exit_group);
    expect(pl.program.ops[0]!.nr).toBe(NRS.close_range); // nothing of the supervisor's
    const all = jc.rest();
    expect(encodeOps(all.ops.slice(0, pro.length))).toEqual(encodeOps(pro));
    // every address the rest points at lies in the shared arena, the (shared) results or the
    // memory the program's process is spawned with
    const inside = (v: bigint, b: ArrayBufferView) => v >= BigInt(ptr(b as Uint8Array)) && v < BigInt(ptr(b as Uint8Array)) + BigInt(b.byteLength);
    const fork = all.ops.findIndex((o) => o.kind === KIND.SPAWN);
    const outside = all.ops.slice(pro.length).flatMap((o, i) =>
      o.a.filter((v, j) => !(o.regmask & (1 << j)) && v > 1n << 40n && !inside(v, arena) && !inside(v, results) && !(pro.length + i === fork && j !== 2)).map((v) => `${o.kind}/${o.nr}: 0x${v.toString(16)}`));
    expect(outside).toEqual([]);
  });

  test("--as-pid-1: no fork and no helper; the program's process is PID 1", () => {
    const { ops, at } = compiled(["--as-pid-1"]);
    expect(ops.filter((o) => o.kind === KIND.SPAWN || (o.kind === KIND.SYSCALL && o.nr === NRS.clone))).toHaveLength(0);
    expect(at(NRS.execveat)).toBe(-1);
  });

  test("--seccomp none: no filter, still the gate before execve", () => {
    const { p, ops, nrs } = compiled(["--seccomp", "none", "--allow-new-privs"], null);
    expect(nrs.indexOf(NRS.seccomp)).toBe(-1);
    const gate = nrs.findIndex((nr, i) => i >= p.programStart && nr === NRS.read && isFd(ops[i]!, 0, FDS.gateR));
    expect(gate).toBeGreaterThan(0);
    expect(gate).toBeLessThan(nrs.indexOf(NRS.execve));
  });

  test("every failure but the tolerated ones carries a message: each syscall op has a note", () => {
    const { p } = compiled([]);
    p.ops.forEach((o, i) => {
      if (o.kind === KIND.SYSCALL) expect(p.notes[i]?.syscall).toBeTruthy();
    });
  });
});

describe("fewer ops, the same calls", () => {
  test("an optional step with nothing to do otherwise: no JUMP over nothing; both branches still meet", () => {
    const asm = new Asm();
    const k = compileKernel(asm);
    const x = asm.reg();
    k.attempt(["ENOENT"], () => asm.syscall(NRS.read, [], { syscall: "read", dst: x }), () => asm.syscall(NRS.write, [], { syscall: "write" }), () => {});
    asm.syscall(NRS.close, [], { syscall: "close" });
    const ops = decodeOps(asm.bytes(0, asm.length));
    expect(ops.map((o) => o.kind)).toEqual([KIND.SYSCALL, KIND.SYSCALL, KIND.SYSCALL]);
    // a tolerated failure of the first op skips the second and lands on the third
    expect(ops[0]!.ok).toContain(2);
    expect(1 + ops[0]!.skip).toBe(2);
    // with something to do otherwise, the jump over it stays
    const b = new Asm();
    const kb = compileKernel(b);
    kb.attempt(["ENOENT"], () => b.syscall(NRS.read, [], { syscall: "read" }), () => {}, () => b.syscall(NRS.write, [], { syscall: "write" }));
    b.syscall(NRS.close, [], { syscall: "close" });
    const bo = decodeOps(b.bytes(0, b.length));
    expect(bo.map((o) => o.kind)).toEqual([KIND.SYSCALL, KIND.JUMP, KIND.SYSCALL, KIND.SYSCALL]);
    expect(2 + bo[1]!.jump).toBe(3);
    expect(1 + bo[0]!.skip).toBe(2);
  });

  test("a descriptor closed twice is refused while compiling (its register would serve two live descriptors)", () => {
    const k = compileKernel(new Asm());
    const fd = k.openInRoot(7, "/etc");
    k.close(fd);
    expect(() => k.close(fd)).toThrow("closed twice");
  });

  test("nested optional steps with nothing to do otherwise: every label lands where the ops that follow begin", () => {
    const asm = new Asm();
    const k = compileKernel(asm);
    // outer: its "otherwise" is an inner attempt that emits nothing at all
    k.attempt(["ENOENT"], () => asm.syscall(NRS.read, [], { syscall: "read" }), () => {}, () => {
      k.attempt(["EPERM"], () => {}, () => {}, () => {});
    });
    asm.syscall(NRS.close, [], { syscall: "close" });
    const ops = decodeOps(asm.bytes(0, asm.length));
    expect(ops.map((o) => o.kind)).toEqual([KIND.SYSCALL, KIND.SYSCALL]);
    // the outer step's tolerated failure goes to the close (index 1), not past it
    expect(1 + ops[0]!.skip).toBe(1);
  });

  test("only a pending jump can be taken back", () => {
    const asm = new Asm();
    asm.syscall(NRS.read, [], { syscall: "read" });
    expect(() => asm.dropLastJump()).toThrow("not a pending jump");
    const l = asm.label();
    asm.jump(l);
    asm.bind(l);
    expect(() => asm.dropLastJump()).toThrow("not a pending jump");
  });

  test("/etc's whiteouts are made in the new tmpfs through its own descriptor, each parent directory once", () => {
    const { p } = compiled([]);
    const made = p.ops.flatMap((o, i) => (o.kind === KIND.SYSCALL && (o.nr === NRS.mknodat || o.nr === NRS.mkdirat) && p.notes[i]?.path?.startsWith("/.jailx-hide/") ? [{ o, i }] : []));
    const whiteouts = made.filter(({ o }) => o.nr === NRS.mknodat).map(({ i }) => p.notes[i]!.path);
    expect(whiteouts).toContain("/.jailx-hide/shadow");
    expect(whiteouts).toContain("/.jailx-hide/ssl/private");
    const dirs = made.filter(({ o }) => o.nr === NRS.mkdirat).map(({ i }) => p.notes[i]!.path);
    expect(new Set(dirs).size).toBe(dirs.length);
    expect(dirs).toContain("/.jailx-hide/ssl");
    // every one relative to the same register: the tmpfs' fsmount descriptor
    const fsmount = p.ops.findIndex((o, i) => o.kind === KIND.SYSCALL && o.nr === NRS.fsmount && p.ops[made[0]!.i]!.a[0] === BigInt(o.dst) && i < made[0]!.i);
    expect(fsmount).toBeGreaterThan(0);
    for (const { o } of made) {
      expect(o.regmask & 1).toBe(1);
      expect(o.a[0]).toBe(BigInt(p.ops[fsmount]!.dst));
    }
    // nothing in /.jailx-hide is reached through a path from the jail's root
    expect(p.notes.filter((n) => n?.syscall === "openat2" && n.path?.startsWith("/.jailx-hide/"))).toEqual([]);
  });

  test("a name directly beneath the root is made through the root's descriptor: no open of '/'", () => {
    const { p } = compiled([]);
    expect(p.notes.filter((n) => n?.syscall === "openat2" && n.path === "/")).toEqual([]);
    const bin = p.notes.findIndex((n) => n?.syscall === "symlink" && n.path === "/bin");
    expect(bin).toBeGreaterThan(0);
    const rootReg = p.ops[bin]!.a[1]; // symlinkat(target, dirfd, name)
    const mkdirUsr = p.notes.findIndex((n) => n?.syscall === "mkdir" && n.path === "/usr");
    expect(p.ops[mkdirUsr]!.a[0]).toBe(rootReg);
  });
});

describe("whiteoutSteps", () => {
  test("parents once, in order, before the names beneath them", () => {
    expect(whiteoutSteps(["shadow", "ssl/private", "ssl/x", "a/b/c"])).toEqual([
      { path: "shadow", dir: false },
      { path: "ssl", dir: true },
      { path: "ssl/private", dir: false },
      { path: "ssl/x", dir: false },
      { path: "a", dir: true },
      { path: "a/b", dir: true },
      { path: "a/b/c", dir: false },
    ]);
  });

  test("a path that could leave the directory is refused", () => {
    for (const bad of ["../x", "a/../../x", "", "/", "a/./b"]) expect(() => whiteoutSteps([bad])).toThrow("bad path");
  });
});
