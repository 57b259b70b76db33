#!/usr/bin/python3
"""CURVE from Python: Debian's python3-zmq speaking to `cqrs up` with security on (ipc endpoints
in a temp dir). Keys come from `cqrs keygen`, principals from `cqrs principal add`. A
principal's REQ sockets write and read; another tenant's principal sees none of it; a read-only
principal gets PermissionDenied; a SUB admitted to its own tenant's topics gets the events, one
aimed at another tenant gets nothing; plaintext, an unknown key and a wrong server key get no
reply. Exits non-zero on the first failure.

usage: security_test.py --cqrs PATH/cqrs
"""
import argparse
import os
import signal
import subprocess
import tempfile
import time
import tomllib

import zmq

import cqrs
import support
from cqrs import codec as wire
from support import check


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cqrs", required=True, help="path of the cqrs binary")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cqrs-py-sec-") as tmp:
        data = os.path.join(tmp, "data")
        keys = os.path.join(tmp, "keys")

        def cqrs(*argv):
            subprocess.run([args.cqrs, *argv], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

        for name in ("server", "app", "viewer", "other", "stranger"):
            cqrs("keygen", name, "--dir", keys)
        principals = os.path.join(tmp, "principals.toml")
        for name, tenant, acl in (("app", "py", ["--read", "*", "--write", "orders"]),
                                  ("viewer", "py", ["--read", "orders"]),
                                  ("other", "elsewhere", ["--read", "*", "--write", "*"])):
            cqrs("principal", "add", name, "--tenant", tenant, *acl,
                 "--key-file", os.path.join(keys, name + ".pub"), "--file", principals)
        ep = {name: "ipc://" + os.path.join(tmp, name + ".sock")
              for name in ("writer", "events", "replay", "reader0")}
        config = os.path.join(tmp, "cqrs.toml")
        with open(config, "w") as f:
            f.write('log_level = "info"\n[writer]\nendpoint = "%s"\ndurability = "nosync"\n'
                    '[projector]\nevents_endpoint = "%s"\nreplay_endpoint = "%s"\n'
                    '[reader]\nendpoints = ["%s"]\n[cache]\nslots = 1024\n'
                    '[security]\nserver_key = "%s"\nprincipals = "%s"\n'
                    % (ep["writer"], ep["events"], ep["replay"], ep["reader0"],
                       os.path.join(keys, "server.key"), principals))
        log_path = os.path.join(tmp, "up.log")
        log = open(log_path, "w")
        up = subprocess.Popen([args.cqrs, "up", "--quiet", "--config", config, "--data", data],
                              stdout=log, stderr=log)
        try:
            run_checks(ep, keys)
        except BaseException:
            print(open(log_path).read())
            raise
        finally:
            step("stopping the pipeline")
            up.send_signal(signal.SIGTERM)
            up.wait(timeout=20)
            support.expect_segment_removed(args.cqrs, ["--config", config, "--data", data])
        check("security on" in open(log_path).read(), "the servers log that security is on")
    print("python CURVE client: all checks passed")


def step(what):
    """A progress line (flushed: if a step hangs, the test's output says which)."""
    print("security_test.py: " + what, flush=True)


def read_keys(keys, name):
    with open(os.path.join(keys, name + ".key"), "rb") as f:
        k = tomllib.load(f)
    return k["public_key"].encode(), k["secret_key"].encode()


def run_checks(ep, keys):
    server_public, _ = read_keys(keys, "server")
    ctx = zmq.Context()

    def socket(kind, endpoint, client, server_key=server_public):
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDTIMEO, 2000)  # a REQ blocks in send while it has no connection
        if client is not None:
            public, secret = read_keys(keys, client)
            s.curve_serverkey = server_key
            s.curve_publickey = public
            s.curve_secretkey = secret
        s.connect(endpoint)
        return s

    def call(sock, frame, timeout_ms=10000):
        try:
            sock.send(frame)
        except zmq.Again:  # no connection to send on (SNDTIMEO): a refused handshake drops it
            return None
        if not sock.poll(timeout_ms):
            return None
        return sock.recv()

    def command(sock, commands, client_id, request_id, timeout_ms=10000):
        reply = call(sock, wire.encode_commands(commands, client_id, request_id), timeout_ms)
        return None if reply is None else wire.decode_command_reply(reply)

    def query(sock, q, min_seq=0, timeout_ms=10000):
        reply = call(sock, wire.encode_query(1, q, min_seq, 5000), timeout_ms)
        return None if reply is None else wire.decode_query_reply(reply)

    # The writer and the readers start in the background: wait until the principal is served.
    step("waiting for the writer to serve the principal")
    app = socket(zmq.REQ, ep["writer"], "app")
    deadline = time.monotonic() + 30
    while True:
        r = command(app, [("Upsert", "orders", "o1", 0, {"n": 1})], "py-client", 1, 1000)
        if r is not None:
            break
        check(time.monotonic() < deadline, "the writer never answered the principal")
        app.close()
        app = socket(zmq.REQ, ep["writer"], "app")
    check(r["status"] == "Ok" and r["versions"] == [1], "principal: %r" % r)
    seq = r["seq"]
    again = command(app, [("Upsert", "orders", "o1", 0, {"n": 1})], "py-client", 1)
    check(again == r, "a resent request gets the original reply: %r" % again)
    r = command(app, [("Upsert", "customers", "c1", 0, {})], "py-client", 2)
    check(r["status"] == "PermissionDenied" and "customers" in r["message"], "ACL: %r" % r)

    # Reads: the same tenant sees it, another tenant does not, the ACL holds.
    step("reads")
    viewer_reads = socket(zmq.REQ, ep["reader0"], "viewer")
    r = query(viewer_reads, ("get", "orders", "o1"), min_seq=seq)
    check(r is not None and r["status"] == "Ok" and r["entities"][0]["fields"] == {"n": 1},
          "same tenant reads: %r" % r)
    r = query(viewer_reads, ("get", "customers", "c1"), min_seq=seq)
    check(r["status"] == "PermissionDenied", "read ACL: %r" % r)
    viewer_writes = socket(zmq.REQ, ep["writer"], "viewer")
    r = command(viewer_writes, [("Upsert", "orders", "o1", 0, {})], "viewer", 1)
    check(r["status"] == "PermissionDenied" and "viewer" in r["message"], "read-only: %r" % r)
    other_reads = socket(zmq.REQ, ep["reader0"], "other")
    r = query(other_reads, ("get", "orders", "o1"), min_seq=seq)
    check(r["status"] == "NotFound", "another tenant must not see it: %r" % r)

    # The change feed: the own tenant's topics are admitted, another tenant's are not.
    step("the change feed")
    own = socket(zmq.SUB, ep["events"], "app")
    own.setsockopt(zmq.SUBSCRIBE, b"py/orders/")
    spy = socket(zmq.SUB, ep["events"], "other")
    for topic in (b"py/", b"py/orders/", b""):
        spy.setsockopt(zmq.SUBSCRIBE, topic)
    got, request_id = None, 3
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:  # until the subscription is in place
        r = command(app, [("Upsert", "orders", "o2", 0, {"n": request_id})], "py-client",
                    request_id)
        check(r["status"] == "Ok", "write for the feed: %r" % r)
        request_id += 1
        if own.poll(500):
            got = own.recv_multipart()
    check(got is not None and got[0] == b"py/orders/o2", "own tenant's event: %r" % (got,))
    check(not spy.poll(500), "another tenant's subscriber must get nothing")

    # No key, an unknown key, the wrong server key: no reply at all.
    step("refused clients")
    wrong_server, _ = read_keys(keys, "stranger")
    frame = wire.encode_commands([("Upsert", "orders", "o1", 0, {"n": 9})], "py-client", 99)
    for endpoint in (ep["writer"], ep["reader0"]):
        for name, sock in (("plaintext", socket(zmq.REQ, endpoint, None)),
                           ("unknown key", socket(zmq.REQ, endpoint, "stranger")),
                           ("wrong server key",
                            socket(zmq.REQ, endpoint, "app", server_key=wrong_server))):
            check(call(sock, frame, timeout_ms=700) is None,
                  "%s at %s must get no reply" % (name, endpoint))
            sock.close()

    r = command(app, [("Upsert", "orders", "o1", 0, {"n": 2})], "py-client", request_id)
    check(r["status"] == "Ok" and r["versions"] == [2], "still serving the principal: %r" % r)
    check_package(ep, keys, ctx)
    step("closing")
    ctx.destroy(linger=0)


def check_package(ep, keys, ctx):
    """The same through the package: cqrs.Client and cqrs.Subscriber with CurveKeys read from
    the files `cqrs keygen` wrote."""
    step("cqrs.Client and cqrs.Subscriber with CURVE keys")
    server = os.path.join(keys, "server.pub")

    def client(name):
        return cqrs.Client(ep["writer"], [ep["reader0"]], context=ctx, timeout=10,
                           curve=cqrs.CurveKeys.from_files(server, os.path.join(keys, name + ".key")))

    app, viewer, other = client("app"), client("viewer"), client("other")
    w = app.put("orders", "pkg1", {"n": 1})
    e = app.get("orders", "pkg1")
    check(e is not None and e.fields == {"n": 1} and e.seq == w.seq, "package read: %r" % e)
    check(viewer.get("orders", "pkg1", min_seq=w.seq).version == 1, "viewer reads its tenant")
    check(other.get("orders", "pkg1", min_seq=w.seq) is None, "another tenant sees nothing")
    try:
        viewer.put("orders", "pkg1", {"n": 2})
        check(False, "a read-only principal's write must be refused")
    except cqrs.PermissionDenied as refused:
        check("viewer" in refused.message, "read-only: %s" % refused)
    feed = cqrs.Subscriber(ep["events"], ep["replay"], collections=["orders"], tenant="py",
                           from_seq=1, context=ctx,
                           curve=cqrs.CurveKeys.from_files(server, os.path.join(keys, "app.key")))
    seen = []
    while not seen or seen[-1].seq < w.seq:
        event = feed.next(timeout=10)
        check(event is not None, "the package's subscriber stalled after %r" % seen[-1:])
        seen.append(event)
    check(all(ev.tenant == "py" and ev.collection == "orders" for ev in seen),
          "subscriber: only its tenant's orders")
    check(seen[-1].key == "pkg1", "subscriber: the last write: %r" % seen[-1])
    check([ev.collection_seq for ev in seen] == list(range(1, len(seen) + 1)),
          "subscriber: every orders event once, in order")
    for c in (app, viewer, other, feed):
        c.close()


if __name__ == "__main__":
    main()
