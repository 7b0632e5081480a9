// The stage's op records (jail/stage/ops.ts) against the C struct's layout (jail/stage/stage.c,
// whose _Static_asserts pin the same offsets at build time).
import { expect, test } from "bun:test";
import { COND, KIND, NO_REG, OP_SIZE, checkOps, decodeOps, encodeOps, formatOp, rawOp, type OpInit, type RawOp } from "../../jail/stage/ops.ts";

const full: RawOp = {
  kind: KIND.SYSCALL, nr: 165, regmask: 0b100101, dst: 7,
  a: [1n, -2n, 0x7fff_ffff_ffffn, -(1n << 63n), (1n << 63n) - 1n, 255n],
  ok: [1, 16, -1, 0], errdst: 9, skip: -3, cond: COND.LT, jump: 4, cmp: -4095n, failexit: 126,
};

test("encode/decode round trip: every field, negative and extreme values", () => {
  const ops = [full, rawOp({ kind: KIND.RETURN, a: [5] }), rawOp({ kind: KIND.SET, dst: 255, a: [-1n] })];
  const buf = encodeOps(ops);
  expect(buf.length).toBe(3 * OP_SIZE);
  expect(decodeOps(buf)).toEqual(ops);
});

test("layout: 112 bytes, each field at the C struct's offset, little-endian", () => {
  expect(OP_SIZE).toBe(112);
  const b = encodeOps([full]);
  expect(b.readInt32LE(0)).toBe(KIND.SYSCALL);
  expect(b.readInt32LE(4)).toBe(165);
  expect(b.readInt32LE(8)).toBe(0b100101);
  expect(b.readInt32LE(12)).toBe(7);
  expect(b.readBigInt64LE(16)).toBe(1n);
  expect(b.readBigInt64LE(24)).toBe(-2n);
  expect(b.readBigInt64LE(56)).toBe(255n);
  expect([0, 1, 2, 3].map((j) => b.readInt32LE(64 + 4 * j))).toEqual([1, 16, -1, 0]);
  expect(b.readInt32LE(80)).toBe(9);
  expect(b.readInt32LE(84)).toBe(-3);
  expect(b.readInt32LE(88)).toBe(COND.LT);
  expect(b.readInt32LE(92)).toBe(4);
  expect(b.readBigInt64LE(96)).toBe(-4095n);
  expect(b.readInt32LE(104)).toBe(126);
  expect(b.readInt32LE(108)).toBe(0);
  // Little-endian: the low byte first (a control against a big-endian or shifted writer).
  expect(b[4]).toBe(165);
  expect(b[5]).toBe(0);
});

test("rawOp: neutral defaults (no register, no condition, no tolerated errno)", () => {
  const op = rawOp({ kind: KIND.SYSCALL, nr: 39 });
  expect(op).toEqual({ kind: 0, nr: 39, regmask: 0, dst: NO_REG, a: [0n, 0n, 0n, 0n, 0n, 0n], ok: [0, 0, 0, 0], errdst: NO_REG, skip: 0, cond: 0, jump: 0, cmp: 0n, failexit: 0 });
  expect(() => rawOp({ kind: KIND.SYSCALL, a: [1, 2, 3, 4, 5, 6, 7] })).toThrow(RangeError);
});

test("decodeOps refuses a partial record", () => {
  expect(() => decodeOps(Buffer.alloc(OP_SIZE + 8))).toThrow(/whole number/);
});

test("formatOp: one line per op, with names, registers, targets", () => {
  const name = (nr: number) => (nr === 170 ? "sethostname" : undefined);
  expect(formatOp(rawOp({ kind: KIND.SYSCALL, nr: 170, a: [0x10000, 5], regmask: 0b10, dst: 2, ok: [1], skip: 1, failexit: 126 }), 3, name))
    .toBe("  3 SYSCALL sethostname(0x10000, r5) → r2 ok EPERM skip →5 failexit 126");
  expect(formatOp(rawOp({ kind: KIND.SYSCALL, nr: 56, cond: COND.EQ, cmp: 0, jump: 2, ok: [-1] }), 0))
    .toBe("  0 SYSCALL nr56() ok any skip →1 if r == 0 →3");
  expect(formatOp(rawOp({ kind: KIND.JUMP, jump: -3 }), 5)).toBe("  5 JUMP →3");
  expect(formatOp(rawOp({ kind: KIND.ITOA, a: [4096, 3] }), 1)).toBe("  1 ITOA [4096] ← r3");
  expect(formatOp(rawOp({ kind: KIND.SET, dst: 4, a: [1], regmask: 1 }), 2)).toBe("  2 SET r4 ← r1");
});

test("checkOps names the first op the stage would refuse; a good program passes", () => {
  const good: OpInit[] = [
    { kind: KIND.SYSCALL, nr: 56, dst: 0, ok: [-1], errdst: 1, skip: 2, cond: COND.NE, jump: 2 },
    { kind: KIND.SET, dst: 255, a: [0], regmask: 1 },
    { kind: KIND.SYSCALL, nr: 231, a: [0] },
    { kind: KIND.RETURN, a: [0] },
  ];
  expect(() => checkOps(good.map(rawOp))).not.toThrow();
  const bad = (i: number, change: Partial<OpInit>) => () => checkOps(good.map((o, k) => rawOp(k === i ? { ...o, ...change } : o)));
  expect(bad(1, { dst: 256 })).toThrow(/^stage op 1 \(.*SET r256.*\): dst r256 is not a register/);
  expect(bad(1, { a: [-1] })).toThrow(/stage op 1 .*argument 0 r-1 is not a register/);
  expect(bad(0, { errdst: 300 })).toThrow(/stage op 0 .*errdst r300/);
  expect(bad(0, { skip: 4 })).toThrow(/stage op 0 .*skip target 5 is outside the program \(0\.\.4\)/);
  expect(bad(0, { jump: -2 })).toThrow(/stage op 0 .*jump target -1/);
  expect(bad(0, { cond: 5 })).toThrow(/unknown condition 5/);
  expect(bad(0, { ok: [-2] })).toThrow(/tolerated errno -2/);
  expect(bad(3, { a: [256] })).toThrow(/RETURN of r256/);
  expect(bad(2, { kind: 9 as never })).toThrow(/unknown kind 9/);
  expect(() => checkOps([rawOp({ kind: KIND.ITOA, a: [4096, 999] })])).toThrow(/source r999/);
  expect(() => checkOps([rawOp({ kind: KIND.JUMP, jump: 0 })])).not.toThrow(); // to n: the end
  expect(() => checkOps([rawOp({ kind: KIND.JUMP, jump: 1 })])).toThrow(/jump target 2/);
});

test("a SPAWN that goes on in this list (no ops of its own): its child's start must be an op of it, and it has no condition", () => {
  const prog = (spawn: Partial<OpInit>): RawOp[] => [
    { kind: KIND.SPAWN, a: [0x100 | 17, 4096, 0, 0, 8192, 4096], dst: 0, jump: 1, ...spawn },
    { kind: KIND.RETURN, a: [0] },
    { kind: KIND.SYSCALL, nr: 231, a: [0] },
  ].map(rawOp);
  expect(() => checkOps(prog({}))).not.toThrow();
  expect(formatOp(prog({})[0]!, 0)).toContain("child →2");
  expect(() => checkOps(prog({ jump: 2 }))).toThrow(/the child's start is the program's end/);
  expect(() => checkOps(prog({ jump: 5 }))).toThrow(/the child's start target 6 is outside/);
  expect(() => checkOps(prog({ cond: COND.EQ }))).toThrow(/has no condition/);
  // with a list of its own, jump is the condition's as for any syscall
  expect(() => checkOps(prog({ a: [0x100 | 17, 4096, 8192, 1, 8192, 4096], jump: 5 }))).not.toThrow();
});
