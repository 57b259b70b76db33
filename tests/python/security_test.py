#!/usr/bin/python3
"""CURVE from Python: Debian's python3-zmq speaking to a cqrs-writer with security on. Keys come
from `cqrs keygen`, the principal from `cqrs principal add`. A principal's REQ socket writes;
plaintext, an unknown key and a wrong server key get no reply; a read-only principal gets
PermissionDenied. Exits non-zero on the first failure.

usage: security_test.py --writer PATH/cqrs-writer --cqrs PATH/cqrs --gen DIR
"""
import argparse
import os
import subprocess
import tempfile
import time
import tomllib

import zmq

import cqrs_wire as wire
from cqrs_wire import check


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writer", required=True, help="path of the cqrs-writer binary")
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    parser.add_argument("--gen", required=True, help="directory holding the generated cqrs package")
    args = parser.parse_args()
    wire.load(args.gen)

    with tempfile.TemporaryDirectory(prefix="cqrs-py-sec-") as tmp:
        data = os.path.join(tmp, "data")
        keys = os.path.join(tmp, "keys")

        def cqrs(*argv):
            subprocess.run([args.cqrs, *argv], check=True, stdout=subprocess.DEVNULL)

        for name in ("server", "app", "viewer", "stranger"):
            cqrs("keygen", name, "--dir", keys)
        principals = os.path.join(tmp, "principals.toml")
        cqrs("principal", "add", "app", "--tenant", "py", "--read", "*", "--write", "orders",
             "--key-file", os.path.join(keys, "app.pub"), "--file", principals)
        cqrs("principal", "add", "viewer", "--tenant", "py", "--read", "orders",
             "--key-file", os.path.join(keys, "viewer.pub"), "--file", principals)
        config = os.path.join(tmp, "cqrs.toml")
        with open(config, "w") as f:
            f.write('[security]\nserver_key = "%s"\nprincipals = "%s"\n'
                    % (os.path.join(keys, "server.key"), principals))

        endpoint = "ipc://" + os.path.join(tmp, "writer.sock")
        endpoint_file = os.path.join(tmp, "writer.endpoint")
        log_path = os.path.join(tmp, "writer.log")
        log = open(log_path, "w")
        writer = subprocess.Popen([args.writer, "--config", config, "--data", data,
                                   "--endpoint", endpoint, "--endpoint-file", endpoint_file,
                                   "--log-level", "info"], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(endpoint_file):
                if writer.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("cqrs-writer did not start:\n" + open(log_path).read())
                time.sleep(0.01)
            run_checks(endpoint, keys)
        finally:
            writer.terminate()
            writer.wait(timeout=10)
            subprocess.run([args.cqrs, "stats", "--remove", "--data", data], check=True,
                           stdout=subprocess.DEVNULL)
        check("security on" in open(log_path).read(), "the writer logs that security is on")
    print("python CURVE client: all checks passed")


def read_keys(keys, name):
    with open(os.path.join(keys, name + ".key"), "rb") as f:
        k = tomllib.load(f)
    return k["public_key"].encode(), k["secret_key"].encode()


def run_checks(endpoint, keys):
    Op = wire.fb["Op"].Op
    server_public, _ = read_keys(keys, "server")
    ctx = zmq.Context()

    def socket(client, server_key=server_public):
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        if client is not None:
            public, secret = read_keys(keys, client)
            s.curve_serverkey = server_key
            s.curve_publickey = public
            s.curve_secretkey = secret
        s.connect(endpoint)
        return s

    def call(sock, frame, timeout_ms=5000):
        sock.send(frame)
        if not sock.poll(timeout_ms):
            return None
        return wire.decode_command_reply(sock.recv())

    put = wire.encode_commands([(Op.Upsert, "orders", "o1", 0, {"n": 1})], "py-client", 1)
    app = socket("app")
    r = call(app, put)
    check(r is not None and r["status"] == "Ok" and r["versions"] == [1], "principal: %r" % r)
    check(call(app, put) == r, "a resent request gets the original reply")
    r = call(app, wire.encode_commands([(Op.Upsert, "customers", "c1", 0, {})], "py-client", 2))
    check(r["status"] == "PermissionDenied" and "customers" in r["message"], "ACL: %r" % r)

    viewer = socket("viewer")
    r = call(viewer, wire.encode_commands([(Op.Upsert, "orders", "o1", 0, {})], "viewer", 1))
    check(r["status"] == "PermissionDenied" and "viewer" in r["message"], "read-only: %r" % r)

    wrong_server, _ = read_keys(keys, "stranger")
    for name, sock in (("plaintext", socket(None)), ("unknown key", socket("stranger")),
                       ("wrong server key", socket("app", server_key=wrong_server))):
        check(call(sock, put, timeout_ms=700) is None, name + " must get no reply")
        sock.close()

    r = call(app, wire.encode_commands([(Op.Upsert, "orders", "o1", 0, {"n": 2})], "py-client", 3))
    check(r["status"] == "Ok" and r["versions"] == [2], "still serving the principal: %r" % r)
    for s in (app, viewer):
        s.close()
    ctx.term()


if __name__ == "__main__":
    main()
