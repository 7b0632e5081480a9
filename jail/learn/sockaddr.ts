// struct sockaddr → text, for addresses read from the jail's memory (hostile: length-checked).
import { AF } from "./syscalls.ts";

export type SockAddr =
  | { family: "unix"; path: string; abstract: boolean }
  | { family: "inet" | "inet6"; addr: string; port: number }
  | { family: "other"; number: number };

export function parseSockaddr(b: Buffer | null): SockAddr | null {
  if (!b || b.length < 2) return null;
  const family = b.readUInt16LE(0);
  if (family === AF.UNIX) {
    const raw = b.subarray(2, Math.min(b.length, 110));
    if (raw.length === 0) return null; // unnamed (autobind)
    if (raw[0] === 0) return { family: "unix", path: printable(raw.subarray(1).toString("latin1").replace(/\0+$/, "")), abstract: true };
    const nul = raw.indexOf(0);
    return { family: "unix", path: raw.subarray(0, nul < 0 ? raw.length : nul).toString("utf8"), abstract: false };
  }
  if (family === AF.INET && b.length >= 8)
    return { family: "inet", port: b.readUInt16BE(2), addr: [...b.subarray(4, 8)].join(".") };
  if (family === AF.INET6 && b.length >= 24) {
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(b.readUInt16BE(8 + i * 2).toString(16));
    return { family: "inet6", port: b.readUInt16BE(2), addr: compressV6(words) };
  }
  return { family: "other", number: family };
}

function compressV6(words: string[]): string {
  const full = words.join(":");
  // The longest run of zero words becomes "::" (RFC 5952, first run on a tie).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return full;
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`;
}

/** Abstract names may hold any byte: show control characters as '?'. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\xff]/g, "?");
}

export function isLoopback(a: SockAddr): boolean {
  if (a.family === "inet") return a.addr.startsWith("127.");
  if (a.family === "inet6") return a.addr === "::1" || /^::ffff:7f/.test(a.addr);
  return false;
}

export function isWildcard(a: SockAddr): boolean {
  return (a.family === "inet" && a.addr === "0.0.0.0") || (a.family === "inet6" && a.addr === "::");
}

/** "tcp:127.0.0.1:8080", "udp:[::1]:53" */
export function formatEndpoint(proto: "tcp" | "udp" | "raw", a: SockAddr & { family: "inet" | "inet6" }): string {
  return `${proto}:${a.family === "inet6" ? `[${a.addr}]` : a.addr}:${a.port}`;
}

export function isLoopbackAddr(addr: string): boolean {
  return addr.startsWith("127.") || addr === "::1" || addr.startsWith("::ffff:127.");
}

/** "tcp:127.0.0.1:80" / "udp:[::1]:53" → parts; null for anything else (unix:…). */
export function parseEndpoint(text: string): { proto: string; addr: string; port: number } | null {
  const m = /^(tcp|udp|raw):(?:\[([0-9a-f:.]+)\]|([0-9.]+)):(\d+)$/.exec(text);
  if (!m) return null;
  return { proto: m[1]!, addr: (m[2] ?? m[3])!, port: Number(m[4]) };
}
