// A JSON reader that notices repeated keys, mirroring the Rust reader (`crates/event-model`,
// `strict.rs`) on top of `serde_json`'s grammar: `JSON.parse` silently keeps the last of two
// equal keys, other parsers keep the first, so a document with a repeated key can mean two
// different requests. This reader parses once and records the JSON pointer of every repeat.
//
// It also refuses what `serde_json` refuses and `JSON.parse` accepts: numbers out of the f64
// range (`1e400`), lone UTF-16 surrogates (`"\ud800"`) and nesting 128 containers deep.
// Numbers are kept as `JsonNumber`s so the payload can be measured the way `serde_json` writes it.

/** At most this many repeated keys are recorded; the rest are only counted. */
export const MAX_RECORDED = 32;
/** After the first, repeated keys are recorded only while their pointers total this many bytes. */
const MAX_RECORDED_BYTES = 64 * 1024;
/** `serde_json`'s recursion limit: 127 nested arrays/objects parse, 128 do not. */
const MAX_DEPTH = 127;

/** A number as read: its value and the way `serde_json` would write it back. */
export class JsonNumber {
  constructor(value, text) {
    this.value = value;
    this.text = text;
  }
}

/** Appends one segment to a JSON pointer, escaping `~` and `/` (RFC 6901). */
export function pointer(base, segment) {
  return `${base}/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

export function utf8Length(text) {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

class SyntaxProblem extends Error {}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses `text` as one JSON document. Returns `{ value, error, duplicates }`: `error` is a message
 * when the text is not JSON (then `value` is undefined); `duplicates` lists `{ at, key }` of the
 * repeated keys read before any error, and `total` counts them all.
 */
export function parseStrict(text) {
  const duplicates = { recorded: [], recordedBytes: 0, total: 0 };
  const path = [];
  let i = 0;
  let depth = 0;

  const fail = (what) => {
    throw new SyntaxProblem(`${what} at offset ${i}`);
  };
  const skipSpace = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i += 1;
      else break;
    }
  };
  const record = () => {
    duplicates.total += 1;
    if (duplicates.recorded.length >= MAX_RECORDED) return;
    const at = path.reduce((acc, segment) => pointer(acc, segment), '');
    const key = path[path.length - 1];
    const bytes = utf8Length(at) + utf8Length(key);
    if (duplicates.recorded.length === 0 || duplicates.recordedBytes + bytes <= MAX_RECORDED_BYTES) {
      duplicates.recordedBytes += bytes;
      duplicates.recorded.push({ at, key });
    }
  };

  const hex4 = () => {
    const digits = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail('invalid \\u escape');
    i += 4;
    return parseInt(digits, 16);
  };

  const readString = () => {
    // text[i] is the opening quote
    i += 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) fail('EOF while parsing a string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i += 1;
        return out;
      }
      if (c < 0x20) fail('control character in a string');
      if (c !== 0x5c) {
        i += 1;
        continue;
      }
      out += text.slice(start, i);
      i += 1;
      if (i >= text.length) fail('EOF while parsing a string');
      const e = text[i];
      i += 1;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const unit = hex4();
          if (unit >= 0xdc00 && unit <= 0xdfff) fail('lone trailing surrogate in a \\u escape');
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone leading surrogate in a \\u escape');
            i += 2;
            const low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail('lone leading surrogate in a \\u escape');
            out += String.fromCharCode(unit, low);
          } else {
            out += String.fromCharCode(unit);
          }
          break;
        }
        default:
          fail('invalid escape');
      }
      start = i;
    }
  };

  const readNumber = () => {
    NUMBER.lastIndex = i;
    const match = NUMBER.exec(text);
    if (!match) fail('invalid number');
    const raw = match[0];
    // serde_json refuses digits right after a leading zero ("01") and a '.' or 'e' without digits.
    const next = text[i + raw.length];
    if (next !== undefined && /[0-9.eE+-]/.test(next)) fail('invalid number');
    i += raw.length;
    const value = Number(raw);
    if (!Number.isFinite(value)) fail('number out of range');
    return new JsonNumber(value, serdeNumberText(raw, value));
  };

  const readValue = () => {
    skipSpace();
    if (i >= text.length) fail('EOF while parsing a value');
    const c = text[i];
    if (c === '{') {
      depth += 1;
      if (depth > MAX_DEPTH) fail('recursion limit exceeded');
      i += 1;
      const object = Object.create(null);
      const seen = new Set();
      skipSpace();
      if (text[i] === '}') {
        i += 1;
        depth -= 1;
        return object;
      }
      for (;;) {
        skipSpace();
        if (i >= text.length) fail('EOF while parsing an object');
        if (text[i] !== '"') fail('key must be a string');
        const key = readString();
        const repeated = seen.has(key);
        path.push(key);
        if (repeated) record();
        skipSpace();
        if (i >= text.length) fail('EOF while parsing an object');
        if (text[i] !== ':') fail("expected ':'");
        i += 1;
        const value = readValue();
        path.pop();
        if (!repeated) {
          seen.add(key);
          object[key] = value;
        }
        skipSpace();
        if (i >= text.length) fail('EOF while parsing an object');
        if (text[i] === ',') {
          i += 1;
          skipSpace();
          if (text[i] === '}') fail('trailing comma');
          continue;
        }
        if (text[i] === '}') {
          i += 1;
          depth -= 1;
          return object;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      depth += 1;
      if (depth > MAX_DEPTH) fail('recursion limit exceeded');
      i += 1;
      const items = [];
      skipSpace();
      if (text[i] === ']') {
        i += 1;
        depth -= 1;
        return items;
      }
      for (;;) {
        path.push(String(items.length));
        items.push(readValue());
        path.pop();
        skipSpace();
        if (i >= text.length) fail('EOF while parsing a list');
        if (text[i] === ',') {
          i += 1;
          skipSpace();
          if (text[i] === ']') fail('trailing comma');
          continue;
        }
        if (text[i] === ']') {
          i += 1;
          depth -= 1;
          return items;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return readString();
    if (c === '-' || (c >= '0' && c <= '9')) return readNumber();
    for (const [word, value] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return value;
      }
    }
    if (word_prefix(text, i)) fail('EOF while parsing a value');
    fail('expected a value');
    return undefined;
  };

  try {
    const value = readValue();
    skipSpace();
    if (i < text.length) fail('trailing characters');
    return { value, error: null, duplicates };
  } catch (e) {
    if (!(e instanceof SyntaxProblem)) throw e;
    const truncated = i >= text.length;
    return {
      value: undefined,
      error: `${truncated ? 'the JSON is truncated' : 'the input is not valid JSON'}: ${e.message}`,
      duplicates,
    };
  }
}

/** Whether the text from `i` is a proper prefix of a literal (`tr`, `nul`): truncated input. */
function word_prefix(text, i) {
  const rest = text.slice(i);
  return rest.length > 0 && ['true', 'false', 'null'].some((w) => w.startsWith(rest) && w !== rest);
}

/**
 * How `serde_json` writes back a number it read as `raw`: integers within u64/i64 exactly, `-0`
 * and every other number as an f64 in `ryu`'s shortest form (`1.0`, `1e300`, `1.5e-7`).
 */
export function serdeNumberText(raw, value) {
  if (/^-?[0-9]+$/.test(raw)) {
    const big = BigInt(raw);
    // serde_json reads "-0" as the float -0.0
    if (raw === '-0') return '-0.0';
    if (big >= -(2n ** 63n) && big <= 2n ** 64n - 1n) return big.toString();
  }
  return ryuText(value);
}

/** `ryu`'s formatting of a finite f64 (what `serde_json` writes for a float). */
export function ryuText(value) {
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  // toExponential() gives the shortest round-trip digits, as ryu does.
  const [mantissa, exp] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const length = digits.length;
  const kk = Number(exp) + 1; // 10^(kk-1) <= v < 10^kk
  const k = kk - length;
  let body;
  if (k >= 0 && kk <= 16) body = `${digits}${'0'.repeat(k)}.0`;
  else if (kk > 0 && kk <= 16) body = `${digits.slice(0, kk)}.${digits.slice(kk)}`;
  else if (kk > -5 && kk <= 0) body = `0.${'0'.repeat(-kk)}${digits}`;
  else if (length === 1) body = `${digits}e${kk - 1}`;
  else body = `${digits[0]}.${digits.slice(1)}e${kk - 1}`;
  return sign + body;
}

/** The compact JSON text `serde_json::to_vec` writes for a value, as a string. */
export function serdeText(value) {
  if (value instanceof JsonNumber) return value.text;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'null';
    return Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : ryuText(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `[${value.map(serdeText).join(',')}]`;
  if (typeof value === 'object') {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${serdeText(value[k])}`)
      .join(',')}}`;
  }
  return 'null';
}

/** A copy with every `JsonNumber` replaced by its value (for the schema validator and callers). */
export function toPlain(value) {
  if (value instanceof JsonNumber) return value.value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: toPlain(value[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
