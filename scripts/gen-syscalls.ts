// Generates sys/seccomp/tables/*.json: syscall name → number for each ABI jailx polices.
//
// Sources (facts, read from the kernel's own UAPI headers as installed by Debian's
// linux-libc-dev, which the kernel generates from arch/x86/entry/syscalls/syscall_{64,32}.tbl
// and include/uapi/asm-generic/unistd.h):
//   x86_64  /usr/include/x86_64-linux-gnu/asm/unistd_64.h
//   i386    /usr/include/x86_64-linux-gnu/asm/unistd_32.h
//   x32     /usr/include/x86_64-linux-gnu/asm/unistd_x32.h   (numbers include __X32_SYSCALL_BIT)
//   aarch64 /usr/include/asm-generic/unistd.h, evaluated with the macros arm64's
//           arch/arm64/include/uapi/asm/unistd.h defines (64-bit, RENAMEAT, NEW_STAT,
//           SET_GET_RLIMIT, SYS_CLONE3, MEMFD_SECRET).
// Syscalls added after the installed headers (they are 6.1) come from LATER below, copied by
// hand from the kernel's scripts/syscall.tbl and arch/x86/entry/syscalls/syscall_64.tbl
// (torvalds/linux, v6.18): since 5.1 every architecture shares the numbers from 424 up.
//
// Run: ./node_modules/.bin/bun scripts/gen-syscalls.ts [--include /usr/include]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const X32_BIT = 0x40000000;
const args = process.argv.slice(2);
const inc = args[0] === "--include" && args[1] ? args[1] : "/usr/include";
const out = join(import.meta.dir, "../sys/seccomp/tables");

/** Numbers ≥ 451 that the 6.1 headers lack; abis says which tables get them. */
const LATER: { nr: number; name: string; abis: string[] }[] = [
  { nr: 335, name: "uretprobe", abis: ["x86_64"] },
  { nr: 336, name: "uprobe", abis: ["x86_64"] },
  { nr: 451, name: "cachestat", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 452, name: "fchmodat2", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 453, name: "map_shadow_stack", abis: ["x86_64"] },
  { nr: 454, name: "futex_wake", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 455, name: "futex_wait", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 456, name: "futex_requeue", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 457, name: "statmount", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 458, name: "listmount", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 459, name: "lsm_get_self_attr", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 460, name: "lsm_set_self_attr", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 461, name: "lsm_list_modules", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 462, name: "mseal", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 463, name: "setxattrat", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 464, name: "getxattrat", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 465, name: "listxattrat", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 466, name: "removexattrat", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 467, name: "open_tree_attr", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 468, name: "file_getattr", abis: ["x86_64", "i386", "x32", "aarch64"] },
  { nr: 469, name: "file_setattr", abis: ["x86_64", "i386", "x32", "aarch64"] },
];

/** `#define __NR_name N` or `#define __NR_name (__X32_SYSCALL_BIT + N)`. */
function parseFlat(path: string): Map<string, number> {
  const table = new Map<string, number>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\s*$/.exec(line);
    if (!m) continue;
    table.set(m[1]!, m[2] !== undefined ? X32_BIT + Number(m[2]) : Number(m[3]));
  }
  return table;
}

/** asm-generic/unistd.h through a minimal preprocessor: #if/#ifdef/#ifndef/#else/#endif. */
function parseGeneric(path: string, defined: Set<string>, bitsPerLong: number): Map<string, number> {
  const evalCond = (expr: string): boolean => {
    const js = expr
      .replace(/defined\s*\(?\s*(\w+)\s*\)?/g, (_, n: string) => (defined.has(n) ? "true" : "false"))
      .replace(/__BITS_PER_LONG/g, String(bitsPerLong))
      .replace(/\/\*.*?\*\//g, "");
    if (!/^[\s\d=!<>&|()truefals]*$/.test(js)) throw new Error(`cannot evaluate #if ${expr}`);
    return Boolean(new Function(`return (${js});`)());
  };
  const stack: { active: boolean; parent: boolean }[] = [];
  const active = () => stack.every((s) => s.active);
  const nr3264 = new Map<string, number>();
  const table = new Map<string, number>();
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^#ifdef\s+(\w+)/.exec(line))) stack.push({ active: defined.has(m[1]!), parent: active() });
    else if ((m = /^#ifndef\s+(\w+)/.exec(line))) stack.push({ active: !defined.has(m[1]!), parent: active() });
    else if ((m = /^#if\s+(.*)$/.exec(line))) stack.push({ active: evalCond(m[1]!), parent: active() });
    else if (/^#else/.test(line)) stack[stack.length - 1]!.active = !stack[stack.length - 1]!.active;
    else if (/^#endif/.test(line)) stack.pop();
    else if (!active()) continue;
    else if ((m = /^#define __NR3264_(\w+)\s+(\d+)/.exec(line))) nr3264.set(m[1]!, Number(m[2]));
    else if ((m = /^#define __NR_(\w+)\s+__NR3264_(\w+)/.exec(line))) table.set(m[1]!, nr3264.get(m[2]!)!);
    else if ((m = /^#define __NR_(\w+)\s+(\d+)\s*$/.exec(line))) if (m[1] !== "syscalls") table.set(m[1]!, Number(m[2]));
  }
  return table;
}

const tables: Record<string, Map<string, number>> = {
  x86_64: parseFlat(join(inc, "x86_64-linux-gnu/asm/unistd_64.h")),
  i386: parseFlat(join(inc, "x86_64-linux-gnu/asm/unistd_32.h")),
  x32: parseFlat(join(inc, "x86_64-linux-gnu/asm/unistd_x32.h")),
  aarch64: parseGeneric(
    join(inc, "asm-generic/unistd.h"),
    new Set(["__ARCH_WANT_RENAMEAT", "__ARCH_WANT_NEW_STAT", "__ARCH_WANT_SET_GET_RLIMIT", "__ARCH_WANT_SYS_CLONE3", "__ARCH_WANT_MEMFD_SECRET"]),
    64,
  ),
};
for (const l of LATER) {
  for (const abi of l.abis) {
    const t = tables[abi]!;
    if (!t.has(l.name)) t.set(l.name, abi === "x32" ? X32_BIT + l.nr : l.nr);
  }
}
for (const [abi, t] of Object.entries(tables)) {
  const sorted = Object.fromEntries([...t.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])));
  const header = { _source: `generated by scripts/gen-syscalls.ts from Linux UAPI headers (${abi}); do not edit` };
  writeFileSync(join(out, `${abi}.json`), JSON.stringify({ ...header, ...sorted }, null, 1) + "\n");
  console.log(`${abi}: ${t.size} syscalls`);
}
