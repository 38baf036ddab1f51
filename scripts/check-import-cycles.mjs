#!/usr/bin/env node
// Finds import loops in hierglow's TypeScript sources, at two levels, with the TypeScript
// compiler's own parser (no extra dependency):
// - between files of a package (a imports b imports ... a), counting `import`, `export ... from`
//   and literal dynamic `import()`; `import type` too, since a loop of types is still a loop in
//   the design;
// - between the folders of a package's src/ (src/model -> src/train -> src/model), where each
//   file belongs to its top folder under src/ (files directly in src/ are their own unit);
// - between the packages, through their package.json dependencies.
//
//   node scripts/check-import-cycles.mjs            # every package under packages/
//   node scripts/check-import-cycles.mjs --json     # machine-readable
//
// Exit status 1 with one line per loop when there is any. Test files (`*.test.ts` and
// test-support/) count between files (a loop there is as confusing as anywhere else) but not
// between folders: a test of one folder setting up another is not a dependency of the code.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ts = createRequire(join(root, 'package.json'))('typescript');

/** Every .ts file under `dir`. */
function sourceFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'dist' && name !== 'generated') {
        out.push(...sourceFiles(path));
      }
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Module specifiers a file imports (static, re-exports, literal dynamic imports). */
export function importsOf(text, fileName = 'file.ts') {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const specs = [];
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specs.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specs.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs;
}

/** Test files and their helpers. */
function isTestCode(file) {
  return file.endsWith('.test.ts') || file.split(sep).includes('test-support');
}

/** Resolves a relative specifier (`./x.js`) to the .ts file it names, or null. */
function resolveRelative(from, spec, known) {
  if (!spec.startsWith('.')) return null;
  const target = resolve(dirname(from), spec);
  for (const candidate of [
    target.replace(/\.js$/, '.ts'),
    `${target}.ts`,
    join(target, 'index.ts'),
  ]) {
    if (known.has(candidate)) return candidate;
  }
  return null;
}

/** Strongly connected components with more than one node, or a self-loop (Tarjan). */
export function cycles(graph) {
  let index = 0;
  const stack = [];
  const onStack = new Set();
  const idx = new Map();
  const low = new Map();
  const found = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? new Set()).has(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return found;
}

/** One path around a loop inside `component`, for the message: a → b → ... → a. */
function loopPath(graph, component) {
  const members = new Set(component);
  const start = component[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
}

/** Every loop of the repository's packages: `{ level, where, path }`. */
export function findImportCycles(packagesDir = join(root, 'packages')) {
  const loops = [];
  const packageGraph = new Map();
  const packageNames = new Map();
  for (const pkg of readdirSync(packagesDir)) {
    const manifest = join(packagesDir, pkg, 'package.json');
    try {
      const json = JSON.parse(readFileSync(manifest, 'utf8'));
      packageNames.set(json.name, pkg);
      packageGraph.set(json.name, new Set());
      const deps = { ...json.dependencies, ...json.devDependencies, ...json.peerDependencies };
      for (const dep of Object.keys(deps)) packageGraph.get(json.name).add(dep);
    } catch {
      continue;
    }
    const src = join(packagesDir, pkg, 'src');
    let files;
    try {
      files = sourceFiles(src);
    } catch {
      continue;
    }
    const known = new Set(files);
    const fileGraph = new Map(files.map((f) => [f, new Set()]));
    const folderGraph = new Map();
    const folderOf = (f) => {
      const parts = relative(src, f).split(sep);
      return parts.length > 1 ? `${parts[0]}/` : parts[0];
    };
    for (const file of files) {
      for (const spec of importsOf(readFileSync(file, 'utf8'), file)) {
        const target = resolveRelative(file, spec, known);
        if (!target) continue;
        fileGraph.get(file).add(target);
        const [a, b] = [folderOf(file), folderOf(target)];
        if (a !== b && !isTestCode(file) && !isTestCode(target)) {
          if (!folderGraph.has(a)) folderGraph.set(a, new Set());
          folderGraph.get(a).add(b);
        }
      }
    }
    for (const component of cycles(fileGraph)) {
      loops.push({
        level: 'files',
        where: pkg,
        path: loopPath(fileGraph, component).map((f) => relative(src, f)),
      });
    }
    for (const component of cycles(folderGraph)) {
      loops.push({ level: 'folders', where: pkg, path: loopPath(folderGraph, component) });
    }
  }
  for (const deps of packageGraph.values()) {
    for (const dep of [...deps]) if (!packageGraph.has(dep)) deps.delete(dep);
  }
  for (const component of cycles(packageGraph)) {
    loops.push({ level: 'packages', where: 'packages', path: loopPath(packageGraph, component) });
  }
  return loops;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const loops = findImportCycles();
  if (process.argv.includes('--json')) console.log(JSON.stringify(loops, null, 2));
  else {
    for (const l of loops) {
      console.log(`import loop (${l.level}) in ${l.where}: ${l.path.join(' -> ')}`);
    }
    if (loops.length === 0) console.log('no import loops');
  }
  process.exit(loops.length > 0 ? 1 : 0);
}
