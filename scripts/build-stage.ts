#!/usr/bin/env bun
// Build the embedded stage (jail/stage/stage.c) and, when its source exists, the helper
// (jail/stage/helper.c) for x86_64 and aarch64, and write them base64-encoded into the
// git-ignored jail/stage/blobs.gen.ts, which the binary embeds. Nothing is compiled at run time.
// Usage: bun scripts/build-stage.ts [--force]
//
// An architecture whose compiler is missing is left out of blobs.gen.ts with one line naming the
// Debian package; scripts/build.ts refuses to build a binary for it. A compiler that fails, or a
// stage object that would need a loader (relocations, data, bss, more than one function, an
// entry not at offset 0), fails this build: the blob is loaded as raw bytes, nothing fixes it up.
// Run by `npm ci` (postinstall) and by scripts/build.ts; it does nothing when blobs.gen.ts is
// newer than its sources and was made with the same compilers.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EM, ET, PT, SHF_ALLOC, SHT, readElf } from "./elf.ts";

const ROOT = resolve(import.meta.dir, "..");
const DIR = join(ROOT, "jail/stage");
export const BLOBS_FILE = join(DIR, "blobs.gen.ts");

export type Arch = "x64" | "arm64";
interface Target {
  arch: Arch;
  machine: number;
  /** compiler names to try, in order */
  compilers: string[];
  /** the Debian package that provides the first cross compiler */
  pkg: string;
}
const TARGETS: Target[] = [
  { arch: "x64", machine: EM.x86_64, compilers: process.arch === "x64" ? ["gcc", "x86_64-linux-gnu-gcc"] : ["x86_64-linux-gnu-gcc"], pkg: process.arch === "x64" ? "gcc" : "gcc-x86-64-linux-gnu" },
  { arch: "arm64", machine: EM.aarch64, compilers: process.arch === "arm64" ? ["gcc", "aarch64-linux-gnu-gcc"] : ["aarch64-linux-gnu-gcc"], pkg: process.arch === "arm64" ? "gcc" : "gcc-aarch64-linux-gnu" },
];
/** The Debian package whose compiler builds `arch`'s blobs on this machine. */
export function compilerPackage(arch: Arch): string {
  return TARGETS.find((t) => t.arch === arch)!.pkg;
}

const COMMON = ["-Os", "-ffreestanding", "-nostdlib", "-fno-stack-protector", "-fno-builtin",
  "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-Wall", "-Wextra", "-Werror"];
// -fPIC and no jump tables: the code must run wherever it is mapped without a single fix-up
// (a switch's table would live in .rodata and need relocations). -mgeneral-regs-only: no vector
// register may be touched behind the caller's back.
const STAGE_FLAGS = [...COMMON, "-fPIC", "-fno-jump-tables", "-mgeneral-regs-only", "-c"];
const HELPER_FLAGS = [...COMMON, "-static", "-Wl,-e,_start", "-Wl,--build-id=none", "-Wl,-z,noexecstack", "-s", `-I${DIR}`];

function compilerOf(t: Target): string | undefined {
  return t.compilers.find((c) => Bun.which(c));
}

function sources(): string[] {
  const c = readdirSync(DIR).filter((f) => f.endsWith(".c") || f.endsWith(".h")).map((f) => join(DIR, f));
  return [...c, import.meta.path, join(ROOT, "scripts/elf.ts")];
}

/** What the output depends on besides file times: which sources and compilers exist. */
function buildKey(): string {
  const found = TARGETS.map((t) => `${t.arch}=${compilerOf(t) ?? "none"}`);
  return [...found, `helper=${existsSync(join(DIR, "helper.c"))}`].join(" ");
}

function upToDate(key: string): boolean {
  if (!existsSync(BLOBS_FILE)) return false;
  if (!readFileSync(BLOBS_FILE, "utf8").includes(`// key: ${key}\n`)) return false;
  const built = statSync(BLOBS_FILE).mtimeMs;
  // Strictly older: a source written in the same clock tick as the output may be newer than it.
  return sources().every((s) => statSync(s).mtimeMs < built);
}

function cc(compiler: string, args: string[]): void {
  const r = Bun.spawnSync([compiler, ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${compiler} ${args.join(" ")} failed:\n${r.stderr.toString()}`);
}

/** The stage's bytes: the .text of an object that is exactly one position-independent function. */
function buildStage(t: Target, compiler: string, tmp: string): Buffer {
  const obj = join(tmp, `stage-${t.arch}.o`);
  cc(compiler, [...STAGE_FLAGS, join(DIR, "stage.c"), "-o", obj]);
  const elf = readElf(readFileSync(obj));
  const bad = (why: string) => new Error(`stage.c (${t.arch}): ${why}; the blob is loaded as raw bytes, nothing could fix that up`);
  if (elf.machine !== t.machine) throw bad(`${compiler} made code for ELF machine ${elf.machine}, not ${t.machine}`);
  const relocs = elf.sections.filter((s) => s.type === SHT.RELA || s.type === SHT.REL);
  if (relocs.length) throw bad(`relocations in ${relocs.map((s) => s.name).join(", ")}`);
  const loaded = elf.sections.filter((s) => s.flags & SHF_ALLOC && s.size > 0 && s.name !== ".text");
  if (loaded.length) throw bad(`data outside .text: ${loaded.map((s) => `${s.name} (${s.size} bytes)`).join(", ")}`);
  const text = elf.sections.find((s) => s.name === ".text");
  const funcs = elf.symbols.filter((s) => s.type === 2);
  if (!text || funcs.length !== 1 || funcs[0]!.name !== "jailx_stage" || funcs[0]!.section !== text.index || funcs[0]!.value !== 0)
    throw bad(`expected one function, jailx_stage at offset 0 of .text; found ${funcs.map((f) => `${f.name}@${f.value}`).join(", ") || "none"}`);
  return Buffer.from(text.data);
}

/** The helper: a static executable with no interpreter and no dynamic section. */
function buildHelper(t: Target, compiler: string, tmp: string): Buffer {
  const out = join(tmp, `helper-${t.arch}`);
  cc(compiler, [...HELPER_FLAGS, join(DIR, "helper.c"), "-o", out]);
  const bytes = readFileSync(out);
  const elf = readElf(bytes);
  if (elf.machine !== t.machine || elf.type !== ET.EXEC || elf.programTypes.some((p) => p === PT.INTERP || p === PT.DYNAMIC))
    throw new Error(`helper.c (${t.arch}): not a static executable for ELF machine ${t.machine} (type ${elf.type}, machine ${elf.machine})`);
  return bytes;
}

export function buildStageBlobs(force = false): void {
  const key = buildKey();
  if (!force && upToDate(key)) return;
  const tmp = mkdtempSync(join(tmpdir(), "jailx-stage-"));
  const out: string[] = [];
  try {
    for (const t of TARGETS) {
      const compiler = compilerOf(t);
      if (!compiler) {
        console.error(`build-stage: no ${t.compilers[0]}: the ${t.arch} stage is not built (install the Debian package ${t.pkg}: scripts/install-deps.sh)`);
        continue;
      }
      const stage = buildStage(t, compiler, tmp).toString("base64");
      const helper = existsSync(join(DIR, "helper.c")) ? `, helper: "${buildHelper(t, compiler, tmp).toString("base64")}"` : "";
      out.push(`  ${t.arch}: { stage: "${stage}"${helper} },`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  writeFileSync(BLOBS_FILE, [
    "// Generated by scripts/build-stage.ts from jail/stage/*.c: do not edit (git-ignored).",
    `// key: ${key}`,
    "export interface ArchBlobs {",
    "  /** the stage's machine code, entry at offset 0 */",
    "  stage: string;",
    "  /** the helper's static ELF executable */",
    "  helper?: string;",
    "}",
    "/** base64 per architecture (process.arch names); an architecture without a compiler is absent. */",
    "export const BLOBS: { x64?: ArchBlobs; arm64?: ArchBlobs } = {",
    ...out,
    "};",
    "",
  ].join("\n"));
}

if (import.meta.main) {
  try {
    buildStageBlobs(process.argv.includes("--force"));
  } catch (e) {
    console.error(`build-stage: ${(e as Error).message}`);
    process.exit(1);
  }
}
