#!/usr/bin/env node
// Gas regression check against the committed .gas-snapshot, plus a readable table of the
// per-call figures measured by test/MilestoneEscrow.gas.t.sol.
//
//   node scripts/gas-check.js            fail if any snapshot entry grew (tolerance 0)
//   node scripts/gas-check.js --update   rewrite .gas-snapshot
//
// The snapshot covers the deterministic unit and gas test contracts (fuzz and invariant
// campaigns are excluded: their gas depends on the inputs drawn).
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const FORGE = path.join(ROOT, 'node_modules', '.bin', 'forge');
const SNAPSHOT = path.join(ROOT, '.gas-snapshot');
const CURRENT = path.join(ROOT, 'cache', 'gas-snapshot.current');
const MATCH = ['--match-contract', '^MilestoneEscrow(Gas)?Test$'];
const GOALS = { attest: 70000, withdraw: 45000, refund: 45000 };

function forge(args, opts = {}) {
  return execFileSync(FORGE, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
}

function parseSnapshot(text) {
  const entries = new Map();
  for (const line of text.split('\n')) {
    const m = /^(\S+) \(gas: (\d+)\)$/.exec(line.trim());
    if (m) entries.set(m[1], Number(m[2]));
  }
  return entries;
}

function measuredFigures() {
  const json = JSON.parse(forge(['test', '--match-contract', '^MilestoneEscrowGasTest$', '--json', '-vv']));
  const rows = [];
  for (const suite of Object.values(json)) {
    for (const result of Object.values(suite.test_results)) {
      for (const log of result.decoded_logs || []) {
        const m = /^(.*) (\d+)$/.exec(log);
        if (m) rows.push([m[1], Number(m[2])]);
      }
    }
  }
  return rows.sort((a, b) => a[0].localeCompare(b[0]));
}

function printFigures() {
  const rows = measuredFigures();
  const width = Math.max(...rows.map(([n]) => n.length));
  process.stdout.write('\nGas per call (execution gas from cold storage; excludes the 21,000 intrinsic + calldata):\n');
  for (const [name, gas] of rows) {
    const key = Object.keys(GOALS).find((k) => name.startsWith(`${k} `));
    const goal = key && !name.includes('first-time holder') ? `  (goal <= ${GOALS[key].toLocaleString('en-US')})` : '';
    process.stdout.write(`  ${name.padEnd(width)}  ${gas.toLocaleString('en-US').padStart(9)}${goal}\n`);
  }
}

function main(argv) {
  if (argv.includes('--update')) {
    forge(['snapshot', ...MATCH, '--snap', SNAPSHOT], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.stdout.write(`updated ${path.relative(ROOT, SNAPSHOT)}\n`);
    printFigures();
    return;
  }
  if (!fs.existsSync(SNAPSHOT)) {
    process.stderr.write('gas-check: .gas-snapshot missing: run `node scripts/gas-check.js --update`\n');
    process.exit(1);
  }
  fs.mkdirSync(path.dirname(CURRENT), { recursive: true });
  forge(['snapshot', ...MATCH, '--snap', CURRENT], { stdio: ['ignore', 'ignore', 'inherit'] });
  const committed = parseSnapshot(fs.readFileSync(SNAPSHOT, 'utf8'));
  const current = parseSnapshot(fs.readFileSync(CURRENT, 'utf8'));

  const grew = [];
  const shrank = [];
  const added = [];
  for (const [name, gas] of current) {
    if (!committed.has(name)) added.push(name);
    else if (gas > committed.get(name)) grew.push([name, committed.get(name), gas]);
    else if (gas < committed.get(name)) shrank.push([name, committed.get(name), gas]);
  }
  const removed = [...committed.keys()].filter((n) => !current.has(n));

  for (const [n, a, b] of shrank) process.stdout.write(`  gas decreased: ${n} ${a} -> ${b}\n`);
  for (const n of added) process.stdout.write(`  new entry (not in snapshot): ${n}\n`);
  for (const n of removed) process.stdout.write(`  entry no longer produced: ${n}\n`);
  printFigures();
  if (grew.length) {
    for (const [n, a, b] of grew) process.stderr.write(`  GAS INCREASED: ${n} ${a} -> ${b} (+${b - a})\n`);
    process.stderr.write('gas-check: FAILED (tolerance 0). If intended, run `node scripts/gas-check.js --update`.\n');
    process.exit(1);
  }
  const note = shrank.length || added.length || removed.length ? ' (snapshot can be refreshed with --update)' : '';
  process.stdout.write(`gas-check: ${current.size} entries, none grew${note}\n`);
}

main(process.argv.slice(2));
