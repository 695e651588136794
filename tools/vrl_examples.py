"""The examples of VRL's standard library, per function: how many pass against Conduix remap.

A development tool beside ``tools/vrl_conformance.py`` (which reads the checkout and decides, as VRL's own
runner does, whether a test passes); this one groups the ``example!`` blocks of ``src/stdlib/*.rs`` by the
function they document and prints the pass rate of each, and the share of shipped functions whose
examples all pass. Nothing of VRL is copied into this repository.

    python tools/vrl_examples.py PATH                  # PATH: a VRL work tree or a bare git directory
    python tools/vrl_examples.py PATH -f parse_grok    # one function, with its failing examples
    python tools/vrl_examples.py PATH --failures       # every failing example, with what we got

Examples run from a copy of the VRL tree, so the data files they name by relative path
(``tests/data/grok/aliases.json``...) are found. An expected error counts as met when the message is
VRL's without its byte span (``at (0:12)``), which remap errors do not carry (docs/remap.md, "Error
texts"): the function behaved as VRL's, only the position is written differently; and when remap
refuses the program at compile time with VRL's message (``float!(true)``: the argument's kind is known),
as the same error found earlier.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vrl_conformance import Case, Checkout, Outcome, read_examples, run_case

_IDENTIFIER = re.compile(r'fn identifier\(&self\) -> &\'static str \{\s*"([a-z0-9_]+)"')


def examples_by_function(checkout: Checkout) -> tuple[dict[str, list[Case]], list[str]]:
    """Every stdlib function of the checkout (by identifier) with its examples, and unreadable blocks."""
    found: dict[str, list[Case]] = {}
    problems: list[str] = []
    for name in checkout.files("src/stdlib", ".rs"):
        text = checkout.read(name)
        identifiers = _IDENTIFIER.findall(text)
        if not identifiers:
            continue
        cases, unread = read_examples(name, text)
        problems += unread
        found.setdefault(identifiers[0], []).extend(cases)
        for other in identifiers[1:]:
            found.setdefault(other, [])
    return found, problems


_SPAN = re.compile(r" at \(\d+:\d+\)")


def _judge(case: Case) -> Outcome:
    outcome = run_case(case)
    if outcome.kind == "error position differs":
        return Outcome(True)
    if case.expect_error and outcome.kind.startswith("refuses valid VRL"):
        # the same error, found when compiling (the argument's kind is known) instead of when running
        want = _SPAN.sub("", case.expected).split('": ', 1)[-1].strip()
        if want and want in outcome.detail:
            return Outcome(True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("vrl", type=lambda p: Path(p).resolve(), help="a checkout (or bare git directory) of vrl")
    parser.add_argument("-f", "--function", action="append", default=[], help="only these functions")
    parser.add_argument("--failures", action="store_true", help="show every failing example")
    args = parser.parse_args(argv)

    from conduix.remap import function_names

    checkout = Checkout(args.vrl)
    functions, problems = examples_by_function(checkout)
    shipped = set(function_names())
    with tempfile.TemporaryDirectory() as tree:
        if checkout.bare:
            archive = subprocess.run(["git", "--git-dir", str(args.vrl), "archive", "HEAD"], check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        os.chdir(args.vrl if not checkout.bare else tree)
        results: dict[str, list[tuple[Case, Outcome]]] = defaultdict(list)
        for name, cases in sorted(functions.items()):
            if (args.function and name not in args.function) or name not in shipped:
                continue
            results[name] = [(case, _judge(case)) for case in cases]

    details = args.failures or bool(args.function)
    for name in sorted(functions):
        if args.function and name not in args.function:
            continue
        if name not in shipped:
            print(f"     {name:<48} not shipped")
            continue
        outcomes = results[name]
        passed = sum(1 for _, o in outcomes if o.passed)
        print(f"{'ok  ' if passed == len(outcomes) else 'FAIL'} {name:<48} {passed}/{len(outcomes)}")
        if details:
            for case, outcome in outcomes:
                if not outcome.passed:
                    print(f"     - {case.name} ({case.origin}): {outcome.kind}\n       {outcome.detail}")
    for problem in problems:
        print(problem, file=sys.stderr)

    measured = {n: r for n, r in results.items() if r}
    all_pass = [n for n, r in measured.items() if all(o.passed for _, o in r)]
    total = sum(len(r) for r in measured.values())
    passed = sum(1 for r in measured.values() for _, o in r if o.passed)
    print(f"\nVRL functions: {len(functions)}; shipped here: {len(shipped & set(functions))}")
    if measured:
        print(f"shipped functions whose examples all pass: {len(all_pass)}/{len(measured)} "
              f"({100 * len(all_pass) / len(measured):.1f}%)")
        print(f"examples passing: {passed}/{total} ({100 * passed / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
