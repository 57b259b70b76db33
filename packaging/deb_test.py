#!/usr/bin/python3
"""The Debian packages as an operator gets them, installed nowhere: cpack builds them from the
build directory into a temp dir; dpkg-deb -I/-c/-e check their names, version, dependencies,
files and conffiles; dpkg-deb -x unpacks all three into a scratch root, where systemd-analyze
verify checks every unit (with the host's own targets copied in) and the unpacked servers start
with the packaged /etc/cqrs/cqrs.toml on a temp data dir, each telling a NOTIFY_SOCKET of the
test's READY=1 (what Type=notify waits for) and STOPPING=1; the unpacked cqrs command writes and
reads through them; a program built against the unpacked libcqrs-dev (pkg-config) runs against
the unpacked libcqrs-client0. Nothing is installed into /.

usage: deb_test.py --build BUILD_DIR
"""
import argparse
import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

VERSION = "0.2.0"
UNITS = ["cqrs-writer.service", "cqrs-projector.service", "cqrs-reader@.service",
         "cqrs-mirror.service", "cqrs-replica.service", "cqrs-pgsink.service",
         "cqrs-metrics.service", "cqrs.target"]


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("exit %d: %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
    return r.stdout


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)
    print("ok: " + what, flush=True)


def free_base_port():
    """A base port whose writer, events, replay and readers' ports are free (+1, +2, +3, +10,
    +11)."""
    for _ in range(100):
        base = random.randrange(20000, 60000, 100)
        try:
            for port in (base + 1, base + 2, base + 3, base + 10, base + 11):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("no free base port")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", required=True, help="the build directory (Release)")
    args = parser.parse_args()
    args.build = os.path.abspath(args.build)
    arch = run(["dpkg", "--print-architecture"]).strip()
    with tempfile.TemporaryDirectory(prefix="cqrs-deb-") as tmp:
        out = os.path.join(tmp, "packages")
        run(["cpack", "-G", "DEB", "-B", os.path.join(tmp, "cpack"),
             "-D", "CPACK_OUTPUT_FILE_PREFIX=" + out,
             "--config", os.path.join(args.build, "CPackConfig.cmake")], cwd=tmp)
        debs = {name: os.path.join(out, "%s_%s_%s.deb" % (name, VERSION, arch))
                for name in ("cqrs", "libcqrs-client0", "libcqrs-dev")}
        for name, path in debs.items():
            check(os.path.exists(path), "cpack made %s" % os.path.basename(path))
            fields = {k: run(["dpkg-deb", "-f", path, k]).strip()
                      for k in ("Package", "Version", "Architecture", "Depends", "Maintainer")}
            check(fields["Package"] == name and fields["Version"] == VERSION and
                  fields["Architecture"] == arch and fields["Maintainer"],
                  "%s: Package, Version %s, Architecture %s, Maintainer" % (name, VERSION, arch))
            depends = fields["Depends"]
            if name == "cqrs":
                for dep in ("adduser", "libzmq5", "liblmdb0", "libsystemd0", "libnats3.4",
                            "libpqxx-6.4"):
                    check(dep in depends, "cqrs depends on %s" % dep)
            elif name == "libcqrs-client0":
                check("libzmq5" in depends and "libpqxx" not in depends and
                      "libnats" not in depends and "libsystemd" not in depends,
                      "libcqrs-client0 depends on libzmq5, not on the servers' libraries: "
                      + depends)
            else:
                check("libcqrs-client0 (= %s)" % VERSION in depends and "cppzmq-dev" in depends
                      and "libflatbuffers-dev" in depends,
                      "libcqrs-dev depends on libcqrs-client0 (= %s), cppzmq-dev, "
                      "libflatbuffers-dev" % VERSION)
        control = os.path.join(tmp, "control")
        run(["dpkg-deb", "-e", debs["cqrs"], control])
        with open(os.path.join(control, "conffiles")) as f:
            check(f.read().split() == ["/etc/cqrs/cqrs.toml"], "/etc/cqrs/cqrs.toml is a conffile")
        check(os.access(os.path.join(control, "postinst"), os.X_OK), "cqrs has a postinst")

        root = os.path.join(tmp, "root")
        for path in debs.values():
            run(["dpkg-deb", "-x", path, root])
        unit_dir = os.path.join(root, "usr", "lib", "systemd", "system")
        for unit in UNITS:
            check(os.path.exists(os.path.join(unit_dir, unit)), "unit %s" % unit)
        for lib in ("libcqrs-client.so.0.2.0", "libcqrs-client.so.0", "libcqrs-client.so"):
            check(os.path.exists(os.path.join(root, "usr", "lib", lib)), "usr/lib/" + lib)
        soname = run(["objdump", "-p", os.path.join(root, "usr", "lib",
                                                    "libcqrs-client.so.0.2.0")])
        check("SONAME               libcqrs-client.so.0" in soname, "soname libcqrs-client.so.0")

        verify_units(root, unit_dir)
        start_servers(root, tmp)
        build_against_dev(root, tmp)
    print("deb_test.py: all checks passed")


def verify_units(root, unit_dir):
    if shutil.which("systemd-analyze") is None:
        print("systemd-analyze is not installed: units not verified")
        return
    # The units' dependencies (sysinit.target, network-online.target, ...) and /bin/kill, as
    # the root they are verified in has them.
    for pattern in ("*.target", "*.slice", "*.socket"):
        for f in glob.glob(os.path.join("/lib/systemd/system", pattern)):
            dest = os.path.join(unit_dir, os.path.basename(f))
            if not os.path.exists(dest):
                shutil.copy(f, dest)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy("/bin/kill", os.path.join(root, "bin", "kill"))
    units = [u.replace("@.", "@0.") for u in UNITS]
    r = subprocess.run(["systemd-analyze", "verify", "--root=" + root, *units], cwd=unit_dir,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(r.returncode == 0 and not r.stdout.strip(),
          "systemd-analyze verify: every unit parses, its commands exist (%s)" % r.stdout.strip())


def start_servers(root, tmp):
    bin_dir = os.path.join(root, "usr", "bin")
    config = os.path.join(root, "etc", "cqrs", "cqrs.toml")
    data = os.path.join(tmp, "data")
    base = free_base_port()
    flags = ["--config", config, "--data", data, "--base-port", str(base)]
    r = subprocess.run([os.path.join(bin_dir, "cqrs"), "stats", *flags], capture_output=True,
                       text=True)
    check(r.returncode == 1 and "no shared memory" in r.stderr,
          "the packaged config parses (every key commented, data set): " + r.stderr.strip())
    procs = []
    try:
        for name, extra in (("cqrs-writer", ["--durability", "nosync"]), ("cqrs-projector", []),
                            ("cqrs-reader", ["--index", "0"]), ("cqrs-reader", ["--index", "1"])):
            sock_path = os.path.join(tmp, "%s%s.notify" % (name, "".join(extra)))
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(sock_path)
            notify.settimeout(30)
            log = open(sock_path[:-len(".notify")] + ".log", "w")
            p = subprocess.Popen([os.path.join(bin_dir, name), *flags, *extra],
                                 env=dict(os.environ, NOTIFY_SOCKET=sock_path),
                                 stdout=log, stderr=log)
            procs.append((name, p, notify))
            message = notify.recv(4096).decode()
            check(message.startswith("READY=1\nSTATUS="),
                  "%s tells systemd it is ready: %r" % (name, message))
        cqrs = os.path.join(bin_dir, "cqrs")
        out = run([cqrs, "put", "orders", "o1", "n=1", *flags])
        check('"status":"Ok"' in out, "the unpacked cqrs writes: " + out.strip())
        out = run([cqrs, "get", "orders", "o1", *flags])
        check('"n":1' in out, "and reads it back: " + out.strip())
        out = run([cqrs, "ping", "--count", "2", *flags])
        check("writer" in out and "reader0" in out and "reader1" in out,
              "cqrs ping: " + out.strip().replace("\n", "; "))
    finally:
        for name, p, notify in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                message = notify.recv(4096).decode()
            except socket.timeout:
                message = ""
            code = p.wait(timeout=30)
            check(message == "STOPPING=1" and code == 0,
                  "%s tells systemd it stops, and exits 0 on SIGTERM" % name)
            notify.close()


def build_against_dev(root, tmp):
    """A program built with the unpacked libcqrs-dev's pkg-config file, run against the
    unpacked libcqrs-client0."""
    source = os.path.join(tmp, "version.cc")
    with open(source, "w") as f:
        f.write('#include <base/version.h>\n#include <client/client.h>\n#include <iostream>\n'
                'int main() { std::cout << CQRS_VERSION_STRING << " " << cqrs::Version() << "\\n"; }\n')
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(root, "usr", "lib", "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "cqrs-client"], env=env).split()
    program = os.path.join(tmp, "version")
    run(["g++", "-std=c++20", "-o", program, source, *flags])
    out = run([program], env=dict(env, LD_LIBRARY_PATH=os.path.join(root, "usr", "lib")))
    check(out.split() == [VERSION, VERSION], "built against libcqrs-dev, runs with "
          "libcqrs-client0: %s" % out.strip())


if __name__ == "__main__":
    sys.exit(main())
