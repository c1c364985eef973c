/**
 * Lists with quality values (Accept-Encoding, Accept-Language; RFC 9110
 * §12.4.2), parsed once for every negotiation. Pure.
 */
export interface QualityMember {
  /** Lower-cased member, parameters other than q dropped. */
  value: string;
  q: number;
  /** Position in the header, for ties. */
  index: number;
}

/** Every member, q=0 included (a q of 0 means "not acceptable", which callers need to see). */
export function parseQualityList(header: string): QualityMember[] {
  const out: QualityMember[] = [];
  header.split(",").forEach((member, index) => {
    const [head, ...params] = member.split(";");
    const value = head.trim().toLowerCase();
    if (!value) return;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Math.max(0, Math.min(1, Number(m[1]) || 0));
    }
    out.push({ value, q, index });
  });
  return out;
}
