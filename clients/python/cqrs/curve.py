"""CURVE keys for a secured pipeline ([security] server_key): the servers' public key and the
client's own key pair, as `cqrs keygen` writes them (TOML files: NAME.key holds public_key and
secret_key, mode 0600; NAME.pub holds public_key), Z85-encoded."""
import tomllib


class CurveKeys:
    def __init__(self, server_public, public, secret):
        self.server_public = _z85(server_public, "server_public")
        self.public = _z85(public, "public")
        self.secret = _z85(secret, "secret")

    @classmethod
    def from_files(cls, server_key_file, key_file):
        """server_key_file: the servers' NAME.pub (or .key: only its public_key is read);
        key_file: this client's NAME.key."""
        server = _read(server_key_file, ("public_key",))
        own = _read(key_file, ("public_key", "secret_key"))
        return cls(server["public_key"], own["public_key"], own["secret_key"])

    def apply(self, socket):
        """Makes a ZeroMQ socket a CURVE client with these keys (before it connects)."""
        socket.curve_serverkey = self.server_public
        socket.curve_publickey = self.public
        socket.curve_secretkey = self.secret


def _z85(key, what):
    key = key.encode() if isinstance(key, str) else bytes(key)
    if len(key) != 40:
        raise ValueError("%s key must be 40 Z85 characters, not %d" % (what, len(key)))
    return key


def _read(path, names):
    with open(path, "rb") as f:
        keys = tomllib.load(f)
    missing = [n for n in names if n not in keys]
    if missing:
        raise ValueError("%s holds no %s" % (path, " or ".join(missing)))
    return keys
