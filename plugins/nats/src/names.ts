/**
 * Names from Micro (topics, groups, services, node ids) become NATS subject tokens, stream,
 * consumer and KV key names. Those allow few characters and give `.` a meaning, so every
 * byte outside [A-Za-z0-9-] is written `_XX` (hex of its UTF-8 byte). The encoding is
 * reversible and never produces `.`, `*`, `>`, `/` or whitespace.
 */
const SAFE = /[A-Za-z0-9-]/;
const te = new TextEncoder();
const td = new TextDecoder();

export function encodeName(s: string): string {
  let out = "";
  for (const ch of s) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of te.encode(ch)) out += `_${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of `encodeName`; undefined when `s` is not an encoded name. */
export function decodeName(s: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "_") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (SAFE.test(c)) {
      bytes.push(c.charCodeAt(0));
    } else {
      return undefined;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

export const utf8 = { encode: (s: string): Uint8Array => te.encode(s), decode: (b: Uint8Array): string => td.decode(b) };
