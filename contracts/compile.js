#!/usr/bin/env node
// Compiles the protocol contracts with the pinned solcjs into contracts/out/, reproducibly:
// fixed relative source names, LF line endings, the EVM version pinned per chain and no metadata
// hash in the bytecode. `--check` compiles into memory and fails if the committed artifacts differ.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const EXPECTED_SOLC = '0.8.30+commit.73712a01.Emscripten.clang';
const ROOT = __dirname;
const OUT = path.join(ROOT, 'out');

// One compilation unit per EVM version. L2 runs Shanghai (no transient storage, MCOPY or blob opcodes);
// the shared contracts (bridge, signal service, resolver, anchor) are deployed on both chains, so they
// are compiled for the older of the two. The L1-only contracts use Cancun (transient storage, BLOBHASH).
const UNITS = [
  { name: 'shared', evmVersion: 'shanghai', dirs: ['src/shared', 'src/lib'], outDir: '' },
  { name: 'l1', evmVersion: 'cancun', dirs: ['src/l1'], outDir: '' },
  { name: 'test', evmVersion: 'shanghai', dirs: ['test'], outDir: 'test' },
  // The example apps: their L2 halves must run on Shanghai; the L1 halves use nothing newer, so one unit.
  { name: 'examples', evmVersion: 'shanghai', dirs: ['examples'], outDir: 'examples' },
];

function listSol(dir) {
  return fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith('.sol'))
    .sort()
    .map((f) => `${dir}/${f}`);
}

function readSource(name) {
  return fs.readFileSync(path.join(ROOT, name), 'utf8').replace(/\r\n?/g, '\n');
}

function compileUnit(unit) {
  const sources = {};
  for (const dir of unit.dirs) for (const f of listSol(dir)) sources[f] = { content: readSource(f) };
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      evmVersion: unit.evmVersion,
      optimizer: { enabled: true, runs: 200 },
      metadata: { bytecodeHash: 'none', appendCBOR: false },
      outputSelection: {
        '*': {
          '': ['ast'],
          '*': [
            'abi',
            'evm.bytecode.object',
            'evm.deployedBytecode.object',
            'evm.deployedBytecode.immutableReferences',
            'evm.methodIdentifiers',
            'storageLayout',
            'transientStorageLayout',
          ],
        },
      },
    },
  };
  const findImports = (p) => {
    const full = path.join(ROOT, p);
    if (!full.startsWith(ROOT + path.sep) || !fs.existsSync(full)) return { error: `not found: ${p}` };
    return { contents: readSource(p) };
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(`[${unit.name}] ${e.formattedMessage}\n`);
  if (errors.length) throw new Error(`compilation of unit '${unit.name}' failed`);

  const artifacts = {};
  for (const sourceName of Object.keys(sources)) {
    const ast = output.sources[sourceName].ast;
    for (const node of ast.nodes) {
      if (node.nodeType !== 'ContractDefinition' || node.contractKind !== 'contract' || node.abstract) continue;
      const c = output.contracts[sourceName][node.name];
      const artifact = {
        contractName: node.name,
        sourceName,
        compiler: {
          version: solc.version(),
          evmVersion: unit.evmVersion,
          optimizer: { enabled: true, runs: 200 },
          metadata: { bytecodeHash: 'none', appendCBOR: false },
        },
        abi: c.abi,
        methodIdentifiers: c.evm.methodIdentifiers,
        bytecode: { object: '0x' + c.evm.bytecode.object },
        deployedBytecode: {
          object: '0x' + c.evm.deployedBytecode.object,
          immutableReferences: c.evm.deployedBytecode.immutableReferences || {},
        },
        storageLayout: c.storageLayout,
        transientStorageLayout: c.transientStorageLayout || { storage: [], types: null },
      };
      const file = path.join(unit.outDir, `${node.name}.json`);
      if (artifacts[file]) throw new Error(`two contracts named ${node.name}`);
      artifacts[file] = JSON.stringify(artifact, null, 2) + '\n';
    }
  }
  return artifacts;
}

function main() {
  const check = process.argv.includes('--check');
  if (solc.version() !== EXPECTED_SOLC) {
    throw new Error(`solc ${solc.version()} found, ${EXPECTED_SOLC} pinned: run npm ci`);
  }
  const all = {};
  for (const unit of UNITS) Object.assign(all, compileUnit(unit));

  if (check) {
    const stale = [];
    for (const [file, text] of Object.entries(all)) {
      const p = path.join(OUT, file);
      if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) stale.push(file);
    }
    const committed = [];
    const walk = (d, rel) => {
      if (!fs.existsSync(d)) return;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(path.join(d, e.name), r);
        else if (e.name.endsWith('.json')) committed.push(r);
      }
    };
    walk(OUT, '');
    for (const f of committed) if (!(f in all)) stale.push(`${f} (no longer produced)`);
    if (stale.length) {
      console.error(`contract artifacts are stale, run 'node contracts/compile.js': ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log(`contract artifacts are current (${Object.keys(all).length} contracts)`);
    return;
  }
  fs.rmSync(OUT, { recursive: true, force: true });
  for (const [file, text] of Object.entries(all)) {
    const p = path.join(OUT, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
  console.log(`wrote ${Object.keys(all).length} artifacts to ${path.relative(process.cwd(), OUT) || '.'}`);
}

try {
  main();
} catch (e) {
  console.error(`compile.js: ${e.message}`);
  process.exit(1);
}
