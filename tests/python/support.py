"""What the Python tests share: a pipeline's ipc config, waiting for a server, checking, and the
clean-stop check. Frames are built and read by the cqrs package's codec (clients/python), which
the tests import from the build tree (PYTHONPATH)."""
import os
import time

import zmq


def wait_answering(context, endpoint, seconds=30):
    """Waits until the server at endpoint answers a garbage frame (every server does)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(b"ping")
        if s.poll(200):
            s.close()
            return
        s.close()
    raise SystemExit("no answer from " + endpoint)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_segment_removed(cqrs, flags):
    """A clean stop of the pipeline removes its shared-memory segment: `cqrs stats` finds none.
    A segment left behind is removed (it would outlive the temp dir) and fails the test."""
    import subprocess
    r = subprocess.run([cqrs, "stats", *flags], capture_output=True, text=True)
    if r.returncode == 1 and "no shared memory" in r.stderr:
        return
    subprocess.run([cqrs, "stats", "--remove", *flags], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    raise SystemExit("the shared-memory segment outlived a clean stop: " + r.stdout + r.stderr)


def ipc_pipeline_config(tmp):
    """Writes tmp/pipeline.toml: a pipeline on ipc endpoints in tmp (nosync writer, 2 readers,
    a small cache). Returns ({name: endpoint}, config path)."""
    ep = {name: "ipc://" + os.path.join(tmp, name + ".sock")
          for name in ("writer", "events", "replay", "reader0", "reader1")}
    config = os.path.join(tmp, "pipeline.toml")
    with open(config, "w") as f:
        f.write('log_level = "warn"\n[writer]\nendpoint = "%s"\ndurability = "nosync"\n'
                '[projector]\nevents_endpoint = "%s"\nreplay_endpoint = "%s"\n'
                '[reader]\nendpoints = ["%s", "%s"]\n[cache]\nslots = 1024\n'
                % (ep["writer"], ep["events"], ep["replay"], ep["reader0"], ep["reader1"]))
    return ep, config
