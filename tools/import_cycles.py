"""Find import circles in the packages, from their source (nothing is imported).

    python tools/import_cycles.py [--type-checking] [PACKAGE ...]   (default: minigrad optim models)

Every `import` and `from ... import` statement of every file counts, at the top of a module or
inside a function alike (DESIGN.md: a lower floor never imports a higher one, not even inside a
function), except those under `if TYPE_CHECKING:`, which never run (--type-checking counts them
too). `from pkg import name` is an edge to the module pkg.name when there is one, else to pkg;
importing pkg.sub is an edge to pkg.sub only, not to pkg/__init__.py, which Python runs first
(otherwise every module would be in a circle with its package's __init__).

Prints the modules and edges it read, then each circle as a path of file:line steps, then the
same for the packages as wholes (models -> optim -> minigrad: nothing imports upward). Exit
status 1 when there is a circle.
"""
import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("minigrad", "optim", "models")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(test):
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imports(tree, type_checking):
    """The import statements of a module, with whether each is inside a function."""
    found = []

    def visit(node, in_function):
        if isinstance(node, ast.If) and is_type_checking(node.test) and not type_checking:
            children = node.orelse  # the body runs only under a type checker
        else:
            children = ast.iter_child_nodes(node)
        for child in children:
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                           ast.Lambda)))
    visit(tree, False)
    return found


def targets(node, name, is_package, known):
    """The known modules an import statement in module `name` reaches."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            package = name if is_package else name.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = ".".join(p for p in (package, node.module) if p)
        else:
            base = node.module
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                 for alias in node.names]
    out = []
    for target in names:
        while target and target not in known:  # import a.b.c of an unknown c: a.b
            target = target.rpartition(".")[0]
        if target and target not in out:
            out.append(target)
    return out


def graph(packages, type_checking):
    """{module: {imported module: (file, line, inside a function)}} over the packages' files."""
    files = {module_name(p): p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))}
    edges = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        out = edges[name] = {}
        for node, in_function in imports(tree, type_checking):
            for target in targets(node, name, path.name == "__init__.py", files):
                if target != name:
                    out.setdefault(target, (path.relative_to(ROOT), node.lineno, in_function))
    return edges


def cycles(edges):
    """One shortest circle through each strongly connected group of nodes (Tarjan's algorithm,
    iterative), as a list of nodes whose last imports its first."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges.get(child, ()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return [shortest_circle(edges, group) for group in groups]


def shortest_circle(edges, group):
    """The shortest circle through the group's first member (breadth-first, inside the group)."""
    start = min(group)
    came_from, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for child in edges.get(node, ()):
                if child == start:
                    path = [node]
                    while came_from[path[-1]] is not None:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if child in group and child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    return [start]


def packages_graph(edges):
    """The same edges between top-level packages, each with one statement that makes it."""
    out = {}
    for name, targets_ in edges.items():
        top = name.partition(".")[0]
        for target, where in targets_.items():
            if target.partition(".")[0] != top:
                out.setdefault(top, {}).setdefault(target.partition(".")[0], where)
    return out


def report(edges, what):
    found = cycles(edges)
    for circle in found:
        steps = [f"{a} -> {b}  ({edges[a][b][0]}:{edges[a][b][1]}"
                 f"{', inside a function' if edges[a][b][2] else ''})"
                 for a, b in zip(circle, circle[1:] + circle[:1])]
        print(f"circle of {len(circle)} {what}:\n    " + "\n    ".join(steps))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("packages", nargs="*", default=PACKAGES)
    parser.add_argument("--type-checking", action="store_true",
                        help="also count the imports under `if TYPE_CHECKING:`")
    args = parser.parse_args(argv)
    edges = graph(args.packages, args.type_checking)
    n_edges = sum(len(t) for t in edges.values())
    in_functions = sum(w[2] for t in edges.values() for w in t.values())
    print(f"{len(edges)} modules, {n_edges} imports between them ({in_functions} inside a "
          f"function), {'with' if args.type_checking else 'without'} those under TYPE_CHECKING")
    found = report(edges, "modules")
    between = packages_graph(edges)
    print("packages: " + "; ".join(f"{p} -> {', '.join(sorted(between.get(p, {}))) or '(none)'}"
                                    for p in args.packages))
    found += report(between, "packages")
    print(f"{len(found)} import circle{'s' if len(found) != 1 else ''}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
