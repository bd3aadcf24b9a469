#!/usr/bin/env node
// Deterministic build of the deployable contracts with the pinned solcjs.
//
//   node scripts/compile.js                 write build/*.json
//   node scripts/compile.js --check         recompile, exit 1 if build/*.json differ from it
//   node scripts/compile.js --build-info D  also write a Hardhat-style build-info under
//                                           D/artifacts/build-info/ (input for static analysis)
//
// Every source (including the OpenZeppelin files from node_modules) is passed to the compiler
// by content under a stable source-unit name, and the output is serialised with a fixed key
// order, so two runs on any machine produce byte-identical artifacts.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const BUILD_DIR = path.join(ROOT, 'build');
const solc = require(path.join(ROOT, 'node_modules', 'solc'));
const pkg = require(path.join(ROOT, 'package.json'));

/** Contracts that get a committed artifact: [source unit, contract name]. */
const TARGETS = [
  ['src/MilestoneEscrow.sol', 'MilestoneEscrow'],
  ['src/mocks/MockERC20.sol', 'MockERC20'],
];

/** Import prefixes resolved from node_modules (mirrors foundry.toml's remappings). */
const REMAPPINGS = [['@openzeppelin/contracts/', 'node_modules/@openzeppelin/contracts/']];

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  viaIR: false,
  metadata: { bytecodeHash: 'ipfs', appendCBOR: true },
};

const OUTPUT_SELECTION = {
  '*': {
    '*': [
      'abi',
      'evm.bytecode.object',
      'evm.bytecode.sourceMap',
      'evm.bytecode.linkReferences',
      'evm.deployedBytecode.object',
      'evm.deployedBytecode.sourceMap',
      'evm.deployedBytecode.linkReferences',
      'evm.deployedBytecode.immutableReferences',
      'evm.methodIdentifiers',
      'metadata',
      'devdoc',
      'userdoc',
    ],
    '': ['ast'],
  },
};

function fail(msg) {
  process.stderr.write(`compile: ${msg}\n`);
  process.exit(1);
}

function sha256(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Maps a source-unit name to the file on disk. */
function unitToFile(unit) {
  for (const [prefix, target] of REMAPPINGS) {
    if (unit.startsWith(prefix)) return path.join(ROOT, target, unit.slice(prefix.length));
  }
  return path.join(ROOT, unit);
}

/** Resolves an import path as written in `fromUnit` to a source-unit name. */
function resolveImport(fromUnit, imported) {
  if (imported.startsWith('./') || imported.startsWith('../')) {
    return path.posix.normalize(path.posix.join(path.posix.dirname(fromUnit), imported));
  }
  return imported;
}

const IMPORT_RE = /^\s*import\s+(?:[^'"]*?\s+from\s+)?["']([^"']+)["']\s*;/gm;

/** Collects the full import closure of the targets, as {unit: content}, sorted by unit name. */
function collectSources() {
  const sources = {};
  const queue = TARGETS.map(([unit]) => unit);
  while (queue.length) {
    const unit = queue.shift();
    if (unit in sources) continue;
    const file = unitToFile(unit);
    if (!fs.existsSync(file)) fail(`cannot resolve ${unit} (looked at ${path.relative(ROOT, file)})`);
    const content = fs.readFileSync(file, 'utf8');
    sources[unit] = content;
    for (const m of content.matchAll(IMPORT_RE)) queue.push(resolveImport(unit, m[1]));
  }
  const sorted = {};
  for (const unit of Object.keys(sources).sort()) sorted[unit] = { content: sources[unit] };
  return sorted;
}

function checkCompilerVersion() {
  const want = pkg.devDependencies.solc;
  const long = solc.version();
  if (!long.startsWith(`${want}+`)) fail(`solc ${long} installed but package.json pins ${want}: run npm ci`);
  return long.replace(/\.Emscripten\.clang$/, '');
}

function compile() {
  const longVersion = checkCompilerVersion();
  const input = {
    language: 'Solidity',
    sources: collectSources(),
    settings: { ...SETTINGS, outputSelection: OUTPUT_SELECTION },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  const warnings = (output.errors || []).filter((e) => e.severity !== 'error');
  // Warnings in dependencies (e.g. OpenZeppelin's note on transient storage) are not ours to fix.
  const isDependency = (w) =>
    w.sourceLocation && REMAPPINGS.some(([prefix]) => w.sourceLocation.file.startsWith(prefix));
  for (const w of warnings.filter((x) => !isDependency(x))) process.stderr.write(w.formattedMessage || w.message);
  if (errors.length) fail(`compilation failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  return { input, output, longVersion };
}

function artifactFor(unit, name, input, output, longVersion) {
  const c = output.contracts[unit] && output.contracts[unit][name];
  if (!c) fail(`no output for ${unit}:${name}`);
  const metadata = JSON.parse(c.metadata);
  const sources = {};
  for (const src of Object.keys(metadata.sources).sort()) {
    sources[src] = {
      keccak256: metadata.sources[src].keccak256,
      sha256: sha256(input.sources[src].content),
    };
  }
  const artifact = {
    contractName: name,
    sourceName: unit,
    compiler: { name: 'solc', version: longVersion, package: `solc@${pkg.devDependencies.solc} (solcjs)` },
    settings: {
      optimizer: SETTINGS.optimizer,
      evmVersion: SETTINGS.evmVersion,
      viaIR: SETTINGS.viaIR,
      metadata: SETTINGS.metadata,
      remappings: REMAPPINGS.map(([a, b]) => `${a}=${b}`),
    },
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
    linkReferences: c.evm.bytecode.linkReferences,
    deployedLinkReferences: c.evm.deployedBytecode.linkReferences,
    methodIdentifiers: c.evm.methodIdentifiers,
    sources,
  };
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function writeBuildInfo(dir, input, output, longVersion) {
  const buildInfoDir = path.resolve(dir, 'artifacts', 'build-info');
  fs.rmSync(buildInfoDir, { recursive: true, force: true });
  fs.mkdirSync(buildInfoDir, { recursive: true });
  const id = sha256(JSON.stringify(input)).slice(0, 32);
  const buildInfo = {
    _format: 'hh-sol-build-info-1',
    id,
    solcVersion: longVersion.split('+')[0],
    solcLongVersion: longVersion,
    input,
    output,
  };
  const file = path.join(buildInfoDir, `${id}.json`);
  fs.writeFileSync(file, JSON.stringify(buildInfo));
  return file;
}

function main(argv) {
  const check = argv.includes('--check');
  const biIndex = argv.indexOf('--build-info');
  const buildInfoDir = biIndex >= 0 ? argv[biIndex + 1] : null;
  if (biIndex >= 0 && !buildInfoDir) fail('--build-info needs a directory');

  const { input, output, longVersion } = compile();
  const artifacts = TARGETS.map(([unit, name]) => [
    path.join(BUILD_DIR, `${name}.json`),
    artifactFor(unit, name, input, output, longVersion),
  ]);

  if (check) {
    const stale = artifacts.filter(([file, text]) => !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text);
    if (stale.length) {
      for (const [file] of stale) process.stderr.write(`compile --check: ${path.relative(ROOT, file)} is out of date\n`);
      fail('committed artifacts differ from a fresh compilation: run `node scripts/compile.js` and commit build/');
    }
    process.stdout.write(`compile --check: ${artifacts.length} artifacts up to date (solc ${longVersion})\n`);
  } else {
    fs.mkdirSync(BUILD_DIR, { recursive: true });
    for (const [file, text] of artifacts) {
      fs.writeFileSync(file, text);
      process.stdout.write(`wrote ${path.relative(ROOT, file)} (sha256 ${sha256(text).slice(0, 16)}…)\n`);
    }
  }
  if (buildInfoDir) {
    const file = writeBuildInfo(buildInfoDir, input, output, longVersion);
    process.stdout.write(`wrote build-info ${path.relative(ROOT, file)}\n`);
  }
}

main(process.argv.slice(2));
