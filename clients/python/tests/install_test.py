#!/usr/bin/python3
"""The package installs as docs/OPERATIONS.md says, offline, from Debian's packages only: into a
venv made with --system-site-packages, and into a plain directory with --target. Works on a copy
of clients/python (pip builds in the tree it is given). Run with Debian's /usr/bin/python3.

usage: install_test.py --source clients/python --cqrs PATH/cqrs
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

CHECK = ("import cqrs, cqrs.fb.Event, cqrs.codec, sys; "
         "assert cqrs.__file__.startswith(sys.argv[1]), cqrs.__file__; "
         "frame = cqrs.codec.encode_commands([('Upsert', 'orders', 'o1', 0, {'n': 1})], 'c', 1); "
         "assert frame[4:8] == b'CQC1'; print(cqrs.__version__)")


def run(cmd, **kw):
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    print(r.stdout, end="", flush=True)
    if r.returncode != 0:
        raise SystemExit("exit %d: %s" % (r.returncode, " ".join(cmd)))
    return r.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True, help="clients/python")
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args = parser.parse_args()
    version = run([args.cqrs, "--version"]).split()[-1]
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="cqrs-pyinstall-") as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(args.source, src, symlinks=False,  # the schema link becomes a file
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        venv = os.path.join(tmp, "venv")
        run([sys.executable, "-m", "venv", "--system-site-packages", venv], env=env)
        run([os.path.join(venv, "bin", "pip"), "install", "--no-build-isolation", src], env=env)
        got = run([os.path.join(venv, "bin", "python"), "-c", CHECK, venv], env=env, cwd=tmp)
        if got.strip() != version:
            raise SystemExit("the venv's cqrs is %r, the servers %r" % (got.strip(), version))

        target = os.path.join(tmp, "target")
        run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
             "--target", target, src], env=env)
        got = run([sys.executable, "-c", CHECK, target], env=dict(env, PYTHONPATH=target),
                  cwd=tmp)
        if got.strip() != version:
            raise SystemExit("the --target cqrs is %r, the servers %r" % (got.strip(), version))
    print("python package install: venv and --target both work")


if __name__ == "__main__":
    main()
