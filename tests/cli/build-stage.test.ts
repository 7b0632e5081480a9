// scripts/build-stage.ts, run in a scratch copy of the files it reads (so jail/stage/blobs.gen.ts
// of the checkout is never touched): the stage object's checks, a missing cross compiler, and
// scripts/build.ts refusing a binary whose architecture has no stage.
import { afterEach, beforeEach, expect } from "bun:test";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT } from "../helpers/build.ts";
import { program, testIf } from "../helpers/kernel.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync("/tmp/jx-build-stage-");
  mkdirSync(join(dir, "scripts"));
  mkdirSync(join(dir, "jail/stage"), { recursive: true });
  for (const f of ["scripts/build-stage.ts", "scripts/elf.ts", "scripts/build.ts", "jail/stage/stage.c", "jail/stage/syscalls.h"]) cpSync(join(ROOT, f), join(dir, f));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BLOBS = () => join(dir, "jail/stage/blobs.gen.ts");
function run(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = Bun.spawnSync([BUN, script, ...args], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: r.exitCode, stderr: r.stderr.toString() };
}
const foreign = process.arch === "x64" ? "arm64" : "x64";
const foreignPkg = foreign === "arm64" ? "gcc-aarch64-linux-gnu" : "gcc-x86-64-linux-gnu";

testIf(program("gcc"))("a stage that would need a loader (data, relocations) fails the build, naming what is wrong", () => {
  // Control: the real source builds.
  expect(run("scripts/build-stage.ts")).toMatchObject({ code: 0 });
  expect(readFileSync(BLOBS(), "utf8")).toContain(`${process.arch}: { stage: "`);
  appendFileSync(join(dir, "jail/stage/stage.c"), "int jailx_counter = 1;\nint *jailx_where(void) { return &jailx_counter; }\n");
  const r = run("scripts/build-stage.ts");
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^build-stage: stage\.c \(\w+\): (relocations in|data outside \.text)/);
});

testIf(program("gcc"))("up to date: a second run leaves blobs.gen.ts alone; a newer source rebuilds it", () => {
  expect(run("scripts/build-stage.ts").code).toBe(0);
  const past = new Date(Date.now() - 60_000);
  utimesSync(BLOBS(), past, past);
  for (const f of ["scripts/build-stage.ts", "scripts/elf.ts", "jail/stage/stage.c", "jail/stage/syscalls.h"]) utimesSync(join(dir, f), new Date(past.getTime() - 60_000), new Date(past.getTime() - 60_000));
  expect(run("scripts/build-stage.ts").code).toBe(0);
  expect(statSync(BLOBS()).mtimeMs).toBe(past.getTime());
  utimesSync(join(dir, "jail/stage/stage.c"), new Date(), new Date());
  expect(run("scripts/build-stage.ts").code).toBe(0);
  expect(statSync(BLOBS()).mtimeMs).toBeGreaterThan(past.getTime());
});

testIf(program("gcc"))(`without the ${foreign} cross compiler: that stage is absent (one line naming ${foreignPkg})${foreign === "arm64" ? ", and build.ts refuses the arm64 binary" : ""}`, () => {
  // A PATH with the native compiler and its assembler and linker, nothing else.
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const t of ["gcc", "as", "ld"]) symlinkSync(Bun.which(t)!, join(bin, t));
  const stage = run("scripts/build-stage.ts", [], { PATH: bin });
  expect(stage.code).toBe(0);
  expect(stage.stderr.trim().split("\n")).toEqual([expect.stringContaining(`install the Debian package ${foreignPkg}`)]);
  const blobs = readFileSync(BLOBS(), "utf8");
  expect(blobs).toContain(`${process.arch}: { stage: "`);
  expect(blobs).not.toContain(`${foreign}: {`);
  if (foreign !== "arm64") return; // only the arm64 binary is refused without its stage
  const build = run("scripts/build.ts", [], { PATH: bin });
  expect(build.code).toBe(1);
  expect(build.stderr).toContain("cannot build dist/jailx-linux-arm64");
  expect(build.stderr.trim().split("\n").at(-1)).toMatch(/install the Debian package gcc-aarch64-linux-gnu/);
});
