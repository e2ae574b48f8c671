// The checks a JSON Schema cannot express, mirroring `crates/event-model` (fields.rs,
// request.rs, validate.rs, envelope.rs) rule for rule: the same rule codes for the same values.
// Lengths are UTF-8 bytes, as Rust's `str::len`; "whitespace" is Unicode White_Space and
// "control" is the Cc category, as Rust's `char::is_whitespace` / `char::is_control`.

import { createHash } from 'node:crypto';

import { pointer, utf8Length } from './json-reader.js';

export const EVENT_TYPE = 'deploy-mfe-trigger';
/** GitHub refuses a `client_payload` of 64 KB or more (serialised). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** GitHub allows at most 10 top-level keys in `client_payload`. */
export const MAX_TOP_LEVEL_KEYS = 10;
/** The largest document read (an event envelope is a few KB). */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** Most CDN paths in one request. */
export const MAX_CDN_PATHS = 3000;

/** The keys of the contract, in documented order (`type` is the seed form's alternative to `id`). */
export const KEYS = [
  'id', 'type', 'timestamp', 'user', 'mfe', 'version', 'environment',
  'cache_invalidation_keys', 'repository', 'ref', 'sha',
];

const WHITESPACE = '\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const CONTROL = '\\u0000-\\u001f\\u007f-\\u009f';
const IS_WHITESPACE_OR_CONTROL = new RegExp(`[${WHITESPACE}${CONTROL}]`, 'u');
const IS_CONTROL = new RegExp(`[${CONTROL}]`, 'u');
const KEYS_SEPARATOR = new RegExp(`[,${WHITESPACE}]`, 'u');

// The patterns of `fields.rs` `patterns` that the Rust checks use (`\s` spelled out: Rust's is
// Unicode White_Space, JavaScript's is not quite).
const PATTERNS = {
  mfe: /^[a-z][a-z0-9-]{0,62}$/,
  environment: /^[A-Za-z0-9][A-Za-z0-9_-]*(?:[.][A-Za-z0-9_-]+)*$/,
  login: /^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$/,
  repository: /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}$/,
  gitRef: new RegExp(`^refs/(heads|tags|pull)/[^${WHITESPACE}~^:?*\\[\\\\]+$`, 'u'),
  sha: /^[0-9a-fA-F]{40}$/,
  requestId: /^([0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/,
  eventType: /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/,
  semver: /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/,
};

/** A short, printable excerpt of a refused value for messages. */
export function excerpt(value) {
  const chars = Array.from(value);
  const shown = JSON.stringify(chars.slice(0, 40).join(''));
  return chars.length > 40 ? `${shown.slice(0, -1)}…"` : shown;
}

const problem = (rule, message) => ({ rule, message });

function checkPattern(value, re, max, what, ruleText) {
  const length = utf8Length(value);
  if (length > max) return problem('max-length', `${what} is ${length} bytes long; at most ${max} are allowed`);
  if (!re.test(value)) return problem('pattern', `${excerpt(value)} is not ${what}: ${ruleText}`);
  return null;
}

export function checkMfe(value) {
  return checkPattern(value, PATTERNS.mfe, 63, 'an MFE name',
    "lowercase letters, digits and '-', starting with a letter, at most 63 characters");
}

export function checkEnvironment(value) {
  const bad = checkPattern(value, PATTERNS.environment, 63, 'an environment name',
    "letters, digits, '_' and '-', and '.' between them, starting with a letter or digit, at most 63 characters");
  if (bad) return bad;
  if (asciiLower(value).endsWith('.lock')) {
    return problem('pattern', `${excerpt(value)} is not an environment name: it cannot end with '.lock' (git refuses such a branch)`);
  }
  return null;
}

export function checkLogin(value) {
  return checkPattern(value, PATTERNS.login, 44, 'a GitHub login',
    "letters, digits and '-', at most 39 characters, optionally followed by '[bot]'");
}

export function checkRepository(value) {
  const bad = checkPattern(value, PATTERNS.repository, 140, 'a repository', "expected 'owner/name'");
  if (bad) return bad;
  const name = value.slice(value.indexOf('/') + 1);
  if (name === '.' || name === '..') {
    return problem('pattern', `${excerpt(value)} is not a repository: the name cannot be '.' or '..'`);
  }
  return null;
}

export function checkGitRef(value) {
  const shape = checkPattern(value, PATTERNS.gitRef, 255, 'a full git ref',
    'expected refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/<merge|head>');
  if (shape) return shape;
  const bad = (why) => problem('git-ref', `${excerpt(value)} is not a valid git ref: ${why}`);
  if (IS_CONTROL.test(value)) return bad('it contains control characters');
  if (value.includes('..') || value.includes('@{') || value.includes('//')) return bad("it contains '..', '@{' or '//'");
  if (value.endsWith('/') || value.endsWith('.')) return bad("it ends with '/' or '.'");
  if (value.split('/').some((part) => part === '' || part.startsWith('.') || asciiLower(part).endsWith('.lock'))) {
    return bad("a component is empty, starts with '.' or ends with '.lock'");
  }
  if (value.startsWith('refs/pull/')) {
    const rest = value.slice('refs/pull/'.length);
    const slash = rest.indexOf('/');
    const n = slash < 0 ? '' : rest.slice(0, slash);
    const tail = slash < 0 ? null : rest.slice(slash + 1);
    if (!(n !== '' && /^[0-9]+$/.test(n) && (tail === 'merge' || tail === 'head'))) {
      return bad('pull request refs look like refs/pull/<number>/merge or /head');
    }
  }
  return null;
}

export function checkSha(value) {
  return checkPattern(value, PATTERNS.sha, 40, 'a commit sha', 'expected 40 hexadecimal characters');
}

/** A ULID as the `ulid` crate decodes it (26 Crockford base32 characters, any case; the crate
 * does not check the 128-bit range) or a hyphenated UUID. */
export function checkRequestId(value) {
  if (/^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$/.test(value)) return null;
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value)) return null;
  const bad = checkPattern(value, PATTERNS.requestId, 36, 'a request id',
    'expected a ULID (26 characters) or a hyphenated UUID (36 characters)');
  return bad ?? problem('pattern', `${excerpt(value)} is not a valid ULID or UUID`);
}

export function checkEventType(value) {
  return checkPattern(value, PATTERNS.eventType, 100, 'an event type',
    "letters, digits, '.', '_', ':' and '-', at most 100 characters");
}

/** SemVer 2.0 as the `semver` crate reads it: the semver.org expression, plus major, minor and
 * patch within u64. */
export function checkVersion(value) {
  const length = utf8Length(value);
  if (length > 256) return problem('max-length', `a version is ${length} bytes long; at most 256 are allowed`);
  const match = PATTERNS.semver.exec(value);
  const notSemver = (why) => problem('semver', `${excerpt(value)} is not a SemVer 2.0 version: ${why}`);
  if (!match) return notSemver('it does not match MAJOR.MINOR.PATCH[-PRE][+BUILD]');
  const u64Max = 2n ** 64n - 1n;
  for (const part of match.slice(1, 4)) {
    if (BigInt(part) > u64Max) return notSemver('a number is larger than 2^64 - 1');
  }
  return null;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const monthLength = (y, m) => (m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]);

/** Days since 1970-01-01 of a proleptic Gregorian date (any year). */
function daysFromCivil(y, m, d) {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z) {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return { y: era * 400 + yoe + (m <= 2 ? 1 : 0), m, d };
}

/** RFC 3339 as the `time` crate's `Rfc3339` parser reads it: any one byte between date and
 * time, any number of fraction digits, `Z`/`z` or a `±hh:mm` offset (hour at most 23), a real
 * calendar date, and a leap second only at 23:59:60 UTC on the last day of a month. */
export function checkTimestamp(value) {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > 40) return problem('max-length', `a timestamp is ${bytes.length} bytes long; at most 40 are allowed`);
  const bad = (why) => problem('timestamp', `${excerpt(value)} is not an RFC 3339 date-time: ${why}`);
  let i = 0;
  const digits = (n, what) => {
    let v = 0;
    for (let k = 0; k < n; k += 1) {
      const b = bytes[i + k];
      if (b === undefined || b < 0x30 || b > 0x39) return null;
      v = v * 10 + (b - 0x30);
    }
    i += n;
    return v;
  };
  const literal = (c) => {
    if (bytes[i] !== c.charCodeAt(0)) return false;
    i += 1;
    return true;
  };
  const year = digits(4);
  if (year === null) return bad('the year is invalid');
  if (!literal('-')) return bad('a separator is missing');
  const month = digits(2);
  if (month === null || month === 0) return bad('the month is invalid');
  if (!literal('-')) return bad('a separator is missing');
  const day = digits(2);
  if (day === null) return bad('the day is invalid');
  if (i >= bytes.length) return bad('the time is missing');
  i += 1; // any separator byte
  const hour = digits(2);
  if (hour === null) return bad('the hour is invalid');
  if (!literal(':')) return bad('a separator is missing');
  const minute = digits(2);
  if (minute === null) return bad('the minute is invalid');
  if (!literal(':')) return bad('a separator is missing');
  let second = digits(2);
  if (second === null) return bad('the second is invalid');
  if (literal('.')) {
    if (digits(1) === null) return bad('the fraction is invalid');
    while (digits(1) !== null);
  }
  let offsetMinutes = 0;
  if (bytes[i] === 0x5a || bytes[i] === 0x7a) {
    i += 1;
  } else {
    const sign = bytes[i] === 0x2d ? -1 : bytes[i] === 0x2b ? 1 : 0;
    if (sign === 0) return bad('the offset is invalid');
    i += 1;
    const oh = digits(2);
    if (oh === null || oh > 23) return bad('the offset hour is invalid');
    if (!literal(':')) return bad('a separator is missing');
    const om = digits(2);
    if (om === null || om > 59) return bad('the offset minute is invalid');
    offsetMinutes = sign * (oh * 60 + om);
  }
  if (i !== bytes.length) return bad('unexpected trailing characters');
  const leap = second === 60;
  if (leap) second = 59;
  if (month > 12 || day < 1 || day > monthLength(year, month)) return bad('the date does not exist');
  if (hour > 23 || minute > 59 || second > 59) return bad('the time does not exist');
  if (leap) {
    const local = (daysFromCivil(year, month, day) * 24 + hour) * 60 + minute;
    const utc = local - offsetMinutes;
    const days = Math.floor(utc / 1440);
    const minuteOfDay = utc - days * 1440;
    const date = civilFromDays(days);
    const ok = minuteOfDay === 23 * 60 + 59 && date.y >= -9999 && date.y <= 9999
      && date.d === monthLength(date.y, date.m);
    if (!ok) return bad('a leap second is only allowed at 23:59:60 UTC on the last day of a month');
  }
  return null;
}

/** Percent-decodes as the `percent-encoding` crate: `%XX` becomes a byte, anything else stays. */
function percentDecode(value) {
  const input = new TextEncoder().encode(value);
  const out = [];
  const hex = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  for (let i = 0; i < input.length; i += 1) {
    if (input[i] === 0x25 && hex(input[i + 1] ?? 0) && hex(input[i + 2] ?? 0)) {
      out.push(parseInt(String.fromCharCode(input[i + 1], input[i + 2]), 16));
      i += 2;
    } else {
      out.push(input[i]);
    }
  }
  return Uint8Array.from(out);
}

export function checkCdnPath(value) {
  const length = utf8Length(value);
  if (length > 1024) return problem('max-length', `a CDN path is ${length} bytes long; at most 1024 are allowed`);
  const bad = (why) => problem('cdn-path', `${excerpt(value)} is not an allowed CDN path: ${why}`);
  if (!value.startsWith('/')) return bad("it must be absolute (start with '/')");
  if (IS_WHITESPACE_OR_CONTROL.test(value)) return bad('it contains whitespace or control characters');
  if (value.includes('?') || value.includes('#')) return bad('it contains a query or fragment');
  if (/%(?![0-9a-fA-F]{2})/.test(value)) return bad("a '%' must start an escape of two hexadecimal digits (write '%' as %25)");
  let decoded;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(percentDecode(value));
  } catch {
    return bad('its percent-encoding does not decode to UTF-8');
  }
  if (IS_WHITESPACE_OR_CONTROL.test(decoded)) return bad('it decodes to whitespace or control characters');
  if (decoded.split('/').some((s) => s === '.' || s === '..')) return bad("it contains a '.' or '..' segment");
  const star = value.indexOf('*');
  if (star >= 0 && star !== value.length - 1) return bad("a '*' wildcard may only be the last character");
  return null;
}

/** Splits the seed form's single string of paths (commas or Unicode whitespace). */
export function splitKeysText(text) {
  return text.split(KEYS_SEPARATOR).filter((s) => s !== '');
}

export const FIELD_CHECKS = {
  id: checkRequestId,
  type: checkEventType,
  timestamp: checkTimestamp,
  user: checkLogin,
  mfe: checkMfe,
  version: checkVersion,
  environment: checkEnvironment,
  repository: checkRepository,
  ref: checkGitRef,
  sha: checkSha,
};

function asciiLower(text) {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Namespace of the UUIDv5 ids derived for seed-form requests (request.rs `SEED_ID_NAMESPACE`). */
const SEED_ID_NAMESPACE = Buffer.from('6d66652d6769746f70732d6964300001', 'hex');

/**
 * The id derived for a seed-form request (`derive_seed_id`): a UUIDv5 over every other field,
 * each followed by U+001E, the paths joined by U+001F and the sha lowercased.
 */
export function deriveSeedId(payload, paths) {
  const parts = [
    payload.type ?? '',
    payload.timestamp,
    payload.user,
    payload.mfe,
    payload.version,
    payload.environment,
    paths.join('\u001f'),
    payload.repository,
    payload.ref,
    asciiLower(payload.sha),
  ];
  const name = parts.map((p) => `${p}\u001e`).join('');
  const hash = createHash('sha1').update(SEED_ID_NAMESPACE).update(Buffer.from(name, 'utf8')).digest();
  const b = hash.subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export { pointer };
