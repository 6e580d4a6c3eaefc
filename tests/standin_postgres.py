"""A stand-in PostgreSQL server for the tests of an unreachable database: a TCP listener on
127.0.0.1 that speaks just enough of PostgreSQL's wire protocol (version 3) to refuse a
connection as a real server does. It declines SSL, asks for the password in clear text, then
answers with an ErrorResponse carrying `sqlstate` and `message` (a wrong password is 28P01, an
unknown database 3D000). With `silent`, it accepts connections and never answers.

The test server of a PostgreSQL run trusts every local connection, so it cannot show what a
wrong password does; this can, on either backend, and records the passwords it was sent."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
AUTH_CLEARTEXT_PASSWORD = 3



class StandInPostgres:
    def __init__(self, sqlstate: str = "28P01",
                 message: str = 'password authentication failed for user "chamyeo"',
                 silent: bool = False) -> None:
        self.sqlstate = sqlstate
        self.message = message
        self.silent = silent
        self.passwords: list[str] = []
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()  # lets silent handlers end at close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, user: str = "chamyeo", password: str = "S3cret-pw",
            database: str = "chamyeo") -> str:
        return f"postgresql+asyncpg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> StandInPostgres:
        stand_in = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                stand_in._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="standin-postgres",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(10)
        try:
            if self.silent:
                self._release.wait(30)
                return
            while True:
                length, code = struct.unpack("!ii", _read(sock, 8))
                body = _read(sock, length - 8)
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    sock.sendall(b"N")  # no encryption here: go on in plain text
                    continue
                break  # the StartupMessage (user, database): ask for the password
            del body
            sock.sendall(b"R" + struct.pack("!ii", 8, AUTH_CLEARTEXT_PASSWORD))
            kind = _read(sock, 1)
            (length,) = struct.unpack("!i", _read(sock, 4))
            payload = _read(sock, length - 4)
            if kind == b"p":
                self.passwords.append(payload.rstrip(b"\0").decode("utf-8", "replace"))
            fields = b"".join(tag + value.encode() + b"\0" for tag, value in (
                (b"S", "FATAL"), (b"V", "FATAL"), (b"C", self.sqlstate), (b"M", self.message)))
            fields += b"\0"
            sock.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        except (OSError, struct.error):
            pass  # the client went away: nothing to answer


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("the client closed the connection")
        data += chunk
    return data
