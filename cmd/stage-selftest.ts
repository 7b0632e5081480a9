// `jailx __stage-selftest` (hidden: not in --help, for tests only). Replays a fixed op program
// through this binary's embedded stage with this CPU's syscall table, so the arm64 stage can be
// checked under qemu-user where `run` cannot work (qemu emulates no namespaces): a fork-style
// clone whose child writes its pid (ITOA) to a pipe and exits 7, and a second child whose
// untolerated failure must come back through the shared report, and a SPAWN (CLONE_VM|
// CLONE_VFORK onto a stack of its own) whose child stores into our memory. Prints one line; exit 0 when
// everything matched, 1 when not. `--userns`: the first child is cloned into new user and UTS
// namespaces and sets its hostname first (run as an unprivileged user by the rootless test).
import { readSync } from "node:fs";
import { ptr } from "../sys/ffi.ts";
import { closeFd, getpid, pipe, waitPid } from "../sys/proc.ts";
import { TABLES, currentMachine } from "../sys/seccomp/tables.ts";
import { readReport, runStage, stackTop, stageEntry, stageReport } from "../sys/stage.ts";
import { ANY_ERRNO, COND, KIND, checkOps, encodeOps, rawOp, type OpInit } from "../jail/stage/ops.ts";

const SIGCHLD = 17, EBADF = 9, CLONE_NEWUTS = 0x04000000, CLONE_NEWUSER = 0x10000000, CLONE_VM = 0x100, CLONE_VFORK = 0x4000;

export function stageSelftest(args: string[]): number {
  const userns = args.includes("--userns");
  const machine = currentMachine();
  const nr = (name: string) => TABLES[machine].get(name)!;
  const parent = getpid();
  // Private registers: the clone's dst is then the pid in the parent and 0 in the child's copy.
  const regs = new BigInt64Array(256);
  const report = stageReport();
  const run = (flags: number, child: OpInit[]): number => {
    const ops: OpInit[] = [
      { kind: KIND.SYSCALL, nr: nr("clone"), a: [flags | SIGCHLD], dst: 0, ok: [ANY_ERRNO], errdst: 1, skip: child.length, cond: COND.NE, cmp: 0, jump: child.length },
      ...child,
      { kind: KIND.RETURN, a: [0] },
    ];
    const raw = ops.map(rawOp);
    checkOps(raw);
    const pid = runStage(encodeOps(raw), raw.length, regs, report);
    if (getpid() !== parent) process.exit(99); // unreachable: children end in exit_group
    if (pid <= 0) throw new Error(`clone failed: errno ${regs[1]}`);
    return pid;
  };

  const [r, w] = pipe();
  const text = Buffer.alloc(24), host = Buffer.from("stage-selftest");
  const pid = run(userns ? CLONE_NEWUSER | CLONE_NEWUTS : 0, [
    ...(userns ? [{ kind: KIND.SYSCALL, nr: nr("sethostname"), a: [ptr(host), host.length], failexit: 3 }] : []),
    { kind: KIND.SYSCALL, nr: nr("getpid"), dst: 2 },
    { kind: KIND.ITOA, a: [ptr(text), 2] },
    { kind: KIND.SYSCALL, nr: nr("write"), a: [w, ptr(text), text.length] },
    { kind: KIND.SYSCALL, nr: nr("exit_group"), a: [7] },
  ]);
  closeFd(w);
  const got = Buffer.alloc(64);
  let n = 0;
  for (let k; (k = readSync(r, got, n, got.length - n, null)) > 0; ) n += k;
  closeFd(r);
  const wrote = got.subarray(0, got.indexOf(0) < 0 ? n : Math.min(n, got.indexOf(0))).toString();
  const first = waitPid(pid)!;

  const failing = run(0, [
    { kind: KIND.SYSCALL, nr: nr("close"), a: [-1], failexit: 9 },
    { kind: KIND.SYSCALL, nr: nr("exit_group"), a: [0] },
  ]);
  const second = waitPid(failing)!;
  const rep = readReport(report);

  // SPAWN (CLONE_VM|CLONE_VFORK): a child on a stack of its own runs a list of its own, which
  // stores into this process's memory; this thread goes on once it has exited.
  const mine = new BigInt64Array(1);
  const child = encodeOps([
    { kind: KIND.SET, dst: 1, a: [41] },
    { kind: KIND.STORE64, a: [ptr(mine), 1] },
    { kind: KIND.SYSCALL, nr: nr("exit_group"), a: [5] },
  ].map(rawOp));
  const stack = new Uint8Array(16 * 1024);
  const spawnOps = [
    { kind: KIND.SPAWN, a: [CLONE_VM | CLONE_VFORK | SIGCHLD, stackTop(stack), ptr(child), 3, ptr(new BigInt64Array(256)), stageEntry()], dst: 0, ok: [ANY_ERRNO], errdst: 1 },
    { kind: KIND.RETURN, a: [0] },
  ].map(rawOp);
  checkOps(spawnOps);
  const spawned = runStage(encodeOps(spawnOps), 2, regs, stageReport());
  const third = spawned > 0 ? waitPid(spawned) : null;
  stack.length; // alive until the child is gone

  const ok = wrote === String(pid) && first.code === 7 && second.code === 9 && rep?.index === 1 && rep.errno === EBADF && third?.code === 5;
  process.stdout.write(`stage selftest ${machine}${userns ? " (user namespace)" : ""}: child ${pid} wrote "${wrote}" and exited ${first.code ?? `on signal ${first.signal}`}; ` +
    `failing child exited ${second.code ?? `on signal ${second.signal}`}, report ${rep ? `op ${rep.index} errno ${rep.errno}` : "empty"}; ` +
    `spawned child exited ${third ? (third.code ?? `on signal ${third.signal}`) : `(spawn failed: errno ${regs[1]})`} and stored ${mine[0]}: ${ok ? "ok" : "MISMATCH"}\n`);
  return ok ? 0 : 1;
}
