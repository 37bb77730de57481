"""Check that no two files of the binding (csrc/binding) depend on each other.

Each binding file is compiled alone; a file depends on another when it uses
a symbol the other defines.  The dependency graph must have no circle, so
that the binding reads bottom-up (args, state, channel.h -> op -> the types
-> module.c).  Prints the graph, and every circle found; exit 1 if any.

    python3 .ci/check-binding-layers.py
"""

import collections
import pathlib
import subprocess
import sys
import sysconfig
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BINDING = ROOT / "csrc" / "binding"
CORE = ROOT / "csrc" / "core"


def symbols(obj: pathlib.Path):
    defined, used = set(), set()
    out = subprocess.run(["nm", str(obj)], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDRB":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def circles(graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    include = sysconfig.get_paths()["include"]
    sources = sorted(BINDING.rglob("*.c"))
    defined, used = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sources:
            name = str(src.relative_to(BINDING))
            obj = pathlib.Path(tmp) / (name.replace("/", "_") + ".o")
            subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-c", f"-I{include}",
                            f"-I{BINDING}", f"-I{CORE}", str(src), "-o", str(obj)], check=True)
            defined[name], used[name] = symbols(obj)
    owner = {sym: name for name, syms in defined.items() for sym in syms}
    graph = collections.defaultdict(set)
    for name, syms in used.items():
        graph[name] |= {owner[s] for s in syms if s in owner and owner[s] != name}
    for name in sorted(graph):
        print(f"{name:22} -> {', '.join(sorted(graph[name])) or '-'}")
    found = circles(graph)
    for component in found:
        print("circle between:", " ".join(component))
    print(f"{len(sources)} binding files, {len(found)} circles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
