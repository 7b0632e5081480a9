// The few facts scripts/build-stage.ts checks in an ELF64 little-endian file: its machine and
// type, its sections (name, type, flags, bytes), its symbols and its program header types.
// Reading them here instead of running readelf/objcopy means a cross build needs nothing but
// the cross compiler.

export const EM = { x86_64: 62, aarch64: 183 } as const;
export const SHT = { SYMTAB: 2, RELA: 4, NOBITS: 8, REL: 9 } as const;
export const SHF_ALLOC = 2;
export const PT = { DYNAMIC: 2, INTERP: 3 } as const;
export const ET = { REL: 1, EXEC: 2, DYN: 3 } as const;

export interface Section {
  name: string;
  type: number;
  flags: number;
  size: number;
  /** the section's bytes in the file (empty for NOBITS) */
  data: Buffer;
  index: number;
}
export interface ElfSymbol {
  name: string;
  /** STT_* (2 = FUNC) */
  type: number;
  section: number;
  value: number;
}
export interface Elf {
  machine: number;
  type: number;
  sections: Section[];
  symbols: ElfSymbol[];
  programTypes: number[];
}

function cstrAt(b: Buffer, off: number): string {
  const end = b.indexOf(0, off);
  return b.toString("latin1", off, end < 0 ? b.length : end);
}

export function readElf(b: Buffer): Elf {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1)
    throw new Error("not an ELF64 little-endian file");
  const num = (off: number) => Number(b.readBigUInt64LE(off));
  const shoff = num(40), shentsize = b.readUInt16LE(58), shnum = b.readUInt16LE(60), shstrndx = b.readUInt16LE(62);
  const raw = Array.from({ length: shnum }, (_, index) => {
    const h = shoff + index * shentsize;
    const type = b.readUInt32LE(h + 4), offset = num(h + 24), size = num(h + 32);
    return { nameOff: b.readUInt32LE(h), type, flags: num(h + 8), size, link: b.readUInt32LE(h + 40), index,
      data: type === SHT.NOBITS ? Buffer.alloc(0) : b.subarray(offset, offset + size) };
  });
  const names = raw[shstrndx]?.data ?? Buffer.alloc(0);
  const sections: Section[] = raw.map((s) => ({ name: cstrAt(names, s.nameOff), type: s.type, flags: s.flags, size: s.size, data: s.data, index: s.index }));
  const symbols: ElfSymbol[] = [];
  for (const s of raw.filter((x) => x.type === SHT.SYMTAB)) {
    const strtab = raw[s.link]!.data;
    for (let off = 24; off + 24 <= s.data.length; off += 24)
      symbols.push({ name: cstrAt(strtab, s.data.readUInt32LE(off)), type: s.data[off + 4]! & 0xf, section: s.data.readUInt16LE(off + 6), value: Number(s.data.readBigUInt64LE(off + 8)) });
  }
  const phoff = num(32), phentsize = b.readUInt16LE(54), phnum = b.readUInt16LE(56);
  const programTypes = Array.from({ length: phnum }, (_, i) => b.readUInt32LE(phoff + i * phentsize));
  return { machine: b.readUInt16LE(18), type: b.readUInt16LE(16), sections, symbols, programTypes };
}
