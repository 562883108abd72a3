/**
 * Reading condition values as IAM types them: numbers, dates (ISO 8601 or epoch seconds), IP
 * addresses and CIDR ranges, base64 binary. Each parser is linear in its input and returns
 * `undefined` (never throws) for text that is not of its type; such a value matches nothing.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

// Integer or decimal, as IAM's numeric operators take them ("an integer or decimal value").
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

export function parseNumber(text: string): number | undefined {
  if (text.length > 64 || !NUMBER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

// W3C's profile of ISO 8601 (https://www.w3.org/TR/NOTE-datetime), which IAM's date operators
// accept: YYYY, YYYY-MM, YYYY-MM-DD, and with a time hh:mm[:ss[.s+]] and a zone Z or ±hh:mm
// (a time without a zone is read as UTC).
const ISO_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const EPOCH = /^\d+(?:\.\d+)?$/;

/**
 * Milliseconds since the epoch for an IAM date: ISO 8601 (W3C profile), or epoch seconds (a
 * plain number, as `aws:EpochTime` and `kms:ValidTo` carry). A bare 4-digit number is read as
 * epoch seconds, as AWS reads numbers.
 */
export function parseDate(text: string): number | undefined {
  if (text.length > 64) return undefined;
  if (EPOCH.test(text)) {
    const seconds = Number(text);
    return Number.isFinite(seconds) ? seconds * 1000 : undefined;
  }
  const m = ISO_DATE.exec(text);
  if (!m) return undefined;
  const [, year, month = '01', day = '01', hour, minute, second = '00', fraction = '', zone] = m;
  // Date.parse rolls days and hours over (2026-02-30 is 2 March, T24:00 the next day): a date
  // that does not exist is no date, so it matches nothing rather than another day.
  const y = Number(year);
  const mo = Number(month);
  const daysInMonth = mo === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(mo) ? 30 : 31;
  if (mo < 1 || mo > 12 || Number(day) < 1 || Number(day) > daysInMonth || Number(hour ?? 0) > 23) return undefined;
  const ms = fraction.padEnd(3, '0').slice(0, 3);
  const iso = `${year}-${month}-${day}T${hour ?? '00'}:${minute ?? '00'}:${second}.${ms}${zone ?? 'Z'}`;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? undefined : value;
}

/** Booleans compare case-insensitively as `true`/`false`. */
export function parseBool(text: string): boolean | undefined {
  const lower = text.length <= 5 ? text.toLowerCase() : '';
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

/**
 * The ranges of an IpAddress/NotIpAddress condition: CIDR blocks (`203.0.113.0/24`,
 * `2001:DB8::/64`) or single addresses (`/32` or `/128` implied). Invalid entries are skipped:
 * they match nothing.
 */
export function compileIpRanges(values: readonly string[]): BlockList {
  const list = new BlockList();
  for (const value of values) {
    const slash = value.indexOf('/');
    const address = slash < 0 ? value : value.slice(0, slash);
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (!family) continue;
    if (slash < 0) {
      list.addAddress(address, family);
      continue;
    }
    const prefixText = value.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= (family === 'ipv4' ? 32 : 128))) continue;
    list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Answers per ranges for recent source addresses: BlockList.check builds a SocketAddress each call. */
const recentAnswers = new WeakMap<BlockList, Map<string, boolean>>();
const RECENT_ANSWERS = 256;

/** Whether an address from the request falls in the ranges; anything that is not an address does not. */
export function ipInRanges(ranges: BlockList, address: string): boolean {
  let recent = recentAnswers.get(ranges);
  const known = recent?.get(address);
  if (known !== undefined) return known;
  const answer = isIPv4(address) ? ranges.check(address, 'ipv4') : isIPv6(address) ? ranges.check(address, 'ipv6') : false;
  if (!recent) recentAnswers.set(ranges, (recent = new Map()));
  if (recent.size >= RECENT_ANSWERS) recent.clear();
  recent.set(address, answer);
  return answer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Bytes of a base64 value (BinaryEquals compares byte for byte); `undefined` when not base64. */
export function parseBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
