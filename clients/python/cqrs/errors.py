"""What a cqrs call raises: a refusal by a server is a `StatusError` of the class named after its
status (`cqrs.NotFound`, `cqrs.VersionConflict`, ...); no answer in time is `Timeout`, which for
a write is `Indeterminate` (it may or may not have been applied)."""


class Error(Exception):
    """Every error of this package."""


class Timeout(Error):
    """No answer within the call's timeout."""


class Indeterminate(Timeout):
    """A write got no definite answer within its timeout: it may or may not have been applied.
    The client has resent it (same client_id and request_id, so it is applied at most once) for
    as long as the timeout allowed; read the key to learn its outcome."""


class StatusError(Error):
    """A server refused the request. status: the Status name; message: the server's message,
    naming the field or limit; failed_index: the failing command of a write (-1: the request as
    a whole); seq: the reply's seq."""

    status = "Unknown"

    def __init__(self, status, message, failed_index=-1, seq=0, expected_request_id=0,
                 first_seq=0, snapshot_seq=0):
        super().__init__("%s: %s" % (status, message))
        self.status = status
        self.message = message
        self.failed_index = failed_index
        self.seq = seq
        self.expected_request_id = expected_request_id
        self.first_seq = first_seq
        self.snapshot_seq = snapshot_seq


class InvalidArgument(StatusError):
    pass


class Unauthenticated(StatusError):
    pass


class PermissionDenied(StatusError):
    pass


class NotFound(StatusError):
    pass


class AlreadyExists(StatusError):
    pass


class VersionConflict(StatusError):
    pass


class OutOfOrder(StatusError):
    pass


class ResourceExhausted(StatusError):
    pass


class Unavailable(StatusError):
    pass


class DeadlineExceeded(StatusError):
    pass


class Internal(StatusError):
    pass


class OutOfRange(StatusError):
    """A replay from below the log's first seq: `first_seq` and `snapshot_seq` say where the
    log starts and which state checkpoint to start from."""
    pass


_BY_STATUS = {cls.__name__: cls for cls in (
    InvalidArgument, Unauthenticated, PermissionDenied, NotFound, AlreadyExists, VersionConflict,
    OutOfOrder, ResourceExhausted, Unavailable, DeadlineExceeded, Internal, OutOfRange)}


def status_error(reply):
    """The StatusError for a reply dict (a CommandReply, QueryReply or EventBatch)."""
    cls = _BY_STATUS.get(reply["status"], StatusError)
    return cls(reply["status"], reply.get("message", ""), reply.get("failed_index", -1),
               reply.get("seq", 0), reply.get("expected_request_id", 0),
               reply.get("first_seq", 0), reply.get("snapshot_seq", 0))
