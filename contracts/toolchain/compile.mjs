// Compiles every Solidity source under contracts/src with pinned solcjs settings and writes ONE
// artifact file (default: contracts/build/artifacts.json) holding, per contract, the ABI, the
// creation bytecode and the deployed bytecode, plus the compiler version, the settings, a sha256 of
// every source text that went into the build (ours and OpenZeppelin's) and one over all of them.
// Running rigshare needs only that JSON, not Node.
//
// usage: node compile.mjs [--out <file>]
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const toolchainDir = path.dirname(fileURLToPath(import.meta.url));
const contractsDir = path.dirname(toolchainDir);
const srcDir = path.join(contractsDir, "src");
const nodeModules = path.join(toolchainDir, "node_modules");

// Fixed compiler settings. cancun: Polygon PoS has had it since the Napoli fork, py-evm (eth-tester's
// Prague VM) and anvil run it. runs=10000: code is deployed once and called per rental. viaIR saves
// 1-2k gas per escrow call and ~2.7 KB of code (escrow ~19 KB, limit 24 KiB) for ~10 s more compile.
const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 10000 },
  viaIR: true,
  metadata: { bytecodeHash: "ipfs" },
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
  },
};

function parseArgs(argv) {
  let out = path.join(contractsDir, "build", "artifacts.json");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") out = path.resolve(argv[++i]);
    else throw new Error(`unknown argument: ${argv[i]}`);
  }
  return { out };
}

function listSources(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listSources(full));
    else if (entry.name.endsWith(".sol")) found.push(full);
  }
  return found;
}

// Source unit names are POSIX paths relative to contracts/ ("src/RentalEscrow.sol"), so the
// bytecode's metadata hash does not depend on where the checkout lives.
function unitName(file) {
  return path.relative(contractsDir, file).split(path.sep).join("/");
}

const loaded = new Map();

function findImports(importPath) {
  const candidates = importPath.startsWith("@")
    ? [path.join(nodeModules, importPath)]
    : [path.join(contractsDir, importPath)];
  for (const file of candidates) {
    if (existsSync(file)) {
      const contents = readFileSync(file, "utf8");
      loaded.set(importPath, contents);
      return { contents };
    }
  }
  return { error: `File not found: ${importPath}` };
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const files = listSources(srcDir).sort();
  const sources = {};
  for (const file of files) {
    const content = readFileSync(file, "utf8");
    sources[unitName(file)] = { content };
    loaded.set(unitName(file), content);
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = output.errors || [];
  for (const e of errors) console.error(e.formattedMessage);
  if (errors.some((e) => e.severity === "error")) process.exit(1);

  const contracts = {};
  for (const unit of Object.keys(sources)) {
    for (const [name, c] of Object.entries(output.contracts[unit] || {})) {
      if (contracts[name]) throw new Error(`duplicate contract name ${name}`);
      contracts[name] = {
        source: unit,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
    }
  }

  const hash = createHash("sha256");
  const sourceHashes = {};
  for (const key of [...loaded.keys()].sort()) {
    hash.update(key + "\0" + loaded.get(key) + "\0");
    sourceHashes[key] = "sha256:" + createHash("sha256").update(loaded.get(key)).digest("hex");
  }
  const pkg = JSON.parse(readFileSync(path.join(toolchainDir, "package.json"), "utf8"));
  const compilerPackages = Object.fromEntries(
    ["@openzeppelin/contracts", "solc"].map((name) => [name, pkg.dependencies[name]]),
  );
  const artifact = {
    compiler: {
      name: "solc",
      version: solc.version(),
      packages: compilerPackages,
    },
    settings: SETTINGS,
    sourcesHash: "sha256:" + hash.digest("hex"),
    sources: sourceHashes,
    contracts: Object.fromEntries(Object.keys(contracts).sort().map((k) => [k, contracts[k]])),
  };
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(sortKeys(artifact), null, 1) + "\n");
  const sizes = Object.entries(contracts)
    .map(([n, c]) => `${n} ${(c.deployedBytecode.length - 2) / 2} B`)
    .join(", ");
  console.error(`wrote ${path.relative(process.cwd(), out) || out}: ${sizes}`);
}

main();
