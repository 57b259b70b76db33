#!/usr/bin/python3
"""Checks every #include of the tree against the layering table of docs/ARCHITECTURE.md.

A row's first cell names a folder (`writer/`) or one file stem in it (`client/local_reader`,
which covers local_reader.h and local_reader.cc); its last cell lists what it may include:
whole folders (`store`) or single headers (`security/keys.h`). A folder always includes itself.
A file stem's row replaces its folder's row. Exits 1 naming each include that breaks it.

  layering_test.py --root <repository>
"""
import argparse
import pathlib
import re
import sys


def read_table(doc):
    """{folder or folder/stem: (allowed folders, allowed headers)} from the Layering table."""
    text = doc.read_text()
    section = text.split("## Layering", 1)[1].split("\n## ", 1)[0]
    rules = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        subject = cells[0].strip("`").rstrip("/")
        allowed = re.findall(r"`([^`]+)`", cells[-1])
        folders = {a for a in allowed if "/" not in a}
        headers = {a for a in allowed if "/" in a}
        rules[subject] = (folders, headers)
    return rules


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="the repository's root")
    root = pathlib.Path(parser.parse_args().root)
    rules = read_table(root / "docs" / "ARCHITECTURE.md")
    if len(rules) < 10:
        print(f"layering: only {len(rules)} rows read from docs/ARCHITECTURE.md", file=sys.stderr)
        return 1
    include = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"', re.M)
    broken, checked = [], 0
    for folder in sorted({s.split("/")[0] for s in rules}):
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".h", ".cc"):
                continue
            stem = f"{folder}/{path.stem}"
            folders, headers = rules.get(stem, rules[folder])
            for target_folder, target in include.findall(path.read_text()):
                checked += 1
                header = f"{target_folder}/{target}"
                target_stem = f"{target_folder}/{pathlib.Path(target).stem}"
                if target_folder == folder:
                    # Its own folder, except a file stem with a row of its own: only its own
                    # header is shared with (or taken from) the rest of the folder.
                    if stem not in rules and target_stem not in rules:
                        continue
                    if stem == target_stem:
                        continue
                if target_folder in folders or header in headers:
                    continue
                broken.append(f"{path.relative_to(root)} includes {header}")
    for b in broken:
        print(f"layering: {b}, which docs/ARCHITECTURE.md does not allow", file=sys.stderr)
    print(f"layering: {checked} includes checked, {len(broken)} not allowed")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
