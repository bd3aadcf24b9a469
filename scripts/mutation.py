"""Mutation testing of govtrack's critical modules with mutmut, one module at a time, against PostgreSQL.

    .venv/bin/python scripts/mutation.py [MODULE ...] [--budget SECONDS] [--report PATH] [--changed-since REF]

Each module named (default: every module in scripts/mutation_targets.toml) is run in a scratch copy of the
working tree under var/mutation/<module>/, with a [tool.mutmut] section that mutates that module only and runs
only the tests the targets file maps to it; mutmut then runs, for each mutant, just the tests that called the
mutated function. The scratch copy keeps mutmut's `mutants/` folder out of the checkout and lets two modules'
configurations differ without editing pyproject.toml.

The tests share one test database per run (GOVTRACK_TEST_DB_SUFFIX, kept between mutants with --reuse-db and
dropped at the end), so a mutant costs its tests' time, not a migration. One mutant runs at a time: the tests
lock rows and some flush tables, and two mutants on one database would kill each other's tests.

The report (var/mutation-report.md unless --report says otherwise) has killed / survived / timeout / no tests
per module, the kill ratio against the module's goal, and every surviving mutant's name; `mutmut show NAME`,
run in var/mutation/<module>/, prints a survivor's diff. A module that runs past --budget is stopped and
reported with what it had finished.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "scripts" / "mutation_targets.toml"
SCRATCH = ROOT / "var" / "mutation"
# What the tests need beside the mutated packages: mutmut runs pytest inside mutants/.
ALSO_COPY = ["tests", "templates", "static", "contracts/build", "manage.py", "pyproject.toml"]
SOURCE_PATHS = ["apps", "govtrack", "compute_hooks"]
RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass
class ModuleResult:
    module: str
    goal: int
    tests: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return self.counts.get("killed", 0) + self.counts.get("caught by type check", 0)

    @property
    def ratio(self) -> float | None:
        # Mutants no test reaches count against the module: an uncovered line is an untested one.
        return None if not self.total else 100.0 * self.killed / self.total


def load_targets() -> dict[str, dict]:
    with TARGETS.open("rb") as handle:
        return tomllib.load(handle)["modules"]


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    return [name for name in out.decode().split("\0") if name]


def changed_files(ref: str) -> set[str]:
    """Files that differ from `ref`'s merge base, committed or not."""
    base = subprocess.run(["git", "merge-base", ref, "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True)
    out = subprocess.run(
        ["git", "diff", "--name-only", base.stdout.strip()], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return set(out.stdout.split())


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def prepare_scratch(module: str, tests: list[str], db_suffix: str) -> Path:
    """A copy of the working tree (tracked and new files, not ignored ones) with this module's mutmut settings."""
    workdir = SCRATCH / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(workdir, ignore_errors=True)
    for name in tracked_files():
        source = ROOT / name
        if not source.is_file() or name.startswith(("contracts/node_modules/", "var/")):
            continue
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + "\n[tool.mutmut]\n"
        + f"source_paths = {toml_list(SOURCE_PATHS)}\n"
        + f"only_mutate = {toml_list([module])}\n"
        + f"also_copy = {toml_list(ALSO_COPY)}\n"
        + f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        + 'pytest_add_cli_args = ["--reuse-db", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]\n'
        + "mutate_only_covered_lines = false\n"
        + ("debug = true\n" if os.environ.get("MUTATION_DEBUG") else "")
    )
    return workdir


def read_results(workdir: Path, result: ModuleResult) -> None:
    out = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mutmut"), "results", "--all", "true"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for line in out.splitlines():
        match = RESULT_LINE.match(line)
        if not match:
            continue
        status = match["status"].strip()
        result.counts[status] = result.counts.get(status, 0) + 1
        if status in ("survived", "no tests", "suspicious"):
            result.survivors.append(f"{match['name']} ({status})")


def module_pattern(module: str) -> str:
    """mutmut's names for the mutants of one file: apps/core/transitions.py -> apps.core.transitions.*"""
    return module.removesuffix(".py").replace("/", ".") + ".*"


def run_module(module: str, spec: dict, *, budget: int, db_suffix: str) -> ModuleResult:
    tests = [path for path in spec["tests"] if (ROOT / path.split("::")[0]).exists()]
    result = ModuleResult(module=module, goal=int(spec.get("goal", 80)), tests=tests)
    missing = sorted(set(spec["tests"]) - set(tests))
    if missing:
        result.note = "tests not found: " + ", ".join(missing) + ". "
    if not tests:
        result.note += "No tests to run."
        return result
    workdir = prepare_scratch(module, tests, db_suffix)
    env = {**os.environ, "GOVTRACK_TEST_DB_SUFFIX": db_suffix, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    log = (workdir / "mutmut.log").open("w")
    # Create and migrate the shared test database before mutmut forks anything: a child that found it half made
    # failed in its set-up, and mutmut counted that failure as a kill.
    warm = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "--reuse-db", "-p", "no:cacheprovider", "-q", "-x", *tests],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        check=False,
    )
    if warm.returncode != 0:
        log.close()
        result.note += f"The module's tests fail without any mutant (see {workdir / 'mutmut.log'}). "
        result.seconds = time.monotonic() - started
        return result
    print(f"== {module}: mutmut over {' '.join(tests)} (budget {budget}s, log {workdir / 'mutmut.log'})", flush=True)
    process = subprocess.Popen(
        # Named by a pattern, not a bare `mutmut run`: bare runs here counted set-up failures of forked children
        # as kills (equivalent mutants "killed"); a named run collects the same stats and judged them right.
        [str(ROOT / ".venv" / "bin" / "mutmut"), "run", "--max-children", "1", module_pattern(module)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=budget)
        if code != 0:
            result.note += f"mutmut exited {code} (see {workdir / 'mutmut.log'}). "
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        result.note += f"Stopped at the {budget}s budget: figures are for the mutants finished by then. "
    finally:
        log.close()
    result.seconds = time.monotonic() - started
    read_results(workdir, result)
    return result


def drop_database(db_suffix: str) -> None:
    """Drops the test database the run kept between mutants."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govtrack.settings")
    import django
    from django.conf import settings

    django.setup()
    name = f"test_{settings.DATABASES['default']['NAME']}_{db_suffix}"
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


def write_report(results: list[ModuleResult], path: Path) -> None:
    lines = [
        "# Mutation report",
        "",
        f"mutmut over {len(results)} module(s), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        "Kill ratio = killed / all mutants (no tests and survived count against it).",
        "",
        "| module | mutants | killed | survived | timeout | no tests | other | kill ratio | goal | time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    known = {"killed", "caught by type check", "survived", "timeout", "no tests"}
    for r in results:
        other = sum(count for status, count in r.counts.items() if status not in known)
        ratio = "-" if r.ratio is None else f"{r.ratio:.1f} %"
        mark = "" if r.ratio is None or r.ratio >= r.goal else " (below)"
        lines.append(
            f"| {r.module} | {r.total} | {r.killed} | {r.counts.get('survived', 0)} | {r.counts.get('timeout', 0)} "
            f"| {r.counts.get('no tests', 0)} | {other} | {ratio}{mark} | {r.goal} % | {r.seconds:.0f}s |"
        )
    for r in results:
        lines += ["", f"## {r.module}", "", f"Tests: {', '.join(r.tests) or 'none'}."]
        if r.note:
            lines += ["", r.note.strip()]
        if r.survivors:
            lines += ["", "Survivors (`mutmut show NAME` in the module's scratch folder prints the diff):", ""]
            lines += [f"- `{name}`" for name in r.survivors]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: every module in the targets file)")
    parser.add_argument("--budget", type=int, default=1200, help="seconds per module before it is stopped")
    parser.add_argument("--report", type=Path, default=ROOT / "var" / "mutation-report.md")
    parser.add_argument(
        "--changed-since", metavar="REF", help="only the modules whose code or tests changed since REF (e.g. main)"
    )
    args = parser.parse_args()
    targets = load_targets()
    unknown = [module for module in args.modules if module not in targets]
    if unknown:
        parser.error(f"not in {TARGETS.relative_to(ROOT)}: {', '.join(unknown)}")
    if args.changed_since:
        changed = changed_files(args.changed_since)
        args.modules = [
            module
            for module in (args.modules or targets)
            if module in changed or changed & set(targets[module]["tests"])
        ]
        if not args.modules:
            print(f"No critical module changed since {args.changed_since}.")
            return 0
    results = []
    for number, module in enumerate(args.modules or list(targets), start=1):
        # A database per module, dropped after it: one module's leftovers never decide another's mutants.
        db_suffix = f"mut{os.getpid()}_{number}"
        try:
            results.append(run_module(module, targets[module], budget=args.budget, db_suffix=db_suffix))
        finally:
            drop_database(db_suffix)
        write_report(results, args.report)
    write_report(results, args.report)
    print(args.report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
