// The compiled program, run in the cBPF interpreter on synthetic seccomp_data, must give every
// syscall of every ABI exactly the action the plan says (tests/seccomp/reference.ts).
import { describe, expect, test } from "bun:test";
import { DEFAULT_CAPS } from "../../sys/caps.ts";
import { actionToRet, describeRet } from "../../sys/seccomp/actions.ts";
import { Assembler } from "../../sys/seccomp/asm.ts";
import { BPF, decode, encode } from "../../sys/seccomp/bpf.ts";
import { HOT_SYSCALLS, compileSeccompPlan, compileToInsns } from "../../sys/seccomp/compile.ts";
import { disassemble } from "../../sys/seccomp/disasm.ts";
import { explainFilter, explainFilters, runStack } from "../../sys/seccomp/explain.ts";
import { runFilter } from "../../sys/seccomp/interp.ts";
import { buildPlan, seccompPlanFromOptions, type SeccompPlan } from "../../sys/seccomp/policy.ts";
import { AUDIT_ARCH, TABLES, X32_SYSCALL_BIT, type Abi, type Machine } from "../../sys/seccomp/tables.ts";
import { expectedAction } from "./reference.ts";

const ARCH: Record<Abi, number> = { x86_64: AUDIT_ARCH.x86_64, x32: AUDIT_ARCH.x86_64, i386: AUDIT_ARCH.i386, aarch64: AUDIT_ARCH.aarch64 };
const MACHINE_ABIS: Record<Machine, Abi[]> = { x86_64: ["x86_64", "i386", "x32"], aarch64: ["aarch64"] };
const verdict = (prog: ReturnType<typeof compileToInsns>, abi: Abi, nr: number, args: bigint[] = []) =>
  runFilter(prog, { nr, arch: ARCH[abi], args }).ret;

const PLANS: Record<string, SeccompPlan> = {
  default: seccompPlanFromOptions({}, DEFAULT_CAPS)!,
  "default+sys_admin": seccompPlanFromOptions({}, [...DEFAULT_CAPS, "sys_admin", "sys_ptrace"])!,
  "allow-list": seccompPlanFromOptions({ "seccomp-default-action": "errno:EACCES", "seccomp-allow": ["@system-service"] }, DEFAULT_CAPS)!,
  "kill-default": seccompPlanFromOptions({ "seccomp-default-action": "kill", "seccomp-allow": ["@basic-io", "@abi-i386"] }, [])!,
  "i386+x32 open": seccompPlanFromOptions({ "seccomp-allow": ["@abi-i386", "@abi-x32"], "seccomp-deny": ["getppid"] }, DEFAULT_CAPS)!,
  log: seccompPlanFromOptions({ "seccomp-default-action": "log", "seccomp-deny": ["@mount"] }, [])!,
};

for (const machine of ["x86_64", "aarch64"] as Machine[]) {
  describe(`${machine}: every syscall of every ABI gets the plan's action`, () => {
    for (const [label, plan] of Object.entries(PLANS)) {
      test(label, () => {
        const prog = compileToInsns(plan, machine);
        let checked = 0;
        for (const abi of MACHINE_ABIS[machine]) {
          for (const [name, nr] of TABLES[abi]) {
            expect({ abi, name, ret: describeRet(verdict(prog, abi, nr)) }).toEqual({ abi, name, ret: describeRet(actionToRet(expectedAction(plan, abi, name))) });
            checked++;
          }
          // Numbers no table knows: past the end, and in a gap.
          const base = abi === "x32" ? X32_SYSCALL_BIT : 0;
          for (const nr of [base + 1000, base + 0x3fff0]) expect(describeRet(verdict(prog, abi, nr))).toBe(describeRet(actionToRet(expectedAction(plan, abi, undefined))));
        }
        expect(checked).toBeGreaterThan(300);
        // An architecture the machine does not have is killed.
        expect(describeRet(runFilter(prog, { nr: 0, arch: AUDIT_ARCH.arm }).ret)).toBe("kill");
        expect(describeRet(runFilter(prog, { nr: 0, arch: machine === "x86_64" ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64 }).ret)).toBe("kill");
      });
    }
  });
}

describe("argument rules", () => {
  const plan = PLANS.default!;
  const prog = compileToInsns(plan, "x86_64");
  const nr = (name: string, abi: Abi = "x86_64") => TABLES[abi].get(name)!;
  const cases: [string, bigint[], string][] = [
    ["ioctl", [0n, 0x5412n], "errno:EPERM"],
    ["ioctl", [0n, 0xdead00005412n], "errno:EPERM"], // high bits set: the kernel ignores them
    ["ioctl", [0n, 0xffffffff0000541cn], "errno:EPERM"],
    ["ioctl", [0n, 0x5413n], "allow"], // TIOCGWINSZ
    ["ioctl", [0n, 0x5412n << 32n], "allow"], // low half 0
    ["clone", [0x10000000n | 17n], "errno:EPERM"], // CLONE_NEWUSER|SIGCHLD
    ["clone", [0x20000n], "errno:EPERM"], // CLONE_NEWNS
    ["clone", [0x40000000n], "errno:EPERM"], // CLONE_NEWNET
    ["clone", [0x003d0f00n | 17n], "allow"], // what glibc's pthread_create passes
    ["clone", [17n], "allow"], // fork
    ["socket", [38n, 5n], "errno:EPERM"], // AF_ALG
    ["socket", [0x100000026n], "errno:EPERM"], // AF_ALG with high bits
    ["socket", [40n], "errno:EPERM"], // AF_VSOCK
    ["socket", [1n], "allow"],
    ["socket", [10n], "allow"],
    ["setsockopt", [3n, 1n, 15n], "errno:EPERM"], // SOL_SOCKET, SO_REUSEPORT
    ["setsockopt", [3n, 0xffffffff00000001n, 0x700000000fn], "errno:EPERM"], // high bits: the kernel takes ints
    ["setsockopt", [3n, 1n, 2n], "allow"], // SO_REUSEADDR
    ["setsockopt", [3n, 6n, 15n], "allow"], // IPPROTO_TCP, optname 15 (not SO_REUSEPORT)
    ["setsockopt", [3n, 0n, 15n], "allow"], // SOL_IP, optname 15
    ["personality", [0n], "allow"],
    ["personality", [0xffffffffn], "allow"],
    ["personality", [0x0400000n], "errno:EPERM"],
  ];
  test.each(cases)("%s %p → %s", (name, args, want) => {
    expect(describeRet(verdict(prog, "x86_64", nr(name), args))).toBe(want);
    expect(describeRet(actionToRet(expectedAction(plan, "x86_64", name, args)))).toBe(want);
  });
  test("SO_REUSEPORT: refused on aarch64 too (same SOL_SOCKET/SO_REUSEPORT), allowed with --allow-reuseport", () => {
    const arm = compileToInsns(plan, "aarch64");
    const armNr = TABLES.aarch64.get("setsockopt")!;
    expect(describeRet(verdict(arm, "aarch64", armNr, [3n, 1n, 15n]))).toBe("errno:EPERM");
    expect(describeRet(verdict(arm, "aarch64", armNr, [3n, 1n, 2n]))).toBe("allow");
    const open = seccompPlanFromOptions({ "allow-reuseport": true }, DEFAULT_CAPS)!;
    for (const machine of ["x86_64", "aarch64"] as Machine[]) {
      const abi: Abi = machine;
      expect(describeRet(verdict(compileToInsns(open, machine), abi, TABLES[abi].get("setsockopt")!, [3n, 1n, 15n]))).toBe("allow");
    }
  });
  test("i386 is closed by default: setsockopt and socketcall through int 0x80 get ENOSYS", () => {
    expect(describeRet(verdict(prog, "i386", nr("setsockopt", "i386"), [3n, 1n, 15n]))).toBe("errno:ENOSYS");
    expect(describeRet(verdict(prog, "i386", nr("socketcall", "i386"), [14n]))).toBe("errno:ENOSYS"); // SYS_SETSOCKOPT
  });
  test("i386 (when open) checks the same arguments", () => {
    const p = compileToInsns(PLANS["i386+x32 open"]!, "x86_64");
    expect(describeRet(verdict(p, "i386", nr("clone", "i386"), [0x10000000n]))).toBe("errno:EPERM");
    expect(describeRet(verdict(p, "i386", nr("socket", "i386"), [38n]))).toBe("errno:EPERM");
    expect(describeRet(verdict(p, "i386", nr("socketcall", "i386"), [1n]))).toBe("errno:ENOSYS");
    expect(describeRet(verdict(p, "i386", nr("setsockopt", "i386"), [3n, 1n, 15n]))).toBe("errno:EPERM");
    expect(describeRet(verdict(p, "x32", nr("getppid", "x32")))).toBe("errno:EPERM");
    expect(describeRet(verdict(p, "x32", nr("read", "x32")))).toBe("allow");
  });
  test("64-bit conditions compare both halves", () => {
    const p = buildPlan({
      source: "test", base: "empty", keptCaps: [], defaultAction: "allow", allow: [], deny: [], log: false,
      rules: {
        prctl: [
          { when: [{ arg: 1, op: "eq", value: "0x100000002", width: 64 }], action: "errno:13" },
          { when: [{ arg: 2, op: "ne", value: "0x7", width: 64 }, { arg: 3, op: "masked-eq", mask: "0xff00000000", value: "0x100000000", width: 64 }], action: "errno:22" },
        ],
      },
    });
    const prog = compileToInsns(p, "x86_64");
    const n = nr("prctl");
    const at = (args: bigint[]) => describeRet(verdict(prog, "x86_64", n, args));
    expect(at([0n, 0x100000002n])).toBe("errno:EACCES");
    expect(at([0n, 0x2n])).toBe("allow");
    expect(at([0n, 0x200000002n])).toBe("allow");
    expect(at([0n, 0n, 0x7n, 0x100000000n])).toBe("allow");
    expect(at([0n, 0n, 0x700000007n, 0x100001234n])).toBe("errno:EINVAL");
    expect(at([0n, 0n, 0x8n, 0x100000000n])).toBe("errno:EINVAL");
    expect(at([0n, 0n, 0x8n, 0x200000000n])).toBe("allow");
  });
});

describe("hot path", () => {
  // The setuid guards on open/openat/chmod… split the allowed ranges around read and write
  // (open is number 2 on x86_64): 9 steps for read/write, 13 for openat (argument checks).
  test("common syscalls reach a verdict in at most 13 instructions (default policy)", () => {
    const prog = compileToInsns(PLANS.default!, "x86_64");
    const steps = Object.fromEntries(HOT_SYSCALLS.filter((n) => TABLES.x86_64.has(n)).map((n) => [n, runFilter(prog, { nr: TABLES.x86_64.get(n)!, arch: AUDIT_ARCH.x86_64 }).steps]));
    for (const n of ["read", "write", "mmap", "close"]) expect(steps[n]!).toBeLessThanOrEqual(9);
    for (const s of Object.values(steps)) expect(s).toBeLessThanOrEqual(13);
  });
  test("the program starts by checking the architecture", () => {
    const prog = compileToInsns(PLANS.default!, "x86_64");
    expect(prog[0]).toEqual({ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 4 });
  });
});

describe("assembler", () => {
  test("jumps farther than 255 instructions go through ja", () => {
    const a = new Assembler();
    const far = a.label();
    a.jump(BPF.JMP | BPF.JEQ | BPF.K, 1, far, null);
    for (let i = 0; i < 300; i++) a.insn(BPF.RET | BPF.K, 0x00050000 + (i % 100) + 1);
    a.place(far);
    a.insn(BPF.RET | BPF.K, 0x7fff0000);
    const prog = a.assemble();
    expect(runFilter(prog, Buffer.alloc(64)).ret).toBe(0x00050001);
    expect(runFilter(prog, (() => { const b = Buffer.alloc(64); return b; })()).steps).toBe(3);
    const one = Buffer.alloc(64);
    one.writeUInt32LE(1, 0);
    // A is 0 unless loaded: load nr first through a tiny wrapper program.
    const wrapped = [{ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 0 }, ...prog];
    expect(runFilter(wrapped, one).ret).toBe(0x7fff0000);
    expect(prog.every((i) => i.jt <= 255 && i.jf <= 255)).toBe(true);
  });
  test("a large allow-list with many alternating verdicts still compiles and decides right", () => {
    const names = [...TABLES.x86_64.keys()].filter((_, i) => i % 2 === 0 && !["execve", "execveat", "exit", "exit_group", "rt_sigreturn", "restart_syscall"].includes(_));
    const plan = seccompPlanFromOptions({ "seccomp-default-action": "errno", "seccomp-deny": names.slice(0, 150), "seccomp-allow": ["@system-service"] }, DEFAULT_CAPS)!;
    const prog = compileToInsns(plan, "x86_64");
    for (const [name, nr] of TABLES.x86_64) expect(describeRet(verdict(prog, "x86_64", nr))).toBe(describeRet(actionToRet(expectedAction(plan, "x86_64", name))));
  });
});

describe("encoding, disassembly, explain", () => {
  const plan = PLANS.default!;
  const buf = compileSeccompPlan(plan, "x86_64");
  test("8 bytes per instruction, round-trips", () => {
    expect(buf.length % 8).toBe(0);
    expect(encode(decode(buf))).toEqual(buf);
  });
  test("disassembly names fields, arches and actions", () => {
    const text = disassemble(decode(buf));
    expect(text).toContain("ld arch");
    expect(text).toContain("jeq AUDIT_ARCH_X86_64");
    expect(text).toContain("ret errno:EPERM");
    expect(text).toContain("ld args[1].lo");
    expect(text.split("\n")).toHaveLength(buf.length / 8);
  });
  test("explain decodes our filter back into the plan", () => {
    const s = explainFilter(buf, "x86_64");
    const x86 = s.abis.find((a) => a.abi === "x86_64")!;
    expect(s.unknownArchAction).toBe("kill");
    expect(x86.defaultAction).toBe("allow");
    expect(x86.unknownNrAction).toBe("errno:ENOSYS");
    const by = new Map(x86.syscalls.map((v) => [v.name, v]));
    expect(by.get("mount")!.action).toBe("errno:EPERM");
    expect(by.get("clone3")!.action).toBe("errno:ENOSYS");
    expect(by.get("ioctl")).toMatchObject({ argDependent: true, actions: ["allow", "errno:EPERM"] });
    expect(by.get("clone")).toMatchObject({ argDependent: true, actions: ["allow", "errno:EPERM"] });
    expect(by.get("read")).toMatchObject({ action: "allow", argDependent: false });
    expect(s.abis.find((a) => a.abi === "i386")!.wholeAbiAction).toBe("errno:ENOSYS");
    expect(s.abis.find((a) => a.abi === "x32")!.wholeAbiAction).toBe("errno:ENOSYS");
    expect(x86.hotPathSteps.read).toBe(9);
  });
  test("explain handles a program that is not ours (hand-written, libseccomp style)", () => {
    // ld arch; jeq x86_64 else kill; ld nr; jeq getppid → errno 13; jgt 400 → trap; allow
    const K = BPF.K, J = BPF.JMP;
    const prog = [
      { code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 4 },
      { code: J | BPF.JEQ | K, jt: 1, jf: 0, k: AUDIT_ARCH.x86_64 },
      { code: BPF.RET | K, jt: 0, jf: 0, k: 0 },
      { code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 0 },
      { code: BPF.ST, jt: 0, jf: 0, k: 3 },
      { code: BPF.LDX | BPF.W | BPF.MEM, jt: 0, jf: 0, k: 3 },
      { code: BPF.MISC | BPF.TXA, jt: 0, jf: 0, k: 0 },
      { code: J | BPF.JEQ | K, jt: 0, jf: 1, k: 110 },
      { code: BPF.RET | K, jt: 0, jf: 0, k: 0x0005000d },
      { code: J | BPF.JGT | K, jt: 0, jf: 1, k: 400 },
      { code: BPF.RET | K, jt: 0, jf: 0, k: 0x00030000 },
      { code: BPF.RET | K, jt: 0, jf: 0, k: 0x7fff0000 },
    ];
    const s = explainFilter(encode(prog), "x86_64");
    const x86 = s.abis[0]!;
    expect(x86.syscalls.find((v) => v.name === "getppid")!.action).toBe("errno:EACCES");
    expect(x86.syscalls.find((v) => v.name === "io_uring_setup")!.action).toBe("trap");
    expect(x86.syscalls.find((v) => v.name === "read")!.action).toBe("allow");
    expect(s.abis[1]!.wholeAbiAction).toBe("kill-thread");
  });
});

describe("filter stacks", () => {
  const ret = (k: number) => [{ code: BPF.RET | BPF.K, jt: 0, jf: 0, k }];
  test("the most severe action wins; equal severity: the newest filter's data", () => {
    const data = { nr: 0, arch: AUDIT_ARCH.x86_64 };
    expect(describeRet(runStack([ret(0x00050001), ret(0x80000000)], data).ret)).toBe("kill");
    expect(describeRet(runStack([ret(0x80000000), ret(0x7fff0000)], data).ret)).toBe("kill");
    expect(describeRet(runStack([ret(0x7ffc0000), ret(0x00050001)], data).ret)).toBe("errno:EPERM");
    expect(describeRet(runStack([ret(0x00050001), ret(0x0005000d)], data).ret)).toBe("errno:EACCES");
    expect(describeRet(runStack([ret(0x0005000d), ret(0x00050001)], data).ret)).toBe("errno:EPERM");
    expect(describeRet(runStack([ret(0x00030000), ret(0x00050001)], data).ret)).toBe("trap");
  });
  test("explainFilters combines per syscall", () => {
    const outer = compileSeccompPlan(PLANS.default!, "x86_64");
    const inner = compileSeccompPlan(seccompPlanFromOptions({ seccomp: "default", "seccomp-default-action": "kill", "seccomp-allow": ["@system-service"] }, DEFAULT_CAPS)!, "x86_64");
    const s = explainFilters([outer, inner], "x86_64");
    expect(s.filters).toBe(2);
    const by = new Map(s.abis[0]!.syscalls.map((v) => [v.name, v.action]));
    expect(by.get("read")).toBe("allow");
    expect(by.get("mount")).toBe("kill");
    expect(by.get("clone3")).toBe("errno:ENOSYS");
  });
});
