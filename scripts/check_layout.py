"""The workspace's layout rules (DESIGN.md, "The dependency direction is the architecture").

Reads `cargo metadata --format-version 1 --no-deps` on stdin and checks, through normal dependencies only:

1. no extension crate reaches `surge-host` (extensions see the host only through `surge-interfaces`);
2. `surge-interfaces` reaches no workspace crate but `surge-primitives`;
3. the files of `crates/exex/src` do not import each other in a cycle.

Prints one line per check passed and one `FAIL` line per offence; exits 1 if any check failed.
"""

import json
import os
import re
import sys
from collections import deque

# The host, its parts, and what both sides stand on: every other crate under crates/ is an extension.
NOT_EXTENSIONS = {
    "surge-host",
    "surge-rpc",
    "surge-txpool",
    "surge-trie",
    "surge-genesis",
    "surge-test-utils",
    "surge-l2-rules",
    "surge-primitives",
    "surge-interfaces",
}
HOST = "surge-host"
SEAMS = "surge-interfaces"
SEAMS_MAY_USE = {"surge-primitives"}
CYCLE_FREE_SRC = "crates/exex/src"


def workspace_graph(metadata):
    """Each workspace crate's normal dependencies on other workspace crates, and its manifest's directory."""
    names = {p["name"] for p in metadata["packages"]}
    graph, dirs = {}, {}
    for p in metadata["packages"]:
        deps = sorted({d["name"] for d in p["dependencies"] if d["kind"] is None and d["name"] in names})
        graph[p["name"]] = deps
        dirs[p["name"]] = os.path.relpath(os.path.dirname(p["manifest_path"]), metadata["workspace_root"])
    return graph, dirs


def path_to(graph, start, allowed):
    """The first workspace crate reached from `start` that `allowed` refuses, with the path to it."""
    parent = {start: None}
    queue = deque([start])
    while queue:
        crate = queue.popleft()
        for dep in graph.get(crate, []):
            if dep in parent:
                continue
            parent[dep] = crate
            if not allowed(dep):
                path = [dep]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return list(reversed(path))
            queue.append(dep)
    return None


def check_extensions(graph, dirs):
    """Check 1: every crate under crates/ that is not the host side reaches surge-host through none of its
    normal dependencies."""
    extensions = sorted(n for n, d in dirs.items() if d.startswith("crates" + os.sep) and n not in NOT_EXTENSIONS)
    failures = []
    for ext in extensions:
        path = path_to(graph, ext, lambda c: c != HOST)
        if path:
            failures.append(f"FAIL: extension crate {ext} depends on {HOST}: {' -> '.join(path)}")
    if failures:
        return failures
    return [f"ok: no extension crate depends on {HOST} ({', '.join(extensions)})"]


def check_seams(graph):
    """Check 2: surge-interfaces depends on, and reaches, no workspace crate but surge-primitives."""
    if SEAMS not in graph:
        return [f"FAIL: no crate {SEAMS} in the workspace"]
    failures = []
    for dep in graph[SEAMS]:
        if dep not in SEAMS_MAY_USE:
            failures.append(f"FAIL: {SEAMS} depends on workspace crate {dep} (only {', '.join(sorted(SEAMS_MAY_USE))})")
    path = path_to(graph, SEAMS, lambda c: c in SEAMS_MAY_USE)
    if path and not failures:
        failures.append(f"FAIL: {SEAMS} reaches workspace crate {path[-1]}: {' -> '.join(path)}")
    if failures:
        return failures
    return [f"ok: {SEAMS} depends on no workspace crate but {', '.join(sorted(SEAMS_MAY_USE))}"]


# --- file-level imports of one crate's sources -------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|\S")
ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union", "mod"}


def strip(text):
    """The source without comments, string and character literals (each literal becomes `""`)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            i += 2 if c == "b" else 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and (m := re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'").match(text, i)):
            i = m.end()
            out.append('""')
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_files(src):
    """Module path (tuple) -> file, for the files of a crate's source tree (lib.rs is the root)."""
    modules = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            parts = rel[:-3].split(os.sep)
            if parts in (["lib"], ["main"]):
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            elif parts[0] == "bin":
                continue
            modules[tuple(parts)] = rel
    return modules


def skip_item(tokens, i):
    """The index after the item starting at `i` (attributes included)."""
    while i + 1 < len(tokens) and tokens[i] == "#" and tokens[i + 1] == "[":
        i = matching(tokens, i + 1, "[", "]") + 1
    depth = 0
    while i < len(tokens):
        t = tokens[i]
        if t in "([":
            depth += 1
        elif t in ")]":
            depth -= 1
        elif depth == 0 and t == ";":
            return i + 1
        elif depth == 0 and t == "{":
            return matching(tokens, i, "{", "}") + 1
        i += 1
    return i


def matching(tokens, i, open_, close):
    """The index of the bracket closing the one at `i`."""
    depth = 0
    while i < len(tokens):
        if tokens[i] == open_:
            depth += 1
        elif tokens[i] == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return i


def parse_use(tokens, i, prefix, out):
    """Parses a use tree at `i` into (path, name) pairs (name `*` for a glob); returns the index after it."""
    prefix = list(prefix)
    if i < len(tokens) and tokens[i] == "::":
        i += 1
    while i < len(tokens):
        t = tokens[i]
        if t == "{":
            i += 1
            while i < len(tokens) and tokens[i] != "}":
                i = parse_use(tokens, i, prefix, out)
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
            return i + 1
        if t == "*":
            out.append((prefix, "*"))
            return i + 1
        if not re.match(r"[A-Za-z_]", t):
            return i
        if i + 1 < len(tokens) and tokens[i + 1] == "::":
            prefix.append(t)
            i += 2
            continue
        if t == "self":
            path, name = prefix, prefix[-1] if prefix else "self"
        else:
            path, name = prefix + [t], t
        i += 1
        if i + 1 < len(tokens) and tokens[i] == "as":
            name = tokens[i + 1]
            i += 2
        out.append((path, name))
        return i
    return i


class Crate:
    """One crate's modules (files and inline), what each imports and defines, and every path each file
    names, enough to resolve a path to the file that defines what it names."""

    def __init__(self, src):
        self.files = module_files(src)
        self.module_file = dict(self.files)  # inline modules included
        self.imports = {}  # module -> {name: (module the path is relative to, path)}
        self.globs = {}  # module -> [(module, path)]
        self.defines = {}  # module -> {name}
        self.refs = []  # (file, module, path as written)
        self.test_only = set()
        for module, rel in sorted(self.files.items()):
            if any(module[: len(t)] == t for t in self.test_only):
                continue
            with open(os.path.join(src, rel), encoding="utf-8") as f:
                self.scan(rel, module, TOKEN.findall(strip(f.read())))

    def scan(self, rel, module, tokens):
        scopes = []  # (module path or None, its closing brace's index)
        i = 0
        while i < len(tokens):
            while scopes and i > scopes[-1][1]:
                scopes.pop()
            here = next((s for s, _ in reversed(scopes) if s is not None), module)
            t = tokens[i]
            if tokens[i : i + 7] == ["#", "[", "cfg", "(", "test", ")", "]"]:
                end = skip_item(tokens, i)
                item = tokens[i + 7 : end]
                if "mod" in item and item[-1] == ";":
                    self.test_only.add(here + (item[item.index("mod") + 1],))
                i = end
                continue
            if t == "mod" and i + 2 < len(tokens) and tokens[i + 2] == "{":
                child = here + (tokens[i + 1],)
                self.module_file[child] = rel
                self.defines.setdefault(here, set()).add(tokens[i + 1])
                scopes.append((child, matching(tokens, i + 2, "{", "}")))
                i += 3
                continue
            if t == "{":
                scopes.append((None, matching(tokens, i, "{", "}")))
                i += 1
                continue
            if t in ITEM_KEYWORDS and i + 1 < len(tokens) and re.match(r"[A-Za-z_]", tokens[i + 1]):
                self.defines.setdefault(here, set()).add(tokens[i + 1])
            if t == "use" and (i == 0 or tokens[i - 1] != "::"):
                trees = []
                i = parse_use(tokens, i + 1, [], trees)
                for path, name in trees:
                    if name == "*":
                        self.globs.setdefault(here, []).append((here, path))
                    else:
                        self.imports.setdefault(here, {})[name] = (here, path)
                    self.refs.append((rel, here, path))
                continue
            if re.match(r"[A-Za-z_]", t) and tokens[i + 1 : i + 2] == ["::"] and (i == 0 or tokens[i - 1] not in ("::", "$", "in")):
                path = [t]
                j = i + 1
                while j + 1 < len(tokens) and tokens[j] == "::" and re.match(r"[A-Za-z_]", tokens[j + 1]):
                    path.append(tokens[j + 1])
                    j += 2
                self.refs.append((rel, here, path))
                i = j
                continue
            i += 1

    def absolute(self, here, path, depth=0):
        """The crate-absolute path `path` names when written in module `here`, or None (another crate)."""
        if not path:
            return None
        first, rest = path[0], list(path[1:])
        if first == "crate":
            return rest
        if first == "self":
            return list(here) + rest
        if first == "super":
            up = list(here)
            while path and path[0] == "super":
                up = up[:-1]
                path = path[1:]
            return up + list(path)
        if tuple(here) + (first,) in self.module_file:
            return list(here) + list(path)
        imported = self.imports.get(tuple(here), {}).get(first)
        if imported and depth < 8 and imported[1] != path:
            target = self.absolute(imported[0], imported[1], depth + 1)
            return None if target is None else target + rest
        return None

    def resolve(self, absolute, depth=0):
        """The file that defines what crate-absolute path `absolute` names (following re-exports)."""
        k = len(absolute)
        while k > 0 and tuple(absolute[:k]) not in self.module_file:
            k -= 1
        module, rest = tuple(absolute[:k]), absolute[k:]
        if rest and depth < 8:
            name = rest[0]
            imported = self.imports.get(module, {}).get(name)
            if imported and name not in self.defines.get(module, set()):
                target = self.absolute(imported[0], imported[1])
                if target is not None and target != absolute:
                    return self.resolve(target + rest[1:], depth + 1)
            if name not in self.defines.get(module, set()):
                for glob_here, glob_path in self.globs.get(module, []):
                    source = self.absolute(glob_here, glob_path)
                    if source is None or tuple(source) not in self.module_file:
                        continue
                    source = tuple(source)
                    if name in self.defines.get(source, set()) or name in self.imports.get(source, {}):
                        return self.resolve(list(source) + rest, depth + 1)
        return self.module_file[module]

    def edges(self):
        """file -> {file it imports: an example of the path that does}."""
        out = {f: {} for m, f in self.files.items() if not any(m[: len(t)] == t for t in self.test_only)}
        for rel, here, path in self.refs:
            absolute = self.absolute(here, path)
            if absolute is None:
                continue
            target = self.resolve(absolute)
            if target != rel and target in out and rel in out:
                out[rel].setdefault(target, "::".join(path))
        return out


def components(graph):
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_cycle(graph, start, members):
    """A shortest cycle through `start` inside `members`."""
    parent = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return list(reversed(path)) + [start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return [start]


def check_cycles(root, src_dir):
    """Check 3: the files of `src_dir` import each other in no cycle (code under `#[cfg(test)]` aside)."""
    src = os.path.join(root, src_dir)
    if not os.path.isdir(src):
        return [f"FAIL: no {src_dir}"]
    graph = Crate(src).edges()
    comps = components(graph)
    if not comps:
        return [f"ok: the files of {src_dir} import each other in no cycle ({len(graph)} files)"]
    failures = []
    for comp in comps:
        members = set(comp)
        failures.append(f"FAIL: {src_dir}: {len(comp)} files import each other in a cycle: {', '.join(comp)}")
        cycles = []
        for start in comp:
            cycle = shortest_cycle(graph, start, members)[:-1]
            turn = cycle.index(min(cycle))
            cycle = cycle[turn:] + cycle[:turn]
            if cycle not in cycles:
                cycles.append(cycle)
        for cycle in sorted(cycles, key=lambda c: (len(c), c)):
            failures.append(f"  cycle: {' -> '.join(cycle + cycle[:1])}")
        for v in comp:
            for w, example in sorted(graph[v].items()):
                if w in members:
                    failures.append(f"  {v} -> {w} ({example})")
    return failures


def main():
    if len(sys.argv) != 1:
        print("usage: check_layout.py < cargo-metadata.json", file=sys.stderr)
        return 2
    metadata = json.load(sys.stdin)
    graph, dirs = workspace_graph(metadata)
    lines = check_extensions(graph, dirs) + check_seams(graph) + check_cycles(metadata["workspace_root"], CYCLE_FREE_SRC)
    for line in lines:
        print(line)
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
