// @mfe-gitops/deploy-request: validates a deploy request (the `client_payload` of a
// `repository_dispatch` event of type `deploy-mfe-trigger`) exactly as `mfe validate --format
// json` does: the same problems, each naming its field as a JSON pointer and the rule broken.
//
// The committed JSON Schema (generated/, copied from schemas/deploy-request.schema.json) runs on
// ajv; the checks a schema cannot express live in rules.js; repeated keys are found by
// json-reader.js when the input is text or bytes.

import Ajv2020 from 'ajv/dist/2020.js';

import { schema } from '../generated/schema.js';
import { JsonNumber, parseStrict, serdeText, toPlain, utf8Length } from './json-reader.js';
import {
  EVENT_TYPE, FIELD_CHECKS, KEYS, MAX_CDN_PATHS, MAX_INPUT_BYTES, MAX_PAYLOAD_BYTES,
  MAX_TOP_LEVEL_KEYS, checkCdnPath, checkEventType, deriveSeedId, excerpt, pointer, splitKeysText,
} from './rules.js';

export { EVENT_TYPE, KEYS, MAX_INPUT_BYTES, MAX_PAYLOAD_BYTES, MAX_TOP_LEVEL_KEYS, deriveSeedId, schema };

let compiled;
function schemaValidator() {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false, unicodeRegExp: true });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

const RULE_OF_KEYWORD = {
  required: 'required',
  additionalProperties: 'unknown-key',
  oneOf: 'id-or-type',
  maxProperties: 'too-many-keys',
  type: 'type',
  pattern: 'pattern',
  maxLength: 'max-length',
  maxItems: 'max-length',
};

const kind = (value) => {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'number' || typeof value === 'bigint' || value instanceof JsonNumber) return 'a number';
  if (typeof value === 'string') return 'a string';
  if (Array.isArray(value)) return 'a list';
  return 'an object';
};

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value)
  && !(value instanceof JsonNumber);
const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const problem = (field, rule, message) => ({ field, rule, message });

/**
 * Validates a deploy request: a bare `client_payload` or a whole `repository_dispatch` event.
 *
 * `input` is JSON text (a string), its bytes (a `Uint8Array`, e.g. a `Buffer`), or a value,
 * judged as the JSON `JSON.stringify` makes of it (what would be sent). Text and bytes are read
 * by a reader that refuses a key repeated in any object (`duplicate-key`); a parsed value cannot
 * show repeated keys any more.
 *
 * `options.eventType`: the event type a whole event's `action` must equal (default
 * `deploy-mfe-trigger`, as `mfe validate`); `null` skips that check.
 */
export function validateDeployRequest(input, options = {}) {
  const eventType = options.eventType === undefined ? EVENT_TYPE : options.eventType;
  if (eventType !== null) {
    if (typeof eventType !== 'string') throw new TypeError('options.eventType must be a string or null');
    const bad = checkEventType(eventType);
    if (bad) throw new TypeError(`options.eventType: ${bad.message}`);
  }
  let bytes;
  if (typeof input === 'string') {
    bytes = new TextEncoder().encode(input);
  } else if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    bytes = new Uint8Array(input);
  } else {
    // A value is judged as the JSON it serialises to: what would be sent.
    const text = JSON.stringify(input);
    if (text === undefined) {
      return {
        valid: false,
        problems: [problem('', 'not-an-object', `the deploy request must be a JSON object, found ${typeof input}`)],
        envelope: false,
      };
    }
    bytes = new TextEncoder().encode(text);
  }
  const read = readDocument(bytes);
  if (read.problems) return { valid: false, problems: read.problems, envelope: false };
  return validateDocument(read.value, eventType);
}

/** Reads bytes into a value: bounded size, UTF-8, one JSON document, no repeated key. */
function readDocument(bytes) {
  if (bytes.length > MAX_INPUT_BYTES) {
    return {
      problems: [problem('', 'input-too-large',
        `the input is ${bytes.length} bytes; a deploy request or event is at most ${MAX_INPUT_BYTES}`)],
    };
  }
  let body = bytes;
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return { problems: [problem('', 'syntax', 'the input is not UTF-8 text')] };
  }
  if (text.replace(/^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u, '') === '') {
    return { problems: [problem('', 'syntax', 'the input is empty; expected a JSON object')] };
  }
  const { value, error, duplicates } = parseStrict(text);
  const problems = duplicates.recorded.map(({ at, key }) => problem(at, 'duplicate-key',
    `the key ${excerpt(key)} appears more than once in the same object; JSON parsers disagree on which value counts, so a key may appear only once`));
  const unrecorded = duplicates.total - duplicates.recorded.length;
  if (unrecorded > 0 && problems.length > 0) {
    problems[problems.length - 1].message += ` (${unrecorded} more repeated keys are not listed)`;
  }
  if (error !== null) problems.push(problem('', 'syntax', error));
  return problems.length > 0 ? { problems } : { value };
}

function validateDocument(document, eventType) {
  if (isObject(document) && has(document, 'client_payload')) {
    const problems = [];
    const stringAt = (field, present, value) => {
      if (!present || value === null || value === undefined || typeof value === 'string') return;
      problems.push(problem(`/${field}`, 'envelope', `the event's \`${field}\` must be a string`));
    };
    stringAt('action', has(document, 'action'), document.action);
    stringAt('branch', has(document, 'branch'), document.branch);
    for (const [outer, inner] of [['repository', 'full_name'], ['sender', 'login']]) {
      const container = has(document, outer) ? document[outer] : undefined;
      if (isObject(container) && has(container, inner)) stringAt(`${outer}/${inner}`, true, container[inner]);
    }
    if (eventType !== null) {
      const action = has(document, 'action') ? document.action : null;
      if (action === null || action === undefined) {
        problems.unshift(problem('/action', 'envelope',
          `the event has no \`action\`; expected the configured event type ${excerpt(eventType)}`));
      } else if (typeof action === 'string' && action !== eventType) {
        problems.unshift(problem('/action', 'envelope',
          `the event's \`action\` is ${excerpt(action)}, not the configured event type ${excerpt(eventType)}`));
      }
    }
    const checked = checkPayload(document.client_payload, '/client_payload');
    problems.push(...checked.problems);
    if (problems.length > 0) return { valid: false, problems, envelope: true };
    return { valid: true, problems: [], form: checked.form, envelope: true, request: checked.request };
  }
  const checked = checkPayload(document, '');
  if (checked.problems.length > 0) return { valid: false, problems: checked.problems, envelope: false };
  return { valid: true, problems: [], form: checked.form, envelope: false, request: checked.request };
}

/** Checks one payload; `base` is its JSON pointer in the document. */
function checkPayload(payload, base) {
  if (!isObject(payload)) {
    return {
      problems: [problem(base, 'not-an-object', `the deploy request must be a JSON object, found ${kind(payload)}`)],
    };
  }
  const problems = [];
  const size = utf8Length(serdeText(payload));
  if (size >= MAX_PAYLOAD_BYTES) {
    problems.push(problem(base, 'too-large',
      `the payload is ${size} bytes; GitHub accepts less than ${MAX_PAYLOAD_BYTES} (64 KB)`));
  }
  const keys = Object.keys(payload);
  if (keys.length > MAX_TOP_LEVEL_KEYS) {
    problems.push(problem(base, 'too-many-keys',
      `the payload has ${keys.length} top-level keys; GitHub allows at most ${MAX_TOP_LEVEL_KEYS}`));
  }
  for (const key of keys) {
    if (!KEYS.includes(key)) {
      problems.push(problem(pointer(base, key), 'unknown-key',
        `unknown key ${excerpt(key)}; the allowed keys are ${KEYS.join(', ')}`));
    }
  }
  const hasId = has(payload, 'id');
  const hasType = has(payload, 'type');
  if (hasId && hasType) {
    problems.push(problem(pointer(base, 'type'), 'id-or-type',
      '`id` (canonical form) and `type` (seed form) cannot both be present'));
  } else if (!hasId && !hasType) {
    problems.push(problem(pointer(base, 'id'), 'required',
      '`id` is required (or `type`, in the seed form, from which the id is derived)'));
  }
  for (const key of KEYS.slice(2)) {
    if (!has(payload, key)) problems.push(problem(pointer(base, key), 'required', `\`${key}\` is required`));
  }
  let paths = [];
  for (const key of KEYS) {
    if (!has(payload, key)) continue;
    const value = payload[key];
    const at = pointer(base, key);
    if (key === 'cache_invalidation_keys') {
      paths = checkKeysValue(value, at, problems);
      continue;
    }
    if (typeof value !== 'string') {
      problems.push(problem(at, 'type', `\`${key}\` must be a string, found ${kind(value)}`));
      continue;
    }
    const bad = FIELD_CHECKS[key](value);
    if (bad) problems.push(problem(at, bad.rule, bad.message));
  }
  addSchemaProblems(toPlain(payload), base, problems);
  if (problems.length > 0) return { problems };
  const form = hasId ? 'canonical' : 'seed';
  const request = {
    id: hasId ? payload.id : deriveSeedId(payload, paths),
    timestamp: payload.timestamp,
    user: payload.user,
    mfe: payload.mfe,
    version: payload.version,
    environment: payload.environment,
    cache_invalidation_keys: paths,
    repository: payload.repository,
    ref: payload.ref,
    sha: payload.sha.toLowerCase(),
  };
  return { problems, form, request };
}

/** `cache_invalidation_keys`: a list of paths, or (seed form) one string of paths. Returns the paths. */
function checkKeysValue(value, at, problems) {
  if (Array.isArray(value)) {
    if (value.length > MAX_CDN_PATHS) {
      problems.push(problem(at, 'max-length', `${value.length} paths given; at most ${MAX_CDN_PATHS} are allowed`));
    }
    value.forEach((item, i) => {
      const itemAt = pointer(at, String(i));
      if (typeof item !== 'string') {
        problems.push(problem(itemAt, 'type', `a CDN path must be a string, found ${kind(item)}`));
        return;
      }
      const bad = checkCdnPath(item);
      if (bad) problems.push(problem(itemAt, bad.rule, bad.message));
    });
    return value.filter((item) => typeof item === 'string');
  }
  if (typeof value === 'string') {
    const paths = splitKeysText(value);
    for (const path of paths) {
      const bad = checkCdnPath(path);
      if (bad) problems.push(problem(at, bad.rule, bad.message));
    }
    return paths;
  }
  problems.push(problem(at, 'type',
    `\`cache_invalidation_keys\` must be a list of paths (or, in the seed form, one string of paths), found ${kind(value)}`));
  return [];
}

/** Runs the JSON Schema and keeps what the checks above did not already say about that field. */
function addSchemaProblems(payload, base, problems) {
  const validate = schemaValidator();
  if (validate(payload)) return;
  const extra = [];
  for (const error of validate.errors ?? []) {
    // A failing oneOf/anyOf is one problem (as the Rust validator reports it), not one per branch.
    if (/\/(oneOf|anyOf)\/\d+\//.test(error.schemaPath)) continue;
    let at = `${base}${error.instancePath}`;
    if (error.keyword === 'required') at = pointer(at, error.params.missingProperty);
    if (error.keyword === 'additionalProperties') at = pointer(at, error.params.additionalProperty);
    const rule = RULE_OF_KEYWORD[error.keyword] ?? 'schema';
    const covered = problems.some((p) => p.field === at
      || p.field.startsWith(`${at}/`)
      || at.startsWith(`${p.field}/`)
      || (p.rule === rule && (rule === 'id-or-type' || rule === 'too-many-keys'))
      || (rule === 'id-or-type' && p.field.endsWith('/id')));
    if (!covered) extra.push(problem(at, rule, `${at || '/'} ${error.message}`));
  }
  problems.push(...extra);
}
