"""Generates cqrs.fb from the schema with flatc while building (the generated code is never
committed). The schema is cqrs.fbs beside this file (a link to the repository's
schemas/cqrs.fbs); FLATC names another flatc."""
import os
import shutil
import subprocess
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithSchema(build_py):
    def run(self):
        super().run()
        schema = os.path.join(HERE, "cqrs.fbs")
        flatc = os.environ.get("FLATC") or shutil.which("flatc")
        if not os.path.exists(schema):
            raise SystemExit("cqrs.fbs not found beside setup.py (%s)" % schema)
        if flatc is None:
            raise SystemExit("flatc not found: install flatbuffers-compiler, or set FLATC")
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([flatc, "--python", "-o", out, schema], check=True)
            target = os.path.join(self.build_lib, "cqrs", "fb")
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(os.path.join(out, "cqrs", "fb"), target)


setup(cmdclass={"build_py": BuildWithSchema})
