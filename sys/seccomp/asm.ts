// A tiny assembler for classic BPF with symbolic labels. Conditional jumps have 8-bit offsets,
// so a jump that ends up farther than 255 instructions is rewritten through `ja` (32-bit).
import { BPF, type Insn } from "./bpf.ts";

export type Label = number;
type Item =
  | { kind: "insn"; code: number; k: number }
  | { kind: "jump"; code: number; k: number; jt: Label | null; jf: Label | null }
  | { kind: "ja"; target: Label }
  | { kind: "label"; id: Label };

export class Assembler {
  private items: Item[] = [];
  private next = 0;

  label(): Label {
    return this.next++;
  }
  place(id: Label): void {
    this.items.push({ kind: "label", id });
  }
  insn(code: number, k = 0): void {
    this.items.push({ kind: "insn", code, k: k >>> 0 });
  }
  /** A conditional jump; null means "fall through to the next instruction". */
  jump(code: number, k: number, jt: Label | null, jf: Label | null): void {
    this.items.push({ kind: "jump", code, k: k >>> 0, jt, jf });
  }
  ja(target: Label): void {
    this.items.push({ kind: "ja", target });
  }

  assemble(): Insn[] {
    let items = this.items;
    for (;;) {
      const pos = new Map<Label, number>();
      let n = 0;
      for (const it of items) {
        if (it.kind === "label") pos.set(it.id, n);
        else n++;
      }
      const out: Insn[] = [];
      const far: number[] = [];
      items.forEach((it, idx) => {
        if (it.kind === "label") return;
        const here = out.length;
        const off = (l: Label | null) => (l === null ? 0 : pos.get(l)! - here - 1);
        if (it.kind === "insn") out.push({ code: it.code, jt: 0, jf: 0, k: it.k });
        else if (it.kind === "ja") out.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: off(it.target) });
        else {
          const jt = off(it.jt);
          const jf = off(it.jf);
          if (jt < 0 || jf < 0) throw new Error("bpf: backward jump");
          if (jt > 255 || jf > 255) far.push(idx);
          out.push({ code: it.code, jt, jf, k: it.k });
        }
      });
      if (far.length === 0) return out;
      // Rewrite each far jump as: jcond +0/+1; ja jt; ja jf. Offsets change, so loop.
      const rewritten: Item[] = [];
      items.forEach((it, idx) => {
        if (!far.includes(idx) || it.kind !== "jump") return void rewritten.push(it);
        const t = it.jt ?? this.label();
        const f = it.jf ?? this.label();
        const viaT = this.label();
        const viaF = this.label();
        rewritten.push({ ...it, jt: viaT, jf: viaF }, { kind: "label", id: viaT }, { kind: "ja", target: t }, { kind: "label", id: viaF }, { kind: "ja", target: f });
        if (it.jt === null || it.jf === null) rewritten.push({ kind: "label", id: it.jt === null ? t : f });
      });
      items = rewritten;
    }
  }
}
