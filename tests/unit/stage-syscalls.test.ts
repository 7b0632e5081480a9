// jail/stage/syscalls.h is hand-written: each number must equal the generated tables'
// (sys/seccomp/tables/*.json, from the kernel's UAPI headers), for both architectures.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const header = readFileSync(join(ROOT, "jail/stage/syscalls.h"), "utf8");

/** The `#define NR_name N` lines of the block after `#if defined(__ARCH__)` / `#elif ...`. */
function numbers(arch: string): Map<string, number> {
  const start = header.indexOf(`defined(__${arch}__)\n`);
  const end = header.indexOf("#e", start);
  const out = new Map<string, number>();
  for (const m of header.slice(start, end).matchAll(/^#define NR_(\w+) (\d+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

for (const arch of ["x86_64", "aarch64"]) {
  test(`syscalls.h numbers for ${arch} match sys/seccomp/tables/${arch}.json`, () => {
    const table = JSON.parse(readFileSync(join(ROOT, `sys/seccomp/tables/${arch}.json`), "utf8")) as Record<string, number>;
    const ours = numbers(arch);
    expect(ours.size).toBeGreaterThan(10);
    for (const [name, nr] of ours) expect(`${name}=${nr}`).toBe(`${name}=${table[name]}`);
  });
}

test("both architectures define the same calls", () => {
  expect([...numbers("x86_64").keys()].sort()).toEqual([...numbers("aarch64").keys()].sort());
});
