// Judging decoded seccomp filters: stacked filters, other ABIs, argument-dependent rules.
import { describe, expect, test } from "bun:test";
import { CHECKS } from "../../inspect/checks.ts";
import { RISKY_SYSCALLS, seccompFacts } from "../../inspect/seccomp-facts.ts";
import type { FilterDigest, Snapshot } from "../../inspect/snapshot.ts";

type Abi = FilterDigest["abis"][number];
const abi = (name: string, o: Partial<Abi> = {}): Abi => ({
  abi: name, defaultAction: "allow", unknownNrAction: "allow", exceptions: {}, argDependent: [], ...o,
});
const filter = (index: number, abis: Abi[]): FilterDigest => ({ index, instructions: 10, unknownArchAction: "kill", abis });
const snap = (filters: FilterDigest[] | { unknown: string }, mode = 2) => ({ seccompMode: mode, seccompFilterSummary: filters }) as unknown as Snapshot;
const check = (id: string) => CHECKS.find((c) => c.id === id)!;

describe("seccomp facts", () => {
  test("a deny-list filter: risky calls it leaves out are reported", () => {
    const f = filter(0, [abi("x86_64", { exceptions: { "errno:EPERM": RISKY_SYSCALLS.filter((n) => n !== "keyctl" && n !== "bpf") } }), abi("i386", { wholeAbiAction: "kill" })]);
    expect(seccompFacts(snap([f]))).toEqual({ native: "x86_64", openAbis: [], riskyAllowed: ["bpf", "keyctl"], riskyConditional: [] });
    expect(check("seccomp.risky").assess(snap([f]))).toEqual({ badness: 0.5, detail: "allowed: bpf, keyctl" });
  });
  test("stacked filters: a call is allowed only if every filter allows it", () => {
    const a = filter(0, [abi("x86_64", { exceptions: { "errno:EPERM": ["mount"] } })]);
    const b = filter(1, [abi("x86_64", { defaultAction: "errno:EPERM", exceptions: { allow: ["read", "write", "mount", "keyctl"] } })]);
    expect(seccompFacts(snap([a, b]))).toMatchObject({ riskyAllowed: ["keyctl"] });
  });
  test("an ABI no filter restricts is open; one restricted by any filter is not", () => {
    const a = filter(0, [abi("x86_64", { defaultAction: "kill" }), abi("i386"), abi("x32", { wholeAbiAction: "allow" })]);
    const b = filter(1, [abi("x86_64"), abi("i386", { exceptions: { "errno:EPERM": ["mount"] } }), abi("x32", { wholeAbiAction: "log" })]);
    expect(seccompFacts(snap([a, b]))).toMatchObject({ openAbis: ["x32"], riskyAllowed: [] });
    expect(check("seccomp.abi").assess(snap([a, b]))).toEqual({ badness: 1, detail: "open: x32" });
  });
  test("argument-dependent rules count half", () => {
    const f = filter(0, [abi("x86_64", { defaultAction: "errno:EPERM", exceptions: { allow: ["read", "unshare"] }, argDependent: ["unshare"] })]);
    expect(seccompFacts(snap([f]))).toMatchObject({ riskyAllowed: [], riskyConditional: ["unshare"] });
    expect(check("seccomp.risky").assess(snap([f]))).toEqual({ badness: 0.125, detail: "depending on arguments: unshare" });
  });
  test("no filter → not applicable; contents unreadable → unknown with the reason", () => {
    expect(check("seccomp.risky").assess(snap([], 0))).toEqual({ na: true });
    expect(check("seccomp.abi").assess(snap({ unknown: "EPERM: needs root" }))).toEqual({ unknown: "EPERM: needs root" });
  });
});
