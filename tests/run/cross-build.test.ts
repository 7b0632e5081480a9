// The arm64 cross build: `bun scripts/build.ts` (without --only-native) also writes
// dist/jailx-linux-arm64, which must be an aarch64 ELF executable. Kept in its own file: the
// cross build takes several seconds. It runs under the same lock as the build-once preload.
import { expect } from "bun:test";
import { readSync, openSync, closeSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT } from "../helpers/build.ts";
import { program, testIf } from "../helpers/kernel.ts";

const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;

/** The ELF identification and header fields we check (see elf(5)). */
function elfHeader(path: string): { magic: string; class: number; data: number; type: number; machine: number } {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    return { magic: b.subarray(0, 4).toString("latin1"), class: b[4]!, data: b[5]!, type: b.readUInt16LE(16), machine: b.readUInt16LE(18) };
  } finally {
    closeSync(fd);
  }
}

// The arm64 binary embeds the arm64 stage, which needs the cross compiler (scripts/build.ts
// refuses without it; tests/cli/build-stage.test.ts checks that refusal).
testIf(program("aarch64-linux-gnu-gcc"))("the full build writes dist/jailx (x86-64) and dist/jailx-linux-arm64 (aarch64 ELF)", () => {
  const r = Bun.spawnSync(["flock", join(ROOT, "dist/.build.lock"), BUN, "scripts/build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  const arm = join(ROOT, "dist/jailx-linux-arm64");
  // ELFCLASS64, little-endian, ET_EXEC or ET_DYN, EM_AARCH64.
  expect(elfHeader(arm)).toMatchObject({ magic: "\x7fELF", class: 2, data: 1, machine: EM_AARCH64 });
  expect([2, 3]).toContain(elfHeader(arm).type);
  expect(statSync(arm).mode & 0o111).not.toBe(0);
  expect(elfHeader(join(ROOT, "dist/jailx")).machine).toBe(EM_X86_64);
}, 180_000);
