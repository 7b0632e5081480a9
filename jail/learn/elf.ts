// The interpreter the kernel starts for a file on execve, read from its first bytes: a
// script's "#!" program, or an ELF file's PT_INTERP (the dynamic loader). Both are opened by
// the kernel, not by a syscall of the program, so no notification names them.

const PT_INTERP = 3;

export function interpreterOf(head: Buffer): string | null {
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const line = head.subarray(2, Math.min(head.length, 256)).toString("latin1").split("\n")[0]!;
    const prog = line.trim().split(/[ \t]+/)[0] ?? "";
    return prog.startsWith("/") ? prog : null;
  }
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46 || head[5] !== 1 /* little-endian */) return null;
  const is64 = head[4] === 2;
  const phoff = Number(is64 ? head.readBigUInt64LE(32) : BigInt(head.readUInt32LE(28)));
  const phentsize = head.readUInt16LE(is64 ? 54 : 42);
  const phnum = head.readUInt16LE(is64 ? 56 : 44);
  if (phentsize < (is64 ? 56 : 32)) return null;
  for (let i = 0; i < Math.min(phnum, 64); i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > head.length) return null;
    if (head.readUInt32LE(at) !== PT_INTERP) continue;
    const off = Number(is64 ? head.readBigUInt64LE(at + 8) : BigInt(head.readUInt32LE(at + 4)));
    const size = Number(is64 ? head.readBigUInt64LE(at + 32) : BigInt(head.readUInt32LE(at + 16)));
    if (size < 2 || size > 4096 || off + size > head.length) return null;
    const s = head.subarray(off, off + size).toString("latin1").replace(/\0.*$/s, "");
    return s.startsWith("/") ? s : null;
  }
  return null;
}
