#!/usr/bin/env node
// `node test/cli.mjs [--event-type TYPE] FILE...`: validates each file's bytes with
// validateDeployRequest and prints one JSON report per line, in order, like `mfe validate --format
// json FILE` does for one file. Exit 0 when every file is valid, 1 when one is not, 2 on usage or
// IO errors. The agreement test (tests/tests/it/npm_contract.rs) compares the two.
import { readFile } from 'node:fs/promises';

import { validateDeployRequest } from '../src/index.js';

const args = process.argv.slice(2);
let eventType;
const at = args.indexOf('--event-type');
if (at >= 0) {
  eventType = args[at + 1];
  args.splice(at, 2);
}
if (args.length === 0 || eventType === '' || args.some((a) => a.startsWith('--'))) {
  console.error('usage: node test/cli.mjs [--event-type TYPE] FILE...');
  process.exit(2);
}
let allValid = true;
for (const file of args) {
  let bytes;
  try {
    bytes = await readFile(file);
  } catch (e) {
    console.error(`error: cannot read ${file}: ${e.message}`);
    process.exit(2);
  }
  const report = validateDeployRequest(bytes, eventType === undefined ? {} : { eventType });
  allValid &&= report.valid;
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
// exitCode, not exit(): stdout to a pipe is written asynchronously and must be flushed.
process.exitCode = allValid ? 0 : 1;
