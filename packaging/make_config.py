#!/usr/bin/python3
"""Writes the packaged /etc/cqrs/cqrs.toml: every key of docs/OPERATIONS.md's TOML blocks
(Configuration, Read models, Security), each line commented out, so the defaults apply until an
operator uncomments one; only `data` is set, to the units' StateDirectory.

usage: make_config.py OPERATIONS.md OUTPUT
"""
import re
import sys


def main():
    source, output = sys.argv[1], sys.argv[2]
    with open(source) as f:
        blocks = re.findall(r"```toml\n(.*?)```", f.read(), re.S)
    if len(blocks) < 3:
        raise SystemExit("%s: expected the Configuration, Read models and Security TOML blocks, "
                         "found %d" % (source, len(blocks)))
    lines = ["# cqrs configuration (the servers' units run with --config /etc/cqrs/cqrs.toml).",
             "# Every key with its default, from docs/OPERATIONS.md; uncomment to change one.",
             "# Unknown keys are errors. After a change: systemctl restart cqrs.target",
             "",
             'data = "/var/lib/cqrs"        # the units\' StateDirectory=cqrs',
             ""]
    for block in blocks:
        for line in block.rstrip("\n").split("\n"):
            if line.startswith("data ="):
                continue
            lines.append("# " + line if line.strip() else "")
        lines.append("")
    with open(output, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
