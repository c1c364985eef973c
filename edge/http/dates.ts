/**
 * HTTP-date parsing (RFC 9110 §5.6.7). Recipients must accept the IMF-fixdate
 * form and the two obsolete forms; anything else is "invalid", which for
 * Expires means "already expired" (RFC 9111 §5.3).
 */
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850 = /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  if (h > 23 || m > 59 || s > 60 || day < 1 || day > 31) return undefined;
  return Date.UTC(year, MONTHS.indexOf(month), day, h, m, s);
}

/** Milliseconds since the epoch, or undefined when the value is not an HTTP-date. */
export function parseHttpDate(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  let m = IMF_FIXDATE.exec(v);
  if (m) return utc(Number(m[4]), m[3], Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  m = RFC850.exec(v);
  if (m) {
    // Two-digit years: RFC 9110 §5.6.7 says more than 50 years ahead means the past century.
    const yy = Number(m[4]);
    const nowYear = new Date().getUTCFullYear();
    let year = 2000 + yy;
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[3], Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
  }
  m = ASCTIME.exec(v);
  if (m) return utc(Number(m[7]), m[2], Number(m[3].trim()), Number(m[4]), Number(m[5]), Number(m[6]));
  return undefined;
}

export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
