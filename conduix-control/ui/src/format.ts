// Number and time formatting shared by the pages.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 0 });

export function fmtInt(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : integer.format(n);
}

/** Records per second: "1,204/s", "3.5/s", "0/s". */
export function fmtRate(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return `${n >= 100 ? integer.format(n) : decimal.format(n)}/s`;
}

/** A Unix time (seconds) as local date and time. */
export function fmtTime(t: number | null | undefined): string {
  if (!t) return "—";
  return new Date(t * 1000).toLocaleString(undefined, {
    year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** A Unix time, short: "Nov 27, 14:03:09". */
export function fmtShortTime(t: number | null | undefined): string {
  if (!t) return "—";
  return new Date(t * 1000).toLocaleString(undefined, {
    month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
}

/** An ISO time (as the schedule previews give them) with its weekday, in `timeZone` (a schedule's zone)
 * when given and known, else in the browser's. */
export function fmtIso(iso: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const options: Intl.DateTimeFormatOptions = {
    weekday: "short", year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false, timeZoneName: "short",
  };
  try {
    return d.toLocaleString(undefined, { ...options, timeZone });
  } catch {
    return d.toLocaleString(undefined, options);
  }
}

/** Seconds as "12 s", "4 min 3 s", "2 h 5 min". */
export function fmtSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || Number.isNaN(s)) return "—";
  const n = Math.max(0, Math.round(s));
  if (n < 60) return `${n} s`;
  if (n < 3600) return `${Math.floor(n / 60)} min ${n % 60} s`;
  if (n < 86400) return `${Math.floor(n / 3600)} h ${Math.floor((n % 3600) / 60)} min`;
  return `${Math.floor(n / 86400)} d ${Math.floor((n % 86400) / 3600)} h`;
}

/** "3 min ago" for a Unix time. */
export function fmtAgo(t: number | null | undefined): string {
  if (!t) return "never";
  return `${fmtSeconds(Date.now() / 1000 - t)} ago`;
}

export function fmtDuration(start: number, end: number | null): string {
  return fmtSeconds((end ?? Date.now() / 1000) - start);
}
