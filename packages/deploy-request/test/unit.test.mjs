// Unit tests of the package (node --test). The agreement with `mfe validate` on the shared
// corpus is tested from Rust: tests/tests/it/npm_contract.rs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { EVENT_TYPE, schema, validateDeployRequest } from '../src/index.js';
import { parseStrict, ryuText, serdeNumberText } from '../src/json-reader.js';
import { checkCdnPath, checkGitRef, checkRequestId, checkTimestamp, checkVersion } from '../src/rules.js';

const CANONICAL = {
  id: '01J9Z8Q4W6X2Y3V5T7R9P1N3M5',
  timestamp: '2024-06-01T12:00:00Z',
  user: 'octocat',
  mfe: 'checkout',
  version: '1.2.3',
  environment: 'prod',
  cache_invalidation_keys: ['/mfe/checkout/*'],
  repository: 'acme/checkout',
  ref: 'refs/heads/main',
  sha: '0123456789ABCDEF0123456789abcdef01234567',
};
const { id, ...rest } = CANONICAL;
const SEED = { type: EVENT_TYPE, ...rest, cache_invalidation_keys: '/mfe/checkout/*, /mfe/checkout/index.html' };
const pairs = (result) => result.problems.map((p) => `${p.field} ${p.rule}`).sort();

test('a canonical request is valid as text, bytes and value, and comes back canonical', () => {
  const text = JSON.stringify(CANONICAL);
  for (const input of [text, new TextEncoder().encode(text), Buffer.from(text), CANONICAL]) {
    const result = validateDeployRequest(input);
    assert.equal(result.valid, true, JSON.stringify(result.problems));
    assert.equal(result.form, 'canonical');
    assert.equal(result.envelope, false);
    assert.deepEqual(result.request, { ...CANONICAL, sha: CANONICAL.sha.toLowerCase() });
  }
});

test('the seed form derives the same UUIDv5 as derive_seed_id', () => {
  const result = validateDeployRequest(JSON.stringify(SEED));
  assert.equal(result.valid, true, JSON.stringify(result.problems));
  assert.equal(result.form, 'seed');
  // The id `mfe validate` derives for this payload.
  assert.equal(result.request.id, '274ca26a-7450-5cca-af73-c9ab0716a31a');
  assert.deepEqual(result.request.cache_invalidation_keys, ['/mfe/checkout/*', '/mfe/checkout/index.html']);
  // Separators do not change the id; any other field does.
  const spaced = validateDeployRequest({ ...SEED, cache_invalidation_keys: ' /mfe/checkout/*\n/mfe/checkout/index.html,' });
  assert.equal(spaced.request.id, result.request.id);
  const other = validateDeployRequest({ ...SEED, version: '1.2.4' });
  assert.notEqual(other.request.id, result.request.id);
});

test('repeated keys are refused in text, where JSON.parse would keep the last', () => {
  const text = `${JSON.stringify(CANONICAL).slice(0, -1)},"mfe":"other","x":{"a":1,"a":2}}`;
  const result = validateDeployRequest(text);
  assert.deepEqual(pairs(result), ['/mfe duplicate-key', '/x/a duplicate-key']);
  // A parsed value has lost the repeat: only the unknown key remains.
  assert.deepEqual(pairs(validateDeployRequest(JSON.parse(text))), [' too-many-keys', '/x unknown-key']);
});

test('an envelope is checked against the event type; null skips the action check', () => {
  const event = { action: 'deploy', client_payload: CANONICAL };
  assert.deepEqual(pairs(validateDeployRequest(event)), ['/action envelope']);
  assert.equal(validateDeployRequest(event, { eventType: 'deploy' }).valid, true);
  assert.equal(validateDeployRequest(event, { eventType: null }).valid, true);
  assert.equal(validateDeployRequest(event, { eventType: 'deploy' }).envelope, true);
  assert.throws(() => validateDeployRequest(event, { eventType: 'not valid' }), TypeError);
});

test("the Rust checks' problem wins over the schema's for the same field", () => {
  const result = validateDeployRequest({ ...CANONICAL, sha: 'g'.repeat(40), version: '01.2.3' });
  assert.deepEqual(pairs(result), ['/sha pattern', '/version semver']);
});

test('values the Rust checks accept but the schema refuses are schema problems', () => {
  // The time crate takes any separator byte; the schema's pattern does not.
  assert.equal(checkTimestamp('2024-06-01x12:00:00Z'), null);
  assert.deepEqual(pairs(validateDeployRequest({ ...CANONICAL, timestamp: '2024-06-01x12:00:00Z' })), ['/timestamp pattern']);
});

test('timestamps follow the time crate: calendars, offsets and leap seconds', () => {
  for (const ok of ['2024-02-29T00:00:00Z', '0000-02-29T00:00:00z', '2016-12-31T23:59:60Z',
    '2017-01-01T05:29:60+05:30', '2024-06-01 12:00:00.1234567890-00:00']) {
    assert.equal(checkTimestamp(ok), null, ok);
  }
  for (const bad of ['2023-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2016-12-30T23:59:60Z',
    '2024-06-01T24:00:00Z', '2024-06-01T12:00:00+24:00', '2024-06-01T12:00:00', '2024-06-01\u00e912:00:00Z']) {
    assert.equal(checkTimestamp(bad)?.rule, 'timestamp', bad);
  }
  assert.equal(checkTimestamp(`2024-06-01T12:00:00.${'1'.repeat(20)}Z`)?.rule, 'max-length');
});

test('versions, refs, ids and CDN paths as the Rust crates read them', () => {
  assert.equal(checkVersion('18446744073709551615.0.0'), null);
  assert.equal(checkVersion('18446744073709551616.0.0')?.rule, 'semver');
  assert.equal(checkVersion('1.2.3-rc.1+build.001'), null);
  assert.equal(checkGitRef('refs/heads/a\ufeffb'), null); // U+FEFF is not White_Space
  assert.equal(checkGitRef('refs/heads/a\u0085b')?.rule, 'pattern'); // U+0085 is
  assert.equal(checkGitRef('refs/heads/X.LOCK/y')?.rule, 'git-ref');
  assert.equal(checkRequestId('ZZZZZZZZZZZZZZZZZZZZZZZZZZ'), null); // the ulid crate ignores overflow
  assert.equal(checkRequestId('01J9Z8Q4W6X2Y3V5T7R9P1N3MU')?.rule, 'pattern');
  assert.equal(checkCdnPath('/mfe/checkout%2f%2e%2e%2fother')?.rule, 'cdn-path');
  assert.equal(checkCdnPath('/mfe/checkout/%ff')?.rule, 'cdn-path');
  assert.equal(checkCdnPath('/mfe/checkout/.../a%2Fb*'), null);
});

test('numbers are measured as serde_json writes them', () => {
  assert.equal(serdeNumberText('1e2', 1e2), '100.0');
  assert.equal(serdeNumberText('-0', -0), '-0.0');
  assert.equal(serdeNumberText('18446744073709551615', 18446744073709551615), '18446744073709551615');
  assert.equal(serdeNumberText('18446744073709551616', 18446744073709551616), '1.8446744073709552e19');
  assert.equal(ryuText(1e15), '1000000000000000.0');
  assert.equal(ryuText(1e16), '1e16');
  assert.equal(ryuText(0.001), '0.001');
  assert.equal(ryuText(1.5e-7), '1.5e-7');
  assert.equal(parseStrict('1e400').error !== null, true);
  assert.equal(parseStrict('"\\ud800"').error !== null, true);
  assert.equal(parseStrict(`${'['.repeat(127)}${']'.repeat(127)}`).error, null);
  assert.notEqual(parseStrict(`${'['.repeat(128)}${']'.repeat(128)}`).error, null);
});

test('the 64 KiB limit is on the compact payload', () => {
  const at = (bytes) => {
    const payload = { ...CANONICAL, cache_invalidation_keys: [] };
    let size = JSON.stringify(payload).length;
    while (size < bytes) {
      const room = Math.min(1000, bytes - size - 3);
      payload.cache_invalidation_keys.push(`/mfe/checkout/${'a'.repeat(Math.max(room - 14, 1))}`);
      size = JSON.stringify(payload).length;
    }
    assert.equal(size, bytes);
    return validateDeployRequest(JSON.stringify(payload, null, 2));
  };
  assert.equal(at(65535).valid, true);
  assert.deepEqual(pairs(at(65536)), [' too-large']);
});

test('bytes that are not UTF-8, empty or oversized input are refused', () => {
  assert.deepEqual(pairs(validateDeployRequest(Uint8Array.from([0x7b, 0xff, 0x7d]))), [' syntax']);
  assert.deepEqual(pairs(validateDeployRequest(' \n')), [' syntax']);
  assert.deepEqual(pairs(validateDeployRequest(new Uint8Array(1024 * 1024 + 1))), [' input-too-large']);
  assert.equal(validateDeployRequest(`\ufeff${JSON.stringify(CANONICAL)}`).valid, true);
});

test('the packaged schema is the committed schema (when run in the repository)', () => {
  const committed = new URL('../../../schemas/deploy-request.schema.json', import.meta.url);
  const copy = new URL('../generated/deploy-request.schema.json', import.meta.url);
  assert.deepEqual(JSON.parse(readFileSync(copy, 'utf8')), schema);
  if (existsSync(committed)) assert.equal(readFileSync(copy, 'utf8'), readFileSync(committed, 'utf8'));
});
