#!/usr/bin/python3
"""The client library as another project uses it: `cmake --install` of the build into a staging
prefix; tests/consumer built against it once with find_package(cqrs 0.2) and once with
pkg-config (cqrs-local-reader, which requires cqrs-client); both run against a pipeline started
with `cqrs up` on ipc endpoints in a temp dir. Also checks what the package promises: the
client's link interface is ZeroMQ and FlatBuffers only, the library carries its soname, and the
headers need nothing outside the staged prefix, ZeroMQ, FlatBuffers, LMDB and Boost.

usage: consumer_test.py --build BUILD_DIR --cqrs PATH/cqrs --source tests/consumer
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import support  # noqa: E402  (its pipeline config only)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
    return r.stdout


def check(cond, what):
    if not cond:
        sys.exit("consumer test: " + what)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="the cqrs build directory")
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    parser.add_argument("--source", required=True, help="tests/consumer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cqrs-consumer-") as tmp:
        stage = os.path.join(tmp, "stage")
        run(["cmake", "--install", args.build, "--prefix", stage])
        libs = glob.glob(os.path.join(stage, "lib*", "**", "libcqrs-client.so.*.*.*"),
                         recursive=True)
        check(len(libs) == 1, "one libcqrs-client.so.X.Y.Z staged, found %s" % libs)
        libdir = os.path.dirname(libs[0])
        version = re.search(r"\.so\.(\d+\.\d+\.\d+)$", libs[0]).group(1)
        soname = re.search(r"SONAME\)\s+Library soname: \[(.*)\]",
                           run(["readelf", "-d", libs[0]])).group(1)
        check(soname == "libcqrs-client.so." + version.split(".")[0], "soname " + soname)
        for name in (soname, "libcqrs-client.so"):
            check(os.path.islink(os.path.join(libdir, name)), name + " links to the library")

        targets = open(glob.glob(os.path.join(stage, "lib*", "**", "cqrsTargets.cmake"),
                                 recursive=True)[0]).read()
        client = re.search(r"set_target_properties\(cqrs::client .*?\n\)", targets, re.S).group(0)
        link = re.search(r'INTERFACE_LINK_LIBRARIES "([^"]*)"', client).group(1)
        check(link == "cppzmq;flatbuffers::flatbuffers",
              "cqrs::client's link interface is %r, not ZeroMQ and FlatBuffers only" % link)

        # Once with find_package, once with pkg-config.
        built = os.path.join(tmp, "cmake")
        run(["cmake", "-S", args.source, "-B", built, "-DCMAKE_PREFIX_PATH=" + stage])
        run(["cmake", "--build", built])
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        check(run(["pkg-config", "--modversion", "cqrs-client"], env=env).strip() == version,
              "pkg-config --modversion cqrs-client is the library's version")
        flags = run(["pkg-config", "--cflags", "--libs", "cqrs-local-reader"], env=env).split()
        with_pc = os.path.join(tmp, "consumer-pkg-config")
        run(["g++", "-o", with_pc, os.path.join(args.source, "consumer.cc")] + flags)
        binaries = [os.path.join(built, "consumer"), with_pc]

        ep, config = support.ipc_pipeline_config(tmp)
        data = os.path.join(tmp, "data")
        log = open(os.path.join(tmp, "up.log"), "w")
        up = subprocess.Popen([args.cqrs, "up", "--quiet", "--config", config, "--data", data],
                              stdout=log, stderr=log)
        try:
            for i, binary in enumerate(binaries):
                # The pkg-config build has no run path: found through LD_LIBRARY_PATH, as a
                # user with a private prefix would.
                run_env = dict(os.environ, LD_LIBRARY_PATH=libdir) if binary == with_pc else None
                resolved = run(["ldd", binary], env=run_env)
                check(os.path.realpath(libs[0]) in [os.path.realpath(p) for p in re.findall(
                    r"libcqrs-client\.so\.\S* => (\S+)", resolved)],
                      "%s loads the staged library:\n%s" % (binary, resolved))
                out = run([binary, ep["writer"], ep["reader0"], data, "k%d" % i], env=run_env,
                          timeout=60)
                check(re.fullmatch(r"consumer %s seq \d+\n" % re.escape(version), out),
                      "%s printed %r" % (binary, out))
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=20)
    print("consumer: built with find_package and pkg-config, both wrote and read")


if __name__ == "__main__":
    main()
