#!/usr/bin/env node
// `node test/cli.mjs [--event-type TYPE] FILE`: prints the report of validateDeployRequest on the
// file's bytes as one JSON line, like `mfe validate --format json FILE`; exit 0 when valid, 1 when
// invalid, 2 on usage or IO errors. The agreement test (tests/tests/it/npm_contract.rs) compares both.
import { readFile } from 'node:fs/promises';

import { validateDeployRequest } from '../src/index.js';

const args = process.argv.slice(2);
let eventType;
const at = args.indexOf('--event-type');
if (at >= 0) {
  eventType = args[at + 1];
  args.splice(at, 2);
}
if (args.length !== 1 || eventType === '') {
  console.error('usage: node test/cli.mjs [--event-type TYPE] FILE');
  process.exit(2);
}
let bytes;
try {
  bytes = await readFile(args[0]);
} catch (e) {
  console.error(`error: cannot read ${args[0]}: ${e.message}`);
  process.exit(2);
}
const report = validateDeployRequest(bytes, eventType === undefined ? {} : { eventType });
console.log(JSON.stringify(report));
process.exit(report.valid ? 0 : 1);
